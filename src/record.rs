//! Writing a recording plan to MISP with as few requests as the state of
//! the incident allows: one when the incident exists, two when the alert
//! is its first (the observation travels inside the new event) or a
//! repeat (a sighting on the earlier observation), three only when two
//! runs race to create the same incident.

use std::fmt;
use std::time::Duration;

use log::debug;
use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::enrich::Verdict;
use crate::incident::{self, Observation, Plan};
use crate::misp::reply::SearchReply;
use crate::misp::{ErrorKind, MispClient, MispError};

/// What recording did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// The observation was added to the existing incident.
    Added,
    /// The incident was created with the observation in it.
    Created,
    /// The same observation was there already: a sighting counts the
    /// repeat.
    Repeat,
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Recorded::Added => "added",
            Recorded::Created => "created",
            Recorded::Repeat => "repeat",
        })
    }
}

/// How long the store remembers that an observation is in its incident:
/// a repeat within it costs one sighting instead of a refused add first.
const OBSERVED_TTL: Duration = Duration::from_secs(24 * 3600);

/// Records `plan` in MISP. `source` names the Wazuh manager and agent in
/// sightings. A `replay` of a write kept during an outage first checks
/// that the repeat it would sight was not sighted already. `store`
/// remembers the observations recorded, so that a burst of repeats goes
/// straight to their sighting.
pub fn record(
    client: &MispClient,
    plan: &Plan,
    source: &str,
    replay: bool,
    store: &Cache,
    deadline: &Deadline,
) -> Result<Recorded, MispError> {
    let known = plan
        .observation
        .first_attribute_uuid()
        .map(|uuid| format!("observed|{}|{}|{uuid}", client.url(), plan.event_uuid));
    if let Some(key) = known.as_deref().filter(|k| !replay && store.get(k).is_some()) {
        if post_repeat(client, plan, source, deadline)? {
            return Ok(Recorded::Repeat);
        }
        // The observation is gone (the incident was deleted): record anew.
        store.forget(key);
    }
    let done = match add_observation(client, plan, &plan.observation, deadline) {
        Ok(()) => {
            raise_threat_level(client, plan, deadline)?;
            Recorded::Added
        }
        Err(err) if is_missing_event(&err) => create(client, plan, false, deadline)?,
        Err(err) if is_missing_template(&err) => record_flat(client, plan, deadline)?,
        Err(err) if is_duplicate(&err) => sight_repeat(client, plan, source, replay, deadline)?,
        Err(err) => return Err(err),
    };
    if let Some(key) = known {
        store.put(&key, &Value::Bool(true), OBSERVED_TTL);
    }
    Ok(done)
}

/// Records the observation as plain attributes, for a server without the
/// object's template.
fn record_flat(
    client: &MispClient,
    plan: &Plan,
    deadline: &Deadline,
) -> Result<Recorded, MispError> {
    debug!("object template {} unknown to MISP: recording plain attributes", template_of(plan));
    let flat = Observation::Attributes(plan.observation.as_attributes());
    match add_observation(client, plan, &flat, deadline) {
        Ok(()) => Ok(Recorded::Added),
        Err(err) if is_missing_event(&err) => create(client, plan, true, deadline),
        Err(err) if is_duplicate(&err) => Ok(Recorded::Repeat),
        Err(err) => Err(err),
    }
}

/// Creates the incident with the observation embedded. Another run may
/// have created it in the meantime ("already exists"): then the
/// observation is added to that one.
fn create(
    client: &MispClient,
    plan: &Plan,
    flat: bool,
    deadline: &Deadline,
) -> Result<Recorded, MispError> {
    match client.post("/events/add", &plan.event_with_observation(flat), deadline) {
        Ok(_) => Ok(Recorded::Created),
        Err(err) if is_existing_event(&err) => {
            debug!("incident {} was created by another run", plan.event_uuid);
            let observation = if flat {
                Observation::Attributes(plan.observation.as_attributes())
            } else {
                plan.observation.clone()
            };
            match add_observation(client, plan, &observation, deadline) {
                Err(err) if is_duplicate(&err) => Ok(Recorded::Repeat),
                other => other.map(|()| Recorded::Added),
            }
        }
        Err(err) => Err(err),
    }
}

fn add_observation(
    client: &MispClient,
    plan: &Plan,
    observation: &Observation,
    deadline: &Deadline,
) -> Result<(), MispError> {
    let event = &plan.event_uuid;
    let (path, body) = match observation {
        Observation::Object { template, object } => {
            (format!("/objects/add/{event}/{template}"), json!({"Object": object}))
        }
        Observation::Attributes(list) => {
            (format!("/attributes/add/{event}"), Value::Array(list.clone()))
        }
    };
    client.post(&path, &body, deadline).map(drop)
}

/// The incident takes the highest threat level of its alerts. Events are
/// created at the level of their first alert, medium or high, so the only
/// change ever needed is up to high.
fn raise_threat_level(
    client: &MispClient,
    plan: &Plan,
    deadline: &Deadline,
) -> Result<(), MispError> {
    if plan.threat_level != 1 {
        return Ok(());
    }
    let body = json!({"Event": {"threat_level_id": "1"}});
    client.post(&format!("/events/edit/{}", plan.event_uuid), &body, deadline).map(drop)
}

/// A repeat is counted by a sighting on the earlier observation's first
/// attribute, dated by the alert.
fn sight_repeat(
    client: &MispClient,
    plan: &Plan,
    source: &str,
    replay: bool,
    deadline: &Deadline,
) -> Result<Recorded, MispError> {
    let Some(uuid) = plan.observation.first_attribute_uuid() else {
        return Ok(Recorded::Repeat);
    };
    let repeat = incident::repeat_source(source, &plan.rule_id);
    if replay && !is_repeat(client, plan, &uuid, &repeat, deadline)? {
        return Ok(Recorded::Repeat);
    }
    post_repeat(client, plan, source, deadline)?;
    Ok(Recorded::Repeat)
}

/// Sights the observation's first attribute as a repeat, dated by the
/// alert. Returns whether MISP had the attribute.
fn post_repeat(
    client: &MispClient,
    plan: &Plan,
    source: &str,
    deadline: &Deadline,
) -> Result<bool, MispError> {
    let Some(uuid) = plan.observation.first_attribute_uuid() else { return Ok(true) };
    let source = incident::repeat_source(source, &plan.rule_id);
    let body = json!({"uuid": uuid, "source": source, "type": "0", "timestamp": plan.epoch});
    let reply = client.post("/sightings/add", &body, deadline)?;
    // MISP answers 200 with a message when no attribute has the uuid: the
    // earlier observation was plain attributes of another rule, or it is
    // gone.
    let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
    if reply.get("Sighting").is_none() {
        debug!(
            "repeat not sighted: {}",
            reply["message"].as_str().unwrap_or("no sighting in the reply")
        );
        return Ok(false);
    }
    Ok(true)
}

/// The most objects of module results added to an incident per alert.
const MAX_ENRICHMENT_OBJECTS: usize = 4;

/// For a write sent again: whether the observation MISP holds is an
/// earlier alert's (a repeat still to sight), not this alert's own from an
/// earlier attempt whose reply was lost (first seen at this alert's time),
/// nor a repeat sighted already.
fn is_repeat(
    client: &MispClient,
    plan: &Plan,
    uuid: &str,
    source: &str,
    deadline: &Deadline,
) -> Result<bool, MispError> {
    let body = json!({"returnFormat": "json", "uuid": uuid, "limit": 1});
    let reply = client.post("/attributes/restSearch", &body, deadline)?;
    let held = serde_json::from_slice::<SearchReply>(&reply).map(SearchReply::into_attributes);
    let first_seen = held.ok().and_then(|a| a.into_iter().next()).and_then(|a| a.first_seen);
    let instant = |text: &str| crate::timestamp::parse(text).ok().map(|t| t.timestamp_micros());
    if first_seen.as_deref().and_then(instant).is_some_and(|t| Some(t) == instant(&plan.seen)) {
        return Ok(false);
    }
    let first_value = plan.observation.values().into_iter().next().unwrap_or_default();
    Ok(!already_sighted(client, source, plan.epoch, deadline)?.contains(&first_value))
}

/// What one module answered about one IoC, as it is added to the
/// incident.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModuleAnswer {
    /// The module.
    pub module: String,
    /// Its results: legacy typed values or misp_standard attributes and
    /// objects.
    pub results: Value,
}

impl ModuleAnswer {
    /// The answers of the verdicts that have results.
    pub fn of(verdicts: &[(usize, &Verdict)]) -> Vec<ModuleAnswer> {
        verdicts
            .iter()
            .filter(|(_, v)| v.status == "ok")
            .map(|(_, v)| ModuleAnswer { module: v.module.clone(), results: v.results.clone() })
            .collect()
    }
}

/// Adds what the modules said to the incident, beside the observation:
/// legacy typed values and misp_standard attributes in one request, each
/// misp_standard object in one more (at most four). Everything is
/// `to_ids: false`, commented with the module and the IoC, and carries a
/// uuid derived from them, so a repeat adds nothing.
pub fn add_enrichment(
    client: &MispClient,
    plan: &Plan,
    answers: &[ModuleAnswer],
    deadline: &Deadline,
) -> Result<(), MispError> {
    let mut attributes = Vec::new();
    let mut objects = Vec::new();
    for answer in answers {
        let comment =
            format!("misp-modules {} for the observation at {}", answer.module, plan.seen);
        collect_results(plan, answer, &comment, &mut attributes, &mut objects);
    }
    // A misp_standard answer repeats the attribute it was asked about: the
    // observation holds that value already.
    let observed = plan.observation.values();
    attributes.retain(|a| a["value"].as_str().is_none_or(|v| !observed.iter().any(|o| o == v)));
    for object in objects.into_iter().take(MAX_ENRICHMENT_OBJECTS) {
        let template = object["template_uuid"].as_str().unwrap_or_default().to_string();
        let path = format!("/objects/add/{}/{template}", plan.event_uuid);
        match client.post(&path, &json!({"Object": object}), deadline) {
            // Without the template, the object's values still belong beside
            // the observation: as attributes naming their relation.
            Err(err) if is_missing_template(&err) => attributes.extend(flattened(plan, &object)),
            Err(err) if !is_duplicate(&err) => return Err(err),
            _ => {}
        }
    }
    if attributes.is_empty() {
        return Ok(());
    }
    let path = format!("/attributes/add/{}", plan.event_uuid);
    match client.post(&path, &Value::Array(attributes), deadline) {
        Err(err) if !is_duplicate(&err) => Err(err),
        _ => Ok(()),
    }
}

/// The attributes of a module's object, each commented with the object
/// and its relation, for a server without the object's template.
fn flattened(plan: &Plan, object: &Value) -> Vec<Value> {
    let name = object["name"].as_str().unwrap_or("object");
    let comment = object["comment"].as_str().unwrap_or_default();
    let attributes = object["Attribute"].as_array().into_iter().flatten();
    attributes
        .filter_map(|a| {
            let (kind, value) = (a["type"].as_str()?, a["value"].as_str()?);
            let relation = a["object_relation"].as_str().unwrap_or(kind);
            let key = format!("{name}|{relation}|{value}|{}", plan.seen);
            Some(json!({
                "uuid": incident::child_uuid(&plan.event_uuid, &key),
                "type": kind, "value": value, "to_ids": false, "distribution": 5,
                "comment": format!("{name} {relation}; {comment}"),
            }))
        })
        .collect()
}

/// The attributes and objects of one module answer, ready for the
/// incident.
fn collect_results(
    plan: &Plan,
    answer: &ModuleAnswer,
    comment: &str,
    attributes: &mut Vec<Value>,
    objects: &mut Vec<Value>,
) {
    let stamp = |kind: &str, value: &str| {
        let name = format!("{}|{}|{kind}|{value}", answer.module, plan.seen);
        incident::child_uuid(&plan.event_uuid, &name)
    };
    let attribute = |kind: &str, value: &str| {
        json!({"uuid": stamp(kind, value), "type": kind, "value": value, "to_ids": false,
               "distribution": 5, "comment": comment, "disable_correlation": kind == "text"})
    };
    match &answer.results {
        Value::Array(items) => {
            for item in items {
                let kind = item["types"][0].as_str().unwrap_or("text");
                for value in crate::enrich::legacy_values(item) {
                    attributes.push(attribute(kind, &value));
                }
            }
        }
        Value::Object(map) => {
            for a in map.get("Attribute").and_then(Value::as_array).into_iter().flatten() {
                if let (Some(kind), Some(value)) = (a["type"].as_str(), a["value"].as_str()) {
                    attributes.push(attribute(kind, value));
                }
            }
            for o in map.get("Object").and_then(Value::as_array).into_iter().flatten() {
                let mut object = o.clone();
                let name = object["name"].as_str().unwrap_or("object").to_string();
                object["uuid"] = json!(stamp("object", &name));
                object["comment"] = json!(comment);
                object["distribution"] = json!(5);
                for a in object["Attribute"].as_array_mut().into_iter().flatten() {
                    a["to_ids"] = json!(false);
                    if let Some(map) = a.as_object_mut() {
                        map.remove("uuid");
                    }
                }
                objects.push(object);
            }
        }
        _ => {}
    }
}

/// The values MISP holds a sighting of from `source` at `epoch`: a kept
/// sighting that reached MISP before the reply was lost is not sent again.
pub fn already_sighted(
    client: &MispClient,
    source: &str,
    epoch: i64,
    deadline: &Deadline,
) -> Result<std::collections::HashSet<String>, MispError> {
    let body = json!({"from": epoch, "to": epoch, "source": source, "type": "0"});
    let reply = client.post("/sightings/restSearch", &body, deadline)?;
    let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
    let rows = reply["response"].as_array().cloned().unwrap_or_default();
    // A composite attribute (`domain|ip`) was sighted for either half.
    let values = rows.iter().filter_map(|row| row["Sighting"]["value"].as_str());
    Ok(values.flat_map(|v| v.split('|')).map(str::to_string).collect())
}

/// Adds a sighting (type 0) to every attribute holding one of `values`:
/// MISP then shows when and where its intel was seen.
pub fn sight_intel(
    client: &MispClient,
    values: &[&str],
    source: &str,
    epoch: i64,
    deadline: &Deadline,
) -> Result<(), MispError> {
    let body = json!({"values": values, "source": source, "type": "0", "timestamp": epoch});
    client.post("/sightings/add", &body, deadline).map(drop)
}

fn template_of(plan: &Plan) -> &str {
    match &plan.observation {
        Observation::Object { template, .. } => template,
        Observation::Attributes(_) => "-",
    }
}

fn is_missing_event(err: &MispError) -> bool {
    err.kind == ErrorKind::NotFound && err.message.starts_with("Invalid event")
}

fn is_missing_template(err: &MispError) -> bool {
    err.kind == ErrorKind::NotFound && err.message.starts_with("Invalid template")
}

fn is_existing_event(err: &MispError) -> bool {
    err.kind == ErrorKind::NotFound && err.message.starts_with("Event already exists")
}

/// MISP refuses an observation it has already: the object uuid is taken,
/// or the attribute is a duplicate on the event.
fn is_duplicate(err: &MispError) -> bool {
    err.kind == ErrorKind::Refused
        && (err.message.contains("not unique")
            || err.message.contains("similar attribute already exists"))
}
