//! The running server: a listener on loopback, a thread per connection,
//! the record of every request, and the handle tests hold.
//!
//! Dropping the handle stops everything: the listener closes, hung and
//! delayed connections are woken, every socket is shut down and every
//! thread joined.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use rustls::ServerConfig;
use serde_json::Value;

use crate::api::Api;
use crate::faults::{self, Fault, FaultBook, FaultRule};
use crate::http::{self, ReadError, Request, Response};
use crate::options::ServerOptions;
use crate::shutdown::Shutdown;
use crate::tls::{self, Stream};
use crate::warninglist::Warninglist;
use crate::{render, seed};

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `GET`, `POST`, `HEAD`... as sent.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string without `?`, empty when there was none.
    pub query: String,
    /// Header names lower-cased; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The body, decoded as UTF-8 with replacement characters.
    pub body: String,
}

impl RecordedRequest {
    fn of(request: &Request) -> RecordedRequest {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in &request.headers {
            headers
                .entry(name.clone())
                .and_modify(|v| {
                    v.push_str(", ");
                    v.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        RecordedRequest {
            method: request.method.clone(),
            path: request.path.clone(),
            query: request.target.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default(),
            headers,
            body: String::from_utf8_lossy(&request.body).into_owned(),
        }
    }
}

/// What the threads share.
struct Shared {
    api: Api,
    faults: Mutex<FaultBook>,
    requests: Mutex<Vec<RecordedRequest>>,
    shutdown: Shutdown,
    tls: Option<Arc<ServerConfig>>,
    connections: Mutex<Connections>,
}

#[derive(Default)]
struct Connections {
    next_id: u64,
    sockets: HashMap<u64, TcpStream>,
    threads: Vec<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// A MISP stand-in listening on loopback until dropped.
pub struct MispServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    url: String,
    ca_pem: Option<String>,
    acceptor: Option<JoinHandle<()>>,
}

impl MispServer {
    /// Starts a server on `127.0.0.1` with a free port.
    ///
    /// Panics when no loopback port can be bound, which leaves a test
    /// nothing to run against.
    pub fn start(options: ServerOptions) -> MispServer {
        let address = SocketAddr::from(([127, 0, 0, 1], 0));
        MispServer::start_on(options, address).expect("binding a port on 127.0.0.1")
    }

    /// Starts a server on `address`, which must be a loopback address;
    /// port 0 picks a free port. Fails when the address is not loopback
    /// or cannot be bound.
    pub fn start_on(options: ServerOptions, address: SocketAddr) -> io::Result<MispServer> {
        if !address.ip().is_loopback() {
            let message = format!("{address}: the test server listens on loopback only");
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        let listener = TcpListener::bind(address)?;
        let address = listener.local_addr()?;
        let setup = options.tls.map(tls::setup);
        let scheme = if setup.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{address}");
        let ca_pem = setup.as_ref().map(|s| s.ca_pem.clone());
        let shared = Arc::new(Shared {
            api: Api::new(options, url.clone()),
            faults: Mutex::new(FaultBook::default()),
            requests: Mutex::new(Vec::new()),
            shutdown: Shutdown::default(),
            tls: setup.map(|s| s.config),
            connections: Mutex::new(Connections::default()),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("misp-accept".to_owned())
            .spawn(move || accept_loop(&accepting, listener))?;
        Ok(MispServer { shared, address, url, ca_pem, acceptor: Some(acceptor) })
    }

    /// `http://127.0.0.1:PORT` or `https://127.0.0.1:PORT`, no trailing
    /// slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The PEM a client must trust to reach a TLS server: the test CA,
    /// or the certificate itself when self-signed. `None` without TLS.
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_pem.clone()
    }

    /// Seeds one event in MISP's feed form (`{"Event": {...}}` or bare),
    /// with its attributes, objects, tags, galaxies and creator org. An
    /// event whose uuid is already stored is left as it is.
    pub fn add_event(&self, event: Value) {
        seed::add_event(&mut self.shared.api.lock_store(), &event);
    }

    /// Seeds every event of a MISP feed folder (`manifest.json` and one
    /// `<uuid>.json` per event); returns how many events were loaded.
    /// Fails on a missing or unreadable file.
    pub fn load_feed(&self, dir: &Path) -> io::Result<usize> {
        seed::load_feed(&mut self.shared.api.lock_store(), dir)
    }

    /// Enables a warninglist of exact values, or of IPs and CIDR blocks.
    pub fn add_warninglist(&self, name: &str, values: &[&str]) {
        let mut store = self.shared.api.lock_store();
        let id = store.warninglists.len() as u64 + 1;
        store.warninglists.push(Warninglist::new(id, name, values));
    }

    /// Puts an event uuid on the event blocklist: adding it answers 403.
    pub fn block_event_uuid(&self, uuid: &str) {
        self.shared.api.lock_store().blocklist.insert(uuid.to_lowercase());
    }

    /// Deletes an event by id or uuid, which blocklists its uuid, as
    /// MISP's deletion does. Returns whether the event existed.
    pub fn delete_event(&self, id_or_uuid: &str) -> bool {
        self.shared.api.lock_store().delete_event(id_or_uuid)
    }

    /// Soft-deletes an attribute by id or uuid, as MISP's deletion does:
    /// it stays, flagged `deleted`, with a new timestamp. Returns whether
    /// the attribute existed.
    pub fn delete_attribute(&self, id_or_uuid: &str) -> bool {
        let mut store = self.shared.api.lock_store();
        let Some(id) = store.attribute_by_ref(id_or_uuid).map(|a| a.id) else { return false };
        let attribute = store.attribute_mut(id).expect("found just now");
        attribute.deleted = true;
        attribute.timestamp = crate::clock::now();
        true
    }

    /// Grants or withdraws the right to add and edit events, attributes
    /// and objects (MISP's `perm_add`) for the requests that follow;
    /// without it those endpoints answer 403.
    pub fn set_can_create_events(&self, allowed: bool) {
        self.shared.api.set_can_create_events(allowed);
    }

    /// Grants or withdraws the right to create tags that do not exist
    /// yet (MISP's `perm_tag_editor`) for the requests that follow;
    /// without it unknown tags are dropped.
    pub fn set_can_create_tags(&self, allowed: bool) {
        self.shared.api.set_can_create_tags(allowed);
    }

    /// Replaces the object templates the server knows, as
    /// [`ServerOptions::templates`] sets them at start: the uuids given,
    /// or the long-standing templates for `None`.
    pub fn set_templates(&self, uuids: Option<Vec<String>>) {
        self.shared.api.set_templates(uuids.as_deref());
    }

    /// Adds a fault after those already pushed; the first matching rule
    /// with uses left applies to each request.
    pub fn push_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every request received so far, in order, refused ones included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// How many requests had `method` and a path starting with
    /// `path_prefix`.
    pub fn count(&self, method: &str, path_prefix: &str) -> usize {
        let requests = lock(&self.shared.requests);
        requests.iter().filter(|r| r.method == method && r.path.starts_with(path_prefix)).count()
    }

    /// The event as `/events/view` renders it, by id or uuid.
    pub fn event(&self, id_or_uuid: &str) -> Option<Value> {
        let store = self.shared.api.lock_store();
        let event = store.event_by_ref(id_or_uuid)?;
        Some(self.numbered(render::event_view(&store, event)))
    }

    /// Every stored event, rendered as by [`MispServer::event`].
    pub fn events(&self) -> Vec<Value> {
        let store = self.shared.api.lock_store();
        let views: Vec<Value> = store.events().map(|e| render::event_view(&store, e)).collect();
        views.into_iter().map(|v| self.numbered(v)).collect()
    }

    /// Every sighting, as an attribute's `Sighting[]` shows it.
    pub fn sightings(&self) -> Vec<Value> {
        let store = self.shared.api.lock_store();
        let rows: Vec<Value> =
            store.sightings.iter().map(|s| render::sighting(&store, s)).collect();
        rows.into_iter().map(|v| self.numbered(v)).collect()
    }

    fn numbered(&self, mut value: Value) -> Value {
        render::apply_numbers(self.shared.api.options.numbers, &mut value);
        value
    }
}

impl Drop for MispServer {
    fn drop(&mut self) {
        self.shared.shutdown.trigger();
        // A connection of our own wakes the acceptor from `accept`.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let threads = {
            let mut connections = lock(&self.shared.connections);
            for socket in connections.sockets.values() {
                let _ = socket.shutdown(SocketShutdown::Both);
            }
            std::mem::take(&mut connections.threads)
        };
        for thread in threads {
            let _ = thread.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: TcpListener) {
    for socket in listener.incoming() {
        if shared.shutdown.is_stopped() {
            break;
        }
        let Ok(socket) = socket else { continue };
        let mut connections = lock(&shared.connections);
        let id = connections.next_id;
        connections.next_id += 1;
        if let Ok(clone) = socket.try_clone() {
            connections.sockets.insert(id, clone);
        }
        let serving = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("misp-conn-{id}"))
            .spawn(move || serve(&serving, socket, id));
        if let Ok(handle) = spawned {
            connections.threads.push(handle);
        }
    }
}

/// Serves one connection until the client closes it, asks to, or a
/// fault ends it.
fn serve(shared: &Arc<Shared>, socket: TcpStream, id: u64) {
    let _ = socket.set_nodelay(true);
    if let Ok(stream) = Stream::new(socket, shared.tls.as_ref()) {
        let mut conn = BufReader::new(stream);
        while !shared.shutdown.is_stopped() {
            let request = match http::read_request(&mut conn) {
                Ok(request) => request,
                Err(ReadError::Malformed(_reason)) => {
                    let response = bad_request();
                    let head = response.head(response.body.len(), false);
                    let _ = conn.get_mut().write_all(&[head, response.body].concat());
                    break;
                }
                Err(_) => break,
            };
            lock(&shared.requests).push(RecordedRequest::of(&request));
            if !respond(shared, conn.get_mut(), &request) {
                break;
            }
        }
        let _ = conn.get_ref().socket().shutdown(SocketShutdown::Both);
    }
    lock(&shared.connections).sockets.remove(&id);
}

fn bad_request() -> Response {
    let page = b"<!DOCTYPE html>\n<html><head><title>400 Bad Request</title></head>\n\
                 <body><h1>Bad Request</h1></body></html>\n";
    Response::new(400, "text/html; charset=iso-8859-1", page.to_vec())
}

/// Answers one request, faults included; `false` closes the connection.
fn respond(shared: &Shared, out: &mut Stream, request: &Request) -> bool {
    let keep_alive = !request.close;
    let fault = lock(&shared.faults).take(&request.path);
    let written = match fault {
        None => write_reply(out, &shared.api.handle(request, None), request),
        Some(fault) => misbehave(shared, out, request, fault),
    };
    written.is_ok() && keep_alive
}

/// Applies `fault` to the reply of `request`. Faults that end the
/// connection return an error, so that the caller closes it.
fn misbehave(shared: &Shared, out: &mut Stream, request: &Request, fault: Fault) -> io::Result<()> {
    let api = &shared.api;
    let closed = || Err(io::Error::other("connection closed by a fault"));
    match fault {
        Fault::Hang => {
            shared.shutdown.wait();
            closed()
        }
        Fault::Reset => closed(),
        Fault::Delay(delay) if !shared.shutdown.sleep(delay) => closed(),
        Fault::Delay(_) | Fault::Pass => write_reply(out, &api.handle(request, None), request),
        Fault::SlowBody { bytes_per_second } => {
            let response = api.handle(request, None);
            faults::write_slow(out, &response, bytes_per_second, !request.close, &shared.shutdown)
        }
        Fault::CloseMidBody => {
            faults::write_half(out, &api.handle(request, None))?;
            closed()
        }
        Fault::Status(status) => write_reply(out, &api.status_reply(status, request), request),
        Fault::Html(status) => write_reply(out, &faults::html_page(status), request),
        Fault::Truncated => {
            write_reply(out, &faults::truncated(api.handle(request, None)), request)
        }
        Fault::Body { status, content_type, body } => {
            write_reply(out, &Response::new(status, &content_type, body), request)
        }
        Fault::HugeAttributes(count) => {
            write_reply(out, &api.handle(request, Some(count)), request)
        }
        Fault::HugeBody(size) => {
            faults::write_huge(out, &api.handle(request, None), size, !request.close)
        }
    }
}

/// Writes a whole reply; a `HEAD` request gets the head alone.
fn write_reply(out: &mut Stream, response: &Response, request: &Request) -> io::Result<()> {
    out.write_all(&response.head(response.body.len(), !request.close))?;
    if request.method != "HEAD" {
        out.write_all(&response.body)?;
    }
    out.flush()
}
