//! `feed sync`: mirrors a MISP server's attributes into the indicator
//! index, so that a manager can answer alerts from local data.
//!
//! Each sync asks `/attributes/restSearch` for the attributes changed since
//! the newest one the last complete sync saw (`timestamp`), page by page,
//! each with its event's context (`includeContext`). Every page is written
//! in one transaction together with the position reached, so a sync that
//! is interrupted (MISP gone, the process killed) resumes at the page it
//! had not finished. Attributes that MISP reports deleted (a sync user
//! sees them) leave the index; `--full` starts the mirror again from
//! nothing.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use log::info;
use rusqlite::{params, OptionalExtension};
use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::index;
use crate::misp::reply::Attribute;
use crate::misp::MispClient;

/// How to sync.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Attributes per request.
    pub page_size: usize,
    /// Drop the mirror and fetch everything again.
    pub full: bool,
    /// The first sync fetches attributes changed in this many seconds
    /// before now; `None` fetches all.
    pub first_window: Option<u64>,
    /// How long one page may take.
    pub page_time: Duration,
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Synced {
    /// The MISP server's URL, the name its mirror is kept under.
    pub source: String,
    /// The page the sync started at: above 1 when it resumed.
    pub first_page: u64,
    /// Pages fetched.
    pub pages: u64,
    /// Attributes indexed.
    pub attributes: u64,
    /// Deleted attributes removed from the index.
    pub removed: u64,
    /// The attribute timestamp the sync asked from, if any.
    pub since: Option<i64>,
}

/// Where the mirror of one server stands.
#[derive(Debug, Clone, Copy, Default)]
struct Position {
    since: Option<i64>,
    page: u64,
    newest: i64,
    finished: bool,
}

/// Mirrors the server `client` talks to into the index of `store`. Fails
/// on the first page that cannot be fetched or written; what the pages
/// before it brought is kept, and the next sync resumes there.
pub fn sync(client: &MispClient, store: &Cache, spec: &Spec) -> Result<Synced> {
    let source = client.url().to_string();
    if spec.full {
        index::remove_source(store, &source)?;
    }
    let position = read_position(store, &source)?;
    let (since, first_page, mut newest) = match position {
        Some(p) if !p.finished => (p.since, p.page, p.newest),
        Some(p) => (Some(p.newest), 1, p.newest),
        None => {
            let window = spec.first_window.map(|w| store.time() - w as i64);
            (window, 1, 0)
        }
    };
    let mut synced = Synced { source, first_page, since, ..Synced::default() };
    let mut page = first_page;
    loop {
        let attributes = fetch(client, since, page, spec).with_context(|| {
            format!(
                "MISP page {page}: {} attributes kept; feed sync resumes here",
                synced.attributes
            )
        })?;
        let count = attributes.len();
        let last = count < spec.page_size;
        let (indexed, removed, top) = index::write(store, &synced.source, |w| {
            let mut done = (0, 0, newest);
            for (attribute, event) in &attributes {
                done.2 = done.2.max(stamp(attribute));
                let uuid = event["uuid"].as_str().unwrap_or_default();
                let id = w.put_event(uuid, event, false)?;
                if w.put_attribute(id, attribute)? {
                    done.0 += 1;
                } else if attribute.deleted == Some(true) {
                    done.1 += 1;
                }
            }
            let next = Position { since, page: page + 1, newest: done.2, finished: last };
            save_position(w.connection(), &synced.source, next)?;
            Ok(done)
        })?;
        newest = top;
        synced.pages += 1;
        synced.attributes += indexed;
        synced.removed += removed;
        info!("MISP page {page}: {count} attributes, {indexed} indexed, {removed} removed");
        if last {
            return Ok(synced);
        }
        page += 1;
    }
}

/// One page of attributes changed since `since`, each with its event.
fn fetch(
    client: &MispClient,
    since: Option<i64>,
    page: u64,
    spec: &Spec,
) -> Result<Vec<(Attribute, Value)>> {
    let mut body = json!({
        "returnFormat": "json",
        "page": page,
        "limit": spec.page_size,
        "includeContext": true,
        "deleted": [0, 1],
    });
    if let Some(since) = since {
        body["timestamp"] = json!(since);
    }
    let deadline = Deadline::after(spec.page_time);
    let reply = client.post("/attributes/restSearch", &body, &deadline).map_err(|e| anyhow!(e))?;
    let reply: Value = serde_json::from_slice(&reply).context("the reply is not JSON")?;
    let list = reply["response"]["Attribute"].as_array().cloned().unwrap_or_default();
    let attributes = list
        .into_iter()
        .filter_map(|raw| {
            let event = raw.get("Event").cloned().unwrap_or(Value::Null);
            let attribute: Attribute = serde_json::from_value(raw).ok()?;
            event["uuid"].is_string().then_some((attribute, event))
        })
        .collect();
    Ok(attributes)
}

fn stamp(attribute: &Attribute) -> i64 {
    attribute.timestamp.as_deref().and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn read_position(store: &Cache, source: &str) -> Result<Option<Position>> {
    let db = store.db().ok_or_else(|| anyhow!("the store is not available"))?;
    let row = db
        .query_row(
            "SELECT since, page, newest, finished FROM sync WHERE source = ?1",
            [source],
            |r| {
                Ok(Position {
                    since: r.get(0)?,
                    page: r.get::<_, i64>(1)? as u64,
                    newest: r.get(2)?,
                    finished: r.get::<_, Option<i64>>(3)?.is_some(),
                })
            },
        )
        .optional()
        .context("reading the sync position")?;
    Ok(row)
}

fn save_position(db: &rusqlite::Connection, source: &str, at: Position) -> Result<()> {
    let (page, finished) =
        if at.finished { (1, Some(crate::cache::now())) } else { (at.page, None) };
    db.execute(
        "INSERT INTO sync (source, since, page, newest, finished) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (source) DO UPDATE SET since = excluded.since, page = excluded.page,
             newest = excluded.newest, finished = excluded.finished",
        params![source, at.since, page as i64, at.newest, finished],
    )?;
    Ok(())
}
