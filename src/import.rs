//! `feed import`: loads a feed into the indicator index of the store.
//!
//! Three kinds of feed, as MISP knows them: MISP-format (a folder, or a
//! `file://` URL of one, with `manifest.json` and one JSON file per
//! event), CSV (one indicator per row; a header naming `value`, and
//! optionally `type`, `category`, `comment`, `to_ids` and `uuid`, or the
//! value in a given column) and freetext (indicators anywhere in lines of
//! text, defanged or not). A MISP-format feed keeps its events' context; a
//! CSV or freetext feed becomes one event whose info, threat level and
//! tags the import names. Importing a feed again replaces what the index
//! held of it, so a feed refreshed by cron is imported by the same command.

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::cache::Cache;
use crate::feed::is_uuid;
use crate::incident::child_uuid;
use crate::index;
use crate::ioc::{self, Acceptance, IocType};
use crate::misp::reply::Attribute;

/// The kinds of feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A MISP-format feed folder.
    Misp,
    /// Comma-separated values.
    Csv,
    /// Indicators in free text.
    Freetext,
}

/// What to import and how to describe it.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The feed: a path or a `file://` URL.
    pub location: String,
    /// Its kind; guessed from the location when `None`.
    pub format: Option<Format>,
    /// The name it is kept under [default: the folder's or file's name].
    pub name: Option<String>,
    /// CSV without a header: the column (from 1) holding the value.
    pub value_column: usize,
    /// CSV and freetext: the event's info.
    pub info: Option<String>,
    /// CSV and freetext: the event's threat level (1 high to 4 undefined).
    pub threat_level: u8,
    /// CSV and freetext: the event's tags.
    pub tags: Vec<String>,
    /// CSV and freetext: whether the indicators are for detection.
    pub to_ids: bool,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The name the feed is kept under.
    pub source: String,
    /// Events kept.
    pub events: u64,
    /// Attributes indexed.
    pub attributes: u64,
    /// Events of an earlier import that the feed no longer holds.
    pub removed: u64,
    /// Events, rows or words that held nothing usable.
    pub skipped: u64,
}

/// Attributes written in one transaction: small enough that a concurrent
/// run waits for the store far less than its busy timeout.
const BATCH: usize = 5_000;

/// Imports the feed `spec` names into `store`. Fails on a feed that cannot
/// be read, naming the file; what was imported before stays as it was
/// for the events not reached.
pub fn import(store: &Cache, spec: &Spec) -> Result<Imported> {
    let path = local_path(&spec.location)?;
    let format = match spec.format {
        Some(format) => format,
        None => guess(&path),
    };
    let name = match &spec.name {
        Some(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => default_name(&path),
    };
    let mut imported = Imported { source: name, ..Imported::default() };
    match format {
        Format::Misp => import_misp(store, &path, &mut imported)?,
        Format::Csv => {
            let rows = csv_attributes(&path, spec.value_column, spec.to_ids, &mut imported)?;
            import_flat(store, spec, rows, &mut imported)?;
        }
        Format::Freetext => {
            let rows = freetext_attributes(&path, spec.to_ids, &mut imported)?;
            import_flat(store, spec, rows, &mut imported)?;
        }
    }
    Ok(imported)
}

/// The path of a location: a plain path or a `file://` URL.
fn local_path(location: &str) -> Result<PathBuf> {
    if let Some(rest) = location.strip_prefix("file://") {
        return Ok(PathBuf::from(rest));
    }
    if location.contains("://") {
        bail!(
            "{location}: only local paths and file:// URLs are imported; download the feed first"
        );
    }
    Ok(PathBuf::from(location))
}

fn guess(path: &Path) -> Format {
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if path.is_dir() || path.file_name().is_some_and(|n| n == "manifest.json") {
        Format::Misp
    } else if extension.eq_ignore_ascii_case("csv") {
        Format::Csv
    } else {
        Format::Freetext
    }
}

fn default_name(path: &Path) -> String {
    let path = if path.file_name().is_some_and(|n| n == "manifest.json") {
        path.parent().unwrap_or(path)
    } else {
        path
    };
    let name = if path.is_dir() { path.file_name() } else { path.file_stem() };
    name.map_or_else(|| "feed".to_string(), |n| n.to_string_lossy().into_owned())
}

/// A MISP-format feed: every event the manifest lists, one file each,
/// replacing what the index held of that event; events gone from the
/// manifest are dropped.
fn import_misp(store: &Cache, path: &Path, imported: &mut Imported) -> Result<()> {
    let dir = if path.is_dir() { path } else { path.parent().unwrap_or(path) };
    let manifest_path = dir.join("manifest.json");
    let text = fs::read(&manifest_path)
        .with_context(|| format!("{}: not a MISP feed folder", manifest_path.display()))?;
    let manifest: serde_json::Map<String, Value> = serde_json::from_slice(&text)
        .with_context(|| format!("{}: not a manifest object", manifest_path.display()))?;
    let mut uuids: Vec<&String> = manifest.keys().filter(|u| is_uuid(u)).collect();
    uuids.sort();
    imported.skipped += (manifest.len() - uuids.len()) as u64;
    let mut kept = HashSet::new();
    let mut pending: Vec<(String, Value)> = Vec::new();
    let mut pending_attributes = 0;
    for uuid in uuids {
        let file = dir.join(format!("{uuid}.json"));
        let event = match read_event(&file) {
            Ok(event) => event,
            Err(err) => {
                log::warn!("{err:#}; event skipped");
                imported.skipped += 1;
                continue;
            }
        };
        kept.insert(uuid.clone());
        pending_attributes += event_attributes(&event).len();
        pending.push((uuid.clone(), event));
        if pending_attributes >= BATCH {
            write_events(store, imported, std::mem::take(&mut pending))?;
            pending_attributes = 0;
        }
    }
    write_events(store, imported, pending)?;
    imported.removed = index::write(store, &imported.source, |w| w.retain_events(&kept))?;
    Ok(())
}

fn read_event(file: &Path) -> Result<Value> {
    let text = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let value: Value = serde_json::from_slice(&text)
        .with_context(|| format!("{}: invalid JSON", file.display()))?;
    match value.get("Event") {
        Some(event) if event.is_object() => Ok(event.clone()),
        _ if value.is_object() => Ok(value),
        _ => bail!("{}: not an event", file.display()),
    }
}

/// The attributes of an event, top-level and inside its objects.
fn event_attributes(event: &Value) -> Vec<&Value> {
    let mut all: Vec<&Value> = list(event, "Attribute").collect();
    for object in list(event, "Object") {
        all.extend(list(object, "Attribute"));
    }
    all
}

fn list<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn write_events(
    store: &Cache,
    imported: &mut Imported,
    events: Vec<(String, Value)>,
) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let (mut kept, mut indexed) = (0, 0);
    index::write(store, &imported.source, |w| {
        for (uuid, event) in &events {
            let id = w.put_event(uuid, event, true)?;
            kept += 1;
            for raw in event_attributes(event) {
                let Ok(mut attribute) = serde_json::from_value::<Attribute>(raw.clone()) else {
                    continue;
                };
                attribute.event_id = attribute.event_id.or_else(|| text(&event["id"]));
                indexed += u64::from(w.put_attribute(id, &attribute)?);
            }
        }
        Ok(())
    })?;
    imported.events += kept;
    imported.attributes += indexed;
    Ok(())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A CSV or freetext feed: one event holding every indicator, replacing
/// what the index held of the feed.
fn import_flat(
    store: &Cache,
    spec: &Spec,
    rows: Vec<Attribute>,
    imported: &mut Imported,
) -> Result<()> {
    let uuid = feed_event_uuid(&imported.source);
    let event = json!({
        "uuid": uuid,
        "info": spec.info.clone().unwrap_or_else(|| format!("Feed {}", imported.source)),
        "threat_level_id": spec.threat_level.clamp(1, 4).to_string(),
        "analysis": "2",
        "published": true,
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "Orgc": {"name": imported.source},
        "Tag": spec.tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
    });
    // The feed's event replaces what an earlier import kept, then takes
    // the rows a batch at a time.
    let id = index::write(store, &imported.source, |w| w.put_event(&uuid, &event, true))?;
    for chunk in rows.chunks(BATCH) {
        imported.attributes += index::write(store, &imported.source, |w| {
            chunk.iter().try_fold(0, |n, a| Ok(n + u64::from(w.put_attribute(id, a)?)))
        })?;
    }
    imported.events = 1;
    let keep: HashSet<String> = [uuid].into();
    imported.removed = index::write(store, &imported.source, |w| w.retain_events(&keep))?;
    Ok(())
}

/// The rows of a CSV feed. A header naming a `value` column gives the
/// columns by name; without one, the value is in column `value_column`
/// and its type is recognised. Lines starting with `#` are comments.
fn csv_attributes(
    path: &Path,
    value_column: usize,
    to_ids: bool,
    imported: &mut Imported,
) -> Result<Vec<Attribute>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_csv(file, value_column, to_ids, imported).with_context(|| path.display().to_string())
}

/// The rows of a CSV feed read from `input`, as [`csv_attributes`] takes
/// them; rows without a usable value are counted in `imported.skipped`.
pub fn read_csv(
    input: impl std::io::Read,
    value_column: usize,
    to_ids: bool,
    imported: &mut Imported,
) -> Result<Vec<Attribute>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(input);
    let mut rows = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    let mut line = 0;
    for record in reader.records() {
        line += 1;
        let record = record.with_context(|| format!("line {line}"))?;
        if line == 1 && record.iter().any(|f| f.eq_ignore_ascii_case("value")) {
            columns = Some(record.iter().map(str::to_ascii_lowercase).collect());
            continue;
        }
        let field = |name: &str| -> Option<&str> {
            let at = columns.as_ref()?.iter().position(|c| c == name)?;
            record.get(at).filter(|v| !v.is_empty())
        };
        let value = match &columns {
            Some(_) => field("value"),
            None => record.get(value_column.max(1) - 1),
        };
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            imported.skipped += 1;
            continue;
        };
        let (kind, value) = match field("type") {
            Some(kind) => (kind.to_string(), value.to_string()),
            None => match recognise(value) {
                Some((kind, value)) => (kind.to_string(), value),
                None => {
                    imported.skipped += 1;
                    continue;
                }
            },
        };
        let flag = field("to_ids").map_or(to_ids, |f| matches!(f, "1" | "true" | "True"));
        let mut attribute = flat_attribute(&imported.source, &kind, &value, flag);
        attribute.category = field("category").map(str::to_string);
        attribute.comment = field("comment").map(str::to_string);
        if let Some(uuid) = field("uuid").filter(|u| is_uuid(u)) {
            attribute.uuid = Some(uuid.to_string());
        }
        rows.push(attribute);
    }
    Ok(rows)
}

/// The indicators of a freetext feed: every word of every line that is an
/// address, a hash, a URL or a domain, once, after undoing the usual
/// defanging (`hxxp`, `[.]`, `(.)`, `[dot]`).
fn freetext_attributes(
    path: &Path,
    to_ids: bool,
    imported: &mut Imported,
) -> Result<Vec<Attribute>> {
    let file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    read_freetext(BufReader::new(file), to_ids, imported)
        .with_context(|| format!("reading {}", path.display()))
}

/// The indicators of a freetext feed read from `input`, as
/// [`freetext_attributes`] finds them; words that are no indicator are
/// counted in `imported.skipped`.
pub fn read_freetext(
    input: impl BufRead,
    to_ids: bool,
    imported: &mut Imported,
) -> Result<Vec<Attribute>> {
    let mut seen = HashSet::new();
    let mut rows = Vec::new();
    // Text feeds are not always clean UTF-8: a stray byte spoils a word,
    // not the feed.
    for line in input.split(b'\n') {
        let line = String::from_utf8_lossy(&line?).into_owned();
        let line = line.split_once('#').map_or(line.as_str(), |(text, _comment)| text);
        let refanged = refang(line);
        let words = refanged.split(|c: char| c.is_whitespace() || ",;\"'<>()".contains(c));
        // Brackets around a word and the full stop after it are prose.
        let words =
            words.map(|w| w.trim_matches(|c: char| "[]{}".contains(c)).trim_end_matches('.'));
        for word in words.filter(|w| !w.is_empty()) {
            match recognise(word) {
                Some((kind, value)) if seen.insert((kind, value.clone())) => {
                    rows.push(flat_attribute(&imported.source, kind, &value, to_ids));
                }
                Some(_) => {}
                None => imported.skipped += 1,
            }
        }
    }
    Ok(rows)
}

fn refang(text: &str) -> String {
    let mut out = text.replace("[.]", ".").replace("(.)", ".").replace("[dot]", ".");
    out = out.replace("hxxps://", "https://").replace("hxxp://", "http://");
    out.replace("[:]", ":").replace("[://]", "://")
}

/// The MISP type and normalised value of an indicator written alone:
/// an address, a hash by its length, a URL, or a domain. Private
/// addresses are kept: a feed says what it means.
pub fn recognise(raw: &str) -> Option<(&'static str, String)> {
    let keep = Acceptance { keep_private: true };
    let raw = raw.trim();
    if let Ok(ip) = ioc::normalise(IocType::Ip, raw, keep) {
        return Some(("ip-dst", ip));
    }
    if let Some(kind) = IocType::hash_of_len(raw.len()) {
        if let Ok(hash) = ioc::normalise(kind, raw, keep) {
            return Some((kind.name(), hash));
        }
    }
    if raw.contains("://") {
        return ioc::normalise(IocType::Url, raw, keep).ok().map(|u| ("url", u));
    }
    let domain = ioc::normalise(IocType::Domain, raw, keep).ok()?;
    domain.contains('.').then_some(("domain", domain))
}

/// The uuid of the one event of a CSV or freetext feed, derived from its
/// name.
fn feed_event_uuid(source: &str) -> String {
    child_uuid("", &format!("feed|{source}"))
}

/// An attribute of a CSV or freetext feed, with a uuid derived from the
/// feed and the value, so that importing the feed again changes nothing.
fn flat_attribute(source: &str, kind: &str, value: &str, to_ids: bool) -> Attribute {
    Attribute {
        uuid: Some(child_uuid(&feed_event_uuid(source), &format!("{kind}|{value}"))),
        kind: Some(kind.to_string()),
        value: Some(value.to_string()),
        to_ids: Some(to_ids),
        ..Attribute::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_recognised_by_their_shape() {
        assert_eq!(recognise("198.51.100.7"), Some(("ip-dst", "198.51.100.7".into())));
        assert_eq!(recognise("10.0.0.1"), Some(("ip-dst", "10.0.0.1".into())));
        let md5 = "4E73669498619133E45027923A37D96F";
        assert_eq!(recognise(md5), Some(("md5", md5.to_ascii_lowercase())));
        assert_eq!(recognise("Evil.Example.com"), Some(("domain", "evil.example.com".into())));
        assert_eq!(recognise("http://evil.example.com/a").map(|r| r.0), Some("url"));
        assert_eq!(recognise("malware"), None);
        assert_eq!(recognise("1.5"), None);
    }

    #[test]
    fn defanged_indicators_are_restored() {
        assert_eq!(refang("hxxp://evil[.]example(.)com[:]8080"), "http://evil.example.com:8080");
    }

    #[test]
    fn a_location_is_a_path_or_a_file_url() {
        assert_eq!(local_path("file:///srv/feed").unwrap(), PathBuf::from("/srv/feed"));
        let err = local_path("https://example.com/feed").unwrap_err().to_string();
        assert_eq!(
            err,
            "https://example.com/feed: only local paths and file:// URLs are imported; \
             download the feed first"
        );
    }
}
