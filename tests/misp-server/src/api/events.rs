//! `/events/view`, `/events/add`, `/events/edit` and `/events/restSearch`.

use serde_json::{json, Value};

use super::{Call, Reply};
use crate::http::Response;
use crate::intake::{self, Errors, Rules};
use crate::search::EventQuery;
use crate::store::LOCAL_ORG_ID;
use crate::{fields, ids, render, revise};

/// `GET /events/view/{id|uuid}`, and `HEAD` for a bare existence check.
pub fn view(call: &Call) -> Reply {
    let reference = call.arg().unwrap_or("");
    let store = call.store();
    let event = store.event_by_ref(reference);
    if call.request.method == "HEAD" {
        let status = if event.is_some() { 200 } else { 404 };
        return Reply::Raw(Response::new(status, "text/html; charset=UTF-8", Vec::new()));
    }
    let addressable = reference.parse::<u64>().is_ok() || ids::is_uuid(reference);
    match event.filter(|_| addressable) {
        Some(event) => Reply::ok(render::event_view(&store, event)),
        None => Reply::exception(404, "Invalid event"),
    }
}

/// `POST /events/add` with `{"Event": {...}}` or the bare event.
pub fn add(call: &Call) -> Reply {
    let Some(data) = call.data.as_ref().filter(|d| !fields::is_empty(Some(d))) else {
        return Reply::exception(405, "No valid event data received.");
    };
    let data = data.get("response").or(data.get("request")).unwrap_or(data);
    let payload = fields::unwrap(data, "Event");
    // MISP checks the sharing group before looking at anything else.
    if fields::int(payload.get("distribution")) == Some(4) {
        return Reply::exception(405, "Invalid Sharing Group or not authorised.");
    }
    let mut store = call.store();
    let uuid = fields::text(payload.get("uuid")).map(|u| u.to_lowercase());
    if uuid.as_ref().is_some_and(|u| store.blocklist.contains(u)) {
        return Reply::exception(403, "Event blocked by event blocklist.");
    }
    if is_published_and_empty(payload) {
        let message = "Received a published event that was empty. Event add process blocked.";
        let errors = json!({ "Event": message });
        return Reply::save_failed("Event", "add", "/events/add", errors);
    }
    if let Some(existing) = uuid.as_deref().and_then(|u| store.event_by_ref(u)) {
        let location = format!("{}/events/{}", call.api.base_url, existing.id);
        let message = "Event already exists, if you would like to edit it, use the url in the \
                       location header.";
        return Reply::exception(404, message).with_header("Location", location);
    }
    let errors = validate(payload);
    if !errors.is_empty() {
        return Reply::save_failed("Event", "add", "/events/add", json!({"Event": errors}));
    }
    let create_tags = call.api.can_create_tags();
    let mut event = intake::event_fields(&with_analysis_number(payload));
    event.orgc_id = LOCAL_ORG_ID;
    event.tags = intake::capture_tags(&mut store, payload.get("Tag"), create_tags);
    let id = store.insert_event(event);
    let rules = Rules { unique: false, check_values: true, create_tags };
    intake::capture_contents(&mut store, id, payload, rules);
    let event = store.event(id).expect("just stored");
    Reply::ok(render::event_saved(&store, event))
}

/// `POST` or `PUT /events/edit/{id or uuid}` with `{"Event": {...}}` or
/// the bare event: the whole event back, as after an add. `GET`
/// describes the call.
pub fn edit(call: &Call) -> Reply {
    let method = call.request.method.as_str();
    if method == "GET" {
        return describe_edit();
    }
    let reference = call.arg().unwrap_or("");
    let addressable = reference.parse::<u64>().is_ok() || ids::is_uuid(reference);
    let mut store = call.store();
    let Some(event) = store.event_by_ref(reference).filter(|_| addressable) else {
        return Reply::exception(404, "Invalid event");
    };
    if event.orgc_id != LOCAL_ORG_ID {
        return Reply::exception(403, "You are not authorised to do that.");
    }
    if !matches!(method, "POST" | "PUT") {
        // MISP goes on to render its HTML form, which has no JSON view.
        return Reply::exception(500, "An Internal Error Has Occurred.");
    }
    let id = event.id;
    let data = call.data.clone().unwrap_or_else(|| json!({}));
    let data = data.get("response").unwrap_or(&data);
    let payload = fields::unwrap(data, "Event");
    let plan = match revise::plan(&store, id, payload) {
        Ok(plan) => plan,
        Err(reason) => return edit_failed(id, json!(reason)),
    };
    let errors = validate(&plan.fields);
    if !errors.is_empty() {
        return edit_failed(id, Value::Object(errors));
    }
    let rules = Rules { unique: true, check_values: true, create_tags: call.api.can_create_tags() };
    revise::apply(&mut store, &plan, payload, rules);
    // TODO: the `metadata` named parameter, which leaves out the
    // contents, is not served.
    let event = store.event(id).expect("an edit keeps the event");
    Reply::ok(render::event_saved(&store, event))
}

/// MISP's failed save of event `id`.
fn edit_failed(id: u64, errors: Value) -> Reply {
    Reply::save_failed("Event", "edit", &format!("/events/edit/{id}"), errors).with_id(json!(id))
}

/// What MISP answers `GET /events/edit`.
fn describe_edit() -> Reply {
    Reply::ok(json!({
        "name": "/events/edit API description",
        "description": "POST a MISP Event JSON to this API to update an Event. Contained \
                        objects can also be included (such as attributes, objects, tags, etc). \
                        If the timestamp is set, it has to be newer than the existing Attribute.",
        "mandatory_fields": [],
        "optional_fields": ["info", "threat_level_id", "analysis", "distribution",
            "sharing_group_id", "uuid", "published", "timestamp", "date", "Attribute", "Object",
            "Shadow_Attribute", "EventTag"],
        "url": "/events/edit/[event_id]",
    }))
}

fn is_published_and_empty(payload: &Value) -> bool {
    fields::flag(payload.get("published")).unwrap_or(false)
        && fields::is_empty(payload.get("Attribute"))
        && fields::is_empty(payload.get("Object"))
        && fields::is_empty(payload.get("EventReport"))
}

/// MISP accepts `analysis` by name as well.
fn with_analysis_number(payload: &Value) -> Value {
    let mut payload = payload.clone();
    let named = match payload.get("analysis").and_then(Value::as_str) {
        Some("Initial") => Some(0),
        Some("Ongoing") => Some(1),
        Some("Completed") => Some(2),
        _ => None,
    };
    if let Some(number) = named {
        payload["analysis"] = json!(number);
    }
    payload
}

/// MISP's event validation rules, in its field order.
fn validate(payload: &Value) -> Errors {
    let mut errors = Errors::new();
    let mut fail = |field: &str, message: &str| {
        errors.insert(field.to_owned(), json!([message]));
    };
    if let Some(date) = fields::text(payload.get("date")) {
        if crate::clock::parse_date(&date).is_none() {
            fail("date", "Expected date format: YYYY-MM-DD");
        }
    }
    if !in_range(payload.get("threat_level_id"), 1, 4) {
        fail("threat_level_id", "Options : 1, 2, 3, 4 (for High, Medium, Low, Undefined)");
    }
    if !in_range(payload.get("distribution"), 0, 4) {
        fail(
            "distribution",
            "Options : Your organisation only, This community only, Connected communities, All \
             communities",
        );
    }
    let analysis = with_analysis_number(payload);
    if !in_range(analysis.get("analysis"), 0, 2) {
        fail("analysis", "Options : 0, 1, 2 (for Initial, Ongoing, Completed)");
    }
    match fields::text(payload.get("info")) {
        None => fail("info", "valueNotEmpty"),
        Some(info) if info.trim().is_empty() => fail("info", "Info cannot be empty."),
        Some(_) => {}
    }
    let uuid = fields::text(payload.get("uuid")).filter(|u| !u.is_empty());
    if uuid.is_some_and(|u| !ids::is_uuid(&u)) {
        fail("uuid", "Please provide a valid RFC 4122 UUID");
    }
    errors
}

/// Absent, or an integer within `low..=high`.
fn in_range(value: Option<&Value>, low: i64, high: i64) -> bool {
    match value {
        None | Some(Value::Null) => true,
        other => fields::int(other).is_some_and(|n| (low..=high).contains(&n)),
    }
}

/// `POST /events/restSearch`: `{"response": [{"Event": {...}}, ...]}`.
pub fn rest_search(call: &Call) -> Reply {
    let Some(data) = call.filters() else {
        return empty_search(call);
    };
    let data = data.get("request").unwrap_or(&data);
    let store = call.store();
    let events = EventQuery::parse(&store, data).run(&store);
    let count = events.len();
    let mut parts: Vec<String> = Vec::with_capacity(count);
    for event in events {
        let mut view = render::event_view(&store, event);
        render::apply_numbers(call.api.options.numbers, &mut view);
        parts.push(view.to_string());
    }
    let body = format!("{{\"response\": [{}]}}\n", parts.join(","));
    Reply::Raw(search_headers(Response::json(200, body), count))
}

/// The 400 MISP gives a POST search without a JSON body, or the GET
/// refusal.
pub fn empty_search(call: &Call) -> Reply {
    if call.request.method == "GET" {
        return Reply::exception(
            400,
            "Restsearch queries using GET and no parameters are not allowed. If you have passed \
             parameters via a JSON body, make sure you use POST requests.",
        );
    }
    Reply::thrown(
        400,
        "Either specify the search terms in the url, or POST a json with the filter parameters.",
        &super::action_url(&call.request.path),
    )
}

/// The headers MISP's restSearch adds.
pub fn search_headers(response: Response, count: usize) -> Response {
    response
        .with_header("X-Result-Count", count.to_string())
        .with_header("X-Export-Module-Used", "json")
        .with_header("X-Response-Format", "json")
        .with_header("X-Skipped-Elements-Count", "0")
}
