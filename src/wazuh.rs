//! Writing results to Wazuh: the `1:<location>:<message>` framing of the
//! queue socket and the Unix datagram socket itself.

use std::fmt;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::alert::{Agent, INTEGRATION_NAME};

/// The default path of analysisd's queue socket.
pub const DEFAULT_SOCKET: &str = "/var/ossec/queue/sockets/queue";

/// The longest datagram sent, header included. analysisd reads at most
/// 65536 bytes; Wazuh's own integrations stop one short of that.
pub const MAX_DATAGRAM: usize = 65535;

/// The queue id of the localfile queue, which the `json` decoder reads.
const LOCALFILE_QUEUE: char = '1';

/// The location part of a datagram: the integration name for the manager's
/// own alerts, `[id] (name) ip->misp` for an agent's, so that analysisd
/// gives the new alert the same agent.
pub fn location(agent: &Agent) -> String {
    if agent.is_manager() {
        return INTEGRATION_NAME.to_string();
    }
    let ip = agent.ip.as_deref().unwrap_or("any");
    format!(
        "[{}] ({}) {}->{}",
        escape(capped(&agent.id)),
        escape(capped(&agent.name)),
        escape(capped(ip)),
        INTEGRATION_NAME
    )
}

/// The most characters of an agent's id, name or address put in the
/// location. Wazuh names agents in at most 128; an alert claiming more
/// must not push the message out of the datagram.
const MAX_AGENT_FIELD: usize = 256;

fn capped(text: &str) -> &str {
    match text.char_indices().nth(MAX_AGENT_FIELD) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Escapes text for the agent part of a location: analysisd splits the
/// datagram at the first `:` not preceded by `|`, so `|` becomes `||` and
/// `:` becomes `|:`.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c == '|' || c == ':' {
            out.push('|');
        }
        out.push(c);
    }
    out
}

/// The whole datagram for `message` from `agent`'s alert, at most
/// [`MAX_DATAGRAM`] bytes: an oversized message is shrunk (long strings
/// shortened, long lists cut, `misp.truncated` set), never cut mid-JSON.
pub fn frame(agent: &Agent, message: &Value) -> String {
    let header = format!("{LOCALFILE_QUEUE}:{}:", location(agent));
    let room = MAX_DATAGRAM.saturating_sub(header.len());
    format!("{header}{}", fit(message, room))
}

/// `message` as JSON text of at most `room` bytes.
pub fn fit(message: &Value, room: usize) -> String {
    let text = message.to_string();
    if text.len() <= room {
        return text;
    }
    for cap in [1024, 256, 64, 16] {
        let mut smaller = message.clone();
        shrink(&mut smaller, cap);
        if let Some(misp) = smaller.get_mut("misp").and_then(Value::as_object_mut) {
            misp.insert("truncated".to_string(), Value::Bool(true));
        }
        let text = smaller.to_string();
        if text.len() <= room {
            return text;
        }
    }
    let status = message.pointer("/misp/status").cloned().unwrap_or(Value::Null);
    serde_json::json!({"integration": INTEGRATION_NAME, "misp": {"status": status, "truncated": true}})
        .to_string()
}

/// Shortens every string to `cap` characters and every list to `cap / 16`
/// entries (at least one).
fn shrink(value: &mut Value, cap: usize) {
    match value {
        Value::String(s) if s.chars().count() > cap => {
            let cut: String = s.chars().take(cap).collect();
            *s = format!("{cut}...");
        }
        Value::Array(items) => {
            items.truncate((cap / 16).max(1));
            items.iter_mut().for_each(|v| shrink(v, cap));
        }
        Value::Object(map) => map.values_mut().for_each(|v| shrink(v, cap)),
        _ => {}
    }
}

/// Why a datagram could not be delivered.
#[derive(Debug)]
pub enum SocketError {
    /// No socket at the path (analysisd never started, wrong path), or it
    /// cannot be used (permissions).
    Missing(PathBuf, io::Error),
    /// Nobody reads the socket (analysisd stopped or restarting).
    Refused(PathBuf),
    /// The datagram is longer than the socket takes.
    TooLong(usize),
    /// analysisd's queue stayed full for the whole send timeout.
    Full(PathBuf),
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::Missing(path, err) => {
                write!(
                    f,
                    "Wazuh queue socket {}: {err} (is wazuh-analysisd running?)",
                    path.display()
                )
            }
            SocketError::Refused(path) => {
                write!(
                    f,
                    "Wazuh queue socket {}: connection refused (wazuh-analysisd is not reading it)",
                    path.display()
                )
            }
            SocketError::TooLong(len) => {
                write!(f, "datagram of {len} bytes is too long for the Wazuh queue socket")
            }
            SocketError::Full(path) => write!(
                f,
                "Wazuh queue socket {}: still full after the send timeout \
                 (wazuh-analysisd is not keeping up)",
                path.display()
            ),
        }
    }
}

impl std::error::Error for SocketError {}

/// A send that stopped part-way.
#[derive(Debug)]
pub struct Undelivered {
    /// How many datagrams went out before the failure.
    pub sent: usize,
    /// Why the next one did not.
    pub error: SocketError,
}

/// analysisd's queue socket.
#[derive(Debug, Clone)]
pub struct QueueSocket {
    path: PathBuf,
}

impl QueueSocket {
    /// The socket at `path`; nothing is opened until [`QueueSocket::send`].
    pub fn new(path: &Path) -> QueueSocket {
        QueueSocket { path: path.to_path_buf() }
    }

    /// Sends each datagram in order, one `send_to` each, waiting at most
    /// `timeout` for room in a full queue. Stops at the first failure; the
    /// error says which kind it was and how many went out before it.
    pub fn send(&self, datagrams: &[String], timeout: Duration) -> Result<(), Undelivered> {
        if datagrams.is_empty() {
            return Ok(());
        }
        let missing =
            |e| Undelivered { sent: 0, error: SocketError::Missing(self.path.clone(), e) };
        let socket = UnixDatagram::unbound().map_err(missing)?;
        let timeout = timeout.max(Duration::from_millis(1));
        socket.set_write_timeout(Some(timeout)).map_err(missing)?;
        for (sent, datagram) in datagrams.iter().enumerate() {
            socket
                .send_to(datagram.as_bytes(), &self.path)
                .map_err(|e| Undelivered { sent, error: self.classify(e, datagram.len()) })?;
        }
        Ok(())
    }

    fn classify(&self, err: io::Error, len: usize) -> SocketError {
        /// Linux's EMSGSIZE.
        const MESSAGE_TOO_LONG: i32 = 90;
        match err.kind() {
            io::ErrorKind::ConnectionRefused => SocketError::Refused(self.path.clone()),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                SocketError::Full(self.path.clone())
            }
            _ if err.raw_os_error() == Some(MESSAGE_TOO_LONG) => SocketError::TooLong(len),
            _ => SocketError::Missing(self.path.clone(), err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agent(id: &str, name: &str, ip: Option<&str>) -> Agent {
        Agent { id: id.into(), name: name.into(), ip: ip.map(str::to_string) }
    }

    #[test]
    fn an_agent_name_longer_than_wazuh_allows_cannot_push_the_message_out() {
        let name = "n:".repeat(40_000);
        let datagram =
            frame(&agent("007", &name, Some("10.0.0.1")), &json!({"misp": {"status": "match"}}));
        assert!(datagram.len() <= MAX_DATAGRAM, "{} bytes", datagram.len());
        assert!(datagram.ends_with(r#"->misp:{"misp":{"status":"match"}}"#), "{}", &datagram[..80]);
        assert_eq!(capped("é".repeat(300).as_str()).chars().count(), MAX_AGENT_FIELD);
    }

    #[test]
    fn manager_alerts_use_the_integration_name_as_location() {
        let datagram = frame(&agent("000", "manager", None), &json!({"integration": "misp"}));
        assert_eq!(datagram, r#"1:misp:{"integration":"misp"}"#);
    }

    #[test]
    fn agent_locations_escape_pipes_and_colons() {
        assert_eq!(
            location(&agent("010", "web|01", Some("10.0.2.15"))),
            "[010] (web||01) 10.0.2.15->misp"
        );
        assert_eq!(location(&agent("011", "db", Some("fe80::1"))), "[011] (db) fe80|:|:1->misp");
        assert_eq!(location(&agent("012", "x", None)), "[012] (x) any->misp");
    }

    #[test]
    fn an_oversized_message_is_shrunk_to_valid_json_that_fits() {
        let message = json!({"integration": "misp", "misp": {"status": "match", "tags": vec!["t".repeat(1000); 200]}});
        let datagram = frame(&agent("000", "m", None), &message);
        assert!(datagram.len() <= MAX_DATAGRAM);
        let parsed: Value =
            serde_json::from_str(datagram.strip_prefix("1:misp:").unwrap()).unwrap();
        assert_eq!(parsed["misp"]["truncated"], json!(true));
        assert_eq!(parsed["misp"]["status"], json!("match"));
    }

    #[test]
    fn a_queue_nobody_reads_is_full_after_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("queue");
        let _listener = UnixDatagram::bind(&path).unwrap();
        let many: Vec<String> = (0..2000).map(|i| format!("1:misp:{{\"n\":{i}}}")).collect();
        let err = QueueSocket::new(&path).send(&many, Duration::from_millis(50)).unwrap_err();
        assert!(matches!(err.error, SocketError::Full(_)), "{}", err.error);
        assert!(err.sent > 0 && err.sent < many.len(), "{}", err.sent);
    }

    #[test]
    fn a_missing_socket_is_reported_as_missing() {
        let socket = QueueSocket::new(Path::new("/nonexistent/queue"));
        let err = socket.send(&["1:misp:{}".to_string()], Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err.error, SocketError::Missing(..)), "{}", err.error);
        assert_eq!(err.sent, 0);
    }
}
