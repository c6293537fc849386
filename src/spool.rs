//! The MISP writes of runs that could not reach MISP (sightings of matched
//! intel, the alert's record in its incident, the modules' results beside
//! it), kept in the store and sent by later runs and by `flush`, oldest
//! first.
//!
//! Sending a kept write again is harmless: the incident, its observations
//! and the enrichment carry uuids derived from the alert, so MISP refuses
//! what it has already, and a sighting is sent only after asking MISP
//! whether the same source sighted the same value at the same second.

use std::time::Duration;

use log::{info, warn};
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::incident::Plan;
use crate::intel;
use crate::ioc::Ioc;
use crate::misp::{ErrorKind, MispClient, MispError, SearchFilters};
use crate::record::{self, ModuleAnswer};

/// What one run could not write to MISP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Writes {
    /// The alert's id, for the log.
    pub alert: String,
    /// The Wazuh manager and agent, the source of sightings.
    pub source: String,
    /// Values whose intel was seen, to sight at `epoch`.
    pub sightings: Vec<String>,
    /// The alert time in seconds since the epoch.
    pub epoch: i64,
    /// The alert's recording plan, for the record and the enrichment.
    pub plan: Option<Plan>,
    /// The record itself is still to be written (else only the
    /// enrichment is).
    pub record: bool,
    /// The modules' results to add beside the record.
    pub enrichment: Vec<ModuleAnswer>,
    /// IoCs whose lookup failed: looked up when the writes are sent, to
    /// sight what matches and to decide `record_if_match`.
    pub lookup: Vec<Ioc>,
    /// Sight the intel that `lookup` finds.
    pub sight_matches: bool,
    /// Record the alert if `lookup` finds intel (its rule alone does not
    /// call for a record).
    pub record_if_match: bool,
}

impl Writes {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.sightings.is_empty()
            && !self.record
            && self.enrichment.is_empty()
            && self.lookup.is_empty()
    }
}

/// True for the failures that a later attempt may not meet: MISP down,
/// slow, overloaded or failing.
pub fn is_outage(err: &MispError) -> bool {
    matches!(
        err.kind,
        ErrorKind::Unreachable
            | ErrorKind::Timeout
            | ErrorKind::ServerError
            | ErrorKind::RateLimited
    )
}

/// How long a claimed write is left to the run that claimed it before
/// another run may take it over (the first one died).
const CLAIM_TIME: i64 = 120;

/// Keeps `writes` for a later run; the oldest beyond `max` are dropped.
/// Returns whether it was kept and how many were dropped.
pub fn keep(store: &Cache, writes: &Writes, max: u64) -> (bool, u64) {
    let Some(db) = store.db() else { return (false, 0) };
    let Ok(body) = serde_json::to_string(writes) else { return (false, 0) };
    let kept = db
        .execute("INSERT INTO writes (created, body) VALUES (?1, ?2)", params![store.time(), body])
        .is_ok();
    (kept, crate::cache::keep_newest(&db, "writes", max))
}

/// How many writes are kept.
pub fn pending(store: &Cache) -> u64 {
    store.db().map_or(0, |db| crate::cache::rows(&db, "writes"))
}

/// What sending kept writes did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sent {
    /// Writes sent.
    pub sent: u64,
    /// Writes MISP refused for good (a bad key, a blocklisted event),
    /// dropped.
    pub refused: u64,
    /// Writes older than the age bound, dropped unsent.
    pub expired: u64,
    /// Writes still kept.
    pub left: u64,
}

/// Sends kept writes, oldest first, until none is left, `time` has passed
/// or MISP fails again (then the write stays kept). Writes older than
/// `max_age` are dropped first; each drop is counted and logged.
pub fn send(
    client: &MispClient,
    filters: &SearchFilters,
    store: &Cache,
    time: Duration,
    max_age: Duration,
) -> Sent {
    let mut done = Sent { expired: expire(store, max_age), ..Sent::default() };
    let deadline = Deadline::after(time);
    while !deadline.expired() {
        let Some((id, mut writes)) = claim(store) else { break };
        match write(client, filters, store, &mut writes, &deadline) {
            Ok(()) => {
                forget(store, id);
                done.sent += 1;
                info!("alert={} kept MISP writes sent", writes.alert);
            }
            Err(err) if is_outage(&err) => {
                put_back(store, id, &writes);
                warn!("alert={} kept MISP writes not sent: {err}", writes.alert);
                break;
            }
            Err(err) => {
                forget(store, id);
                done.refused += 1;
                warn!("alert={} kept MISP writes dropped: MISP refused them: {err}", writes.alert);
            }
        }
    }
    done.left = pending(store);
    done
}

/// Sends one run's writes; each part sent is taken out of `writes`, so
/// that on failure it holds what is left.
fn write(
    client: &MispClient,
    filters: &SearchFilters,
    store: &Cache,
    writes: &mut Writes,
    deadline: &Deadline,
) -> Result<(), MispError> {
    if !writes.lookup.is_empty() {
        let attributes = client.search(&writes.lookup, filters, deadline)?;
        let matched: Vec<String> = intel::findings(&writes.lookup, &attributes)
            .iter()
            .map(|f| f.ioc.value.clone())
            .collect();
        writes.record |= writes.record_if_match && !matched.is_empty();
        if writes.sight_matches {
            writes.sightings = matched;
        }
        writes.lookup.clear();
    }
    if !writes.sightings.is_empty() {
        let sent = record::already_sighted(client, &writes.source, writes.epoch, deadline)?;
        let values: Vec<&str> =
            writes.sightings.iter().filter(|v| !sent.contains(*v)).map(String::as_str).collect();
        if !values.is_empty() {
            record::sight_intel(client, &values, &writes.source, writes.epoch, deadline)?;
        }
        writes.sightings.clear();
    }
    let Some(plan) = &writes.plan else { return Ok(()) };
    if writes.record {
        record::record(client, plan, &writes.source, true, store, deadline)?;
        writes.record = false;
    }
    if !writes.enrichment.is_empty() {
        record::add_enrichment(client, plan, &writes.enrichment, deadline)?;
        writes.enrichment.clear();
    }
    Ok(())
}

/// Takes the oldest kept write that no other run is sending.
fn claim(store: &Cache) -> Option<(i64, Writes)> {
    let db = store.db()?;
    let now = store.time();
    let row: Option<(i64, String)> = db
        .query_row(
            "UPDATE writes SET claimed = ?1 WHERE id = (
                 SELECT id FROM writes WHERE claimed IS NULL OR claimed < ?2 ORDER BY id LIMIT 1)
             RETURNING id, body",
            params![now, now - CLAIM_TIME],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ok()?;
    let (id, body) = row?;
    match serde_json::from_str(&body) {
        Ok(writes) => Some((id, writes)),
        Err(err) => {
            warn!("kept MISP writes {id} unreadable, dropped: {err}");
            drop(db);
            forget(store, id);
            claim(store)
        }
    }
}

fn put_back(store: &Cache, id: i64, left: &Writes) {
    let Some(db) = store.db() else { return };
    let body = serde_json::to_string(left).unwrap_or_default();
    let _ =
        db.execute("UPDATE writes SET claimed = NULL, body = ?2 WHERE id = ?1", params![id, body]);
}

fn forget(store: &Cache, id: i64) {
    if let Some(db) = store.db() {
        let _ = db.execute("DELETE FROM writes WHERE id = ?1", [id]);
    }
}

/// Drops the writes kept longer than `max_age`; returns how many.
fn expire(store: &Cache, max_age: Duration) -> u64 {
    let Some(db) = store.db() else { return 0 };
    let oldest = store.time() - max_age.as_secs() as i64;
    let dropped = db.execute("DELETE FROM writes WHERE created < ?1", [oldest]).unwrap_or(0) as u64;
    if dropped > 0 {
        warn!("{dropped} kept MISP writes older than {} s dropped unsent", max_age.as_secs());
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writes(alert: &str) -> Writes {
        Writes {
            alert: alert.into(),
            source: "Wazuh manager agent 001 web".into(),
            sightings: vec!["203.0.113.9".into()],
            epoch: 1_760_000_000,
            ..Writes::default()
        }
    }

    #[test]
    fn kept_writes_are_claimed_oldest_first_and_once() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Cache::open(dir.path());
        assert_eq!(keep(&store, &writes("a"), 10), (true, 0));
        assert_eq!(keep(&store, &writes("b"), 10), (true, 0));
        let (first, taken) = claim(&store).unwrap();
        assert_eq!(taken.alert, "a");
        assert_eq!(claim(&store).unwrap().1.alert, "b");
        assert!(claim(&store).is_none(), "both are claimed");
        put_back(&store, first, &taken);
        assert_eq!(claim(&store).unwrap().1.alert, "a");
        assert_eq!(pending(&store), 2);
    }

    #[test]
    fn the_bound_drops_the_oldest_writes() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = Cache::open(dir.path());
        for alert in ["a", "b", "c"] {
            keep(&store, &writes(alert), 2);
        }
        assert_eq!(pending(&store), 2);
        assert_eq!(claim(&store).unwrap().1.alert, "b");
        assert_eq!(expire(&store, Duration::from_secs(3600)), 0);
    }
}
