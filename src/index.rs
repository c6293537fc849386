//! The indicator index: intel kept in the store, from imported feeds and
//! from a MISP server mirrored by `feed sync`, that answers lookups in the
//! shape of MISP's attribute search without a network call.
//!
//! Every attribute is indexed under the normalised form of its value (of
//! both halves of a composite value), so that a lookup is one indexed
//! query however many attributes the index holds. Events are kept once,
//! with their context (info, threat level, organisation, tags, galaxies),
//! and joined to the attributes a lookup finds. Each event belongs to a
//! source: a feed's name, or the URL of the mirrored MISP server.

use std::collections::{HashMap, HashSet};

use anyhow::{anyhow, Context, Result};
use rusqlite::{params, params_from_iter, Connection, Transaction};
use serde_json::Value;

use crate::cache::Cache;
use crate::intel;
use crate::ioc::{self, Ioc};
use crate::misp::reply::{Attribute, Event};
use crate::misp::SearchFilters;

/// What the index holds of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// The feed's name or the MISP server's URL.
    pub source: String,
    /// Events kept.
    pub events: u64,
    /// Attributes kept.
    pub attributes: u64,
}

/// The form a value is indexed and looked up under: addresses in their
/// canonical text, everything else in ASCII lower case without a
/// trailing dot, as [`intel::attribute_matches`] compares them.
pub fn key(value: &str) -> String {
    let value = value.trim();
    if let Some(ip) = ioc::parse_ip(value) {
        return ip.to_string();
    }
    value.strip_suffix('.').unwrap_or(value).to_ascii_lowercase()
}

/// The attributes in the index matching any of `iocs`, each with its event
/// and the event's tags merged into its own, as MISP's search with
/// `includeEventTags` returns them. `to_ids`, `published_only`, `tags`
/// and `limit` are applied as MISP applies them; warninglists are MISP's
/// own and do not apply here. Fails when the store is not available.
pub fn search(store: &Cache, iocs: &[Ioc], filters: &SearchFilters) -> Result<Vec<Attribute>> {
    let db = store.db().ok_or_else(|| anyhow!("the store is not available"))?;
    let keys: Vec<String> = iocs.iter().map(|i| key(&i.value)).collect();
    let marks = vec!["?"; keys.len()].join(",");
    let sql = format!(
        "SELECT i.body, e.id, e.body FROM indicator i JOIN intel_event e ON e.id = i.event
         WHERE i.key IN ({marks}) ORDER BY i.rowid"
    );
    let mut statement = db.prepare_cached(&sql).context("reading the indicator index")?;
    let rows = statement
        .query_map(params_from_iter(keys.iter()), |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
        })
        .context("reading the indicator index")?;
    let mut found = Vec::new();
    let mut seen = HashSet::new();
    // The IoCs of one alert often hit one event: it is read once.
    let mut events: HashMap<i64, Option<Event>> = HashMap::new();
    for row in rows {
        let (attribute, event_id, event) = row.context("reading the indicator index")?;
        let event = events.entry(event_id).or_insert_with(|| serde_json::from_str(&event).ok());
        let Some(attribute) = joined(&attribute, event.as_ref()) else { continue };
        let wanted = iocs.iter().any(|ioc| intel::attribute_matches(ioc, &attribute))
            && passes(&attribute, filters);
        if wanted && seen.insert(attribute.uuid.clone()) {
            found.push(attribute);
        }
        if found.len() >= filters.limit.max(1) {
            break;
        }
    }
    Ok(found)
}

/// An attribute row with its event.
fn joined(attribute: &str, event: Option<&Event>) -> Option<Attribute> {
    let mut attribute: Attribute = serde_json::from_str(attribute).ok()?;
    let event = event?.clone();
    attribute.tags.extend(event.tags.iter().cloned());
    attribute.event_id = attribute.event_id.or_else(|| event.id.clone());
    attribute.event = Some(event);
    Some(attribute)
}

fn passes(attribute: &Attribute, filters: &SearchFilters) -> bool {
    let to_ids = filters.to_ids.is_none_or(|want| attribute.to_ids.unwrap_or(false) == want);
    let published = !filters.published_only
        || attribute.event.as_ref().is_none_or(|e| e.published != Some(false));
    let tagged = filters.tags.is_empty()
        || attribute.tags.iter().any(|t| t.name.as_ref().is_some_and(|n| filters.tags.contains(n)));
    to_ids && published && tagged
}

/// Runs `work` on the index of `source` in one transaction, committed when
/// `work` succeeds. Fails when the store is not available.
pub fn write<T>(
    store: &Cache,
    source: &str,
    work: impl FnOnce(&mut Writer) -> Result<T>,
) -> Result<T> {
    let mut db = store.db().ok_or_else(|| anyhow!("the store is not available"))?;
    let tx = db.transaction().context("writing the indicator index")?;
    let mut writer = Writer { tx, source: source.to_string() };
    let done = work(&mut writer)?;
    writer.tx.commit().context("writing the indicator index")?;
    Ok(done)
}

/// Changes to the index of one source, inside one transaction.
pub struct Writer<'a> {
    tx: Transaction<'a>,
    source: String,
}

impl Writer<'_> {
    /// Keeps `event` (MISP's event JSON; its attributes, objects and
    /// correlations are left out) under `uuid` and returns its row id.
    /// With `replace`, the attributes indexed for it before are dropped.
    pub fn put_event(&mut self, uuid: &str, event: &Value, replace: bool) -> Result<i64> {
        let body = compact(context_of(event));
        let id: i64 = self
            .tx
            .prepare_cached(
                "INSERT INTO intel_event (source, uuid, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source, uuid) DO UPDATE SET body = excluded.body
                 RETURNING id",
            )?
            .query_row(params![self.source, uuid, body.to_string()], |r| r.get(0))?;
        if replace {
            self.tx.prepare_cached("DELETE FROM indicator WHERE event = ?1")?.execute([id])?;
        }
        Ok(id)
    }

    /// Indexes `attribute` of the event with row id `event`, under each
    /// part of its value; an attribute of the same uuid indexed before is
    /// replaced. A deleted attribute is only removed. Returns whether it
    /// was indexed.
    pub fn put_attribute(&mut self, event: i64, attribute: &Attribute) -> Result<bool> {
        let uuid = attribute.uuid.clone().unwrap_or_default();
        if !uuid.is_empty() {
            self.remove_attribute(&uuid)?;
        }
        let Some(value) = attribute.value.as_deref().filter(|v| !v.trim().is_empty()) else {
            return Ok(false);
        };
        if attribute.deleted == Some(true) {
            return Ok(false);
        }
        let mut stored = attribute.clone();
        stored.event = None;
        let body = compact(serde_json::to_value(&stored)?).to_string();
        let composite = attribute.kind.as_deref().is_some_and(|k| k.contains('|'));
        let mut keys: Vec<String> =
            if composite { value.split('|').map(key).collect() } else { vec![key(value)] };
        keys.dedup();
        let mut insert = self.tx.prepare_cached(
            "INSERT INTO indicator (key, event, uuid, body) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for key in keys.iter().filter(|k| !k.is_empty()) {
            insert.execute(params![key, event, uuid, body])?;
        }
        Ok(true)
    }

    /// Drops the attribute with `uuid` of this source from the index; the
    /// same attribute from another source (a feed a MISP also holds) stays.
    pub fn remove_attribute(&mut self, uuid: &str) -> Result<()> {
        self.tx
            .prepare_cached(
                "DELETE FROM indicator WHERE uuid = ?1
                 AND event IN (SELECT id FROM intel_event WHERE source = ?2)",
            )?
            .execute(params![uuid, self.source])?;
        Ok(())
    }

    /// Drops the events of this source whose uuids are not in `keep`, with
    /// their attributes. Returns how many events went.
    pub fn retain_events(&mut self, keep: &HashSet<String>) -> Result<u64> {
        let mut statement =
            self.tx.prepare_cached("SELECT id, uuid FROM intel_event WHERE source = ?1")?;
        let stale: Vec<i64> = statement
            .query_map([&self.source], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
            .filter_map(Result::ok)
            .filter(|(_, uuid)| !keep.contains(uuid))
            .map(|(id, _)| id)
            .collect();
        drop(statement);
        for id in &stale {
            self.tx.execute("DELETE FROM indicator WHERE event = ?1", [id])?;
            self.tx.execute("DELETE FROM intel_event WHERE id = ?1", [id])?;
        }
        Ok(stale.len() as u64)
    }

    /// The connection, for the sync state kept beside the index.
    pub fn connection(&self) -> &Connection {
        &self.tx
    }
}

/// The members of an event that are its context, not its contents.
fn context_of(event: &Value) -> Value {
    let contents = ["Attribute", "Object", "ShadowAttribute", "RelatedEvent", "EventReport"];
    match event {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !contents.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The events kept under these uuids, as MISP's event JSON without their
/// contents, for the context of the events a lookup matched.
pub fn events(store: &Cache, uuids: &[String]) -> Vec<(String, Value)> {
    let Some(db) = store.db() else { return Vec::new() };
    let Ok(mut statement) = db.prepare_cached("SELECT body FROM intel_event WHERE uuid = ?1")
    else {
        return Vec::new();
    };
    uuids
        .iter()
        .filter_map(|uuid| {
            let body: String = statement.query_row([uuid], |r| r.get(0)).ok()?;
            Some((uuid.clone(), serde_json::from_str(&body).ok()?))
        })
        .collect()
}

/// What the index holds, per source.
pub fn sources(store: &Cache) -> Vec<SourceStats> {
    let Some(db) = store.db() else { return Vec::new() };
    let sql = "SELECT e.source, count(DISTINCT e.id),
                      (SELECT count(DISTINCT i.uuid) FROM indicator i
                       JOIN intel_event f ON f.id = i.event WHERE f.source = e.source)
               FROM intel_event e GROUP BY e.source ORDER BY e.source";
    let Ok(mut statement) = db.prepare(sql) else { return Vec::new() };
    let rows = statement.query_map([], |r| {
        Ok(SourceStats {
            source: r.get(0)?,
            events: r.get::<_, i64>(1)? as u64,
            attributes: r.get::<_, i64>(2)? as u64,
        })
    });
    rows.map(|rows| rows.filter_map(Result::ok).collect()).unwrap_or_default()
}

/// Drops everything the index holds of `source`. Returns how many events
/// went; fails when the store is not available.
pub fn remove_source(store: &Cache, source: &str) -> Result<u64> {
    let removed = write(store, source, |w| w.retain_events(&HashSet::new()))?;
    if let Some(db) = store.db() {
        let _ = db.execute("DELETE FROM sync WHERE source = ?1", [source]);
    }
    Ok(removed)
}

/// `value` without nulls and empty lists, so that a million rows stay
/// small.
fn compact(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null() && v.as_array().is_none_or(|a| !a.is_empty()))
                .map(|(k, v)| (k, compact(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(compact).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ioc::IocType;
    use serde_json::json;

    fn ioc(kind: IocType, value: &str) -> Ioc {
        Ioc { kind, value: value.into(), field: "data.srcip".into(), file: None }
    }

    fn filters() -> SearchFilters {
        SearchFilters { to_ids: None, limit: 50, ..SearchFilters::default() }
    }

    fn store() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let (store, warning) = Cache::open(dir.path());
        assert_eq!(warning, None);
        (dir, store)
    }

    fn event(info: &str, tag: &str) -> Value {
        json!({
            "id": "7", "uuid": "5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f", "info": info,
            "threat_level_id": "1", "Tag": [{"name": tag}],
            "Galaxy": [{"GalaxyCluster": [{"tag_name": "misp-galaxy:threat-actor=\"APT28\"",
                                           "value": "APT28"}]}],
            "Attribute": [{"type": "ip-dst", "value": "203.0.113.1"}]
        })
    }

    fn attribute(uuid: &str, kind: &str, value: &str, to_ids: bool) -> Attribute {
        serde_json::from_value(json!({
            "id": "70", "uuid": uuid, "type": kind, "category": "Network activity",
            "value": value, "to_ids": to_ids, "timestamp": "1760000000"
        }))
        .unwrap()
    }

    #[test]
    fn values_are_keyed_as_lookups_compare_them() {
        assert_eq!(key(" Evil.Example.COM. "), "evil.example.com");
        assert_eq!(key("2001:DB8:0:0::1"), "2001:db8::1");
        assert_eq!(key("198.51.100.7"), "198.51.100.7");
    }

    #[test]
    fn a_lookup_finds_either_half_of_a_composite_with_its_event() {
        let (_dir, store) = store();
        write(&store, "osint", |w| {
            let id = w.put_event(
                "5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f",
                &event("C2", "tlp:amber"),
                true,
            )?;
            w.put_attribute(id, &attribute("a1", "ip-dst|port", "203.0.113.9|443", true))?;
            w.put_attribute(id, &attribute("a2", "domain", "Evil.Example.com", false))?;
            Ok(())
        })
        .unwrap();
        let iocs = [ioc(IocType::Ip, "203.0.113.9"), ioc(IocType::Domain, "evil.example.com")];
        let found = search(&store, &iocs, &filters()).unwrap();
        assert_eq!(found.len(), 2);
        let first = &found[0];
        assert_eq!(first.uuid.as_deref(), Some("a1"));
        assert_eq!(first.event_id.as_deref(), Some("7"));
        let event = first.event.as_ref().unwrap();
        assert_eq!(event.info.as_deref(), Some("C2"));
        assert_eq!(event.galaxies[0].clusters[0].value.as_deref(), Some("APT28"));
        assert_eq!(first.tags[0].name.as_deref(), Some("tlp:amber"));
        let kept = events(&store, &["5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f".to_string()]);
        assert_eq!(kept[0].1["info"], "C2");
        assert_eq!(kept[0].1.get("Attribute"), None, "the contents are not kept");
        let ids_only = SearchFilters { to_ids: Some(true), ..filters() };
        assert_eq!(search(&store, &iocs, &ids_only).unwrap().len(), 1);
        let tagged = SearchFilters { tags: vec!["tlp:red".into()], ..filters() };
        assert_eq!(search(&store, &iocs, &tagged).unwrap().len(), 0);
    }

    #[test]
    fn the_same_attribute_from_two_sources_is_kept_for_each() {
        let (_dir, store) = store();
        let uuid = "5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f";
        for source in ["feed", "https://misp.example"] {
            write(&store, source, |w| {
                let id = w.put_event(uuid, &event("C2", "tlp:amber"), false)?;
                w.put_attribute(id, &attribute("a1", "ip-dst", "203.0.113.9", true))
            })
            .unwrap();
        }
        let counts: Vec<u64> = sources(&store).iter().map(|s| s.attributes).collect();
        assert_eq!(counts, vec![1, 1]);
    }

    #[test]
    fn an_attribute_put_again_replaces_itself_and_a_deleted_one_goes() {
        let (_dir, store) = store();
        let uuid = "5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f";
        write(&store, "misp", |w| {
            let id = w.put_event(uuid, &event("C2", "tlp:amber"), false)?;
            w.put_attribute(id, &attribute("a1", "ip-dst", "203.0.113.9", true))?;
            w.put_attribute(id, &attribute("a1", "ip-dst", "203.0.113.10", true))?;
            Ok(())
        })
        .unwrap();
        let old = [ioc(IocType::Ip, "203.0.113.9")];
        let new = [ioc(IocType::Ip, "203.0.113.10")];
        assert_eq!(search(&store, &old, &filters()).unwrap().len(), 0);
        assert_eq!(search(&store, &new, &filters()).unwrap().len(), 1);
        let mut deleted = attribute("a1", "ip-dst", "203.0.113.10", true);
        deleted.deleted = Some(true);
        write(&store, "misp", |w| {
            let id = w.put_event(uuid, &event("C2", "tlp:amber"), false)?;
            w.put_attribute(id, &deleted)
        })
        .unwrap();
        assert_eq!(search(&store, &new, &filters()).unwrap().len(), 0);
        assert_eq!(
            sources(&store),
            vec![SourceStats { source: "misp".into(), events: 1, attributes: 0 }]
        );
        assert_eq!(remove_source(&store, "misp").unwrap(), 1);
        assert_eq!(sources(&store), vec![]);
    }
}
