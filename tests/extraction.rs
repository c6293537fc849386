//! Every fixture alert yields exactly the IoCs that the table in
//! tests/fixtures/README.md lists for it, in order, with their fields.
//! The table is the specification; this test reads it.

use std::fs;
use std::path::PathBuf;

use wazuh_misp::alert::Alert;
use wazuh_misp::extract::{extract, Extraction};

/// One row of the fixture table: the file and the IoCs it must yield.
struct Row {
    fixture: String,
    yields: Vec<String>,
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The rows of the table in tests/fixtures/README.md.
fn table() -> Vec<Row> {
    let text = fs::read_to_string(fixtures().join("README.md")).unwrap();
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let fixture = cells[0].trim_start_matches("| ").trim_matches('`').to_string();
            let yields = cells[2]
                .split("<br>")
                .map(|c| c.trim().trim_matches('`').to_string())
                .filter(|c| c != "none")
                .collect();
            Row { fixture, yields }
        })
        .collect()
}

/// What the program finds in one fixture, written `type value field`;
/// nothing for results of integrations, which are skipped before
/// extraction.
fn found(fixture: &str) -> Vec<String> {
    let text = fs::read(fixtures().join("alerts").join(fixture)).unwrap();
    let alert = Alert::parse(&text).unwrap();
    if alert.integration_origin().is_some() {
        return Vec::new();
    }
    let found = extract(&alert, &Extraction { max_iocs: 32, ..Extraction::default() });
    found.iocs.iter().map(|i| format!("{} {} {}", i.kind, i.value, i.field)).collect()
}

#[test]
fn the_table_covers_every_fixture_file() {
    let mut listed: Vec<String> = table().into_iter().map(|r| r.fixture).collect();
    let mut files: Vec<String> = fs::read_dir(fixtures().join("alerts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    listed.sort();
    files.sort();
    assert_eq!(listed, files);
}

#[test]
fn every_fixture_yields_exactly_the_iocs_its_table_row_lists() {
    let rows = table();
    assert!(rows.len() >= 25, "only {} rows read", rows.len());
    let mut wrong = Vec::new();
    for row in rows {
        let got = found(&row.fixture);
        if got != row.yields {
            wrong.push(format!("{}:\n  want {:?}\n  got  {:?}", row.fixture, row.yields, got));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
