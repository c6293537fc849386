//! The JSON shapes of MISP 2.5.1's replies: events as `/events/view`
//! shows them, attributes as `/attributes/restSearch` lists them, tags,
//! organisations, sightings and galaxies.
//!
//! Numbers are built as JSON integers; [`apply_numbers`] turns them into
//! strings for a server configured to stringify, as MISP's database layer
//! does. Key order follows JSON semantics, not MISP's byte order.

use serde_json::{json, Map, Value};

use crate::clock;
use crate::options::Numbers;
use crate::store::{Attribute, Event, MispObject, Org, Sighting, Store, Tag, TagLink};

/// What a restSearch asked to add to each attribute.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras {
    /// `includeContext`: the whole event instead of its short form.
    pub context: bool,
    /// `includeEventTags`: the event's tags after the attribute's own.
    pub event_tags: bool,
    /// `includeSightings`: a `Sighting[]` list.
    pub sightings: bool,
    /// `includeCorrelations`: a `RelatedAttribute[]` list.
    pub correlations: bool,
    /// `includeWarninglistHits`: a `warnings[]` list when there are hits.
    pub warninglist_hits: bool,
    /// `includeEventUuid`: an `event_uuid` member.
    pub event_uuid: bool,
}

/// Rewrites every integer as a string when `numbers` asks for it, except
/// `inherited`, which MISP computes in PHP rather than reads from SQL.
pub fn apply_numbers(numbers: Numbers, value: &mut Value) {
    if matches!(numbers, Numbers::Integers) {
        return;
    }
    stringify(value);
}

fn stringify(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => *value = Value::String(n.to_string()),
        Value::Array(items) => items.iter_mut().for_each(stringify),
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key != "inherited" {
                    stringify(item);
                }
            }
        }
        _ => {}
    }
}

/// An organisation as `Org`/`Orgc` carry it.
pub fn org(org: &Org) -> Value {
    json!({"id": org.id, "name": org.name, "uuid": org.uuid, "local": org.local})
}

/// A tag with every column, as events/view shows it.
pub fn full_tag(tag: &Tag, link: &TagLink) -> Value {
    json!({
        "id": tag.id,
        "name": tag.name,
        "colour": tag.colour,
        "exportable": true,
        "user_id": 0,
        "hide_tag": false,
        "numerical_value": tag.numerical_value,
        "is_galaxy": tag.is_galaxy,
        "is_custom_galaxy": false,
        "local_only": false,
        "local": link.local,
        "relationship_type": link.relationship_type,
    })
}

/// A tag of an attribute, as restSearch shows it.
pub fn search_tag(tag: &Tag, link: &TagLink) -> Value {
    json!({
        "id": tag.id,
        "name": tag.name,
        "colour": tag.colour,
        "numerical_value": tag.numerical_value,
        "is_galaxy": tag.is_galaxy,
        "local": link.local,
    })
}

/// An event tag copied onto an attribute by `includeEventTags`.
pub fn inherited_tag(tag: &Tag) -> Value {
    json!({
        "id": tag.id,
        "name": tag.name,
        "colour": tag.colour,
        "numerical_value": tag.numerical_value,
        "inherited": 1,
    })
}

/// The attribute columns shared by every attribute reply.
pub fn attribute_columns(a: &Attribute) -> Map<String, Value> {
    let row = json!({
        "id": a.id,
        "event_id": a.event_id,
        "object_id": a.object_id,
        "object_relation": a.object_relation,
        "category": a.category,
        "type": a.type_,
        "to_ids": a.to_ids,
        "uuid": a.uuid,
        "timestamp": a.timestamp,
        "distribution": a.distribution,
        "sharing_group_id": a.sharing_group_id,
        "comment": a.comment,
        "deleted": a.deleted,
        "disable_correlation": a.disable_correlation,
        "first_seen": a.first_seen.map(clock::iso_from_micros),
        "last_seen": a.last_seen.map(clock::iso_from_micros),
        "value": a.value,
    });
    into_map(row)
}

/// A database row of an attribute, `value1` and `value2` included, as
/// the add endpoints return it.
pub fn attribute_row(a: &Attribute) -> Map<String, Value> {
    let mut row = attribute_columns(a);
    let (first, second) = a.halves();
    row.insert("value1".to_owned(), json!(first));
    row.insert("value2".to_owned(), json!(second));
    row
}

/// One sighting as an attribute carries it.
pub fn sighting(store: &Store, s: &Sighting) -> Value {
    let attribute_uuid = store.attribute(s.attribute_id).map(|a| a.uuid.clone());
    let org = store.org(s.org_id);
    let mut row = into_map(sighting_row(s));
    row.insert("attribute_uuid".to_owned(), json!(attribute_uuid));
    row.insert(
        "Organisation".to_owned(),
        json!({"id": org.id, "uuid": org.uuid, "name": org.name}),
    );
    Value::Object(row)
}

/// A sighting's database row.
pub fn sighting_row(s: &Sighting) -> Value {
    json!({
        "id": s.id,
        "attribute_id": s.attribute_id,
        "event_id": s.event_id,
        "org_id": s.org_id,
        "date_sighting": s.date_sighting,
        "uuid": s.uuid,
        "source": s.source,
        "type": s.type_,
    })
}

/// The sightings of one attribute.
pub fn sightings_of(store: &Store, attribute_id: u64) -> Vec<Value> {
    store
        .sightings
        .iter()
        .filter(|s| s.attribute_id == attribute_id)
        .map(|s| sighting(store, s))
        .collect()
}

/// Warninglist hits of an attribute, as `warnings[]` lists them. MISP
/// checks only attributes flagged for IDS.
pub fn warnings(store: &Store, a: &Attribute) -> Vec<Value> {
    if !a.to_ids {
        return Vec::new();
    }
    store
        .warninglists
        .iter()
        .filter_map(|list| {
            let (matched, value) = list.hit_attribute(&a.type_, &a.value)?;
            Some(json!({
                "match": matched,
                "value": value,
                "warninglist_id": list.id,
                "warninglist_name": list.name,
                "warninglist_category": list.category,
            }))
        })
        .collect()
}

/// `{"Event": {...}}` with everything `/events/view` shows.
pub fn event_view(store: &Store, event: &Event) -> Value {
    full_event(store, event, true)
}

/// `{"Event": {...}}` as MISP answers a saved event (`/events/add` and
/// `/events/edit`): the view without warninglist hits, which MISP looks
/// up only for the view.
pub fn event_saved(store: &Store, event: &Event) -> Value {
    full_event(store, event, false)
}

fn full_event(store: &Store, event: &Event, warnings: bool) -> Value {
    let mut body = event_columns(store, event);
    let attributes = store.event_attributes(event);
    let loose: Vec<Value> = attributes
        .iter()
        .filter(|a| a.object_id == 0 && !a.deleted)
        .map(|a| view_attribute(store, a, warnings))
        .collect();
    body.insert("Org".to_owned(), org(store.org(event.org_id)));
    body.insert("Orgc".to_owned(), org(store.org(event.orgc_id)));
    body.insert("Attribute".to_owned(), Value::Array(loose));
    body.insert("ShadowAttribute".to_owned(), json!([]));
    body.insert("RelatedEvent".to_owned(), Value::Array(related_events(store, event)));
    body.insert("Galaxy".to_owned(), Value::Array(galaxies(store, &event.tags, "event_tag_id")));
    let objects = view_objects(store, event, &attributes, warnings);
    body.insert("Object".to_owned(), Value::Array(objects));
    body.insert("EventReport".to_owned(), json!([]));
    body.insert("CryptographicKey".to_owned(), json!([]));
    if let Some(tags) = full_tags(store, &event.tags) {
        body.insert("Tag".to_owned(), tags);
    }
    json!({ "Event": body })
}

/// The event's own columns.
fn event_columns(store: &Store, event: &Event) -> Map<String, Value> {
    let attribute_count = store.event_attributes(event).iter().filter(|a| !a.deleted).count();
    into_map(json!({
        "id": event.id,
        "orgc_id": event.orgc_id,
        "org_id": event.org_id,
        "date": event.date,
        "threat_level_id": event.threat_level_id,
        "info": event.info,
        "published": event.published,
        "uuid": event.uuid,
        "attribute_count": attribute_count,
        "analysis": event.analysis,
        "timestamp": event.timestamp,
        "distribution": event.distribution,
        "proposal_email_lock": false,
        "locked": event.locked,
        "publish_timestamp": event.publish_timestamp,
        "sharing_group_id": event.sharing_group_id,
        "disable_correlation": event.disable_correlation,
        "extends_uuid": event.extends_uuid,
        "protected": null,
    }))
}

/// An attribute inside a whole event, with its warninglist hits when
/// `warnings` asks for them.
fn view_attribute(store: &Store, a: &Attribute, warnings: bool) -> Value {
    let mut row = attribute_columns(a);
    row.insert("Galaxy".to_owned(), Value::Array(galaxies(store, &a.tags, "attribute_tag_id")));
    row.insert("ShadowAttribute".to_owned(), json!([]));
    if let Some(tags) = full_tags(store, &a.tags) {
        row.insert("Tag".to_owned(), tags);
    }
    let sightings = sightings_of(store, a.id);
    if !sightings.is_empty() {
        row.insert("Sighting".to_owned(), Value::Array(sightings));
    }
    let hits = if warnings { self::warnings(store, a) } else { Vec::new() };
    if !hits.is_empty() {
        row.insert("warnings".to_owned(), Value::Array(hits));
    }
    Value::Object(row)
}

/// Objects of an event with their live attributes; MISP leaves out
/// objects that have none.
fn view_objects(
    store: &Store,
    event: &Event,
    attributes: &[&Attribute],
    warnings: bool,
) -> Vec<Value> {
    let mut objects = Vec::new();
    for object in event.object_ids.iter().filter_map(|id| store.object(*id)) {
        let inner: Vec<Value> = attributes
            .iter()
            .filter(|a| a.object_id == object.id && !a.deleted)
            .map(|a| view_attribute(store, a, warnings))
            .collect();
        if object.deleted || inner.is_empty() {
            continue;
        }
        let mut row = object_columns(object);
        row.insert("ObjectReference".to_owned(), json!([]));
        row.insert("Attribute".to_owned(), Value::Array(inner));
        objects.push(Value::Object(row));
    }
    objects
}

/// An object's own columns.
pub fn object_columns(o: &MispObject) -> Map<String, Value> {
    into_map(json!({
        "id": o.id,
        "name": o.name,
        "meta-category": o.meta_category,
        "description": o.description,
        "template_uuid": o.template_uuid,
        "template_version": o.template_version,
        "event_id": o.event_id,
        "uuid": o.uuid,
        "timestamp": o.timestamp,
        "distribution": o.distribution,
        "sharing_group_id": o.sharing_group_id,
        "comment": o.comment,
        "deleted": o.deleted,
        "first_seen": o.first_seen.map(clock::iso_from_micros),
        "last_seen": o.last_seen.map(clock::iso_from_micros),
    }))
}

fn full_tags(store: &Store, links: &[TagLink]) -> Option<Value> {
    let tags: Vec<Value> = links
        .iter()
        .filter_map(|link| store.tag(link.tag_id).map(|tag| full_tag(tag, link)))
        .collect();
    (!tags.is_empty()).then_some(Value::Array(tags))
}

/// Other events sharing a correlating value with `event`, newest date
/// first, each as `{"Event": {..., "Org", "Orgc"}}`.
pub fn related_events(store: &Store, event: &Event) -> Vec<Value> {
    let mut ids: Vec<u64> = Vec::new();
    for a in store.event_attributes(event) {
        for other in store.correlations(a) {
            let Some(other) = store.attribute(other) else { continue };
            if !ids.contains(&other.event_id) {
                ids.push(other.event_id);
            }
        }
    }
    let mut related: Vec<&Event> = ids.iter().filter_map(|id| store.event(*id)).collect();
    related.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
    related.into_iter().map(|e| json!({ "Event": related_event(store, e) })).collect()
}

fn related_event(store: &Store, e: &Event) -> Value {
    json!({
        "id": e.id,
        "date": e.date,
        "threat_level_id": e.threat_level_id,
        "info": e.info,
        "published": e.published,
        "uuid": e.uuid,
        "analysis": e.analysis,
        "timestamp": e.timestamp,
        "distribution": e.distribution,
        "org_id": e.org_id,
        "orgc_id": e.orgc_id,
        "Org": short_org(store.org(e.org_id)),
        "Orgc": short_org(store.org(e.orgc_id)),
    })
}

fn short_org(org: &Org) -> Value {
    json!({"id": org.id, "name": org.name, "uuid": org.uuid})
}

/// Galaxies of the clusters that galaxy tags in `links` name, each with
/// its clusters, grouped by galaxy as MISP does.
pub fn galaxies(store: &Store, links: &[TagLink], link_key: &str) -> Vec<Value> {
    let mut galaxies: Vec<Value> = Vec::new();
    for link in links {
        let Some(tag) = store.tag(link.tag_id).filter(|t| t.is_galaxy) else { continue };
        let Some(found) = store.clusters.get(&tag.name.to_lowercase()) else { continue };
        let mut cluster = found.cluster.clone();
        cluster[link_key] = json!(link.id);
        cluster["tag_id"] = json!(tag.id);
        cluster["local"] = json!(link.local);
        cluster["relationship_type"] = json!(false);
        add_cluster(&mut galaxies, &found.galaxy, cluster);
    }
    galaxies
}

fn add_cluster(galaxies: &mut Vec<Value>, galaxy: &Value, cluster: Value) {
    let same = |g: &&mut Value| g.get("uuid") == galaxy.get("uuid");
    if let Some(existing) = galaxies.iter_mut().find(same) {
        if let Some(list) = existing["GalaxyCluster"].as_array_mut() {
            list.push(cluster);
        }
        return;
    }
    let mut galaxy = galaxy.clone();
    galaxy["GalaxyCluster"] = json!([cluster]);
    galaxies.push(galaxy);
}

/// An attribute as `/attributes/restSearch` lists it.
pub fn search_attribute(store: &Store, a: &Attribute, extras: Extras) -> Value {
    let mut row = attribute_columns(a);
    let event = store.event(a.event_id).expect("attribute of a live event");
    add_search_extras(store, a, extras, &mut row);
    if extras.event_uuid {
        row.insert("event_uuid".to_owned(), json!(event.uuid));
    }
    let event_value = if extras.context { event_context(store, event) } else { event_brief(event) };
    row.insert("Event".to_owned(), event_value);
    if let Some(object) = store.object(a.object_id) {
        let brief = json!({"id": object.id, "distribution": object.distribution,
            "sharing_group_id": object.sharing_group_id});
        row.insert("Object".to_owned(), brief);
    }
    let tags = search_tags(store, a, event, extras.event_tags);
    if !tags.is_empty() {
        row.insert("Tag".to_owned(), Value::Array(tags));
    }
    Value::Object(row)
}

fn add_search_extras(store: &Store, a: &Attribute, extras: Extras, row: &mut Map<String, Value>) {
    if extras.sightings {
        row.insert("Sighting".to_owned(), Value::Array(sightings_of(store, a.id)));
    }
    if extras.correlations {
        let related = store.correlations(a).into_iter().filter_map(|id| store.attribute(id));
        let related: Vec<Value> = related.map(|other| related_attribute(store, other)).collect();
        row.insert("RelatedAttribute".to_owned(), Value::Array(related));
    }
    if extras.warninglist_hits {
        let warnings = warnings(store, a);
        if !warnings.is_empty() {
            row.insert("warnings".to_owned(), Value::Array(warnings));
        }
    }
}

/// The attribute's own tags, then, when asked, its event's.
fn search_tags(store: &Store, a: &Attribute, event: &Event, with_event: bool) -> Vec<Value> {
    let own = a.tags.iter().filter_map(|l| store.tag(l.tag_id).map(|t| search_tag(t, l)));
    let mut tags: Vec<Value> = own.collect();
    if with_event {
        tags.extend(event.tags.iter().filter_map(|l| store.tag(l.tag_id).map(inherited_tag)));
    }
    tags
}

/// The short `Event` of a restSearch attribute.
fn event_brief(e: &Event) -> Value {
    json!({
        "id": e.id,
        "info": e.info,
        "uuid": e.uuid,
        "org_id": e.org_id,
        "orgc_id": e.orgc_id,
        "distribution": e.distribution,
        "publish_timestamp": e.publish_timestamp,
    })
}

/// The `Event` of a restSearch attribute under `includeContext`.
fn event_context(store: &Store, e: &Event) -> Value {
    let tags: Vec<Value> = e
        .tags
        .iter()
        .filter_map(|link| store.tag(link.tag_id).map(|tag| (tag, link)))
        .map(|(tag, link)| {
            json!({"local": link.local, "id": tag.id, "name": tag.name, "colour": tag.colour,
                "numerical_value": tag.numerical_value})
        })
        .collect();
    json!({
        "id": e.id,
        "orgc_id": e.orgc_id,
        "org_id": e.org_id,
        "date": e.date,
        "threat_level_id": e.threat_level_id,
        "info": e.info,
        "published": e.published,
        "uuid": e.uuid,
        "analysis": e.analysis,
        "timestamp": e.timestamp,
        "distribution": e.distribution,
        "publish_timestamp": e.publish_timestamp,
        "sharing_group_id": e.sharing_group_id,
        "extends_uuid": e.extends_uuid,
        "Tag": tags,
        "Orgc": org(store.org(e.orgc_id)),
    })
}

/// A correlating attribute under `includeCorrelations`.
fn related_attribute(store: &Store, a: &Attribute) -> Value {
    let e = store.event(a.event_id).expect("attribute of a live event");
    json!({
        "id": a.id,
        "event_id": a.event_id,
        "object_id": a.object_id,
        "object_relation": a.object_relation,
        "category": a.category,
        "type": a.type_,
        "value": a.value,
        "uuid": a.uuid,
        "timestamp": a.timestamp,
        "distribution": a.distribution,
        "sharing_group_id": a.sharing_group_id,
        "to_ids": a.to_ids,
        "comment": a.comment,
        "Event": {
            "id": e.id,
            "uuid": e.uuid,
            "threat_level_id": e.threat_level_id,
            "analysis": e.analysis,
            "info": e.info,
            "extends_uuid": e.extends_uuid,
            "distribution": e.distribution,
            "sharing_group_id": e.sharing_group_id,
            "published": e.published,
            "date": e.date,
            "orgc_id": e.orgc_id,
            "org_id": e.org_id,
        },
    })
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stringified_numbers_spare_booleans_and_inherited() {
        let mut value = json!({"id": 3, "to_ids": true, "Tag": [{"inherited": 1, "id": 4}]});
        apply_numbers(Numbers::Strings, &mut value);
        assert_eq!(value, json!({"id": "3", "to_ids": true, "Tag": [{"inherited": 1, "id": "4"}]}));
    }
}
