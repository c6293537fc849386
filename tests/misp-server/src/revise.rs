//! Editing a stored event the way MISP's event edit does: the event
//! fields sent replace the stored ones, and the attributes, objects and
//! tags sent with it are merged in by uuid. Nothing is removed unless
//! the edit marks it deleted.
//!
//! An edit runs in two steps, as in MISP: [`plan`] makes the checks
//! that refuse the whole edit and works out the event's new fields,
//! which the caller validates; [`apply`] then saves them and merges the
//! contents. Embedded items that fail their own checks are dropped
//! without a word, as MISP drops them.

use serde_json::{json, Map, Value};

use crate::intake::{self, Rules, Target};
use crate::store::{Attribute, Event, MispObject, Store, TagLink, LOCAL_ORG_ID};
use crate::{clock, fields, ids, render};

/// The event fields MISP keeps from the stored event when the edit
/// leaves them out; a change to any of them counts as a change.
const RECOVERED_EVENT: &[&str] = &["analysis", "threat_level_id", "info", "distribution", "date"];

/// The attribute fields MISP keeps from the stored attribute when the
/// edit leaves them out. `deleted` and `disable_correlation` are not
/// saved when left out, which comes to the same.
const RECOVERED_ATTRIBUTE: &[&str] = &[
    "value",
    "to_ids",
    "distribution",
    "category",
    "type",
    "comment",
    "sharing_group_id",
    "object_id",
    "object_relation",
    "first_seen",
    "last_seen",
    "deleted",
    "disable_correlation",
];

/// The event's sharing group: the server has none, so an edit to
/// distribution 4 is always refused with one of MISP's reasons.
const NO_SHARING_GROUP: &str = "Event could not be saved: Sharing group chosen as the \
                                distribution level, but no sharing group specified. Make sure \
                                that the event includes a valid sharing_group_id or change to a \
                                different distribution level.";
const UNKNOWN_SHARING_GROUP: &str = "Event could not be saved: Invalid sharing group or you \
                                     don't have access to that sharing group.";
const SHARING_GROUP_NOT_CREATED: &str =
    "Event could not be saved: User not authorised to create the associated sharing group.";
const NOT_NEWER: &str =
    "Event could not be saved: Event in the request not newer than the local copy.";
const NOT_CREATOR: &str = "Event could not be saved: The user used to edit the event is not \
                           authorised to do so. This can be caused by the user not being of the \
                           same organisation as the original creator of the event whilst also \
                           not being a site administrator.";
const NOT_FOUND: &str = "Event could not be saved: Could not find the local event.";

/// An edit that passed MISP's checks, before validation.
#[derive(Debug)]
pub struct Plan {
    /// The event being edited: the one the payload's `uuid` names, or
    /// else the one the URL names.
    pub event_id: u64,
    /// The event's fields after the edit, as JSON, for validation.
    pub fields: Value,
    /// Whether a field MISP compares has a new value.
    pub changed: bool,
}

/// A member MISP counts as set (`isset`): present and not null.
fn present<'a>(payload: &'a Value, key: &str) -> Option<&'a Value> {
    payload.get(key).filter(|v| !v.is_null())
}

/// Checks the edit `payload` (the bare event) of the event `url_event_id`
/// names; the error is MISP's reason for refusing the whole edit.
pub fn plan(store: &Store, url_event_id: u64, payload: &Value) -> Result<Plan, String> {
    let event = match present(payload, "uuid") {
        Some(uuid) => fields::text(Some(uuid))
            .filter(|u| ids::is_uuid(u))
            .and_then(|u| store.event_by_ref(&u)),
        None => store.event(url_event_id),
    };
    let event = event.ok_or(NOT_FOUND)?;
    let timestamp = match present(payload, "timestamp") {
        None => clock::now(),
        Some(sent) => fields::int(Some(sent)).filter(|t| *t > event.timestamp).ok_or(NOT_NEWER)?,
    };
    check_sharing_group(payload)?;
    if event.orgc_id != LOCAL_ORG_ID {
        return Err(NOT_CREATOR.to_owned());
    }
    let (mut merged, changed) = merged_fields(event, payload);
    merged.insert("timestamp".to_owned(), json!(timestamp));
    Ok(Plan { event_id: event.id, fields: Value::Object(merged), changed })
}

/// The event's fields after the edit, as MISP's event model sees them
/// before validation, and whether a compared one changed. Leaving out
/// `published` unpublishes.
fn merged_fields(event: &Event, payload: &Value) -> (Map<String, Value>, bool) {
    let stored = json!({
        "analysis": event.analysis,
        "threat_level_id": event.threat_level_id,
        "info": event.info,
        "distribution": event.distribution,
        "date": event.date,
    });
    let mut merged = Map::new();
    let mut changed = false;
    for key in RECOVERED_EVENT {
        let value = match present(payload, key) {
            Some(sent) => {
                changed |= differs(sent, &stored[*key]);
                sent.clone()
            }
            None => stored[*key].clone(),
        };
        merged.insert((*key).to_owned(), value);
    }
    prepare_fields(&mut merged);
    let published = fields::flag(payload.get("published")).unwrap_or(false);
    merged.insert("published".to_owned(), json!(published));
    for key in ["disable_correlation", "extends_uuid"] {
        if let Some(sent) = present(payload, key) {
            merged.insert(key.to_owned(), sent.clone());
        }
    }
    (merged, changed)
}

/// MISP's refusals of distribution 4 without a sharing group it knows.
fn check_sharing_group(payload: &Value) -> Result<(), String> {
    if fields::int(present(payload, "distribution")) != Some(4) {
        return Ok(());
    }
    let reason = if present(payload, "SharingGroup").is_some() {
        SHARING_GROUP_NOT_CREATED
    } else if present(payload, "sharing_group_id").is_some() {
        UNKNOWN_SHARING_GROUP
    } else {
        NO_SHARING_GROUP
    };
    Err(reason.to_owned())
}

/// PHP's loose `!=` between a sent value and a stored number or string.
fn differs(sent: &Value, stored: &Value) -> bool {
    match stored.as_i64() {
        Some(number) => fields::int(Some(sent)) != Some(number),
        None => fields::text(Some(sent)).as_deref() != stored.as_str(),
    }
}

/// What MISP's event model does to the fields before validating them:
/// analysis by name becomes its number, an empty date becomes today.
fn prepare_fields(merged: &mut Map<String, Value>) {
    let analysis = match merged.get("analysis").and_then(Value::as_str) {
        Some("Initial") => Some(0),
        Some("Ongoing") => Some(1),
        Some("Completed") => Some(2),
        _ => None,
    };
    if let Some(number) = analysis {
        merged.insert("analysis".to_owned(), json!(number));
    }
    if fields::is_empty(merged.get("date")) {
        merged.insert("date".to_owned(), json!(clock::today()));
    }
}

/// Saves a validated [`Plan`] and merges the attributes, objects and
/// tags of `payload` into the event. The event ends up published only
/// when the edit asks for it, and is published anew when something
/// changed.
pub fn apply(store: &mut Store, plan: &Plan, payload: &Value, rules: Rules) {
    let event_id = plan.event_id;
    save_event_fields(store, event_id, &plan.fields);
    let attributes = fields::list(payload.get("Attribute"));
    let mut changed = merge_attributes(store, event_id, 0, &attributes, rules);
    for object in fields::list(payload.get("Object")) {
        changed |= merge_object(store, event_id, &object, rules);
    }
    for tag in fields::list(payload.get("Tag")) {
        changed |= merge_event_tag(store, event_id, &tag, rules.create_tags);
    }
    // TODO: sightings, event reports and object references sent with an
    // edit are not recorded.
    let published = plan.fields["published"].as_bool().unwrap_or(false);
    if published && (plan.changed || changed) {
        if let Some(event) = store.event_mut(event_id) {
            event.published = true;
            event.publish_timestamp = clock::now();
        }
    }
}

fn save_event_fields(store: &mut Store, event_id: u64, merged: &Value) {
    let Some(event) = store.event_mut(event_id) else { return };
    let int = |key: &str| fields::int(merged.get(key));
    event.info = fields::text(merged.get("info")).unwrap_or_default();
    event.date = fields::text(merged.get("date")).unwrap_or_default();
    event.threat_level_id = int("threat_level_id").unwrap_or(event.threat_level_id);
    event.analysis = int("analysis").unwrap_or(event.analysis);
    event.distribution = int("distribution").unwrap_or(event.distribution);
    event.sharing_group_id = 0;
    event.timestamp = int("timestamp").unwrap_or(event.timestamp);
    event.published = merged["published"].as_bool().unwrap_or(false);
    if let Some(flag) = fields::flag(merged.get("disable_correlation")) {
        event.disable_correlation = flag;
    }
    if let Some(extends) = fields::text(merged.get("extends_uuid")) {
        event.extends_uuid = extends.to_lowercase();
    }
}

/// MISP unpublishes an event when an object is added to it.
fn unpublish(store: &mut Store, event_id: u64) {
    if let Some(event) = store.event_mut(event_id) {
        event.published = false;
        event.timestamp = clock::now();
    }
}

/// What becomes of one attribute of an edit.
enum Step {
    /// Stored already and not newer: left alone.
    Unchanged,
    /// Refused (invalid, a uuid of elsewhere, a sharing group); MISP
    /// still counts it as a change.
    Dropped,
    /// To be saved: a new attribute (id 0) or a revision of a stored one.
    Save(Box<Attribute>, Vec<Value>),
}

/// Merges a batch of attributes into the event, or into object
/// `object_id`. Like MISP, every attribute of the batch is checked
/// against the event as it was before the batch, and then the valid
/// ones are saved. Returns whether anything counted as a change.
fn merge_attributes(
    store: &mut Store,
    event_id: u64,
    object_id: u64,
    payloads: &[Value],
    rules: Rules,
) -> bool {
    let target = Target { event_id, object_id, ..Target::default() };
    let steps: Vec<Step> =
        payloads.iter().map(|p| attribute_step(store, p, target, rules)).collect();
    let mut changed = false;
    for step in steps {
        match step {
            Step::Unchanged => {}
            Step::Dropped => changed = true,
            Step::Save(attribute, tags) => {
                changed = true;
                if let Some(id) = save_attribute(store, *attribute) {
                    for tag in &tags {
                        merge_attribute_tag(store, id, tag, rules.create_tags);
                    }
                }
            }
        }
    }
    changed
}

/// Decides what to do with one attribute of an edit, as MISP's
/// attribute edit does: a known uuid in the same place revises the
/// stored attribute if newer, an unknown or missing uuid adds one.
fn attribute_step(store: &Store, payload: &Value, target: Target, rules: Rules) -> Step {
    let Some(sent) = payload.as_object() else { return Step::Dropped };
    let mut sent = sent.clone();
    sent.remove("id");
    let tags: Vec<Value> = fields::list(sent.get("Tag"));
    let stored = fields::text(sent.get("uuid"))
        .filter(|u| ids::is_uuid(u))
        .and_then(|u| store.attribute_by_ref(&u));
    if let Some(stored) = stored {
        if stored.event_id != target.event_id || stored.object_id != target.object_id {
            return Step::Dropped;
        }
        if !revision(&mut sent, stored) {
            return Step::Unchanged;
        }
    }
    let sent = Value::Object(sent);
    if fields::int(sent.get("distribution")) == Some(4) {
        return Step::Dropped;
    }
    match intake::build_attribute(store, &sent, target, rules, stored.map(|a| a.id)) {
        Err(_) => Step::Dropped,
        Ok(mut attribute) => {
            if let Some(stored) = stored {
                attribute.id = stored.id;
                attribute.uuid = stored.uuid.clone();
                attribute.tags = stored.tags.clone();
            }
            Step::Save(Box::new(attribute), tags)
        }
    }
}

/// Turns `sent` into the whole revised attribute: the fields it leaves
/// out come from the stored attribute, the uuid stays the stored one
/// and the timestamp moves to now unless sent. `false` when the sent
/// timestamp is not newer than the stored one.
fn revision(sent: &mut Map<String, Value>, stored: &Attribute) -> bool {
    match sent.get("timestamp").filter(|t| !t.is_null()) {
        Some(at) if fields::int(Some(at)).is_none_or(|t| t <= stored.timestamp) => return false,
        Some(_) => {}
        None => {
            sent.insert("timestamp".to_owned(), json!(clock::now()));
        }
    }
    let columns = render::attribute_columns(stored);
    for key in RECOVERED_ATTRIBUTE {
        if sent.get(*key).is_none_or(Value::is_null) {
            sent.insert((*key).to_owned(), columns[*key].clone());
        }
    }
    sent.remove("uuid");
    true
}

/// Stores a new attribute or a revision; returns its id. A new one
/// whose uuid an earlier attribute of the same batch took is skipped.
fn save_attribute(store: &mut Store, attribute: Attribute) -> Option<u64> {
    if attribute.id != 0 {
        let id = attribute.id;
        store.update_attribute(attribute);
        return Some(id);
    }
    if store.attribute_by_ref(&attribute.uuid).is_some() {
        return None;
    }
    Some(store.insert_attribute(attribute))
}

/// The tag a `{"name": ...}` entry names, created when it is unknown
/// and `create` allows it.
fn capture_tag(store: &mut Store, tag: &Value, create: bool) -> Option<u64> {
    let name = fields::text(tag.get("name")).filter(|n| !n.trim().is_empty())?;
    if let Some(known) = store.tag_named(&name) {
        return Some(known.id);
    }
    let colour = tag.get("colour").and_then(Value::as_str).filter(|c| !c.is_empty());
    create.then(|| store.ensure_tag(&name, colour))
}

/// The relationship type a tag entry sets; `None` when it sets none.
fn relationship(tag: &Value) -> Option<String> {
    fields::text(present(tag, "relationship_type")).filter(|r| !r.is_empty())
}

/// Attaches, updates or (for `"deleted": true`) detaches one tag of an
/// attribute, as MISP's attribute edit does.
fn merge_attribute_tag(store: &mut Store, attribute_id: u64, tag: &Value, create: bool) {
    let Some(tag_id) = capture_tag(store, tag, create) else { return };
    let detach = !fields::is_empty(tag.get("deleted"));
    let local = fields::flag(tag.get("local")).unwrap_or(false);
    let relationship_type = relationship(tag);
    let attached = store.attribute(attribute_id).is_some_and(|a| has_tag(&a.tags, tag_id));
    let link = (!detach && !attached).then(|| store.link(tag_id, local));
    let Some(attribute) = store.attribute_mut(attribute_id) else { return };
    if detach {
        attribute.tags.retain(|l| l.tag_id != tag_id);
    } else if let Some(mut link) = link {
        link.relationship_type = relationship_type;
        attribute.tags.push(link);
    } else if let Some(link) = attribute.tags.iter_mut().find(|l| l.tag_id == tag_id) {
        link.local = local;
        link.relationship_type = relationship_type;
    }
}

/// Attaches or (for `"deleted": true`) detaches one tag of the event, as
/// MISP's event edit does; a tag already attached only takes a new
/// relationship type. Returns whether the event's tags changed.
fn merge_event_tag(store: &mut Store, event_id: u64, tag: &Value, create: bool) -> bool {
    let Some(tag_id) = capture_tag(store, tag, create) else { return false };
    let detach = !fields::is_empty(tag.get("deleted"));
    let attached = store.event(event_id).is_some_and(|e| has_tag(&e.tags, tag_id));
    let local = !fields::is_empty(tag.get("local"));
    let link = (!detach && !attached).then(|| store.link(tag_id, local));
    let Some(event) = store.event_mut(event_id) else { return false };
    if detach {
        event.tags.retain(|l| l.tag_id != tag_id);
        return attached;
    }
    if let Some(mut link) = link {
        link.relationship_type = relationship(tag);
        event.tags.push(link);
        return true;
    }
    let sent = present(tag, "relationship_type").is_some();
    if let Some(link) = event.tags.iter_mut().find(|l| l.tag_id == tag_id).filter(|_| sent) {
        link.relationship_type = relationship(tag);
    }
    false
}

fn has_tag(links: &[TagLink], tag_id: u64) -> bool {
    links.iter().any(|l| l.tag_id == tag_id)
}

/// Merges one object of an edit: a known uuid in this event revises the
/// stored object if newer, anything else adds a new object. Returns
/// whether it counted as a change.
fn merge_object(store: &mut Store, event_id: u64, payload: &Value, rules: Rules) -> bool {
    if !payload.is_object() || fields::int(present(payload, "distribution")) == Some(4) {
        return true;
    }
    let existing = fields::text(present(payload, "uuid"))
        .filter(|u| ids::is_uuid(u))
        .and_then(|u| store.object_by_uuid(&u))
        .cloned();
    match existing {
        Some(stored) if stored.event_id != event_id => true,
        Some(stored) => revise_object(store, stored, payload, rules),
        None => add_object(store, event_id, payload, rules),
    }
}

/// Revises a stored object unless the edit's timestamp is not newer;
/// deleting it deletes its attributes, as MISP's object save does.
fn revise_object(store: &mut Store, stored: MispObject, payload: &Value, rules: Rules) -> bool {
    let timestamp = match present(payload, "timestamp") {
        Some(sent) => match fields::int(Some(sent)) {
            Some(t) if t > stored.timestamp => t,
            _ => return false,
        },
        None => clock::now(),
    };
    let Some(revised) = revised_object(&stored, payload, timestamp) else { return true };
    let (id, event_id, deleted) = (revised.id, revised.event_id, revised.deleted);
    if let Some(object) = store.object_mut(id) {
        *object = revised;
    }
    if deleted {
        delete_object_attributes(store, event_id, id);
    }
    let attributes = object_attributes(payload, deleted);
    merge_attributes(store, event_id, id, &attributes, rules);
    true
}

/// The stored object with the fields the edit sends; `None` when its
/// seen times do not validate.
fn revised_object(stored: &MispObject, payload: &Value, timestamp: i64) -> Option<MispObject> {
    let text = |key: &str| fields::text(present(payload, key));
    let mut object = stored.clone();
    object.timestamp = timestamp;
    if let Some(name) = text("name") {
        object.name = name;
    }
    if let Some(category) = text("meta-category") {
        object.meta_category = category;
    }
    if let Some(description) = text("description") {
        object.description = description;
    }
    if let Some(uuid) = text("template_uuid") {
        object.template_uuid = uuid.to_lowercase();
    }
    if let Some(version) = fields::int(present(payload, "template_version")) {
        object.template_version = version;
    }
    if let Some(distribution) = fields::int(present(payload, "distribution")) {
        object.distribution = distribution;
    }
    if let Some(comment) = text("comment") {
        object.comment = comment;
    }
    if let Some(deleted) = fields::flag(present(payload, "deleted")) {
        object.deleted = deleted;
    }
    let (first_seen, last_seen) =
        (sent_seen(payload, "first_seen"), sent_seen(payload, "last_seen"));
    if first_seen == Seen::Invalid || last_seen == Seen::Invalid {
        return None;
    }
    object.first_seen = first_seen.or(object.first_seen);
    object.last_seen = last_seen.or(object.last_seen);
    if let (Some(first), Some(last)) = (object.first_seen, object.last_seen) {
        if last < first {
            return None;
        }
    }
    Some(object)
}

/// A seen time as an object payload sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Not sent: the stored time stays.
    Unsent,
    /// Sent empty or null: no time.
    Cleared,
    /// Microseconds since the epoch.
    At(i64),
    /// Not ISO 8601, which fails the object's validation.
    Invalid,
}

impl Seen {
    /// The time after the edit, given the stored one.
    fn or(self, stored: Option<i64>) -> Option<i64> {
        match self {
            Seen::Unsent | Seen::Invalid => stored,
            Seen::Cleared => None,
            Seen::At(micros) => Some(micros),
        }
    }
}

fn sent_seen(payload: &Value, key: &str) -> Seen {
    let Some(sent) = payload.get(key) else { return Seen::Unsent };
    match fields::text(Some(sent)).filter(|t| !t.is_empty()) {
        None => Seen::Cleared,
        Some(text) => clock::parse_iso(&text).map_or(Seen::Invalid, Seen::At),
    }
}

fn delete_object_attributes(store: &mut Store, event_id: u64, object_id: u64) {
    let Some(event) = store.event(event_id) else { return };
    let ids: Vec<u64> = store
        .event_attributes(event)
        .into_iter()
        .filter(|a| a.object_id == object_id && !a.deleted)
        .map(|a| a.id)
        .collect();
    let now = clock::now();
    for id in ids {
        if let Some(mut attribute) = store.attribute(id).cloned() {
            attribute.deleted = true;
            attribute.timestamp = now;
            store.update_attribute(attribute);
        }
    }
}

/// The attributes of an object payload; those of a deleted object are
/// sent on as deleted.
fn object_attributes(payload: &Value, deleted: bool) -> Vec<Value> {
    let mut attributes = fields::list(payload.get("Attribute"));
    if deleted {
        for attribute in attributes.iter_mut().filter(|a| a.is_object()) {
            attribute["deleted"] = json!(1);
        }
    }
    attributes
}

/// Adds a new object with its attributes, each checked on its own; an
/// object that fails MISP's object rules is dropped whole.
fn add_object(store: &mut Store, event_id: u64, payload: &Value, rules: Rules) -> bool {
    if !new_object_is_valid(payload) {
        return true;
    }
    let object = intake::object_fields(payload, event_id, None);
    let deleted = object.deleted;
    let object_id = store.insert_object(object);
    unpublish(store, event_id);
    let target = Target { event_id, object_id, ..Target::default() };
    for attribute in object_attributes(payload, deleted) {
        let _ = intake::capture_attribute(store, &attribute, target, rules);
    }
    true
}

/// MISP's object rules on creation: a name, a meta-category, a
/// description when one is sent, a template uuid, a valid uuid when one
/// is sent, and seen times in ISO 8601, the last not before the first.
fn new_object_is_valid(payload: &Value) -> bool {
    let filled = |key: &str| fields::text(payload.get(key)).is_some_and(|t| !t.trim().is_empty());
    let description_ok = payload.get("description").is_none() || filled("description");
    let template_ok = fields::text(payload.get("template_uuid")).is_some_and(|u| ids::is_uuid(&u));
    let uuid_ok =
        fields::text(payload.get("uuid")).is_none_or(|u| u.is_empty() || ids::is_uuid(&u));
    let seen_ok = match (sent_seen(payload, "first_seen"), sent_seen(payload, "last_seen")) {
        (Seen::Invalid, _) | (_, Seen::Invalid) => false,
        (Seen::At(first), Seen::At(last)) => last >= first,
        _ => true,
    };
    filled("name") && filled("meta-category") && description_ok && template_ok && uuid_ok && seen_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_sent_as_a_string_is_no_change() {
        assert!(!differs(&json!("2"), &json!(2)));
        assert!(differs(&json!("Ongoing"), &json!(1)));
        assert!(!differs(&json!("Wazuh incident"), &json!("Wazuh incident")));
        assert!(differs(&json!(""), &json!("2026-09-24")));
    }

    #[test]
    fn distribution_4_is_refused_for_the_missing_sharing_group() {
        assert_eq!(
            check_sharing_group(&json!({"distribution": "4"})),
            Err(NO_SHARING_GROUP.into())
        );
        let with_id = json!({"distribution": 4, "sharing_group_id": 2});
        assert_eq!(check_sharing_group(&with_id), Err(UNKNOWN_SHARING_GROUP.into()));
        assert!(check_sharing_group(&json!({"distribution": 3})).is_ok());
    }

    #[test]
    fn a_new_object_needs_a_name_a_category_and_a_template_uuid() {
        let object = json!({"name": "file", "meta-category": "file",
            "template_uuid": "688c46fb-5edb-40a3-8273-1af7923e2215"});
        assert!(new_object_is_valid(&object));
        let mut no_template = object.clone();
        no_template["template_uuid"] = json!("file");
        assert!(!new_object_is_valid(&no_template));
        let mut backwards = object.clone();
        backwards["first_seen"] = json!("2025-09-10T08:00:00Z");
        backwards["last_seen"] = json!("2025-09-09T08:00:00Z");
        assert!(!new_object_is_valid(&backwards));
    }
}
