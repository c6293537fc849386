//! A Wazuh alert as integratord hands it over: one JSON object in a file.
//!
//! Fields are read by path (`data.win.eventdata.hashes`) and every read
//! tolerates a missing field or one of another type: alerts from different
//! decoders and Wazuh versions differ, and no field may crash a run.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{Map, Value};

/// The largest alert file read. Wazuh caps a log line at 64 KiB, but an
/// alert adds `previous_output` and decoded fields; anything beyond this
/// is not an alert.
pub const MAX_ALERT_BYTES: u64 = 1024 * 1024;

/// The name this integration writes as `location` and `integration`.
pub const INTEGRATION_NAME: &str = "misp";

/// A parsed alert.
#[derive(Debug, Clone)]
pub struct Alert {
    root: Map<String, Value>,
}

/// The agent an alert came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agent {
    /// Agent id, `000` for the manager itself.
    pub id: String,
    /// Agent name.
    pub name: String,
    /// Agent address, when Wazuh knows it.
    pub ip: Option<String>,
}

impl Agent {
    /// True for the manager's own alerts (agent `000` or no agent).
    pub fn is_manager(&self) -> bool {
        self.id.is_empty() || self.id == "000"
    }
}

impl Alert {
    /// Reads and parses the alert file at `path`. Fails on a missing,
    /// unreadable, empty, oversized or non-JSON file, and on JSON that is
    /// not an object with a `rule`.
    pub fn read(path: &Path) -> Result<Alert> {
        let mut file = File::open(path).context("cannot open")?;
        let mut text = Vec::new();
        file.by_ref().take(MAX_ALERT_BYTES + 1).read_to_end(&mut text).context("cannot read")?;
        if text.len() as u64 > MAX_ALERT_BYTES {
            bail!("larger than {} KiB", MAX_ALERT_BYTES / 1024);
        }
        Alert::parse(&text)
    }

    /// Parses alert JSON text (a `key='value'` text alert is refused: the
    /// integration block must say `<alert_format>json</alert_format>`).
    pub fn parse(text: &[u8]) -> Result<Alert> {
        let trimmed = text.trim_ascii();
        if trimmed.is_empty() {
            bail!("empty file");
        }
        if trimmed[0] != b'{' && trimmed[0] != b'[' {
            bail!("not JSON (is <alert_format>json</alert_format> set in ossec.conf?)");
        }
        let value: Value = serde_json::from_slice(trimmed).context("invalid JSON")?;
        let Value::Object(root) = value else {
            bail!("JSON is not an object");
        };
        if !root.get("rule").is_some_and(Value::is_object) {
            bail!("no rule object: not a Wazuh alert");
        }
        Ok(Alert { root })
    }

    /// Builds an alert from a JSON object already in memory.
    pub fn from_object(root: Map<String, Value>) -> Alert {
        Alert { root }
    }

    /// The value at a dotted path. A segment may itself contain dots when
    /// the decoder kept a dotted key (Zeek's `id.orig_h`), so both nested
    /// and flat spellings are found.
    pub fn get(&self, path: &str) -> Option<&Value> {
        let parts: Vec<&str> = path.split('.').collect();
        lookup(&self.root, &parts)
    }

    /// The text at `path`: strings as they are, numbers and booleans
    /// written out; `None` for a missing field, null, array or object.
    pub fn text(&self, path: &str) -> Option<String> {
        scalar_text(self.get(path)?)
    }

    /// The alert id (`1652272159.1549653`), empty when absent.
    pub fn id(&self) -> String {
        self.text("id").unwrap_or_default()
    }

    /// The alert timestamp as Wazuh wrote it, empty when absent.
    pub fn timestamp(&self) -> String {
        self.text("timestamp").unwrap_or_default()
    }

    /// The rule id, empty when absent.
    pub fn rule_id(&self) -> String {
        self.text("rule.id").unwrap_or_default()
    }

    /// The rule level; 0 when absent or not a number.
    pub fn rule_level(&self) -> u64 {
        match self.get("rule.level") {
            Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
            Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
            _ => 0,
        }
    }

    /// The rule description, empty when absent.
    pub fn rule_description(&self) -> String {
        self.text("rule.description").unwrap_or_default()
    }

    /// The rule groups that are strings.
    pub fn rule_groups(&self) -> Vec<String> {
        self.strings("rule.groups")
    }

    /// The strings of the array at `path`, skipping other entries; a lone
    /// string counts as a one-entry list.
    pub fn strings(&self, path: &str) -> Vec<String> {
        match self.get(path) {
            Some(Value::Array(items)) => items.iter().filter_map(scalar_text).collect(),
            Some(other) => scalar_text(other).into_iter().collect(),
            None => Vec::new(),
        }
    }

    /// The agent; the manager (`000`) when the alert names none.
    pub fn agent(&self) -> Agent {
        Agent {
            id: self.text("agent.id").unwrap_or_else(|| "000".to_string()),
            name: self.text("agent.name").unwrap_or_default(),
            ip: self.text("agent.ip").filter(|ip| !ip.is_empty()),
        }
    }

    /// The manager name, empty when absent.
    pub fn manager(&self) -> String {
        self.text("manager.name").unwrap_or_default()
    }

    /// The name of the integration that produced this alert, if it came
    /// from one: such alerts are results, and looking them up again would
    /// loop through integratord.
    pub fn integration_origin(&self) -> Option<String> {
        if let Some(name) = self.text("data.integration").filter(|n| !n.is_empty()) {
            return Some(name);
        }
        if self.get("data.misp").is_some() {
            return Some(INTEGRATION_NAME.to_string());
        }
        let location = self.text("location").unwrap_or_default();
        let tail = location.rsplit("->").next().unwrap_or_default();
        (tail == INTEGRATION_NAME).then(|| INTEGRATION_NAME.to_string())
    }

    /// The whole alert object.
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }
}

fn lookup<'a>(object: &'a Map<String, Value>, parts: &[&str]) -> Option<&'a Value> {
    for take in 1..=parts.len() {
        let key = parts[..take].join(".");
        let Some(value) = object.get(&key) else { continue };
        if take == parts.len() {
            return Some(value);
        }
        if let Value::Object(inner) = value {
            if let Some(found) = lookup(inner, &parts[take..]) {
                return Some(found);
            }
        }
    }
    None
}

/// The text of a scalar JSON value; `None` for null, arrays and objects.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(text: &str) -> Alert {
        Alert::parse(text.as_bytes()).unwrap()
    }

    #[test]
    fn nested_and_dotted_keys_are_both_found() {
        let a = alert(
            r#"{"rule":{},"data":{"id":{"orig_h":"198.51.100.1"},"id.resp_h":"203.0.113.2"}}"#,
        );
        assert_eq!(a.text("data.id.orig_h").unwrap(), "198.51.100.1");
        assert_eq!(a.text("data.id.resp_h").unwrap(), "203.0.113.2");
        assert_eq!(a.text("data.id.missing"), None);
    }

    #[test]
    fn fields_of_unexpected_types_read_as_absent_or_text() {
        let a = alert(
            r#"{"rule":{"id":5712,"level":"10","groups":"sshd"},"agent":{"id":7},"data":{"srcip":{"x":1}}}"#,
        );
        assert_eq!(a.rule_id(), "5712");
        assert_eq!(a.rule_level(), 10);
        assert_eq!(a.rule_groups(), vec!["sshd"]);
        assert_eq!(a.agent().id, "7");
        assert_eq!(a.text("data.srcip"), None);
    }

    #[test]
    fn text_that_is_not_an_alert_is_refused_with_a_reason() {
        let err = |t: &str| format!("{:#}", Alert::parse(t.as_bytes()).unwrap_err());
        assert_eq!(err("  \n"), "empty file");
        assert_eq!(err("[1,2]"), "JSON is not an object");
        assert_eq!(err(r#"{"id":"1"}"#), "no rule object: not a Wazuh alert");
        assert_eq!(
            err("timestamp='x'"),
            "not JSON (is <alert_format>json</alert_format> set in ossec.conf?)"
        );
        assert!(err(r#"{"rule": {"#).starts_with("invalid JSON: EOF while parsing"));
    }

    #[test]
    fn results_of_integrations_are_recognised() {
        let vt =
            alert(r#"{"rule":{},"location":"virustotal","data":{"integration":"virustotal"}}"#);
        assert_eq!(vt.integration_origin().as_deref(), Some("virustotal"));
        let ours = alert(r#"{"rule":{},"location":"misp","data":{}}"#);
        assert_eq!(ours.integration_origin().as_deref(), Some("misp"));
        let plain =
            alert(r#"{"rule":{},"location":"/var/log/secure","data":{"srcip":"198.51.100.1"}}"#);
        assert_eq!(plain.integration_origin(), None);
    }

    #[test]
    fn an_alert_without_agent_belongs_to_the_manager() {
        let a = alert(r#"{"rule":{}}"#);
        assert!(a.agent().is_manager());
        assert_eq!(a.agent().ip, None);
    }
}
