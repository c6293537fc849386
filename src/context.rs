//! What MISP itself knows about the events an alert's IoCs matched: their
//! galaxy clusters (threat actors, malware families, tools, ATT&CK
//! patterns) with their descriptions, read from one event view per
//! distinct matched event and remembered between runs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::misp::MispClient;

/// The most events whose context one run reads.
pub const MAX_EVENTS: usize = 3;

/// The context of each event in `events` (ids or uuids), at most
/// [`MAX_EVENTS`] of them, from the cache or an event view. An event that
/// cannot be read has no context; that is logged, never fatal.
pub fn of_events(
    client: &MispClient,
    url: &str,
    events: &[String],
    cache: &Cache,
    ttl: Duration,
    deadline: &Deadline,
) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for event in events.iter().take(MAX_EVENTS) {
        let key = format!("misp|event-context|{url}|{event}");
        let context = match cache.get(&key) {
            Some(context) => context,
            None => match client.get(&format!("/events/view/{event}"), deadline) {
                Ok(body) => {
                    let view: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let context = summarise(view.get("Event").unwrap_or(&view));
                    cache.put(&key, &context, ttl);
                    context
                }
                Err(err) => {
                    log::warn!("context of MISP event {event} not read: {err}");
                    continue;
                }
            },
        };
        out.insert(event.clone(), context);
    }
    out
}

/// The galaxy clusters of an event, sorted by what they are.
pub fn summarise(event: &Value) -> Value {
    let mut sorted: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let galaxies = event["Galaxy"].as_array().into_iter().flatten();
    for cluster in galaxies.flat_map(|g| g["GalaxyCluster"].as_array().into_iter().flatten()) {
        let kind = cluster["type"].as_str().unwrap_or_default();
        let (Some(class), Some(name)) = (class_of(kind), cluster["value"].as_str()) else {
            continue;
        };
        let entry = if class == "threat_actors" { actor(name, cluster) } else { json!(name) };
        sorted.entry(class).or_default().push(entry);
    }
    // Galaxy tags without a Galaxy block (feeds often carry only the tag).
    for (kind, name) in galaxy_tags(event) {
        let Some(class) = class_of(kind) else { continue };
        let entries = sorted.entry(class).or_default();
        if !entries.iter().any(|e| e.as_str() == Some(name) || e["name"].as_str() == Some(name)) {
            entries.push(if class == "threat_actors" {
                json!({"name": name})
            } else {
                json!(name)
            });
        }
    }
    let mut out = json!({});
    for (class, entries) in sorted {
        out[class] = json!(entries);
    }
    let tags = cluster_tags(event);
    if !tags.is_empty() {
        out["tags"] = json!(tags);
    }
    out
}

/// `(galaxy type, cluster name)` of every `misp-galaxy:` tag of the event.
fn galaxy_tags(event: &Value) -> Vec<(&str, &str)> {
    let names = event["Tag"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str());
    names
        .filter_map(|tag| tag.strip_prefix("misp-galaxy:")?.split_once('='))
        .map(|(kind, name)| (kind, name.trim_matches('"')))
        .collect()
}

/// Which list a galaxy type's clusters go to.
fn class_of(kind: &str) -> Option<&'static str> {
    match kind {
        "threat-actor" | "mitre-intrusion-set" => Some("threat_actors"),
        "malpedia" | "mitre-malware" | "ransomware" | "banker" | "botnet" | "stealer" | "rat" => {
            Some("malware")
        }
        "mitre-tool" | "tool" => Some("tools"),
        "mitre-attack-pattern" => Some("attack_patterns"),
        _ => None,
    }
}

fn actor(name: &str, cluster: &Value) -> Value {
    let mut entry = json!({"name": name});
    let meta = &cluster["meta"];
    let first = |key: &str| {
        meta[key].as_array().and_then(|v| v.first()).and_then(Value::as_str).map(str::to_string)
    };
    if let Some(country) = first("country") {
        entry["country"] = json!(country);
    }
    if let Some(synonyms) = meta["synonyms"].as_array() {
        entry["synonyms"] =
            json!(synonyms.iter().filter_map(Value::as_str).take(5).collect::<Vec<_>>());
    }
    if let Some(description) = cluster["description"].as_str() {
        entry["description"] = json!(description.chars().take(200).collect::<String>());
    }
    entry
}

/// The galaxy tags of an event's threat actors, malware and tools, for
/// the observation that matched it.
fn cluster_tags(event: &Value) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let galaxies = event["Galaxy"].as_array().into_iter().flatten();
    for cluster in galaxies.flat_map(|g| g["GalaxyCluster"].as_array().into_iter().flatten()) {
        let wanted =
            cluster["type"].as_str().and_then(class_of).is_some_and(|c| c != "attack_patterns");
        if let (true, Some(tag)) = (wanted, cluster["tag_name"].as_str()) {
            tags.push(tag.to_string());
        }
    }
    for (kind, name) in galaxy_tags(event) {
        let tag = format!("misp-galaxy:{kind}=\"{name}\"");
        let wanted = class_of(kind).is_some_and(|c| c != "attack_patterns");
        if wanted && !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_sorted_into_actors_malware_tools_and_patterns() {
        let event = json!({"Galaxy": [
            {"GalaxyCluster": [{"type": "threat-actor", "value": "Glass Heron", "description": "Fictional.",
                "meta": {"country": ["ZZ"], "synonyms": ["Grey Wader"]}}]},
            {"GalaxyCluster": [{"type": "malpedia", "value": "InvoiceLoader"}, {"type": "mitre-attack-pattern", "value": "User Execution - T1204"}]},
            {"GalaxyCluster": [{"type": "sector", "value": "Finance"}]}
        ]});
        assert_eq!(
            summarise(&event),
            json!({
                "attack_patterns": ["User Execution - T1204"],
                "malware": ["InvoiceLoader"],
                "threat_actors": [{"name": "Glass Heron", "country": "ZZ", "synonyms": ["Grey Wader"], "description": "Fictional."}]
            })
        );
    }
}
