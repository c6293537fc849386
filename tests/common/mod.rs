//! The harness of the end-to-end tests: the binary run exactly as
//! wazuh-integratord runs it (argv[0] `integrations`, the alert and options
//! in temporary files, empty strings for unset values, the redirect string
//! at the end), a real Unix datagram socket standing in for analysisd's
//! queue, and the log file read back.

#![allow(dead_code)]

pub mod hostile;
pub mod modules;

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The binary under test.
pub const BINARY: &str = env!("CARGO_BIN_EXE_custom-misp");

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A test fixture alert by file name.
pub fn fixture(name: &str) -> String {
    let path = repo().join("tests/fixtures/alerts").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A bundled sample alert by file name.
pub fn sample(name: &str) -> String {
    let path = repo().join("integration/sample-alerts").join(name);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The bundled offline feed.
pub fn feed() -> PathBuf {
    repo().join("integration/feed")
}

/// One manager: a temporary directory with the queue socket, the log file
/// and the files integratord writes. Like analysisd, a thread reads the
/// queue all the time: Linux queues only a few datagrams on a Unix socket,
/// and a sender blocks once the queue is full.
pub struct Manager {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub log: PathBuf,
    reader: Arc<Reader>,
    /// The thread reading the queue socket now.
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What the queue's reading thread shares with the test.
#[derive(Default)]
struct Reader {
    datagrams: Mutex<Vec<String>>,
    /// How many times the thread found the queue empty.
    idle: AtomicUsize,
    stop: AtomicBool,
    /// Bumped when the socket is bound anew: the thread reading the old
    /// one then ends.
    generation: AtomicUsize,
}

impl Reader {
    fn drain(&self, queue: UnixDatagram, generation: usize) {
        let mut buf = vec![0u8; 70_000];
        while !self.stop.load(Ordering::SeqCst)
            && self.generation.load(Ordering::SeqCst) == generation
        {
            match queue.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                    self.datagrams.lock().unwrap().push(text);
                }
                Err(_) => {
                    self.idle.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
    }

    /// Every datagram received so far, once the queue has been seen empty
    /// twice more (so that nothing a finished run sent is still queued).
    fn take(&self) -> Vec<String> {
        let seen = self.idle.load(Ordering::SeqCst);
        while self.idle.load(Ordering::SeqCst) < seen + 2 {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::mem::take(&mut *self.datagrams.lock().unwrap())
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        self.reader.stop.store(true, Ordering::SeqCst);
    }
}

/// What one run of the binary left behind.
#[derive(Debug)]
pub struct Run {
    /// The exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// The datagrams analysisd's queue received.
    pub datagrams: Vec<String>,
    /// The log lines written by this run.
    pub log: Vec<String>,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Run {
    /// The JSON message of datagram `i`, after the `1:<location>:` header.
    pub fn message(&self, i: usize) -> Value {
        message_of(&self.datagrams[i])
    }

    /// The log lines with their timestamp and elapsed time removed, for
    /// exact comparison.
    pub fn log_lines(&self) -> Vec<String> {
        self.log.iter().map(|l| stable_log_line(l)).collect()
    }
}

/// The JSON after a datagram's `1:<location>:` header.
pub fn message_of(datagram: &str) -> Value {
    let start = datagram.find(":{").expect("datagram has a JSON message");
    serde_json::from_str(&datagram[start + 1..]).expect("datagram message is JSON")
}

/// The header of a datagram: everything before the JSON message.
pub fn header_of(datagram: &str) -> &str {
    let start = datagram.find(":{").expect("datagram has a JSON message");
    &datagram[..=start]
}

/// A log line without its leading timestamp and with `elapsed_ms=N`
/// written as `elapsed_ms=_`.
pub fn stable_log_line(line: &str) -> String {
    let rest = line.split_once(' ').map_or(line, |(_, rest)| rest);
    match rest.find("elapsed_ms=") {
        Some(at) => {
            let tail = &rest[at + "elapsed_ms=".len()..];
            let after = tail.find(' ').map_or("", |i| &tail[i..]);
            format!("{}elapsed_ms=_{after}", &rest[..at])
        }
        None => rest.to_string(),
    }
}

impl Manager {
    /// A manager with a listening queue socket.
    pub fn new() -> Manager {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("queue");
        let log = dir.path().join("integrations.log");
        let reader = Arc::new(Reader::default());
        let manager = Manager { dir, socket, log, reader, thread: Mutex::new(None) };
        manager.restore_socket();
        manager
    }

    /// Removes the queue socket, as when analysisd stops and its socket
    /// file goes: a send then finds nothing at the path. The reading
    /// thread stays, on a socket nobody can reach.
    pub fn remove_socket(&self) {
        fs::remove_file(&self.socket).unwrap();
    }

    /// Leaves a socket file that nobody reads at the path, as a killed
    /// analysisd does: a send is refused.
    pub fn leave_dead_socket(&self) {
        let _ = fs::remove_file(&self.socket);
        drop(UnixDatagram::bind(&self.socket).unwrap());
    }

    /// Binds the queue socket anew at its path, whatever is there, and
    /// reads it from a new thread once the old one has ended.
    pub fn restore_socket(&self) {
        let generation = self.reader.generation.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(old) = self.thread.lock().unwrap().take() {
            old.join().unwrap();
        }
        let _ = fs::remove_file(&self.socket);
        let queue = UnixDatagram::bind(&self.socket).unwrap();
        queue.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        let reader = Arc::clone(&self.reader);
        let thread = std::thread::spawn(move || reader.drain(queue, generation));
        *self.thread.lock().unwrap() = Some(thread);
    }

    /// Writes `text` to a new file in the manager's directory, named the
    /// way integratord names its files.
    pub fn write(&self, suffix: &str, text: &str) -> PathBuf {
        let n = fs::read_dir(self.dir.path()).unwrap().count();
        let path = self.dir.path().join(format!("custom-misp-1791968538-{n}{suffix}"));
        fs::write(&path, text).unwrap();
        path
    }

    /// `options` with this manager's socket, log file and state directory,
    /// unless they name their own.
    pub fn options(&self, mut options: Value) -> Value {
        let object = options.as_object_mut().expect("options are an object");
        object.entry("socket").or_insert_with(|| Value::String(self.socket.display().to_string()));
        object.entry("log_file").or_insert_with(|| Value::String(self.log.display().to_string()));
        let state = self.dir.path().join("state");
        object.entry("state_dir").or_insert_with(|| Value::String(state.display().to_string()));
        options
    }

    /// Runs the binary as integratord does, on `alert` with `options`
    /// (the socket and log file of this manager are added), budget
    /// `timeout` seconds and `retries`.
    pub fn integratord(&self, alert: &str, options: Value, timeout: &str, retries: &str) -> Run {
        let alert = self.write(".alert", alert);
        let options = self.write(".options", &self.options(options).to_string());
        let args = [
            alert.to_str().unwrap(),
            "",
            "",
            "",
            options.to_str().unwrap(),
            timeout,
            retries,
            "> /dev/null 2>&1",
        ];
        self.run(&args)
    }

    /// Runs the binary with `args` (argv[1] onwards) and argv[0]
    /// `integrations`; collects what it left.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    /// Like [`Manager::run`], with extra environment variables.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(BINARY);
        command.arg0("integrations").args(args).env_remove("MISP_API_KEY");
        for (k, v) in env {
            command.env(k, v);
        }
        self.collect(&mut command)
    }

    /// Like [`Manager::run`], in the working directory `cwd`.
    pub fn run_in(&self, cwd: &Path, args: &[&str]) -> Run {
        let mut command = Command::new(BINARY);
        command.arg0("integrations").args(args).env_remove("MISP_API_KEY").current_dir(cwd);
        self.collect(&mut command)
    }

    /// Like [`Manager::run`], under `umask` (octal) instead of the test's
    /// own, through a shell that sets it; argv[0] is then the binary's
    /// path.
    pub fn run_under_umask(&self, umask: &str, args: &[&str]) -> Run {
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!("umask {umask} && exec \"$0\" \"$@\"")).arg(BINARY);
        self.collect(command.args(args).env_remove("MISP_API_KEY"))
    }

    /// Runs `command` and collects what it left.
    fn collect(&self, command: &mut Command) -> Run {
        let log_before = fs::read_to_string(&self.log).unwrap_or_default().len();
        let started = Instant::now();
        let output = command.output().unwrap();
        let elapsed = started.elapsed();
        let log = fs::read_to_string(&self.log).unwrap_or_default();
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            datagrams: self.received(),
            log: log[log_before..].lines().map(str::to_string).collect(),
            elapsed,
        }
    }

    /// Every datagram the queue socket received since the last call.
    pub fn received(&self) -> Vec<String> {
        self.reader.take()
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}
