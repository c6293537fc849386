//! Hostile servers for the fault tests: plain TCP listeners on loopback
//! that take the connection and then misbehave at the byte level, the way
//! a wedged MISP, a broken proxy or a hung misp-modules does. Each one
//! records the requests it read and the bytes it managed to send, and
//! stops with every connection it holds when dropped.

#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// How long the threads sleep between two looks at the stop flag.
const POLL: Duration = Duration::from_millis(10);

/// How a hostile server treats each connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Reads the request and never answers; the connection stays open
    /// until the server is dropped.
    Silent,
    /// Sends a valid JSON reply, head included, one byte a second.
    Trickle,
    /// Sends a head announcing a body of 4096 bytes, 100 of them, then
    /// closes.
    CloseMidBody,
    /// Sends a 200 JSON reply whose body is this many bytes.
    Huge(usize),
    /// Answers this status with a MISP error body that quotes the request
    /// back, headers included, as a debugging proxy or a verbose error
    /// page does.
    Echo(u16),
    /// A misp-modules server with one module, `echo` (addresses), that
    /// answers every query with an error quoting the query, its `config`
    /// included.
    EchoModules,
}

/// One request as a hostile server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The request line and headers, as sent.
    pub head: String,
    /// The body.
    pub body: String,
}

/// What the server's threads share with the test.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    connections: AtomicUsize,
    sent: AtomicUsize,
    requests: Mutex<Vec<SeenRequest>>,
}

/// A running hostile server; stopped when dropped.
pub struct Hostile {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Hostile {
    /// Starts a server on a free loopback port.
    pub fn start(behaviour: Behaviour) -> Hostile {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a port");
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let addr = listener.local_addr().expect("the bound address");
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        thread::spawn(move || accept(&listener, &behaviour, &accepting));
        Hostile { addr, shared }
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many bytes the server wrote to its connections, head included.
    pub fn bytes_sent(&self) -> usize {
        self.shared.sent.load(Ordering::SeqCst)
    }

    /// Every request read so far.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared.requests.lock().unwrap().clone()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

fn accept(listener: &TcpListener, behaviour: &Behaviour, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                let (behaviour, shared) = (behaviour.clone(), Arc::clone(shared));
                thread::spawn(move || {
                    // A client that hangs up is no failure of the server.
                    let _ = serve(stream, &behaviour, &shared);
                });
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(err) => panic!("hostile server at {:?}: {err}", listener.local_addr()),
        }
    }
}

fn serve(stream: TcpStream, behaviour: &Behaviour, shared: &Shared) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let request = read_request(&mut reader)?;
    shared.requests.lock().unwrap().push(request.clone());
    let mut out = Counted { stream, shared };
    match behaviour {
        Behaviour::Silent => {
            while !shared.stop.load(Ordering::SeqCst) {
                thread::sleep(POLL);
            }
            Ok(())
        }
        Behaviour::Trickle => {
            for byte in reply(200, EMPTY_SEARCH).bytes() {
                out.write_all(&[byte])?;
                if !out.pause(Duration::from_secs(1)) {
                    break;
                }
            }
            Ok(())
        }
        Behaviour::CloseMidBody => {
            out.write_all(head(200, 4096).as_bytes())?;
            out.write_all(&[b' '; 100])
        }
        Behaviour::Huge(size) => write_huge(&mut out, *size),
        Behaviour::Echo(status) => out.write_all(reply(*status, &echo_body(&request)).as_bytes()),
        Behaviour::EchoModules => out.write_all(reply(200, &echo_module(&request)).as_bytes()),
    }
}

/// MISP's answer to a search that found nothing.
const EMPTY_SEARCH: &str = r#"{"response": {"Attribute": []}}"#;

/// Reads a request head and its `Content-Length` body.
fn read_request(reader: &mut impl BufRead) -> io::Result<SeenRequest> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "request cut"));
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(SeenRequest { head, body: String::from_utf8_lossy(&body).into_owned() })
}

fn head(status: u16, length: usize) -> String {
    format!(
        "HTTP/1.1 {status} Hostile\r\nContent-Type: application/json\r\n\
         Content-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

fn reply(status: u16, body: &str) -> String {
    format!("{}{body}", head(status, body.len()))
}

/// A MISP error body whose message quotes the request it answers.
fn echo_body(request: &SeenRequest) -> String {
    let quoted = format!("{}{}", request.head, request.body);
    serde_json::json!({
        "name": format!("Request refused: {quoted}"),
        "message": format!("Request refused: {quoted}"),
        "url": request.head.split(' ').nth(1).unwrap_or("/"),
    })
    .to_string()
}

/// The `echo` module's list entry, or its answer to a query.
fn echo_module(request: &SeenRequest) -> String {
    if request.head.starts_with("GET /modules ") {
        let input = ["ip-src", "ip-dst"];
        let module = serde_json::json!({"name": "echo", "type": "expansion",
            "mispattributes": {"input": input, "output": ["text"]}});
        return serde_json::json!([module]).to_string();
    }
    serde_json::json!({"error": format!("cannot answer {}", request.body)}).to_string()
}

/// A 200 reply of `size` bytes of valid JSON, streamed in blocks.
fn write_huge(out: &mut Counted, size: usize) -> io::Result<()> {
    let (open, close) = (r#"{"response": {"Attribute": []}, "padding": ""#, "\"}");
    out.write_all(head(200, size).as_bytes())?;
    out.write_all(open.as_bytes())?;
    let block = [b' '; 64 * 1024];
    let mut left = size - open.len() - close.len();
    while left > 0 && !out.shared.stop.load(Ordering::SeqCst) {
        let n = left.min(block.len());
        out.write_all(&block[..n])?;
        left -= n;
    }
    out.write_all(close.as_bytes())
}

/// A connection that counts what it writes.
struct Counted<'a> {
    stream: TcpStream,
    shared: &'a Shared,
}

impl Counted<'_> {
    /// Sleeps for `duration` unless the server stops first; false then.
    fn pause(&self, duration: Duration) -> bool {
        let mut left = duration;
        while !left.is_zero() {
            if self.shared.stop.load(Ordering::SeqCst) {
                return false;
            }
            let step = left.min(POLL);
            thread::sleep(step);
            left -= step;
        }
        true
    }
}

impl Write for Counted<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        self.shared.sent.fetch_add(n, Ordering::SeqCst);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
