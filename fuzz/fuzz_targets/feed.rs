//! A feed folder of any content, searched for the IoCs of any values.
//!
//! An input is text in sections: first the values looked up, one a line,
//! then each file of the folder after a line `--- <file name>`:
//!
//! ```text
//! 198.51.100.23
//! --- manifest.json
//! {"8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315": {"info": "..."}}
//! --- hashes.csv
//! 4d06b9696e68b39ac9dbfed762191467,8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315
//! --- 8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315.json
//! {"Event": {"Attribute": [...]}}
//! ```
//!
//! The folder is written to a scratch folder and read by every feed
//! format in [`FORMATS`]. Besides not panicking, a search may only answer
//! attributes that match a looked-up IoC and pass the filters.

#![no_main]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wazuh_misp::cache::Cache;
use wazuh_misp::feed::Feed;
use wazuh_misp::import::{self, Format, Spec};
use wazuh_misp::index;
use wazuh_misp::intel::attribute_matches;
use wazuh_misp::ioc::{normalise, Acceptance, Ioc, IocType};
use wazuh_misp::misp::SearchFilters;

/// How a section names the file it holds.
const FILE_MARK: &[u8] = b"\n--- ";

/// The feed formats, each reading the folder for the IoCs: the folder read
/// in place, and the folder, `feed.csv` and `feed.txt` imported into the
/// indicator index of a scratch store.
const FORMATS: &[fn(&Path, &[Ioc])] = &[misp_format, imported_misp, imported_csv, imported_text];

fuzz_target!(|input: &[u8]| {
    let mut sections = split(input, FILE_MARK);
    let iocs = iocs_of(sections.next().unwrap_or_default());
    let dir = scratch();
    fs::create_dir_all(dir).expect("creating the scratch folder");
    for section in sections {
        let (name, content) = split_once(section, b'\n');
        if let Some(name) = std::str::from_utf8(name).ok().filter(|n| is_plain_name(n)) {
            fs::write(dir.join(name), content).expect("writing a feed file");
        }
    }
    for read in FORMATS {
        read(dir, &iocs);
    }
    fs::remove_dir_all(dir).expect("removing the scratch folder");
});

/// A MISP-format feed, searched with the IDS filter on and off.
fn misp_format(dir: &Path, iocs: &[Ioc]) {
    let Ok(feed) = Feed::open(dir) else { return };
    let any = SearchFilters { to_ids: None, ..SearchFilters::default() };
    for filters in [SearchFilters::default(), any] {
        let Ok(found) = feed.search(iocs, &filters) else { continue };
        for attribute in &found {
            assert!(iocs.iter().any(|ioc| attribute_matches(ioc, attribute)), "{attribute:?}");
            assert_ne!(attribute.deleted, Some(true), "{attribute:?}");
            if let Some(to_ids) = filters.to_ids {
                assert_eq!(attribute.to_ids.unwrap_or(false), to_ids, "{attribute:?}");
            }
        }
    }
}

fn imported_misp(dir: &Path, iocs: &[Ioc]) {
    imported(iocs, dir.to_path_buf(), Format::Misp);
}

fn imported_csv(dir: &Path, iocs: &[Ioc]) {
    imported(iocs, dir.join("feed.csv"), Format::Csv);
}

fn imported_text(dir: &Path, iocs: &[Ioc]) {
    imported(iocs, dir.join("feed.txt"), Format::Freetext);
}

/// A feed imported into a scratch store: the import may refuse the feed,
/// but a lookup in what it kept may not fail, and may only answer
/// attributes that match a looked-up IoC, under keys that are stable.
fn imported(iocs: &[Ioc], location: PathBuf, format: Format) {
    if !location.exists() {
        return;
    }
    let store_dir =
        std::env::temp_dir().join(format!("wazuh-misp-fuzz-store-{}", std::process::id()));
    let _ = fs::remove_dir_all(&store_dir);
    let (store, _) = Cache::open(&store_dir);
    let spec = Spec {
        location: location.display().to_string(),
        format: Some(format),
        name: Some("fuzz".into()),
        value_column: 1,
        info: None,
        threat_level: 3,
        tags: Vec::new(),
        to_ids: true,
    };
    if import::import(&store, &spec).is_ok() {
        let any = SearchFilters { to_ids: None, ..SearchFilters::default() };
        let found = index::search(&store, iocs, &any).expect("a lookup in an imported feed");
        for attribute in &found {
            assert!(iocs.iter().any(|ioc| attribute_matches(ioc, attribute)), "{attribute:?}");
            let value = attribute.value.as_deref().unwrap_or_default();
            for part in value.split('|') {
                assert_eq!(index::key(&index::key(part)), index::key(part), "{part:?}");
            }
        }
    }
    drop(store);
    let _ = fs::remove_dir_all(&store_dir);
}

/// The IoCs of every type that each line of `values` normalises as.
fn iocs_of(values: &[u8]) -> Vec<Ioc> {
    let keep_all = Acceptance { keep_private: true };
    let lines = values.split(|b| *b == b'\n').filter_map(|l| std::str::from_utf8(l).ok());
    let mut iocs = Vec::new();
    for line in lines {
        for kind in IocType::ALL {
            if let Ok(value) = normalise(kind, line, keep_all) {
                iocs.push(Ioc { kind, value, field: "data.srcip".into(), file: None });
            }
        }
    }
    iocs
}

/// True for a file name that stays inside the folder.
fn is_plain_name(name: &str) -> bool {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    !name.is_empty() && name.len() <= 64 && !name.starts_with('.') && name.bytes().all(allowed)
}

/// The pieces of `input` between occurrences of `mark`.
fn split<'a>(input: &'a [u8], mark: &'a [u8]) -> impl Iterator<Item = &'a [u8]> {
    let mut rest = Some(input);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.windows(mark.len()).position(|w| w == mark) {
            Some(at) => {
                rest = Some(&current[at + mark.len()..]);
                Some(&current[..at])
            }
            None => rest.take(),
        }
    })
}

/// `input` before and after the first `byte`; all of it before when
/// there is none.
fn split_once(input: &[u8], byte: u8) -> (&[u8], &[u8]) {
    match input.iter().position(|b| *b == byte) {
        Some(at) => (&input[..at], &input[at + 1..]),
        None => (input, &[]),
    }
}

/// A folder of this process for the feed of one input.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::temp_dir().join(format!("wazuh-misp-fuzz-feed-{}", std::process::id()))
    })
}
