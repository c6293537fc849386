//! A MISP-format feed folder as an offline IoC source.
//!
//! A feed holds `manifest.json`, `hashes.csv` (`<md5 of value>,<event
//! uuid>`, composite values hashed per part) and one `<event uuid>.json`
//! per event. A lookup hashes the alert's values, finds the events that
//! hold them in `hashes.csv`, and reads only those events, so the cost
//! does not grow with the number of events in the feed.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use md5::{Digest, Md5};
use serde_json::Value;

use crate::ioc::Ioc;
use crate::misp::reply::{Attribute, Event};
use crate::misp::SearchFilters;

/// An opened feed folder.
#[derive(Debug, Clone)]
pub struct Feed {
    dir: PathBuf,
}

impl Feed {
    /// Opens the feed at `dir`. Fails when the folder has no
    /// `manifest.json`.
    pub fn open(dir: &Path) -> Result<Feed> {
        if !dir.join("manifest.json").is_file() {
            bail!("{}: no manifest.json: not a MISP feed folder", dir.display());
        }
        Ok(Feed { dir: dir.to_path_buf() })
    }

    /// The attributes of the feed matching any of `iocs`, each with its
    /// event (info, threat level, date, organisation, tags, galaxies) and
    /// the event's tags merged into its own, as MISP's search with
    /// `includeEventTags` returns them. `to_ids` is honoured; warninglists
    /// and tag filters are MISP's and do not apply here.
    pub fn search(&self, iocs: &[Ioc], filters: &SearchFilters) -> Result<Vec<Attribute>> {
        let mut found = Vec::new();
        for uuid in self.candidate_events(iocs)? {
            let path = self.dir.join(format!("{uuid}.json"));
            let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let event: Value = serde_json::from_slice(&text)
                .with_context(|| format!("{}: invalid JSON", path.display()))?;
            found.extend(matching_attributes(&event, iocs, filters));
        }
        Ok(found)
    }

    /// The uuids of the events that may hold one of `iocs`: from
    /// `hashes.csv` when the feed has one, else every event in the
    /// manifest.
    fn candidate_events(&self, iocs: &[Ioc]) -> Result<Vec<String>> {
        let hashes = self.dir.join("hashes.csv");
        let uuids = if hashes.is_file() {
            events_in_hashes(&hashes, iocs)?
        } else {
            self.manifest_events()?
        };
        Ok(uuids.into_iter().filter(|u| is_uuid(u)).collect())
    }

    fn manifest_events(&self) -> Result<Vec<String>> {
        let path = self.dir.join("manifest.json");
        let text = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: HashMap<String, Value> = serde_json::from_slice(&text)
            .with_context(|| format!("{}: not a manifest object", path.display()))?;
        let mut uuids: Vec<String> = manifest.into_keys().collect();
        uuids.sort();
        Ok(uuids)
    }
}

/// The event uuids whose `hashes.csv` lines carry the md5 of one of the
/// IoC values.
fn events_in_hashes(path: &Path, iocs: &[Ioc]) -> Result<Vec<String>> {
    let wanted: HashSet<String> = iocs.iter().map(|i| md5_hex(&i.value)).collect();
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut uuids = Vec::new();
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        let Some((hash, uuid)) = line.trim().split_once(',') else { continue };
        if wanted.contains(hash) && !uuids.iter().any(|u| u == uuid) {
            uuids.push(uuid.to_string());
        }
    }
    Ok(uuids)
}

/// The lower-case hex md5 of `value`, as feeds index values.
pub fn md5_hex(value: &str) -> String {
    Md5::digest(value.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// True for a canonical uuid (hex and dashes), the only names read from
/// the feed folder.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// The attributes of one feed event (top-level and inside objects) that
/// match one of `iocs`.
fn matching_attributes(
    event_json: &Value,
    iocs: &[Ioc],
    filters: &SearchFilters,
) -> Vec<Attribute> {
    let body = event_json.get("Event").unwrap_or(event_json);
    let event: Event = serde_json::from_value(body.clone()).unwrap_or_default();
    let mut candidates: Vec<&Value> = list(body, "Attribute").collect();
    for object in list(body, "Object") {
        candidates.extend(list(object, "Attribute"));
    }
    candidates
        .into_iter()
        .filter_map(|raw| serde_json::from_value::<Attribute>(raw.clone()).ok())
        .filter(|a| a.deleted != Some(true))
        .filter(|a| filters.to_ids.is_none_or(|want| a.to_ids.unwrap_or(false) == want))
        .filter(|a| iocs.iter().any(|ioc| crate::intel::attribute_matches(ioc, a)))
        .map(|mut a| {
            a.tags.extend(event.tags.iter().cloned());
            a.event_id = event.id.clone();
            a.event = Some(event.clone());
            a
        })
        .collect()
}

fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_a_value_is_lower_case_hex() {
        assert_eq!(md5_hex("198.51.100.7"), format!("{:x}", Md5::digest(b"198.51.100.7")));
        assert_eq!(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e");
    }

    #[test]
    fn only_canonical_uuids_name_feed_files() {
        assert!(is_uuid("5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5f"));
        assert!(!is_uuid("../../etc/passwd"));
        assert!(!is_uuid("5f1d6c02-2c3a-4a0e-9b5e-0a1b2c3d4e5/"));
    }
}
