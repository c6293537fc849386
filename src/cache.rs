//! Answers remembered between runs, in files under the state directory.
//!
//! Each entry is one small JSON file named by the md5 of its key, holding
//! the key, an expiry time and the value; it is written to a temporary
//! file and renamed into place, so concurrent runs never read half an
//! entry. A cache that cannot be used (no state directory, a read-only
//! disk) is empty, never an error: it only saves requests.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::feed::md5_hex;

/// The environment variable that fixes the cache's clock (seconds since
/// the epoch), so that tests can make entries expire.
pub const CLOCK_VARIABLE: &str = "CUSTOM_MISP_TEST_NOW";

/// A directory of remembered answers.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: Option<PathBuf>,
    now: i64,
}

impl Cache {
    /// The cache under `state_dir`, created (mode 0750) when missing. On
    /// failure the cache is disabled and the warning says why.
    pub fn open(state_dir: &Path) -> (Cache, Option<String>) {
        let dir = state_dir.join("cache");
        let now = now();
        match fs::DirBuilder::new().recursive(true).mode(0o750).create(&dir) {
            Ok(()) => (Cache { dir: Some(dir), now }, None),
            Err(err) => {
                let warning = format!(
                    "state directory {}: {err}; answers are not remembered",
                    state_dir.display()
                );
                (Cache::disabled(), Some(warning))
            }
        }
    }

    /// A cache that remembers nothing.
    pub fn disabled() -> Cache {
        Cache { dir: None, now: now() }
    }

    /// The value stored under `key`, if it has not expired.
    pub fn get(&self, key: &str) -> Option<Value> {
        let path = self.path(key)?;
        let entry: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
        let fresh = entry["expires"].as_i64().is_some_and(|t| t > self.now);
        (fresh && entry["key"] == json!(key)).then(|| entry["value"].clone())
    }

    /// Stores `value` under `key` for `ttl`. Failures are ignored: the
    /// next run asks again.
    pub fn put(&self, key: &str, value: &Value, ttl: Duration) {
        let Some(path) = self.path(key) else { return };
        let entry = json!({"key": key, "expires": self.now + ttl.as_secs() as i64, "value": value});
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        let written = fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o640)
            .open(&temporary)
            .and_then(|mut f| f.write_all(entry.to_string().as_bytes()));
        if written.is_ok() {
            let _ = fs::rename(&temporary, &path);
        } else {
            let _ = fs::remove_file(&temporary);
        }
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|dir| dir.join(format!("{}.json", md5_hex(key))))
    }
}

/// The current time in seconds, or the test clock.
fn now() -> i64 {
    if let Some(fixed) = std::env::var(CLOCK_VARIABLE).ok().and_then(|t| t.parse().ok()) {
        return fixed;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }

    #[test]
    fn an_unusable_state_directory_disables_the_cache_with_a_warning() {
        let (cache, warning) = Cache::open(Path::new("/proc/custom-misp-state"));
        assert!(warning.unwrap().starts_with("state directory /proc/custom-misp-state: "));
        cache.put("k", &json!(1), Duration::from_secs(60));
        assert_eq!(cache.get("k"), None);
    }
}
