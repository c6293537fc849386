//! Answers remembered between runs, in one SQLite database under the
//! state directory (`custom-misp.db`).
//!
//! Every run opens it, so concurrent runs (two integration blocks, a
//! manual run, a replay) share it: WAL journal, a busy timeout, one short
//! statement per read or write. A database that cannot be opened is moved
//! aside and made anew with a warning; a state directory that cannot be
//! used leaves the cache empty, never fails the run: it only saves
//! requests.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use crate::permissions::FILE_MODE;

/// The environment variable that fixes the cache's clock (seconds since
/// the epoch), so that tests can make entries expire.
pub const CLOCK_VARIABLE: &str = "CUSTOM_MISP_TEST_NOW";

/// The database file in the state directory.
pub const DATABASE: &str = "custom-misp.db";

/// The longest flood window the options allow, in seconds.
const MAX_FLOOD_WINDOW: i64 = 7 * 24 * 3600;

/// How long a run waits for another run's write.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// The layout of the tables below, kept in the database's `user_version`:
/// raised with every change to them, so that a store of an older layout
/// gets the new tables and a store of this one is not asked again.
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE IF NOT EXISTS cache (
        key TEXT PRIMARY KEY,
        expires INTEGER NOT NULL,
        value TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS spool (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS flood (
        key TEXT PRIMARY KEY,
        first INTEGER NOT NULL,
        sent INTEGER NOT NULL,
        count INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS intel_event (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        uuid TEXT NOT NULL,
        body TEXT NOT NULL,
        UNIQUE (source, uuid)
    );
    CREATE TABLE IF NOT EXISTS indicator (
        key TEXT NOT NULL,
        event INTEGER NOT NULL,
        uuid TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS indicator_by_key ON indicator (key);
    CREATE INDEX IF NOT EXISTS indicator_by_event ON indicator (event);
    CREATE INDEX IF NOT EXISTS indicator_by_uuid ON indicator (uuid);
    CREATE TABLE IF NOT EXISTS sync (
        source TEXT PRIMARY KEY,
        since INTEGER,
        page INTEGER NOT NULL,
        newest INTEGER NOT NULL,
        finished INTEGER
    );
    CREATE TABLE IF NOT EXISTS writes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created INTEGER NOT NULL,
        claimed INTEGER,
        body TEXT NOT NULL
    );
";

/// The remembered answers.
#[derive(Debug)]
pub struct Cache {
    db: Option<Mutex<Connection>>,
    now: i64,
}

/// What the store holds, for `custom-misp store`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// The database file.
    pub path: PathBuf,
    /// Its size in bytes, WAL included.
    pub bytes: u64,
    /// Remembered answers still valid.
    pub live: u64,
    /// Remembered answers past their time.
    pub expired: u64,
    /// Datagrams kept for delivery.
    pub spooled: u64,
    /// MISP writes kept for a later run.
    pub writes: u64,
}

impl Cache {
    /// The cache in `state_dir`, created (directory 0750, file 0640) when
    /// missing. On failure the cache is disabled and the warnings say why.
    pub fn open(state_dir: &Path) -> (Cache, Option<String>) {
        let now = now();
        if let Err(err) = fs::DirBuilder::new().recursive(true).mode(0o750).create(state_dir) {
            let warning = format!(
                "state directory {}: {err}; answers are not remembered",
                state_dir.display()
            );
            return (Cache::disabled(), Some(warning));
        }
        let path = state_dir.join(DATABASE);
        match connect(&path) {
            Ok(db) => (Cache { db: Some(Mutex::new(db)), now }, None),
            Err(err) => rebuild(&path, &err.to_string(), now),
        }
    }

    /// The database, for the modules that keep their own tables in it
    /// (the indicator index, the spool of MISP writes); `None` when the
    /// store is disabled.
    pub(crate) fn db(&self) -> Option<std::sync::MutexGuard<'_, Connection>> {
        self.db.as_ref().and_then(|db| db.lock().ok())
    }

    /// The time this run goes by, in seconds since the epoch.
    pub fn time(&self) -> i64 {
        self.now
    }

    /// A cache that remembers nothing.
    pub fn disabled() -> Cache {
        Cache { db: None, now: now() }
    }

    /// The value stored under `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<Value> {
        let db = self.db.as_ref()?.lock().ok()?;
        let text: Option<String> = db
            .query_row(
                "SELECT value FROM cache WHERE key = ?1 AND expires > ?2",
                params![key, self.now],
                |r| r.get(0),
            )
            .optional()
            .ok()?;
        serde_json::from_str(&text?).ok()
    }

    /// Stores `value` under `key` for `ttl`. A zero `ttl` stores nothing;
    /// failures are ignored: the next run asks again.
    pub fn put(&self, key: &str, value: &Value, ttl: Duration) {
        let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) else { return };
        if ttl.is_zero() {
            return;
        }
        let expires = self.now + ttl.as_secs() as i64;
        let _ = db.execute(
            "INSERT INTO cache (key, expires, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET expires = excluded.expires, value = excluded.value",
            params![key, expires, value.to_string()],
        );
    }

    /// Forgets what is stored under `key`.
    pub fn forget(&self, key: &str) {
        if let Some(db) = self.db() {
            let _ = db.execute("DELETE FROM cache WHERE key = ?1", [key]);
        }
    }

    /// Counts one more sighting of `key` (an IoC matching an intel event
    /// on an agent) and says whether to report it: the first within
    /// `window`, then every `every`-th, or the first after `window` passed
    /// since the last report. Returns the count so far and the decision;
    /// without a store every sighting is reported.
    pub fn flood(&self, key: &str, window: Duration, every: u64) -> (u64, bool) {
        let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) else { return (1, true) };
        let window = window.as_secs() as i64;
        let row: Option<(i64, i64, i64)> = db
            .query_row("SELECT first, sent, count FROM flood WHERE key = ?1", params![key], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .unwrap_or(None);
        let (first, sent, count) = match row {
            Some((first, sent, count)) if self.now - first < window => {
                (first, sent, count as u64 + 1)
            }
            _ => (self.now, self.now, 1),
        };
        let report = count == 1 || count % every.max(1) == 0 || self.now - sent >= window;
        let sent = if report { self.now } else { sent };
        let _ = db.execute(
            "INSERT INTO flood (key, first, sent, count) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (key) DO UPDATE SET first = excluded.first, sent = excluded.sent, count = excluded.count",
            params![key, first, sent, count as i64],
        );
        (count, report)
    }

    /// Keeps datagrams that could not be delivered, in order, for a later
    /// run; the oldest beyond `max` are dropped. Returns how many were
    /// kept and how many dropped; without a store nothing is kept.
    pub fn spool(&self, datagrams: &[String], max: u64) -> (u64, u64) {
        let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) else { return (0, 0) };
        let mut kept = 0;
        for body in datagrams {
            let saved = db.execute(
                "INSERT INTO spool (created, body) VALUES (?1, ?2)",
                params![self.now, body],
            );
            kept += u64::from(saved.is_ok());
        }
        (kept, keep_newest(&db, "spool", max))
    }

    /// Drops the datagrams kept longer than `max_age`; returns how many.
    pub fn expire_spool(&self, max_age: Duration) -> u64 {
        let Some(db) = self.db() else { return 0 };
        let oldest = self.now - max_age.as_secs() as i64;
        db.execute("DELETE FROM spool WHERE created < ?1", [oldest]).unwrap_or(0) as u64
    }

    /// The oldest `limit` kept datagrams, with their ids.
    pub fn spooled(&self, limit: u64) -> Vec<(i64, String)> {
        let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) else { return Vec::new() };
        let Ok(mut statement) = db.prepare("SELECT id, body FROM spool ORDER BY id LIMIT ?1")
        else {
            return Vec::new();
        };
        let rows = statement.query_map(params![limit as i64], |r| Ok((r.get(0)?, r.get(1)?)));
        rows.map(|rows| rows.filter_map(Result::ok).collect()).unwrap_or_default()
    }

    /// Forgets a kept datagram once it is delivered.
    pub fn unspool(&self, id: i64) {
        if let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) {
            let _ = db.execute("DELETE FROM spool WHERE id = ?1", params![id]);
        }
    }

    /// What the cache holds.
    pub fn stats(&self, state_dir: &Path) -> Option<Stats> {
        let db = self.db.as_ref()?.lock().ok()?;
        let count = |sql: &str| {
            db.query_row(sql, params![self.now], |r| r.get::<_, i64>(0)).unwrap_or(0) as u64
        };
        let path = state_dir.join(DATABASE);
        let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
        Some(Stats {
            bytes: size(&path) + size(&path.with_extension("db-wal")),
            live: count("SELECT count(*) FROM cache WHERE expires > ?1"),
            expired: count("SELECT count(*) FROM cache WHERE expires <= ?1"),
            spooled: rows(&db, "spool"),
            writes: rows(&db, "writes"),
            path,
        })
    }

    /// Drops expired answers and flood counts past any window
    /// (`everything`: all of them). Returns how many answers went.
    pub fn prune(&self, everything: bool) -> u64 {
        let Some(db) = self.db.as_ref().and_then(|db| db.lock().ok()) else { return 0 };
        let removed = if everything {
            db.execute("DELETE FROM cache", [])
        } else {
            db.execute("DELETE FROM cache WHERE expires <= ?1", params![self.now])
        };
        // Flood counts older than the longest window can count nothing.
        let stale = if everything { i64::MAX } else { self.now - MAX_FLOOD_WINDOW };
        let _ = db.execute("DELETE FROM flood WHERE sent <= ?1", params![stale]);
        let _ = db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;");
        removed.unwrap_or(0) as u64
    }
}

/// How many rows a spool `table` (`spool` or `writes`) holds.
pub(crate) fn rows(db: &Connection, table: &str) -> u64 {
    let sql = format!("SELECT count(*) FROM {table}");
    db.query_row(&sql, [], |r| r.get::<_, i64>(0)).unwrap_or(0) as u64
}

/// Drops the oldest rows of a spool `table` (`spool` or `writes`) beyond
/// the newest `max`; returns how many went.
pub(crate) fn keep_newest(db: &Connection, table: &str, max: u64) -> u64 {
    let sql = format!(
        "DELETE FROM {table} WHERE id NOT IN (SELECT id FROM {table} ORDER BY id DESC LIMIT ?1)"
    );
    db.execute(&sql, params![max as i64]).unwrap_or(0) as u64
}

/// Opens the database and makes sure its tables exist. A missing
/// database file is made (0640) before SQLite opens it: SQLite would make
/// it 0644 less the umask, and its journal files take the database file's
/// mode when they are made.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let _ = fs::OpenOptions::new().write(true).create(true).mode(FILE_MODE).open(path);
    let db = Connection::open(path)?;
    db.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the version is also what finds a file that is no database.
    let version: i64 = db.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != SCHEMA_VERSION {
        db.execute_batch(SCHEMA)?;
        db.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    db.execute_batch("PRAGMA synchronous = NORMAL")?;
    Ok(db)
}

/// Moves an unusable database aside and starts a new one.
fn rebuild(path: &Path, why: &str, now: i64) -> (Cache, Option<String>) {
    let aside = path.with_extension(format!("db.broken-{now}"));
    let moved = fs::rename(path, &aside);
    for suffix in ["db-wal", "db-shm"] {
        let _ = fs::remove_file(path.with_extension(suffix));
    }
    let note = match moved {
        Ok(()) => format!("moved to {}", aside.display()),
        Err(err) => format!("not moved: {err}"),
    };
    match connect(path) {
        Ok(db) => {
            let warning = format!("state database {}: {why}; {note}, started anew", path.display());
            (Cache { db: Some(Mutex::new(db)), now }, Some(warning))
        }
        Err(err) => {
            let warning =
                format!("state database {}: {err}; answers are not remembered", path.display());
            (Cache::disabled(), Some(warning))
        }
    }
}

/// The current time in seconds, or the test clock.
pub fn now() -> i64 {
    if let Some(fixed) = std::env::var(CLOCK_VARIABLE).ok().and_then(|t| t.parse().ok()) {
        return fixed;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stored_answer_is_found_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let (mut cache, warning) = Cache::open(dir.path());
        assert_eq!(warning, None);
        cache.now = 1_000;
        cache.put("module|sha256|ab", &json!({"verdict": "malicious"}), Duration::from_secs(60));
        assert_eq!(cache.get("module|sha256|ab"), Some(json!({"verdict": "malicious"})));
        assert_eq!(cache.get("module|sha256|cd"), None);
        cache.now = 1_060;
        assert_eq!(cache.get("module|sha256|ab"), None);
        let stats = cache.stats(dir.path()).unwrap();
        assert_eq!((stats.live, stats.expired), (0, 1));
        assert_eq!(cache.prune(false), 1);
    }

    #[test]
    fn a_flood_is_reported_first_then_every_nth_then_after_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (mut cache, _) = Cache::open(dir.path());
        cache.now = 5_000;
        let window = Duration::from_secs(600);
        let reports: Vec<bool> = (0..12).map(|_| cache.flood("k", window, 5).1).collect();
        assert_eq!(
            reports,
            vec![true, false, false, false, true, false, false, false, false, true, false, false]
        );
        cache.now = 5_600;
        assert_eq!(cache.flood("k", window, 5), (1, true), "a new window starts the count again");
        cache.now += MAX_FLOOD_WINDOW;
        cache.prune(false);
        cache.now = 5_601;
        assert_eq!(cache.flood("k", window, 5), (1, true), "a pruned count starts again");
    }

    #[test]
    fn spooled_datagrams_come_back_oldest_first_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let (cache, _) = Cache::open(dir.path());
        let many: Vec<String> = (0..5).map(|i| format!("1:misp:{{\"n\":{i}}}")).collect();
        assert_eq!(cache.spool(&many, 3), (5, 2));
        let kept: Vec<String> = cache.spooled(10).into_iter().map(|(_, b)| b).collect();
        assert_eq!(kept, vec!["1:misp:{\"n\":2}", "1:misp:{\"n\":3}", "1:misp:{\"n\":4}"]);
        let (first, _) = cache.spooled(1)[0].clone();
        cache.unspool(first);
        assert_eq!(cache.spooled(10).len(), 2);
        assert_eq!(cache.expire_spool(Duration::from_secs(60)), 0);
        let mut later = cache;
        later.now += 61;
        assert_eq!(later.expire_spool(Duration::from_secs(60)), 2);
        assert_eq!(later.spooled(10).len(), 0);
    }

    #[test]
    fn an_unusable_state_directory_disables_the_cache_with_a_warning() {
        let (cache, warning) = Cache::open(Path::new("/proc/custom-misp-state"));
        assert!(warning.unwrap().starts_with("state directory /proc/custom-misp-state: "));
        cache.put("k", &json!(1), Duration::from_secs(60));
        assert_eq!(cache.get("k"), None);
    }

    #[test]
    fn a_corrupt_database_is_moved_aside_and_started_anew() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(DATABASE), b"this is not a database, just bytes ........")
            .unwrap();
        let (cache, warning) = Cache::open(dir.path());
        let warning = warning.unwrap();
        assert!(warning.contains("file is not a database"), "{warning}");
        assert!(warning.ends_with(", started anew"), "{warning}");
        cache.put("k", &json!(1), Duration::from_secs(60));
        assert_eq!(cache.get("k"), Some(json!(1)));
        let aside = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains(".db.broken-"));
        assert_eq!(aside.count(), 1);
    }
}
