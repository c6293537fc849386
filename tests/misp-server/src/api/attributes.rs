//! `/attributes/add`, `/attributes/edit` and `/attributes/restSearch`.

use serde_json::{json, Map, Value};

use super::events::{empty_search, search_headers};
use super::{Call, Reply};
use crate::http::Response;
use crate::intake::{self, Rules, Target};
use crate::search::AttributeQuery;
use crate::store::{Attribute, Store, LOCAL_ORG_ID};
use crate::{clock, fields, ids, render};

/// Whether the user may change the event: only its creator organisation
/// may, as for a user without site-admin rights.
fn may_modify(store: &Store, event_id: u64) -> bool {
    store.event(event_id).is_some_and(|e| e.orgc_id == LOCAL_ORG_ID)
}

const NOT_ALLOWED: &str = "You do not have permission to do that.";

/// `POST /attributes/add/{event id or uuid}` with one attribute or a list.
pub fn add(call: &Call) -> Reply {
    let Some(reference) = call.arg() else {
        return Reply::exception(405, "No event ID set.");
    };
    let mut store = call.store();
    let Some(event_id) = store.event_by_ref(reference).map(|e| e.id) else {
        return Reply::exception(404, "Invalid event");
    };
    if !may_modify(&store, event_id) {
        return Reply::exception(403, NOT_ALLOWED);
    }
    let data = call.data.clone().unwrap_or_else(|| json!({}));
    let data = data.get("Attribute").cloned().unwrap_or(data);
    if data.is_object() && fields::int(data.get("distribution")) == Some(4) {
        return Reply::exception(403, "Invalid Sharing Group or not authorised.");
    }
    let batch = split_batch(data);
    let rules = Rules { unique: true, check_values: true, create_tags: call.api.can_create_tags() };
    let mut saved = Vec::new();
    let mut fails = Map::new();
    for (index, payload) in batch.iter().enumerate() {
        let target = Target { event_id, ..Target::default() };
        match intake::capture_attribute(&mut store, payload, target, rules) {
            Ok(id) => saved.push(id),
            Err(errors) => {
                fails.insert(format!("attribute_{index}"), Value::Object(errors));
            }
        }
    }
    if saved.is_empty() {
        return nothing_saved(batch.len(), fails);
    }
    unpublish(&mut store, event_id);
    Reply::ok(added_reply(&store, &saved, fails))
}

/// The attributes of an add request: a list, one attribute, or one
/// attribute whose `value` is a list (MISP's batch form).
fn split_batch(data: Value) -> Vec<Value> {
    match data {
        Value::Array(items) => items,
        Value::Object(ref map) if map.get("value").is_some_and(Value::is_array) => {
            let values = fields::list(map.get("value"));
            values.into_iter().map(|v| with_field(&data, "value", v)).collect()
        }
        other => vec![other],
    }
}

fn with_field(data: &Value, key: &str, value: Value) -> Value {
    let mut copy = data.clone();
    copy[key] = value;
    copy
}

/// MISP's refusal when no attribute was saved: the errors of the only
/// attribute, or the errors by index of all of them.
fn nothing_saved(sent: usize, mut fails: Map<String, Value>) -> Reply {
    let errors = match (sent, fails.remove("attribute_0")) {
        (1, Some(only)) => only,
        (_, first) => {
            if let Some(first) = first {
                fails.insert("attribute_0".to_owned(), first);
            }
            Value::Object(fails)
        }
    };
    Reply::save_failed("Attribute", "add", "/attributes/add", errors)
}

/// What MISP returns for saved attributes: one as `{"Attribute",
/// "AttributeTag"}`, several as `{"Attribute": [...]}`, with `errors`
/// for those that failed.
fn added_reply(store: &Store, saved: &[u64], fails: Map<String, Value>) -> Value {
    let attributes: Vec<&Attribute> = saved.iter().filter_map(|id| store.attribute(*id)).collect();
    let mut reply = if let [only] = attributes.as_slice() {
        let tags = attribute_tags(store, only);
        json!({"Attribute": render::attribute_row(only), "AttributeTag": tags})
    } else {
        let rows: Vec<Value> = attributes.iter().map(|a| row_with_tags(store, a)).collect();
        json!({ "Attribute": rows })
    };
    if !fails.is_empty() {
        reply["errors"] = Value::Object(fails);
    }
    reply
}

fn short_tag(store: &Store, tag_id: u64) -> Option<Value> {
    let tag = store.tag(tag_id)?;
    Some(json!({"id": tag.id, "name": tag.name, "colour": tag.colour,
        "numerical_value": tag.numerical_value}))
}

fn attribute_tags(store: &Store, a: &Attribute) -> Vec<Value> {
    a.tags
        .iter()
        .filter_map(|link| {
            Some(json!({
                "id": link.id,
                "attribute_id": a.id,
                "event_id": a.event_id,
                "tag_id": link.tag_id,
                "local": link.local,
                "relationship_type": link.relationship_type,
                "Tag": short_tag(store, link.tag_id)?,
            }))
        })
        .collect()
}

fn row_with_tags(store: &Store, a: &Attribute) -> Value {
    let mut row = render::attribute_row(a);
    let tags: Vec<Value> = a.tags.iter().filter_map(|l| short_tag(store, l.tag_id)).collect();
    if !tags.is_empty() {
        row.insert("Tag".to_owned(), Value::Array(tags));
    }
    Value::Object(row)
}

/// MISP unpublishes an event whenever its contents change.
pub fn unpublish(store: &mut Store, event_id: u64) {
    if let Some(event) = store.event_mut(event_id) {
        event.published = false;
        event.timestamp = clock::now();
    }
}

/// `POST /attributes/edit/{id or uuid}`: `{"Attribute": {...}}` back.
pub fn edit(call: &Call) -> Reply {
    let reference = call.arg().unwrap_or("");
    if reference.parse::<u64>().is_err() && !ids::is_uuid(reference) {
        return Reply::exception(404, "Invalid attribute ID.");
    }
    let mut store = call.store();
    let Some(existing) = store.attribute_by_ref(reference).filter(|a| !a.deleted).cloned() else {
        return Reply::exception(404, "Invalid attribute");
    };
    if !may_modify(&store, existing.event_id) {
        return Reply::exception(403, NOT_ALLOWED);
    }
    if !matches!(call.request.method.as_str(), "POST" | "PUT") {
        return Reply::ok(json!({"name": "/attributes/edit API description",
            "url": "/attributes/edit/[attribute_id]"}));
    }
    let data = call.data.clone().unwrap_or_else(|| json!({}));
    let changes = data.get("Attribute").cloned().unwrap_or(data);
    if let Some(timestamp) = fields::int(changes.get("timestamp")) {
        if timestamp <= existing.timestamp {
            return Reply::exception(
                405,
                "Attribute could not be saved: Attribute in the request not newer than the \
                 local copy.",
            );
        }
    }
    let rules = Rules { unique: true, check_values: true, create_tags: call.api.can_create_tags() };
    if let Err(errors) = intake::revise_attribute(&mut store, existing.id, &changes, rules) {
        return Reply::save_failed("Attribute", "edit", "/attributes/edit", Value::Object(errors));
    }
    unpublish(&mut store, existing.event_id);
    let revised = store.attribute(existing.id).expect("just revised");
    Reply::ok(json!({ "Attribute": edited_row(&store, revised) }))
}

fn edited_row(store: &Store, a: &Attribute) -> Value {
    let mut row = render::attribute_columns(a);
    let tags: Vec<Value> = a
        .tags
        .iter()
        .filter_map(|link| {
            let mut tag = render::full_tag(store.tag(link.tag_id)?, link);
            let map = tag.as_object_mut()?;
            map.remove("local");
            map.remove("relationship_type");
            Some(tag)
        })
        .collect();
    if !tags.is_empty() {
        row.insert("Tag".to_owned(), Value::Array(tags));
    }
    Value::Object(row)
}

/// `POST /attributes/restSearch`: `{"response": {"Attribute": [...]}}`.
pub fn rest_search(call: &Call) -> Reply {
    let Some(data) = call.filters() else {
        return empty_search(call);
    };
    let data = data.get("request").unwrap_or(&data);
    let format = fields::text(data.get("returnFormat")).unwrap_or_else(|| "json".to_owned());
    if format != "json" && format != "download" {
        // TODO: MISP's other export formats (csv, text, stix...) are not served.
        return Reply::exception(404, "Invalid output format.");
    }
    let store = call.store();
    let query = AttributeQuery::parse(&store, data);
    let numbers = call.api.options.numbers;
    let items: Vec<String> = match call.huge_attributes {
        Some(count) => synthetic_attributes(&query, count, numbers),
        None => query
            .run(&store)
            .into_iter()
            .map(|a| {
                let mut item = render::search_attribute(&store, a, query.extras);
                render::apply_numbers(numbers, &mut item);
                item.to_string()
            })
            .collect(),
    };
    let count = items.len();
    let body = format!("{{\"response\": {{\"Attribute\": [{}]}}}}\n", items.join(","));
    Reply::Raw(search_headers(Response::json(200, body), count))
}

/// `count` attributes that all match the first value asked for, in one
/// made-up event: the reply of a MISP holding a huge, noisy feed.
fn synthetic_attributes(
    query: &AttributeQuery,
    count: usize,
    numbers: crate::options::Numbers,
) -> Vec<String> {
    let value = query.first_value().unwrap_or("198.51.100.1").to_owned();
    let type_ = query.first_type().unwrap_or("ip-dst").to_owned();
    let now = clock::now();
    let event = json!({"id": 1_000_000, "info": "Synthetic mass event",
        "uuid": ids::stable_uuid("synthetic event"), "org_id": 1, "orgc_id": 1,
        "distribution": 1, "publish_timestamp": now});
    (0..count)
        .map(|i| {
            let mut item = json!({
                "id": 1_000_000 + i, "event_id": 1_000_000, "object_id": 0, "object_relation": null,
                "category": "Network activity", "type": type_, "to_ids": true,
                "uuid": ids::stable_uuid(&format!("synthetic attribute {i}")), "timestamp": now,
                "distribution": 5, "sharing_group_id": 0, "comment": "", "deleted": false,
                "disable_correlation": false, "first_seen": null, "last_seen": null,
                "value": value, "Event": event,
            });
            render::apply_numbers(numbers, &mut item);
            item.to_string()
        })
        .collect()
}
