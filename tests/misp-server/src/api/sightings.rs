//! `/sightings/add`: sighting every attribute with a value, or one
//! attribute by id or uuid.

use serde_json::{json, Value};

use super::reply::php_json;
use super::{Call, Reply};
use crate::http::Response;
use crate::store::{Sighting, Store, LOCAL_ORG_ID};
use crate::{clock, fields, ids, render};

/// `POST /sightings/add[/{id or uuid}]` with `{"values", "source",
/// "type", "timestamp"}` or `{"id"}` / `{"uuid"}`.
pub fn add(call: &Call) -> Reply {
    let empty = json!({});
    let data = call.data.as_ref().unwrap_or(&empty);
    let data = data.get("request").unwrap_or(data);
    let data = fields::unwrap(data, "Sighting");
    let mut store = call.store();
    match save(&mut store, call.arg(), data) {
        Ok(sighting) => Reply::ok(json!({ "Sighting": render::sighting_row(&sighting) })),
        Err(reason) => {
            let message = format!("Could not add the Sighting. Reason: {reason}");
            let body = php_json(&json!({ "message": message }));
            Reply::Raw(Response::json(200, body))
        }
    }
}

/// `POST /sightings/restSearch` with `from` and `to` (seconds, both
/// inclusive; else the last 30 days), `source` and `type`: `{"response":
/// [{"Sighting": {..., "value"}}]}`.
pub fn rest_search(call: &Call) -> Reply {
    let empty = json!({});
    let data = call.data.as_ref().unwrap_or(&empty);
    let data = data.get("request").unwrap_or(data);
    let now = clock::now();
    let from = fields::int(data.get("from")).unwrap_or(now - 30 * 86_400);
    let to = fields::int(data.get("to")).unwrap_or(i64::MAX);
    let source = fields::text(data.get("source"));
    let kind = fields::int(data.get("type"));
    let store = call.store();
    let rows: Vec<Value> = store
        .sightings
        .iter()
        .filter(|s| (from..=to).contains(&s.date_sighting))
        .filter(|s| source.as_ref().is_none_or(|want| *want == s.source))
        .filter(|s| kind.is_none_or(|want| want == s.type_))
        .map(|s| {
            let mut row = render::sighting_row(s);
            let value = store.attribute(s.attribute_id).map(|a| a.value.clone());
            row["value"] = json!(value.unwrap_or_default());
            json!({ "Sighting": row })
        })
        .collect();
    Reply::ok(json!({ "response": rows }))
}

/// Adds the sightings; the last one made, or MISP's reason for none.
fn save(store: &mut Store, path_id: Option<&str>, data: &Value) -> Result<Sighting, String> {
    let kind = fields::int(data.get("type")).unwrap_or(0);
    let known_kind = data.get("type").is_none_or(|t| fields::int(Some(t)).is_some());
    if !known_kind || !(0..=2).contains(&kind) {
        return Err("Invalid type, please change it before you POST 1000000 sightings.".to_owned());
    }
    let target = path_id
        .map(str::to_owned)
        .or_else(|| fields::text(data.get("uuid")))
        .or_else(|| fields::text(data.get("id")))
        .filter(|t| !t.is_empty());
    let attribute_ids = match target {
        Some(target) => by_reference(store, &target),
        None => by_values(store, data)?,
    };
    if attribute_ids.is_empty() {
        return Err("No valid attributes found that match the criteria.".to_owned());
    }
    let when = timestamp(data);
    let source = fields::text(data.get("source")).unwrap_or_default().trim().to_owned();
    let mut last = None;
    for attribute_id in attribute_ids {
        last = Some(sight(store, attribute_id, kind, when, &source));
    }
    Ok(last.expect("at least one attribute"))
}

fn by_reference(store: &Store, target: &str) -> Vec<u64> {
    store.attribute_by_ref(target).filter(|a| !a.deleted).map(|a| vec![a.id]).unwrap_or_default()
}

fn by_values(store: &Store, data: &Value) -> Result<Vec<u64>, String> {
    let values = match data.get("value") {
        Some(value) => vec![value.clone()],
        None => fields::list(data.get("values")),
    };
    let values: Vec<String> = values.iter().filter_map(|v| fields::text(Some(v))).collect();
    if values.is_empty() {
        return Err("No valid attributes found.".to_owned());
    }
    let mut found: Vec<u64> = values
        .iter()
        .flat_map(|v| store.attributes_with_value(v).iter().copied())
        .filter(|id| store.attribute(*id).is_some_and(|a| !a.deleted))
        .collect();
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// `date` plus `time`, else `timestamp`, else now.
fn timestamp(data: &Value) -> i64 {
    let date = fields::text(data.get("date")).filter(|d| !d.is_empty());
    let time = fields::text(data.get("time")).filter(|t| !t.is_empty());
    if let (Some(date), Some(time)) = (date, time) {
        if let Some(micros) = clock::parse_iso(&format!("{date}T{time}")) {
            return micros / 1_000_000;
        }
    }
    fields::int(data.get("timestamp")).unwrap_or_else(clock::now)
}

/// Records one sighting; an expiration replaces this organisation's
/// earlier expiration of the attribute, as in MISP.
fn sight(store: &mut Store, attribute_id: u64, kind: i64, when: i64, source: &str) -> Sighting {
    let event_id = store.attribute(attribute_id).map(|a| a.event_id).unwrap_or(0);
    if kind == 2 {
        store.sightings.retain(|s| {
            !(s.attribute_id == attribute_id && s.type_ == 2 && s.org_id == LOCAL_ORG_ID)
        });
    }
    let id = store.next_sighting_id();
    let sighting = Sighting {
        id,
        attribute_id,
        event_id,
        org_id: LOCAL_ORG_ID,
        date_sighting: when,
        uuid: ids::random_uuid(),
        source: source.to_owned(),
        type_: kind,
    };
    store.sightings.push(sighting.clone());
    sighting
}
