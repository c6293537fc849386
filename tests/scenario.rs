//! The simulated attack of learning/lab (SSH brute force, a successful
//! login, a dropped file, the file running, DNS and traffic to the C2),
//! replayed through the integration as integratord would run it, against
//! the MISP test server holding the lab's intel feed: one incident event
//! holds every step in order, repeats are sightings, matched intel is
//! sighted, MISP correlates the incident with the intel events, and the
//! timeline shows it all.

mod common;

use std::path::PathBuf;
use std::process::Command;

use chrono::{TimeZone, Utc};
use common::Manager;
use misp_test_server::{MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};
use wazuh_misp::incident::incident_uuid;

/// The groups of the shipped integration block, as replay's filter.
const BLOCK_GROUPS: &str = "sshd,attacks,authentication_failed,authentication_failures,\
syscheck_entry_added,syscheck_entry_modified,sysmon_eid1_detections,sysmon_eid3_detections,\
sysmon_eid7_detections,sysmon_event1,sysmon_event3,sysmon_event_22,attack,web_scan,ids";

fn lab() -> PathBuf {
    common::repo().join("learning/lab")
}

/// The incident of agent 021 on 2026-11-18.
fn incident() -> String {
    let day = Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).unwrap();
    incident_uuid("wazuh-manager-01", "021", &day)
}

struct Replayed {
    server: MispServer,
    manager: Manager,
    options: PathBuf,
    stderr: String,
    code: i32,
}

/// Replays the lab's alerts against a fresh MISP test server.
fn replay() -> Replayed {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&lab().join("intel-feed")).unwrap();
    let manager = Manager::new();
    let options = json!({"misp_url": server.url(), "api_key": TEST_API_KEY, "timeout": 5});
    let options = manager.write(".options", &manager.options(options).to_string());
    let output = Command::new(common::BINARY)
        .args(["replay", "--quiet", "--group", BLOCK_GROUPS, "--options"])
        .arg(&options)
        .arg(lab().join("alerts.json"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    Replayed { server, manager, options, stderr, code: output.status.code().unwrap_or(-1) }
}

fn timeline(replayed: &Replayed, format: &str) -> String {
    let output = Command::new(common::BINARY)
        .args(["timeline", "--format", format, "--options"])
        .arg(&replayed.options)
        .arg(incident())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The observations of the incident as `(first_seen, name, comment's rule)`.
fn observations(event: &Value) -> Vec<(String, String, String)> {
    let mut rows: Vec<(String, String, String)> = event["Object"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            let comment = o["comment"].as_str().unwrap();
            let rule = comment.split(", rule ").nth(1).unwrap().split(' ').next().unwrap();
            (
                o["first_seen"].as_str().unwrap().to_string(),
                o["name"].as_str().unwrap().to_string(),
                rule.to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
fn the_attack_replays_into_one_incident_with_every_step_in_order() {
    let replayed = replay();
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let summary = replayed.stderr.lines().last().unwrap();
    assert!(summary.starts_with("replayed 24 alerts in "), "{summary}");
    assert!(summary.ends_with(REPLAY_TOTALS), "{summary}");
    let events = replayed.server.events();
    let incidents: Vec<&Value> = events
        .iter()
        .filter(|e| e["Event"]["info"].as_str().unwrap().starts_with("Wazuh incident"))
        .collect();
    assert_eq!(incidents.len(), 1, "one incident for the whole attack");
    let event = replayed.server.event(&incident()).expect("the incident has the derived uuid");
    let event = &event["Event"];
    assert_eq!(
        event["info"],
        json!("Wazuh incident: agent 021 FIN-APP-01 (10.40.20.21), 2026-11-18")
    );
    assert_eq!(event["threat_level_id"], json!("1"));
    assert_eq!(event["distribution"], json!("0"));
    let tags: Vec<&str> =
        event["Tag"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        tags,
        vec![
            "tlp:amber",
            "wazuh:agent=\"021 FIN-APP-01\"",
            "misp-galaxy:mitre-attack-pattern=\"Password Guessing - T1110.001\"",
            "misp-galaxy:mitre-attack-pattern=\"SSH - T1021.004\""
        ]
    );
    let steps: Vec<(String, String)> =
        observations(event).into_iter().map(|(_, name, rule)| (rule, name)).collect();
    let expected: Vec<(String, String)> =
        EXPECTED_STEPS.iter().map(|(r, n)| (r.to_string(), n.to_string())).collect();
    assert_eq!(steps, expected);
    let ids_flags: Vec<&Value> = event["Object"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["Attribute"].as_array().unwrap())
        .map(|a| &a["to_ids"])
        .collect();
    assert!(ids_flags.iter().all(|f| **f == json!(false)), "observations are never IDS indicators");
    let file = event["Object"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["comment"].as_str().unwrap().contains("rule 554 "))
        .unwrap();
    let file_tags: Vec<&str> = file["Attribute"][0]["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(file_tags.contains(&"misp-galaxy:threat-actor=\"Glass Heron\""), "{file_tags:?}");
}

/// The uuids of the lab feed's intel events.
const GLASS_HERON: &str = "5b0e7c3a-91d4-4f2e-a6b8-3c7d20e9f514";
const SSH_BOTNET: &str = "d7a41f60-2b8e-4c95-8e13-6f0a9b2c4d87";

#[test]
fn matched_intel_is_sighted_by_the_manager_and_agent_once_per_alert() {
    let replayed = replay();
    assert_eq!(replayed.code, 0, "{}", replayed.stderr);
    let botnet = replayed.server.event(SSH_BOTNET).unwrap();
    let attribute = botnet["Event"]["Attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["value"] == json!("203.0.113.45"))
        .unwrap()
        .clone();
    let sightings = attribute["Sighting"].as_array().unwrap();
    // 7 invalid users, the brute force, 3 failed passwords, the login
    // after them and the later login: 13 alerts matched the address.
    assert_eq!(sightings.len(), 13);
    for sighting in sightings {
        assert_eq!(sighting["source"], json!("Wazuh wazuh-manager-01 agent 021 FIN-APP-01"));
        assert_eq!(sighting["type"], json!("0"));
    }
    let first: i64 = sightings[0]["date_sighting"].as_str().unwrap().parse().unwrap();
    assert_eq!(Utc.timestamp_opt(first, 0).unwrap().to_rfc3339(), "2026-11-18T09:08:03+00:00");
}

#[test]
fn misp_correlates_the_incident_with_both_intel_events() {
    let replayed = replay();
    let event = replayed.server.event(&incident()).unwrap();
    let mut related: Vec<&str> = event["Event"]["RelatedEvent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Event"]["uuid"].as_str().unwrap())
        .collect();
    related.sort();
    assert_eq!(related, vec![GLASS_HERON, SSH_BOTNET]);
}

#[test]
fn flood_control_answers_once_per_ioc_intel_and_agent() {
    let replayed = replay();
    let datagrams = replayed.manager.received();
    assert!(datagrams.iter().all(|d| d.starts_with("1:[021] (FIN-APP-01) 10.40.20.21->misp:{")));
    let mut iocs: Vec<String> = datagrams
        .iter()
        .map(|d| common::message_of(d)["misp"]["ioc"]["value"].as_str().unwrap().to_string())
        .collect();
    iocs.sort();
    // 13 alerts from the brute-forcing address, the dropper's hashes seen
    // by FIM and again by Sysmon, the C2 address in DNS and three
    // connections: each IoC is reported once for its intel event.
    assert_eq!(
        iocs,
        vec![
            "198.51.100.77",
            "1e696d41068dd19fd3b3c3c512aa8de8c9fac23e",
            "203.0.113.45",
            "32ea19a51e3b1ccef50268e1b3dd37e0",
            "861387c1741b73a9dfb136b63135e0f1",
            "8f37280f596c73a11d706625c737694416ca426d8763dd7dccc90a1d24c73463",
            "cdn-telemetry.example.net",
        ]
    );
}

#[test]
fn the_timeline_shows_every_step_in_order_with_repeats_intel_and_correlations() {
    let replayed = replay();
    let timeline: Value = serde_json::from_str(&timeline(&replayed, "json")).unwrap();
    let steps = timeline["steps"].as_array().unwrap();
    let rules: Vec<&str> = steps.iter().map(|s| s["rule_id"].as_str().unwrap()).collect();
    let expected: Vec<&str> = EXPECTED_STEPS.iter().map(|(rule, _)| *rule).collect();
    assert_eq!(rules, expected);
    let counts: Vec<u64> = steps.iter().map(|s| s["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, vec![7, 1, 3, 1, 1, 1, 1, 3, 1]);
    let times: Vec<&str> = steps.iter().map(|s| s["time"].as_str().unwrap()).collect();
    assert_eq!(times[0], "2026-11-18T09:08:03.412000+00:00");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(steps[0]["last_seen"], json!("2026-11-18T09:09:25.000000+00:00"));
    let dropped_file = &steps[4];
    assert_eq!(dropped_file["observation"], json!("file svchost-update.exe"));
    let hit = &dropped_file["intel"][0];
    assert_eq!(hit["event_uuid"], json!(GLASS_HERON));
    assert_eq!(hit["event_info"], json!("Glass Heron: svchost-update dropper and its C2"));
    assert_eq!(hit["threat_level"], json!("high"));
    assert_eq!(hit["threat_actors"], json!(["Glass Heron"]));
    assert!(
        steps.iter().all(|s| !s["intel"].as_array().unwrap().is_empty()),
        "every step hit intel"
    );
    let related = timeline["related"].as_array().unwrap();
    let botnet = related.iter().find(|r| r["uuid"] == json!(SSH_BOTNET)).unwrap();
    assert_eq!(botnet["shared_values"], json!(["203.0.113.45"]));
    let heron = related.iter().find(|r| r["uuid"] == json!(GLASS_HERON)).unwrap();
    assert!(heron["shared_values"]
        .as_array()
        .unwrap()
        .contains(&json!("cdn-telemetry.example.net")));
    let text = timeline_text(&replayed);
    assert!(text.ends_with("9 steps, 9 hit intel, 2 related events\n"), "{text}");
    assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
}

fn timeline_text(replayed: &Replayed) -> String {
    timeline(replayed, "text")
}

/// The steps of the incident, in first_seen order: rule id and object.
const EXPECTED_STEPS: [(&str, &str); 9] = [
    ("5710", "authentication-failure-report"),
    ("5712", "authentication-failure-report"),
    ("5760", "authentication-failure-report"),
    ("40112", "ip-port"),
    ("554", "file"),
    ("92032", "file"),
    ("61650", "domain-ip"),
    ("61605", "network-connection"),
    ("5715", "ip-port"),
];

/// The end of replay's summary line: the one alert outside the block's
/// groups (an RDP logon), the one without IoCs (a login from the internal
/// network), the noise that matched nothing and stayed out of the incident;
/// the requests include one view of each of the two intel events, whose
/// context is remembered after that, and a lookup only for values not
/// looked up before (the 13 alerts from the brute-forcing address ask
/// once).
const REPLAY_TOTALS: &str = "alerts/s): 1 filtered out, 19 matched (7 datagrams), 19 recorded, \
     1 skipped, 0 failed, 0 invalid; 53 MISP requests (2.21 per alert)";
