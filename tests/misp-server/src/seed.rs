//! Seeding intel the way a MISP instance gets it from a feed: events in
//! MISP's feed form, with their creator organisation, tags, galaxies,
//! attributes and objects, and whole feed folders.
//!
//! Seeded events keep their uuids, dates, timestamps and publication
//! state; ids are given anew. Values are normalised as MISP normalises
//! them, but a value that fails its type's check is kept as written.

use std::fs;
use std::io;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::intake::{self, Rules};
use crate::store::{Cluster, Store, LOCAL_ORG_ID};
use crate::{fields, ids};

const SEED_RULES: Rules = Rules { unique: false, check_values: false, create_tags: true };

/// Stores one event given as `{"Event": {...}}` or bare; returns its id.
/// An event whose uuid is already stored replaces nothing and returns
/// the stored id.
pub fn add_event(store: &mut Store, event: &Value) -> u64 {
    let payload = fields::unwrap(event, "Event");
    let mut fields = intake::event_fields(payload);
    if let Some(existing) = store.event_by_ref(&fields.uuid) {
        return existing.id;
    }
    fields.orgc_id = creator(store, payload.get("Orgc"));
    fields.tags = intake::capture_tags(store, payload.get("Tag"), true);
    let id = store.insert_event(fields);
    register_galaxies(store, id, payload.get("Galaxy"));
    intake::capture_contents(store, id, payload, SEED_RULES);
    id
}

/// Loads every event a MISP feed folder lists in its `manifest.json`;
/// returns how many were loaded.
pub fn load_feed(store: &mut Store, dir: &Path) -> io::Result<usize> {
    let manifest: Value = read_json(&dir.join("manifest.json"))?;
    let Some(entries) = manifest.as_object() else {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "manifest.json is not an object"));
    };
    let mut loaded = 0;
    for uuid in entries.keys() {
        let event = read_json(&dir.join(format!("{uuid}.json")))?;
        add_event(store, &event);
        loaded += 1;
    }
    Ok(loaded)
}

fn read_json(path: &Path) -> io::Result<Value> {
    let text = fs::read_to_string(path)?;
    serde_json::from_str(&text)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))
}

/// The creator organisation of a seeded event; the local one if none.
fn creator(store: &mut Store, orgc: Option<&Value>) -> u64 {
    let Some(orgc) = orgc.filter(|o| o.is_object()) else {
        return LOCAL_ORG_ID;
    };
    let name = fields::text(orgc.get("name")).unwrap_or_else(|| "unknown".to_owned());
    let uuid = fields::text(orgc.get("uuid")).filter(|u| ids::is_uuid(u));
    store.org_for(&name, uuid.as_deref())
}

/// Remembers the clusters of `galaxies` so that their tags resolve, and
/// tags the event with them as MISP's galaxy attachment does.
fn register_galaxies(store: &mut Store, event_id: u64, galaxies: Option<&Value>) {
    for galaxy in fields::list(galaxies) {
        let mut bare = numeric_ids(&galaxy);
        bare.remove("GalaxyCluster");
        let galaxy_id = next_galaxy_id(store, &bare);
        bare.insert("id".to_owned(), json!(galaxy_id));
        for cluster in fields::list(galaxy.get("GalaxyCluster")) {
            let Some(tag_name) = fields::text(cluster.get("tag_name")) else { continue };
            let mut cluster = numeric_ids(&cluster);
            cluster.insert("galaxy_id".to_owned(), json!(galaxy_id));
            cluster.entry("meta").or_insert_with(|| json!({}));
            let tag_id = store.ensure_tag(&tag_name, Some("#0088cc"));
            tag_event(store, event_id, tag_id);
            let entry =
                Cluster { galaxy: Value::Object(bare.clone()), cluster: Value::Object(cluster) };
            store.clusters.insert(tag_name.to_lowercase(), entry);
        }
    }
}

/// The id of a galaxy already seen by uuid, or the next free one.
fn next_galaxy_id(store: &Store, galaxy: &Map<String, Value>) -> u64 {
    let uuid = galaxy.get("uuid");
    let known = store.clusters.values().find(|c| c.galaxy.get("uuid") == uuid);
    if let Some(id) = known.and_then(|c| c.galaxy.get("id")).and_then(Value::as_u64) {
        return id;
    }
    let highest = store.clusters.values().filter_map(|c| c.galaxy.get("id")?.as_u64()).max();
    highest.unwrap_or(0) + 1
}

fn tag_event(store: &mut Store, event_id: u64, tag_id: u64) {
    let tagged = store.event(event_id).is_some_and(|e| e.tags.iter().any(|l| l.tag_id == tag_id));
    if tagged {
        return;
    }
    let link = store.link(tag_id, false);
    if let Some(event) = store.event_mut(event_id) {
        event.tags.push(link);
    }
}

/// A galaxy or cluster object with numeric strings turned into numbers
/// for its id-like keys, so that both number renderings stay consistent.
fn numeric_ids(value: &Value) -> Map<String, Value> {
    let mut map = value.as_object().cloned().unwrap_or_default();
    for (key, item) in map.iter_mut() {
        let id_like = key == "id" || key.ends_with("_id") || key.ends_with("version");
        let id_like = id_like || key == "distribution";
        if let (true, Some(number)) = (id_like, item.as_str().and_then(|s| s.parse::<i64>().ok())) {
            *item = json!(number);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_event_keeps_its_uuid_creator_and_galaxy_tags() {
        let mut store = Store::new();
        let event = json!({"Event": {
            "uuid": "8F3C2B71-4D5E-4A9B-9C1D-2E7F60A4B315",
            "info": "brute force",
            "published": true,
            "Orgc": {"name": "Northwind CERT", "uuid": "0b6c3e8a-91f2-4d7e-b5a4-7c2e19d8f063"},
            "Tag": [{"name": "tlp:green"}],
            "Galaxy": [{"uuid": "g1", "name": "Threat Actor", "GalaxyCluster": [
                {"value": "Copper Lantern",
                 "tag_name": "misp-galaxy:threat-actor=\"Copper Lantern\""}
            ]}],
            "Attribute": [{"type": "ip-src", "value": "198.51.100.7"}]
        }});
        let id = add_event(&mut store, &event);
        let stored = store.event(id).unwrap();
        assert_eq!(stored.uuid, "8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315");
        assert_eq!(store.org(stored.orgc_id).name, "Northwind CERT");
        assert_eq!(stored.tags.len(), 2);
        assert_eq!(store.event_attributes(stored).len(), 1);
        assert_eq!(add_event(&mut store, &event), id);
    }
}
