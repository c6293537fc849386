//! Building a timeline from MISP: the incident event (its objects and
//! attributes, their sightings and MISP's related events) in one view
//! request, and the intel its values hit in one attribute search.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value as Json};

use super::model::{Incident, IntelHit, RelatedEvent, Step, Timeline, Value};
use crate::budget::Deadline;
use crate::message::{threat_level_name, TagSummary};
use crate::misp::reply::{Attribute, SearchReply};
use crate::misp::MispClient;

/// Attribute types whose values are looked up as intel; counters, ports
/// and free text would only match noise.
const INTEL_TYPES: [&str; 11] = [
    "ip-src",
    "ip-dst",
    "domain",
    "hostname",
    "url",
    "md5",
    "sha1",
    "sha256",
    "imphash",
    "filename",
    "email-src",
];

/// Fetches the incident `reference` (event id or uuid) and the intel its
/// values hit. Fails when MISP does not know the event.
pub fn fetch(client: &MispClient, reference: &str, deadline: &Deadline) -> Result<Timeline> {
    let body = client
        .get(&format!("/events/view/{reference}"), deadline)
        .with_context(|| format!("incident event {reference}"))?;
    let view: Json = serde_json::from_slice(&body).context("event view: invalid JSON")?;
    let event = view.get("Event").unwrap_or(&view);
    if !event.is_object() {
        bail!("event view: no Event object");
    }
    let mut timeline = from_event(event);
    let values = searchable_values(&timeline);
    if !values.is_empty() {
        let intel = search_intel(client, &values, deadline)?;
        add_intel(&mut timeline, &intel);
    }
    Ok(timeline)
}

/// The timeline of an event view, without intel hits.
pub fn from_event(event: &Json) -> Timeline {
    let incident = incident(event);
    let mut steps: Vec<Step> =
        list(event, "Object").filter_map(|o| object_step(o, &incident.agent)).collect();
    steps.extend(attribute_steps(event, &incident.agent));
    steps.sort_by(|a, b| a.time.cmp(&b.time).then(a.alert_id.cmp(&b.alert_id)));
    let related = list(event, "RelatedEvent").map(related_event).collect();
    Timeline { incident, steps, related }
}

fn incident(event: &Json) -> Incident {
    let tags: Vec<String> = list(event, "Tag").filter_map(|t| text(t, "name")).collect();
    let agent = tags
        .iter()
        .find_map(|t| t.strip_prefix("wazuh:agent=\"").and_then(|r| r.strip_suffix('"')))
        .unwrap_or_default()
        .to_string();
    Incident {
        id: text(event, "id"),
        uuid: text(event, "uuid").unwrap_or_default(),
        info: text(event, "info").unwrap_or_default(),
        date: text(event, "date"),
        threat_level: threat_level_name(&text(event, "threat_level_id").unwrap_or_default())
            .to_string(),
        agent,
        tags,
    }
}

/// What a recorded comment says: `Wazuh alert <id>, rule <rule> (level
/// <level>): <description>`, possibly after `relation; ` and before
/// ` (from field)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Alert id.
    pub alert_id: String,
    /// Rule id.
    pub rule_id: String,
    /// Rule level.
    pub rule_level: u64,
    /// Rule description.
    pub description: String,
}

/// Reads the origin out of a recorded comment; `None` for attributes this
/// integration did not write.
pub fn parse_origin(comment: &str) -> Option<Origin> {
    let rest = &comment[comment.find("Wazuh alert ")? + "Wazuh alert ".len()..];
    let (alert_id, rest) = rest.split_once(", rule ")?;
    let (rule_id, rest) = rest.split_once(" (level ")?;
    let (level, description) = rest.split_once("): ")?;
    let description = match description.rfind(" (from ") {
        Some(at) if description.ends_with(')') => &description[..at],
        _ => description,
    };
    Some(Origin {
        alert_id: alert_id.to_string(),
        rule_id: rule_id.to_string(),
        rule_level: level.parse().ok()?,
        description: description.to_string(),
    })
}

fn object_step(object: &Json, agent: &str) -> Option<Step> {
    let origin = parse_origin(&text(object, "comment")?)?;
    let attributes: Vec<&Json> = list(object, "Attribute").collect();
    let time = text(object, "first_seen")
        .or_else(|| attributes.first().and_then(|a| text(a, "first_seen")))?;
    let values: Vec<Value> = attributes.iter().filter_map(|a| value_of(a)).collect();
    let name = text(object, "name").unwrap_or_else(|| "object".to_string());
    let repeats = attributes.first().map_or_else(Vec::new, |a| repeats(a, &origin.rule_id));
    Some(step(origin, time, &repeats, agent, describe(&name, &values), values))
}

/// Plain attributes of one alert share its comment and first_seen: they
/// make one step.
fn attribute_steps(event: &Json, agent: &str) -> Vec<Step> {
    let mut groups: BTreeMap<(String, String), Vec<&Json>> = BTreeMap::new();
    for attribute in list(event, "Attribute") {
        let Some(origin) = text(attribute, "comment").and_then(|c| parse_origin(&c)) else {
            continue;
        };
        let time = text(attribute, "first_seen").unwrap_or_default();
        groups.entry((time, origin.alert_id)).or_default().push(attribute);
    }
    groups
        .into_iter()
        .filter_map(|((time, _), attributes)| {
            let origin = parse_origin(&text(attributes[0], "comment")?)?;
            let values: Vec<Value> = attributes.iter().filter_map(|a| value_of(a)).collect();
            let repeats = repeats(attributes[0], &origin.rule_id);
            let observation = describe("attributes", &values);
            Some(step(origin, time, &repeats, agent, observation, values))
        })
        .collect()
}

/// The times (seconds since the epoch) of the sightings that count
/// repeats of `rule_id`'s observation, oldest first.
fn repeats(attribute: &Json, rule_id: &str) -> Vec<i64> {
    let marker = format!("repeat of rule {rule_id}");
    let mut times: Vec<i64> = list(attribute, "Sighting")
        .filter(|s| text(s, "source").is_some_and(|source| source.ends_with(&marker)))
        .filter_map(|s| text(s, "date_sighting").and_then(|t| t.parse().ok()))
        .collect();
    times.sort_unstable();
    times
}

fn step(
    origin: Origin,
    time: String,
    repeats: &[i64],
    agent: &str,
    observation: String,
    values: Vec<Value>,
) -> Step {
    Step {
        time,
        last_seen: repeats
            .last()
            .and_then(|t| Utc.timestamp_opt(*t, 0).single())
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6f+00:00").to_string()),
        agent: agent.to_string(),
        rule_id: origin.rule_id,
        rule_level: origin.rule_level,
        rule_description: origin.description,
        alert_id: origin.alert_id,
        observation,
        values,
        count: 1 + repeats.len() as u64,
        intel: Vec::new(),
    }
}

/// `file svchost-update.exe`, `network-connection 198.51.100.77:443`,
/// `domain-ip cdn-telemetry.example.net`: the object name and its most
/// telling value.
fn describe(name: &str, values: &[Value]) -> String {
    let pick = |kinds: &[&str]| {
        values.iter().find(|v| kinds.contains(&v.kind.as_str())).map(|v| v.value.clone())
    };
    let detail = match name {
        "file" => pick(&["filename", "sha256", "sha1", "md5"]),
        "network-connection" => pick(&["ip-dst"]).map(|ip| match pick(&["port"]) {
            Some(port) => format!("{ip}:{port}"),
            None => ip,
        }),
        "domain-ip" => pick(&["domain"]),
        "authentication-failure-report" => pick(&["ip-src"]).map(|ip| format!("from {ip}")),
        _ => values.first().map(|v| v.value.clone()),
    };
    match detail {
        Some(detail) => format!("{name} {detail}"),
        None => name.to_string(),
    }
}

fn value_of(attribute: &Json) -> Option<Value> {
    Some(Value {
        kind: text(attribute, "type")?,
        value: text(attribute, "value")?,
        relation: text(attribute, "object_relation"),
    })
}

fn related_event(related: &Json) -> RelatedEvent {
    let event = related.get("Event").unwrap_or(related);
    let org = event.get("Orgc").or_else(|| event.get("Org")).and_then(|o| text(o, "name"));
    RelatedEvent {
        id: text(event, "id"),
        uuid: text(event, "uuid"),
        info: text(event, "info").unwrap_or_default(),
        org,
        date: text(event, "date"),
        shared_values: Vec::new(),
    }
}

fn searchable_values(timeline: &Timeline) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for value in timeline.steps.iter().flat_map(|s| &s.values) {
        if INTEL_TYPES.contains(&value.kind.as_str()) && !values.contains(&value.value) {
            values.push(value.value.clone());
        }
    }
    values
}

fn search_intel(
    client: &MispClient,
    values: &[String],
    deadline: &Deadline,
) -> Result<Vec<Attribute>> {
    let body = json!({
        "returnFormat": "json",
        "value": values,
        "includeContext": true,
        "includeEventTags": true,
        "limit": 1000,
    });
    let reply = client.post("/attributes/restSearch", &body, deadline).context("intel search")?;
    let parsed: SearchReply =
        serde_json::from_slice(&reply).context("intel search: invalid reply")?;
    Ok(parsed.into_attributes())
}

/// Marks the steps whose values other events hold, and fills in which
/// values the incident shares with each related event.
fn add_intel(timeline: &mut Timeline, intel: &[Attribute]) {
    let own = timeline.incident.uuid.clone();
    let foreign: Vec<&Attribute> = intel
        .iter()
        .filter(|a| a.event.as_ref().and_then(|e| e.uuid.as_deref()) != Some(own.as_str()))
        .collect();
    let mut shared: Vec<(&Attribute, String)> = Vec::new();
    for step in &mut timeline.steps {
        let values = step.values.iter().filter(|v| INTEL_TYPES.contains(&v.kind.as_str()));
        for value in values {
            for attribute in foreign.iter().filter(|a| holds(a, &value.value)) {
                let hit = intel_hit(&value.value, attribute);
                if !step.intel.contains(&hit) {
                    step.intel.push(hit);
                }
                shared.push((attribute, value.value.clone()));
            }
        }
    }
    for related in &mut timeline.related {
        let values: Vec<&String> =
            shared.iter().filter(|(a, _)| same_event(a, related)).map(|(_, v)| v).collect();
        for value in values {
            if !related.shared_values.contains(value) {
                related.shared_values.push(value.clone());
            }
        }
    }
}

fn holds(attribute: &Attribute, value: &str) -> bool {
    let Some(own) = attribute.value.as_deref() else { return false };
    own.eq_ignore_ascii_case(value) || own.split('|').any(|part| part.eq_ignore_ascii_case(value))
}

fn same_event(attribute: &Attribute, related: &RelatedEvent) -> bool {
    let event = attribute.event.as_ref();
    let uuid = event.and_then(|e| e.uuid.as_deref());
    let id = attribute.event_id.as_deref().or_else(|| event.and_then(|e| e.id.as_deref()));
    (uuid.is_some() && uuid == related.uuid.as_deref())
        || (id.is_some() && id == related.id.as_deref())
}

fn intel_hit(value: &str, attribute: &Attribute) -> IntelHit {
    let event = attribute.event.clone().unwrap_or_default();
    let tags = TagSummary::of(attribute);
    let mut other: Vec<String> = tags.tlp.into_iter().collect();
    other.extend(tags.attack_patterns);
    other.extend(tags.galaxies);
    other.extend(tags.tags);
    IntelHit {
        value: value.to_string(),
        event_id: event.id.or_else(|| attribute.event_id.clone()),
        event_uuid: event.uuid,
        event_info: event.info.unwrap_or_default(),
        threat_level: threat_level_name(event.threat_level_id.as_deref().unwrap_or("4"))
            .to_string(),
        threat_actors: tags.threat_actors,
        tags: other,
    }
}

fn list<'a>(value: &'a Json, key: &str) -> impl Iterator<Item = &'a Json> {
    value.get(key).and_then(Json::as_array).into_iter().flatten()
}

/// The text of a member that is a string or a number.
fn text(value: &Json, key: &str) -> Option<String> {
    match value.get(key)? {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_comments_give_back_alert_and_rule() {
        let origin = parse_origin(
            "ip-src; Wazuh alert 1795424530.1, rule 5712 (level 10): sshd: brute force (x) (from data.srcip)",
        )
        .unwrap();
        assert_eq!(origin.alert_id, "1795424530.1");
        assert_eq!(origin.rule_id, "5712");
        assert_eq!(origin.rule_level, 10);
        assert_eq!(origin.description, "sshd: brute force (x)");
        assert_eq!(parse_origin("added by an analyst"), None);
    }

    #[test]
    fn steps_are_ordered_by_first_seen_and_repeats_counted() {
        let event = json!({
            "uuid": "u", "info": "Wazuh incident", "threat_level_id": "1",
            "Tag": [{"name": "wazuh:agent=\"021 FIN-APP-01\""}],
            "Object": [
                {"name": "file", "first_seen": "2026-11-18T09:20:00.000000+00:00",
                 "comment": "Wazuh alert 3, rule 554 (level 5): File added to the system.",
                 "Attribute": [{"type": "filename", "value": "svchost-update.exe"}, {"type": "sha256", "value": "ab"}]},
                {"name": "authentication-failure-report", "first_seen": "2026-11-18T09:02:10.000000+00:00",
                 "comment": "Wazuh alert 1, rule 5712 (level 10): sshd: brute force",
                 "Attribute": [{"type": "ip-src", "value": "203.0.113.45", "Sighting": [
                     {"source": "Wazuh m agent 021 FIN-APP-01, repeat of rule 5712", "date_sighting": "1795424600"},
                     {"source": "Wazuh m agent 021 FIN-APP-01", "date_sighting": "1795424650"},
                     {"source": "Wazuh m agent 021 FIN-APP-01, repeat of rule 5712", "date_sighting": "1795424700"}
                 ]}]}
            ],
            "Attribute": [
                {"type": "ip-src", "value": "203.0.113.45", "first_seen": "2026-11-18T09:10:00.000000+00:00",
                 "comment": "Wazuh alert 2, rule 40112 (level 12): Multiple authentication failures followed by a success. (from data.srcip)"}
            ],
            "RelatedEvent": [{"Event": {"id": "9", "info": "SSH scanning botnet", "Orgc": {"name": "CERT"}}}]
        });
        let timeline = from_event(&event);
        let order: Vec<&str> = timeline.steps.iter().map(|s| s.rule_id.as_str()).collect();
        assert_eq!(order, vec!["5712", "40112", "554"]);
        assert_eq!(timeline.steps[0].count, 3);
        assert_eq!(
            timeline.steps[0].last_seen.as_deref(),
            Some("2026-11-23T09:05:00.000000+00:00")
        );
        assert_eq!(
            timeline.steps[0].observation,
            "authentication-failure-report from 203.0.113.45"
        );
        assert_eq!(timeline.steps[2].observation, "file svchost-update.exe");
        assert_eq!(timeline.steps[1].agent, "021 FIN-APP-01");
        assert_eq!(timeline.incident.threat_level, "high");
        assert_eq!(timeline.related[0].org.as_deref(), Some("CERT"));
    }
}
