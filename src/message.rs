//! The JSON messages sent to Wazuh: one per matched IoC, one per failed
//! lookup, and, when asked, one per alert without a match.
//!
//! Wazuh's built-in `json` decoder reads them; the shipped rules match on
//! `integration`, `misp.status`, `misp.ioc.kind`, `misp.event.threat_level`
//! and `misp.error.kind`.

use serde_json::{json, Map, Value};

use crate::alert::{Agent, Alert, INTEGRATION_NAME};
use crate::intel::Finding;
use crate::ioc::Ioc;
use crate::misp::reply::{Attribute, Event};
use crate::misp::MispError;

/// The longest free text (event info, comments, rule descriptions) copied
/// into a message. analysisd prints a rule description unexpanded when
/// the substituted text passes 1024 bytes, so free text stays well short.
pub const MAX_TEXT: usize = 256;

/// `text` cut to [`MAX_TEXT`] characters, marked with `...` when cut.
fn short(text: &str) -> String {
    if text.chars().count() <= MAX_TEXT {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_TEXT).collect();
    format!("{cut}...")
}

/// The source alert as every message repeats it.
#[derive(Debug, Clone)]
pub struct AlertSummary {
    /// Alert id.
    pub id: String,
    /// Alert timestamp as Wazuh wrote it.
    pub timestamp: String,
    /// Rule id.
    pub rule_id: String,
    /// Rule level.
    pub rule_level: u64,
    /// Rule description.
    pub rule_description: String,
    /// The agent the alert came from.
    pub agent: Agent,
}

impl AlertSummary {
    /// The summary of `alert`.
    pub fn of(alert: &Alert) -> AlertSummary {
        AlertSummary {
            id: alert.id(),
            timestamp: alert.timestamp(),
            rule_id: alert.rule_id(),
            rule_level: alert.rule_level(),
            rule_description: alert.rule_description(),
            agent: alert.agent(),
        }
    }

    fn to_json(&self) -> Value {
        let mut section = json!({
            "id": self.id,
            "timestamp": self.timestamp,
            "rule_id": self.rule_id,
            "rule_level": self.rule_level,
            "rule_description": short(&self.rule_description),
            "agent_id": self.agent.id,
            "agent_name": self.agent.name,
        });
        if let Some(ip) = &self.agent.ip {
            section["agent_ip"] = json!(ip);
        }
        section
    }
}

/// The message for one matched IoC.
pub fn match_message(finding: &Finding, alert: &AlertSummary) -> Value {
    let mut misp = json!({
        "status": "match",
        "ioc": ioc_json(finding.ioc),
        "attribute": attribute_json(finding.best),
    });
    if let Some(event) = &finding.best.event {
        misp["event"] = event_json(event, finding.best);
    }
    let tags = TagSummary::of(finding.best);
    tags.write_into(&mut misp);
    misp["matches"] = json!({"attributes": finding.attributes, "events": finding.events});
    misp["alert"] = alert.to_json();
    envelope(misp)
}

/// The message for a failed step: `lookup` (the alert's IoCs went
/// unchecked), `sighting` or `record` (the lookup's answer went out).
pub fn error_message(err: &MispError, stage: &str, alert: &AlertSummary) -> Value {
    let mut error = json!({"kind": err.kind.name(), "stage": stage, "message": err.message});
    if let Some(status) = err.status {
        error["http_status"] = json!(status);
    }
    envelope(json!({"status": "error", "error": error, "alert": alert.to_json()}))
}

/// The message for an IoC that matched no intel but that a misp-modules
/// module found malicious.
pub fn enriched_message(ioc: &Ioc, enrichment: Value, alert: &AlertSummary) -> Value {
    envelope(json!({
        "status": "enriched",
        "ioc": ioc_json(ioc),
        "enrichment": enrichment,
        "alert": alert.to_json(),
    }))
}

/// The message for an alert whose IoCs matched nothing.
pub fn no_match_message(iocs: &[Ioc], alert: &AlertSummary) -> Value {
    let values: Vec<&str> = iocs.iter().map(|i| i.value.as_str()).collect();
    envelope(json!({
        "status": "no_match",
        "iocs": values,
        "checked": iocs.len(),
        "alert": alert.to_json(),
    }))
}

fn envelope(misp: Value) -> Value {
    json!({"integration": INTEGRATION_NAME, "misp": misp})
}

fn ioc_json(ioc: &Ioc) -> Value {
    let mut section = json!({
        "value": ioc.value,
        "type": ioc.kind.name(),
        "kind": ioc.kind.kind(),
        "field": ioc.field,
    });
    if let Some(file) = &ioc.file {
        section["file"] = json!(file);
    }
    section
}

fn attribute_json(a: &Attribute) -> Value {
    let mut section = Map::new();
    let text = [
        ("id", &a.id),
        ("uuid", &a.uuid),
        ("type", &a.kind),
        ("category", &a.category),
        ("value", &a.value),
        ("comment", &a.comment),
        ("first_seen", &a.first_seen),
        ("last_seen", &a.last_seen),
    ];
    for (key, value) in text {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            let value = if key == "comment" { short(value) } else { value.to_string() };
            section.insert(key.to_string(), json!(value));
        }
    }
    if let Some(to_ids) = a.to_ids {
        section.insert("to_ids".to_string(), json!(to_ids));
    }
    Value::Object(section)
}

fn event_json(e: &Event, a: &Attribute) -> Value {
    let mut section = Map::new();
    let id = e.id.as_ref().or(a.event_id.as_ref());
    let org = e.orgc.as_ref().or(e.org.as_ref()).and_then(|o| o.name.as_ref());
    let level = e.threat_level_id.as_ref();
    let text = [("id", id), ("uuid", e.uuid.as_ref()), ("info", e.info.as_ref()), ("org", org)];
    for (key, value) in text {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            section.insert(key.to_string(), json!(short(value)));
        }
    }
    if let Some(level) = level {
        section.insert("threat_level".to_string(), json!(threat_level_name(level)));
        section.insert("threat_level_id".to_string(), json!(level));
    }
    if let Some(date) = e.date.as_ref() {
        section.insert("date".to_string(), json!(date));
    }
    let published = e.published.or_else(|| {
        e.publish_timestamp.as_deref().and_then(|t| t.parse::<u64>().ok()).map(|t| t > 0)
    });
    if let Some(published) = published {
        section.insert("published".to_string(), json!(published));
    }
    Value::Object(section)
}

/// MISP's name for a threat level id.
pub fn threat_level_name(id: &str) -> &'static str {
    match id.trim() {
        "1" => "high",
        "2" => "medium",
        "3" => "low",
        _ => "undefined",
    }
}

/// The tags of a matched attribute and its event, sorted by meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagSummary {
    /// The most restrictive TLP tag, e.g. `tlp:amber`.
    pub tlp: Option<String>,
    /// Threat actor galaxy clusters, by name.
    pub threat_actors: Vec<String>,
    /// ATT&CK attack pattern clusters, by name.
    pub attack_patterns: Vec<String>,
    /// Other galaxy cluster tags, in full.
    pub galaxies: Vec<String>,
    /// Every other tag.
    pub tags: Vec<String>,
}

const THREAT_ACTOR: &str = "misp-galaxy:threat-actor=";
const ATTACK_PATTERN: &str = "misp-galaxy:mitre-attack-pattern=";
const TLP_ORDER: [&str; 6] =
    ["tlp:white", "tlp:clear", "tlp:green", "tlp:amber", "tlp:amber+strict", "tlp:red"];

impl TagSummary {
    /// Sorts the tags of `a`, of its event and of its event's galaxies.
    pub fn of(a: &Attribute) -> TagSummary {
        let mut names: Vec<&str> = a.tags.iter().filter_map(|t| t.name.as_deref()).collect();
        if let Some(event) = &a.event {
            names.extend(event.tags.iter().filter_map(|t| t.name.as_deref()));
            let clusters = event.galaxies.iter().flat_map(|g| &g.clusters);
            names.extend(clusters.filter_map(|c| c.tag_name.as_deref()));
        }
        let mut summary = TagSummary::default();
        for name in names {
            summary.add(name.trim());
        }
        summary
    }

    fn add(&mut self, name: &str) {
        let lower = name.to_ascii_lowercase();
        if let Some(rank) = TLP_ORDER.iter().position(|t| *t == lower) {
            let current = self.tlp.as_deref().and_then(|t| TLP_ORDER.iter().position(|o| *o == t));
            if current.is_none_or(|c| rank > c) {
                self.tlp = Some(lower);
            }
            return;
        }
        let (list, value) = if let Some(actor) = name.strip_prefix(THREAT_ACTOR) {
            (&mut self.threat_actors, actor.trim_matches('"').to_string())
        } else if let Some(pattern) = name.strip_prefix(ATTACK_PATTERN) {
            (&mut self.attack_patterns, pattern.trim_matches('"').to_string())
        } else if name.starts_with("misp-galaxy:") {
            (&mut self.galaxies, name.to_string())
        } else {
            (&mut self.tags, name.to_string())
        };
        if !value.is_empty() && !list.contains(&value) {
            list.push(value);
        }
    }

    fn write_into(self, misp: &mut Value) {
        if let Some(tlp) = self.tlp {
            misp["tlp"] = json!(tlp);
        }
        let lists = [
            ("threat_actors", self.threat_actors),
            ("attack_patterns", self.attack_patterns),
            ("galaxies", self.galaxies),
            ("tags", self.tags),
        ];
        for (key, list) in lists {
            if !list.is_empty() {
                misp[key] = json!(list);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::misp::reply::{Galaxy, GalaxyCluster, Org, Tag};

    fn tag(name: &str) -> Tag {
        Tag { name: Some(name.into()) }
    }

    #[test]
    fn tags_are_sorted_into_tlp_actors_patterns_and_others() {
        let a = Attribute {
            tags: vec![
                tag("tlp:green"),
                tag("misp-galaxy:threat-actor=\"APT28\""),
                tag("osint:source-type=\"blog-post\""),
            ],
            event: Some(Event {
                tags: vec![
                    tag("TLP:AMBER"),
                    tag("misp-galaxy:mitre-attack-pattern=\"Brute Force - T1110\""),
                ],
                galaxies: vec![Galaxy {
                    clusters: vec![GalaxyCluster {
                        tag_name: Some("misp-galaxy:malpedia=\"Mirai\"".into()),
                        value: Some("Mirai".into()),
                    }],
                }],
                ..Event::default()
            }),
            ..Attribute::default()
        };
        let summary = TagSummary::of(&a);
        assert_eq!(summary.tlp.as_deref(), Some("tlp:amber"));
        assert_eq!(summary.threat_actors, vec!["APT28"]);
        assert_eq!(summary.attack_patterns, vec!["Brute Force - T1110"]);
        assert_eq!(summary.galaxies, vec!["misp-galaxy:malpedia=\"Mirai\""]);
        assert_eq!(summary.tags, vec!["osint:source-type=\"blog-post\""]);
    }

    #[test]
    fn long_free_text_is_cut_to_the_limit() {
        let a = Attribute { comment: Some("c".repeat(1000)), ..Attribute::default() };
        let comment = attribute_json(&a)["comment"].as_str().unwrap().to_string();
        assert_eq!(comment, format!("{}...", "c".repeat(MAX_TEXT)));
        assert_eq!(short("brief"), "brief");
    }

    #[test]
    fn the_event_section_names_the_threat_level_and_organisation() {
        let event = Event {
            id: Some("17".into()),
            threat_level_id: Some("1".into()),
            publish_timestamp: Some("1700000000".into()),
            orgc: Some(Org { name: Some("CIRCL".into()) }),
            ..Event::default()
        };
        let section = event_json(&event, &Attribute::default());
        assert_eq!(
            section,
            json!({"id": "17", "org": "CIRCL", "threat_level": "high", "threat_level_id": "1", "published": true})
        );
    }
}
