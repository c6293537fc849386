//! Values from an alert go into JSON bodies and datagrams, never into a
//! URL path, a shell or a file name, nor a line of their own in the log:
//! an alert whose every field is made of `../`, `/`, `%2e`, `;`, `$(...)`
//! and newlines makes MISP and misp-modules see only their fixed API
//! paths, leaves no file outside the run's own, and one log line.

mod common;

use std::fs;
use std::path::Path;

use common::hostile::{Behaviour, Hostile};
use common::{sample, Manager};
use misp_test_server::{MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};

/// Text that climbs paths, ends shell commands and runs others, in every
/// spelling; `{marker}` is a file that a shell or a path join would make.
fn hostile(marker: &Path) -> String {
    let m = marker.display();
    format!("../../%2e%2e/{m};$(touch {m})`touch {m}`\n/../x;rm -rf {m}")
}

/// The brute-force sample with hostile text in every field a run reads,
/// beside its real address, and a URL IoC made of the same text.
fn hostile_alert(marker: &Path) -> String {
    let text = hostile(marker);
    let mut alert: Value = serde_json::from_str(&sample("sshd-5712-bruteforce.json")).unwrap();
    alert["id"] = json!(format!("1791962054.2210376{text}"));
    alert["agent"] = json!({"id": format!("004{text}"), "name": text, "ip": "10.30.1.4"});
    alert["manager"]["name"] = json!(text);
    alert["rule"]["id"] = json!(format!("5712{text}"));
    alert["rule"]["description"] = json!(text);
    alert["rule"]["groups"] = json!([text, "sshd"]);
    alert["location"] = json!(text);
    alert["full_log"] = json!(text);
    alert["data"]["srcuser"] = json!(text);
    alert["data"]["hostname"] = json!(text);
    let url = format!("http://203.0.113.7/../../%2e%2e/admin;$(touch {})", marker.display());
    alert["data"]["url"] = json!(url);
    alert.to_string()
}

/// True for a canonical uuid.
fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// True for a path of MISP's API that the program may ask: a fixed one,
/// or one whose variable parts are ids and uuids.
fn is_fixed_api_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["attributes", "restSearch"] | ["sightings", "add"] | ["events", "add"] => true,
        ["events", "view", id] => id.bytes().all(|b| b.is_ascii_digit()) || is_uuid(id),
        ["events", "edit", event] | ["attributes", "add", event] => is_uuid(event),
        ["objects", "add", event, template] => is_uuid(event) && is_uuid(template),
        _ => false,
    }
}

/// Every file and folder under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in fs::read_dir(&folder).unwrap().map(Result::unwrap) {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                folders.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn hostile_alert_values_reach_no_url_path_shell_or_file_name() {
    let misp = MispServer::start(ServerOptions::default());
    misp.load_feed(&common::feed()).unwrap();
    let modules = Hostile::start(Behaviour::EchoModules);
    let manager = Manager::new();
    let cwd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let marker = elsewhere.path().join("made-by-the-alert");
    let alert = manager.write(".alert", &hostile_alert(&marker));
    let options = json!({
        "misp_url": misp.url(), "api_key": TEST_API_KEY, "flood_control": false,
        "enrichment": {"ip": ["echo"], "url": ["echo"]}, "modules_url": modules.url(),
        "enrich": "all", "record_min_level": 0,
    });
    let options = manager.write(".options", &manager.options(options).to_string());
    let before = tree(manager.dir.path());
    let args = [alert.to_str().unwrap(), "", "", "", options.to_str().unwrap(), "5", "0"];
    // Twice: the second run is a repeat of the first observation.
    for (attempt, recorded) in [("first", "created"), ("repeat", "repeat")] {
        let run = manager.run_in(cwd.path(), &args);
        assert_eq!(run.code, 0, "{attempt}: {run:?}");
        assert!(run.message(0)["misp"]["status"] == json!("match"), "{attempt}: {run:?}");
        // One line, its newlines escaped: the alert forges no log line.
        assert_eq!(run.log.len(), 1, "{attempt}: {:#?}", run.log);
        let escaped = format!("alert=1791962054.2210376{}", hostile(&marker).escape_debug());
        assert!(run.log[0].contains(&format!(" INFO: {escaped} rule=")), "{}", run.log[0]);
        assert!(run.log[0].contains(&format!(" recorded={recorded} ")), "{}", run.log[0]);
    }

    let requests = misp.requests();
    assert!(requests.iter().any(|r| r.path.starts_with("/objects/add/")), "{requests:?}");
    for request in &requests {
        assert!(is_fixed_api_path(&request.path), "{} {}", request.method, request.path);
        assert_eq!(request.query, "", "{} {}", request.method, request.path);
    }
    let search: Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(search["value"][0], json!("198.51.100.23"));
    for request in modules.requests() {
        let line = request.head.lines().next().unwrap();
        assert!(
            ["GET /modules HTTP/1.1", "POST /query HTTP/1.1"].contains(&line),
            "misp-modules asked {line:?}"
        );
    }

    assert!(!marker.exists(), "the alert made {}", marker.display());
    assert!(tree(elsewhere.path()).is_empty());
    assert!(tree(cwd.path()).is_empty(), "{:?}", tree(cwd.path()));
    let after = tree(manager.dir.path());
    let new: Vec<&String> = after.iter().filter(|p| !before.contains(p)).collect();
    assert_eq!(new, ["integrations.log", "state", "state/custom-misp.db"]);
}
