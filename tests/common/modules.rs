//! A real misp-modules server for the tests: the one that
//! `tests/misp-modules/setup.sh` installs under `target/`, run on a free
//! loopback port with the test modules of `tests/misp-modules/custom`, and
//! stopped with its whole process group when dropped, also when a test
//! panics.
//!
//! On SIGTERM the server stops its event loop at once and drops the
//! connections it is answering, but its process exits only once the module
//! calls already running have returned: Python joins their worker threads,
//! and a module cannot be interrupted. The slow test module keeps it alive
//! for up to three seconds that way, so a server still there after a grace
//! period is killed.

#![allow(dead_code)]

use std::fs;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// How long the server may take to answer its health check.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long one request may wait for its answer. Modules answer within the
/// `timeout` of the query, 300 s unless it says otherwise; the test modules
/// answer within three seconds.
const REQUEST_LIMIT: Duration = Duration::from_secs(60);

/// Starts tried before giving up when another process takes the free port
/// between its choice and the server's bind.
const START_ATTEMPTS: usize = 3;

/// A running misp-modules server, killed with its process group on drop.
pub struct ModulesServer {
    child: Child,
    addr: SocketAddr,
    /// Holds the server's log file.
    dir: TempDir,
}

impl ModulesServer {
    /// Starts the server and waits until it answers its health check.
    ///
    /// Panics when `setup.sh` has not installed it, or when it does not
    /// start, with the end of its log.
    pub fn start() -> ModulesServer {
        let program = venv().join("bin/misp-modules");
        if !program.is_file() {
            panic!("{}: missing; run tests/misp-modules/setup.sh", program.display());
        }
        let mut attempt = 1;
        loop {
            let server = ModulesServer::spawn(&program);
            match server.wait_until_healthy() {
                Ok(()) => return server,
                Err(_) if attempt < START_ATTEMPTS && server.lost_its_port() => attempt += 1,
                Err(err) => panic!("misp-modules {}: {err}\n{}", server.url(), tail(&server.log())),
            }
        }
    }

    /// The server's base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's process id, also the id of its process group.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server has logged so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `GET path`: the HTTP status and the body. Panics when the server
    /// does not answer.
    pub fn get(&self, path: &str) -> (u16, String) {
        self.expect_answer(http(self.addr, "GET", path, None), path)
    }

    /// `POST path` with a JSON body given as text, to send what
    /// [`ModulesServer::query`] cannot: the HTTP status and the body.
    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        self.expect_answer(http(self.addr, "POST", path, Some(body)), path)
    }

    /// `POST /query` with `body`: the JSON answer. Panics when the answer
    /// is not HTTP 200 with JSON, which misp-modules sends even for the
    /// errors of its modules.
    pub fn query(&self, body: &Value) -> Value {
        let (status, text) = self.post("/query", &body.to_string());
        assert_eq!(status, 200, "POST /query {body}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST /query {body}: {e}: {text}"))
    }

    /// Starts the server on a port that was free a moment ago, in a process
    /// group of its own so that stopping it reaches anything it started.
    fn spawn(program: &Path) -> ModulesServer {
        let dir = TempDir::new().expect("creating a directory for the misp-modules log");
        let log = fs::File::create(dir.path().join("misp-modules.log"))
            .expect("creating the misp-modules log");
        let port = free_port();
        let child = Command::new(program)
            .args(["-l", "127.0.0.1", "-p", &port.to_string(), "-c"])
            .arg(repo().join("tests/misp-modules/custom"))
            // Keeps the test modules' folder free of __pycache__.
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("sharing the misp-modules log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        ModulesServer { child, addr, dir }
    }

    /// Polls `GET /healthcheck` until it answers `{"status": true}`, the
    /// server exits or [`STARTUP_LIMIT`] passes.
    fn wait_until_healthy(&self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_LIMIT;
        while Instant::now() < deadline {
            if self.has_exited() {
                return Err("exited before answering its health check".into());
            }
            if let Ok((200, body)) = http(self.addr, "GET", "/healthcheck", None) {
                if serde_json::from_str::<Value>(&body).ok()
                    == Some(serde_json::json!({"status": true}))
                {
                    return Ok(());
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("no healthy answer within {STARTUP_LIMIT:?}"))
    }

    /// Whether the server failed because its port was taken meanwhile.
    fn lost_its_port(&self) -> bool {
        self.log().contains("Address already in use")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("misp-modules.log")
    }

    fn expect_answer(&self, answer: io::Result<(u16, String)>, path: &str) -> (u16, String) {
        answer.unwrap_or_else(|e| panic!("{}{path}: {e}\n{}", self.url(), tail(&self.log())))
    }

    /// Whether the server has exited, found without reaping it: while it
    /// is a zombie its process group id cannot be reused, so a signal to
    /// the group reaches no stranger.
    fn has_exited(&self) -> bool {
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.child.id()));
        let state = stat.ok().and_then(|s| Some(s.rsplit_once(')')?.1.trim_start().to_string()));
        state.is_none_or(|s| s.starts_with('Z') || s.starts_with('X'))
    }
}

impl Drop for ModulesServer {
    /// SIGTERM to the process group; SIGKILL to whatever of it is left
    /// after [`STOP_GRACE`]; then reaps the server.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        signal(&group, "TERM");
        let deadline = Instant::now() + STOP_GRACE;
        while !self.has_exited() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        signal(&group, "KILL");
        let _ = self.child.wait();
    }
}

/// Sends `signal` to `target`, a pid or `-pgid`; a target already gone is
/// no error.
fn signal(target: &str, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", target])
        .stderr(Stdio::null())
        .status();
}

/// One HTTP/1.1 request with `Connection: close`: the status and the body.
/// Enough for tornado, which answers these handlers with a
/// `Content-Length` body, never chunked.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(REQUEST_LIMIT))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply)?;
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {reply:?}"));
    let (head, body) = reply.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(invalid)?;
    Ok((status, body.to_string()))
}

/// A loopback port that no socket holds now.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a loopback port");
    listener.local_addr().expect("the address of a bound port").port()
}

/// The last lines of a log, for a failure message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The virtual environment that `tests/misp-modules/setup.sh` creates.
fn venv() -> PathBuf {
    repo().join("target/misp-modules-venv")
}
