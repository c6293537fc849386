//! Turning incoming JSON into stored intel, with MISP's defaults and
//! validation: the same path serves the API's add endpoints and the
//! seeding of events from tests and feeds.
//!
//! Validation errors come back as MISP's `errors` object: field name to
//! a list holding one message, the first rule that failed.

use serde_json::{json, Map, Value};

use crate::store::{Attribute, Event, MispObject, Store, TagLink, LOCAL_ORG_ID};
use crate::{clock, fields, ids, types, values};

/// Validation errors by field, as MISP reports them.
pub type Errors = Map<String, Value>;

/// How strictly to take an incoming attribute.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Refuse a value already on the event (MISP's `uniqueValue`, which
    /// it drops for attributes embedded in a new event).
    pub unique: bool,
    /// Refuse values that do not fit their type; seeds skip this so
    /// that test intel is stored as written.
    pub check_values: bool,
    /// Whether unknown tags may be created.
    pub create_tags: bool,
}

/// Where an attribute goes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target {
    /// The event the attribute joins.
    pub event_id: u64,
    /// The object it belongs to; 0 for none.
    pub object_id: u64,
    /// Seen times an object passes to attributes that have none.
    pub first_seen: Option<i64>,
    /// Likewise for the last seen time.
    pub last_seen: Option<i64>,
}

fn error(errors: &mut Errors, field: &str, message: &str) {
    errors.entry(field.to_owned()).or_insert_with(|| json!([message]));
}

/// Builds and stores an attribute from `payload`, or returns why not.
pub fn capture_attribute(
    store: &mut Store,
    payload: &Value,
    target: Target,
    rules: Rules,
) -> Result<u64, Errors> {
    let mut attribute = build_attribute(store, payload, target, rules, None)?;
    attribute.tags = capture_tags(store, payload.get("Tag"), rules.create_tags);
    Ok(store.insert_attribute(attribute))
}

/// The fields kept from the stored attribute when an edit leaves them
/// out.
const KEPT_ON_EDIT: &[&str] = &[
    "value",
    "to_ids",
    "distribution",
    "category",
    "type",
    "comment",
    "first_seen",
    "last_seen",
    "disable_correlation",
];

/// Applies an edit to attribute `id` with MISP's rules: fields left out
/// keep their stored values, the timestamp moves to now unless given,
/// and tags in the edit are added.
pub fn revise_attribute(
    store: &mut Store,
    id: u64,
    changes: &Value,
    rules: Rules,
) -> Result<(), Errors> {
    let existing = store.attribute(id).cloned().expect("caller checked the attribute");
    let mut payload = changes.as_object().cloned().unwrap_or_default();
    let stored = crate::render::attribute_columns(&existing);
    for field in KEPT_ON_EDIT {
        if !payload.contains_key(*field) {
            payload.insert((*field).to_owned(), stored[*field].clone());
        }
    }
    payload.remove("uuid");
    payload.insert("object_relation".to_owned(), json!(existing.object_relation));
    let target =
        Target { event_id: existing.event_id, object_id: existing.object_id, ..Target::default() };
    let payload = Value::Object(payload);
    let mut revised = build_attribute(store, &payload, target, rules, Some(id))?;
    revised.id = id;
    revised.uuid = existing.uuid.clone();
    revised.deleted = existing.deleted;
    revised.tags = existing.tags.clone();
    let mut added = capture_tags(store, payload.get("Tag"), rules.create_tags);
    added.retain(|link| !revised.tags.iter().any(|t| t.tag_id == link.tag_id));
    revised.tags.extend(added);
    store.update_attribute(revised);
    Ok(())
}

/// Builds an attribute from `payload` with MISP's defaults and checks,
/// without storing it; `editing` names the stored attribute the payload
/// replaces, which the duplicate check leaves out. The id is 0 and the
/// tag list empty.
pub fn build_attribute(
    store: &Store,
    payload: &Value,
    target: Target,
    rules: Rules,
    editing: Option<u64>,
) -> Result<Attribute, Errors> {
    let (type_, info, relation) = check_shape(payload, target)?;
    let mut errors = Errors::new();
    let category = fields::text(payload.get("category"))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| info.default_category.to_owned());
    check_category(&category, &type_, &mut errors);
    let value = take_value(&type_, payload, rules, &mut errors);
    let uuid = take_uuid(store, payload, &mut errors);
    let distribution = take_distribution(payload, &mut errors);
    let (first_seen, last_seen) = take_seen(payload, target, &mut errors);
    // MISP's uniqueness rule passes deleted and object attributes.
    let deleted = fields::flag(payload.get("deleted")).unwrap_or(false);
    let duplicate = rules.unique
        && !deleted
        && relation.is_none()
        && errors.get("value").is_none()
        && store.has_similar(target.event_id, &type_, &category, &value, editing);
    if duplicate {
        error(&mut errors, "value", "A similar attribute already exists for this event.");
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Attribute {
        id: 0,
        event_id: target.event_id,
        object_id: target.object_id,
        object_relation: relation,
        category,
        to_ids: fields::flag(payload.get("to_ids")).unwrap_or(info.to_ids),
        type_,
        value,
        uuid,
        timestamp: positive(fields::int(payload.get("timestamp"))).unwrap_or_else(clock::now),
        distribution,
        sharing_group_id: 0,
        comment: fields::text(payload.get("comment")).unwrap_or_default(),
        deleted,
        disable_correlation: fields::flag(payload.get("disable_correlation")).unwrap_or(false),
        first_seen,
        last_seen,
        tags: Vec::new(),
    })
}

/// MISP's checks before validation proper: a known type, a single
/// value, and a relation for an object attribute. Any failure stops
/// there.
fn check_shape(
    payload: &Value,
    target: Target,
) -> Result<(String, types::TypeInfo, Option<String>), Errors> {
    let mut errors = Errors::new();
    let type_ = fields::text(payload.get("type")).unwrap_or_default();
    let info = types::info(&type_);
    let relation = fields::text(payload.get("object_relation")).filter(|r| !r.is_empty());
    if type_.is_empty() {
        error(&mut errors, "type", "No type set.");
    } else if info.is_none() {
        error(&mut errors, "type", "Invalid type.");
    } else if payload.get("value").is_some_and(Value::is_array) {
        error(&mut errors, "value", "Value is an array.");
    } else if target.object_id != 0 && relation.is_none() {
        error(&mut errors, "object_relation", "Object attribute sent, but no object_relation set.");
    }
    match info {
        Some(info) if errors.is_empty() => Ok((type_, info, relation)),
        _ => Err(errors),
    }
}

fn positive(value: Option<i64>) -> Option<i64> {
    value.filter(|v| *v > 0)
}

fn check_category(category: &str, type_: &str, errors: &mut Errors) {
    if !types::is_category(category) {
        error(
            errors,
            "category",
            "Options : Payload delivery, Antivirus detection, Payload installation, Files \
             dropped ...",
        );
    } else if !types::category_admits(category, type_) {
        error(errors, "type", "Options depend on the selected category.");
    }
}

/// The value, from `value` or from `value1` and `value2`, prepared for
/// its type.
fn take_value(type_: &str, payload: &Value, rules: Rules, errors: &mut Errors) -> String {
    let mut raw = fields::text(payload.get("value")).unwrap_or_default();
    if raw.is_empty() {
        let first = fields::text(payload.get("value1")).unwrap_or_default();
        let second = fields::text(payload.get("value2")).unwrap_or_default();
        raw = if second.is_empty() { first } else { format!("{first}|{second}") };
    }
    match values::prepare(type_, &raw) {
        Ok(value) => value,
        Err(_) if !rules.check_values => raw.trim().to_owned(),
        Err(message) => {
            error(errors, "value", &message);
            raw
        }
    }
}

fn take_uuid(store: &Store, payload: &Value, errors: &mut Errors) -> String {
    let Some(uuid) = fields::text(payload.get("uuid")).filter(|u| !u.is_empty()) else {
        return ids::random_uuid();
    };
    let uuid = uuid.to_lowercase();
    if !ids::is_uuid(&uuid) {
        error(errors, "uuid", "Please provide a valid RFC 4122 UUID");
    } else if store.attribute_by_ref(&uuid).is_some() {
        error(errors, "uuid", "The UUID provided is not unique");
    }
    uuid
}

fn take_distribution(payload: &Value, errors: &mut Errors) -> i64 {
    let distribution = fields::int(payload.get("distribution")).unwrap_or(5);
    if !(0..=5).contains(&distribution) {
        error(
            errors,
            "distribution",
            "Options: Your organisation only, This community only, Connected communities, All \
             communities, Sharing group, Inherit event",
        );
    }
    distribution
}

/// First and last seen in microseconds, inheriting an object's.
fn take_seen(payload: &Value, target: Target, errors: &mut Errors) -> (Option<i64>, Option<i64>) {
    let first = seen(payload.get("first_seen"), "first_seen", errors).or(target.first_seen);
    let last = seen(payload.get("last_seen"), "last_seen", errors).or(target.last_seen);
    if let (Some(first), Some(last)) = (first, last) {
        if first > last {
            error(errors, "last_seen", "Last seen value should be greater than first seen value");
        }
    }
    (first, last)
}

fn seen(value: Option<&Value>, field: &str, errors: &mut Errors) -> Option<i64> {
    let text = fields::text(value).filter(|t| !t.is_empty())?;
    let parsed = clock::parse_iso(&text);
    if parsed.is_none() {
        error(errors, field, "Invalid ISO 8601 format");
    }
    parsed
}

/// Links for the tags in a `Tag` list (or single tag), creating unknown
/// tags only when allowed; others are dropped, as MISP drops them.
pub fn capture_tags(store: &mut Store, tags: Option<&Value>, create: bool) -> Vec<TagLink> {
    let mut links: Vec<TagLink> = Vec::new();
    let tags = match tags {
        Some(one) if one.get("name").is_some() => vec![one.clone()],
        other => fields::list(other),
    };
    for tag in tags {
        let Some(name) = tag_name(&tag) else { continue };
        let existing = store.tag_named(&name).map(|t| t.id);
        let tag_id = match existing {
            Some(id) => id,
            None if create => store.ensure_tag(&name, tag.get("colour").and_then(Value::as_str)),
            None => continue,
        };
        if links.iter().any(|l| l.tag_id == tag_id) {
            continue;
        }
        let local = fields::flag(tag.get("local")).unwrap_or(false);
        let mut link = store.link(tag_id, local);
        link.relationship_type =
            fields::text(tag.get("relationship_type")).filter(|r| !r.is_empty());
        links.push(link);
    }
    links
}

fn tag_name(tag: &Value) -> Option<String> {
    let name = match tag {
        Value::String(name) => name.clone(),
        other => fields::text(other.get("name"))?,
    };
    let name = name.trim().to_owned();
    (!name.is_empty()).then_some(name)
}

/// An event's fields from a payload, before it has an id.
pub fn event_fields(payload: &Value) -> Event {
    let published = fields::flag(payload.get("published")).unwrap_or(false);
    let timestamp = positive(fields::int(payload.get("timestamp"))).unwrap_or_else(clock::now);
    let publish_timestamp = fields::int(payload.get("publish_timestamp")).unwrap_or(if published {
        timestamp
    } else {
        0
    });
    Event {
        uuid: fields::text(payload.get("uuid"))
            .filter(|u| !u.is_empty())
            .map(|u| u.to_lowercase())
            .unwrap_or_else(ids::random_uuid),
        info: fields::text(payload.get("info")).unwrap_or_default(),
        date: fields::text(payload.get("date")).unwrap_or_else(clock::today),
        threat_level_id: fields::int(payload.get("threat_level_id")).unwrap_or(4),
        analysis: fields::int(payload.get("analysis")).unwrap_or(0),
        distribution: fields::int(payload.get("distribution")).unwrap_or(1),
        published,
        timestamp,
        publish_timestamp,
        org_id: LOCAL_ORG_ID,
        orgc_id: LOCAL_ORG_ID,
        locked: fields::flag(payload.get("locked")).unwrap_or(false),
        disable_correlation: fields::flag(payload.get("disable_correlation")).unwrap_or(false),
        extends_uuid: fields::text(payload.get("extends_uuid")).unwrap_or_default(),
        ..Event::default()
    }
}

/// Stores the attributes and objects embedded in an event payload,
/// skipping the ones MISP would drop: invalid ones and repeated values.
pub fn capture_contents(store: &mut Store, event_id: u64, payload: &Value, rules: Rules) {
    let mut seen: Vec<(String, String, String)> = Vec::new();
    for attribute in fields::list(payload.get("Attribute")) {
        let key = (
            fields::text(attribute.get("value")).unwrap_or_default(),
            fields::text(attribute.get("type")).unwrap_or_default(),
            fields::text(attribute.get("category")).unwrap_or_default(),
        );
        let deleted = fields::flag(attribute.get("deleted")).unwrap_or(false);
        if !deleted && seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let target = Target { event_id, ..Target::default() };
        let _ = capture_attribute(store, &attribute, target, rules);
    }
    for object in fields::list(payload.get("Object")) {
        let fields = object_fields(&object, event_id, None);
        let attributes = fields::list(object.get("Attribute"));
        let _ = capture_object(store, fields, &attributes, rules);
    }
}

/// An object's fields from a payload; a known template overrides the
/// name, meta-category and version, as MISP's save does.
pub fn object_fields(
    payload: &Value,
    event_id: u64,
    template: Option<&crate::templates::Template>,
) -> MispObject {
    let text = |key: &str| fields::text(payload.get(key)).unwrap_or_default();
    let mut object = MispObject {
        name: text("name"),
        meta_category: text("meta-category"),
        description: text("description"),
        template_uuid: text("template_uuid").to_lowercase(),
        template_version: positive(fields::int(payload.get("template_version"))).unwrap_or(1),
        event_id,
        uuid: fields::text(payload.get("uuid"))
            .filter(|u| !u.is_empty())
            .map(|u| u.to_lowercase())
            .unwrap_or_else(ids::random_uuid),
        timestamp: positive(fields::int(payload.get("timestamp"))).unwrap_or_else(clock::now),
        distribution: fields::int(payload.get("distribution")).unwrap_or(5),
        comment: text("comment"),
        deleted: fields::flag(payload.get("deleted")).unwrap_or(false),
        first_seen: fields::text(payload.get("first_seen")).and_then(|t| clock::parse_iso(&t)),
        last_seen: fields::text(payload.get("last_seen")).and_then(|t| clock::parse_iso(&t)),
        ..MispObject::default()
    };
    if let Some(template) = template {
        template.apply(&mut object);
    }
    object
}

/// MISP's checks before an object is stored: it has attributes, and
/// each of them would validate. The error is MISP's message.
pub fn check_object_attributes(
    store: &Store,
    event_id: u64,
    attributes: &[Value],
    rules: Rules,
) -> Result<(), String> {
    if attributes.is_empty() {
        return Err("Could not save the object as no attributes were set.".to_owned());
    }
    let probe = Target { event_id, ..Target::default() };
    for attribute in attributes {
        if let Err(errors) = build_attribute(store, attribute, probe, rules, None) {
            let relation = fields::text(attribute.get("object_relation"))
                .unwrap_or_else(|| "No object_relation".to_owned());
            return Err(format!(
                "Could not save object as at least one attribute has failed validation \
                 ({relation}). {}",
                Value::Object(errors)
            ));
        }
    }
    Ok(())
}

/// Stores an object and its attributes after [`check_object_attributes`];
/// attributes inherit the object's seen times when they have none.
pub fn capture_object(
    store: &mut Store,
    object: MispObject,
    attributes: &[Value],
    rules: Rules,
) -> Result<u64, String> {
    check_object_attributes(store, object.event_id, attributes, rules)?;
    let target = Target {
        event_id: object.event_id,
        object_id: 0,
        first_seen: object.first_seen,
        last_seen: object.last_seen,
    };
    let object_id = store.insert_object(object);
    for attribute in attributes {
        let target = Target { object_id, ..target };
        let _ = capture_attribute(store, attribute, target, rules);
    }
    Ok(object_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: Rules = Rules { unique: true, check_values: true, create_tags: true };

    fn store_with_event() -> (Store, u64) {
        let mut store = Store::new();
        let id = store.insert_event(event_fields(&json!({"info": "x"})));
        (store, id)
    }

    #[test]
    fn a_missing_category_and_ids_flag_default_per_type() {
        let (mut store, event_id) = store_with_event();
        let target = Target { event_id, ..Target::default() };
        let id = capture_attribute(
            &mut store,
            &json!({"type": "sha256", "value": "A".repeat(64)}),
            target,
            API,
        )
        .unwrap();
        let stored = store.attribute(id).unwrap();
        assert_eq!(stored.category, "Payload delivery");
        assert!(stored.to_ids);
        assert_eq!(stored.value, "a".repeat(64));
    }

    #[test]
    fn the_same_value_type_and_category_twice_is_a_duplicate() {
        let (mut store, event_id) = store_with_event();
        let target = Target { event_id, ..Target::default() };
        let payload = json!({"type": "ip-src", "value": "10.1.1.1"});
        capture_attribute(&mut store, &payload, target, API).unwrap();
        let errors = capture_attribute(&mut store, &payload, target, API).unwrap_err();
        assert_eq!(
            Value::Object(errors),
            json!({"value": ["A similar attribute already exists for this event."]})
        );
    }

    #[test]
    fn a_deleted_attribute_is_no_duplicate() {
        let (mut store, event_id) = store_with_event();
        let target = Target { event_id, ..Target::default() };
        let payload = json!({"type": "ip-src", "value": "10.1.1.1"});
        capture_attribute(&mut store, &payload, target, API).unwrap();
        let deleted = json!({"type": "ip-src", "value": "10.1.1.1", "deleted": true});
        assert!(capture_attribute(&mut store, &deleted, target, API).is_ok());
    }

    #[test]
    fn last_seen_before_first_seen_is_refused() {
        let (mut store, event_id) = store_with_event();
        let target = Target { event_id, ..Target::default() };
        let payload = json!({"type": "ip-src", "value": "10.1.1.1",
            "first_seen": "2025-09-10T08:00:00+00:00", "last_seen": "2025-09-09T08:00:00+00:00"});
        let errors = capture_attribute(&mut store, &payload, target, API).unwrap_err();
        assert!(errors.contains_key("last_seen"));
    }

    #[test]
    fn unknown_tags_are_dropped_without_the_right_to_create_them() {
        let mut store = Store::new();
        store.ensure_tag("tlp:amber", None);
        let links =
            capture_tags(&mut store, Some(&json!([{"name": "tlp:amber"}, {"name": "new"}])), false);
        assert_eq!(links.len(), 1);
        assert!(store.tag_named("new").is_none());
    }
}
