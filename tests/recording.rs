//! Recording alerts in MISP when MISP refuses or fails the writes: each
//! failure has one log line and an error datagram, the lookup's answer
//! still goes out, and a later run never duplicates what was written. And
//! the analyst's feedback tasks.

mod common;

use std::process::Command;
use std::thread::sleep;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::{sample, Manager};
use misp_test_server::{Fault, FaultRule, MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};
use wazuh_misp::incident::incident_uuid;

fn misp(options: ServerOptions) -> MispServer {
    let server = MispServer::start(options);
    server.load_feed(&common::feed()).unwrap();
    server
}

fn options(server: &MispServer) -> Value {
    json!({"misp_url": server.url(), "api_key": TEST_API_KEY, "flood_control": false})
}

/// The incident of the sample alerts' agent 004 on their day.
fn incident_of_agent_004() -> String {
    let day = Utc.with_ymd_and_hms(2026, 10, 14, 0, 0, 0).unwrap();
    incident_uuid("wazuh-manager", "004", &day)
}

/// The statuses and error kinds of a run's datagrams, in order.
fn kinds(run: &common::Run) -> Vec<String> {
    (0..run.datagrams.len())
        .map(|i| {
            let misp = &run.message(i)["misp"];
            match misp["status"].as_str().unwrap() {
                "error" => format!(
                    "error {} {}",
                    misp["error"]["stage"].as_str().unwrap(),
                    misp["error"]["kind"].as_str().unwrap()
                ),
                other => other.to_string(),
            }
        })
        .collect()
}

fn warnings(run: &common::Run) -> Vec<String> {
    run.log_lines().into_iter().filter(|l| l.starts_with("custom-misp WARN")).collect()
}

#[test]
fn a_key_that_may_not_create_events_is_reported_and_the_match_still_goes_out() {
    let server = misp(ServerOptions { can_create_events: false, ..ServerOptions::default() });
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 9, "{run:?}");
    assert_eq!(kinds(&run), vec!["match", "error record forbidden"]);
    assert_eq!(
        warnings(&run),
        vec![
            "custom-misp WARN: alert=1791962054.2210376 rule=5712 agent=004 MISP record failed: \
             forbidden (HTTP 403): You do not have permission to use this functionality."
        ]
    );
    assert!(run.log_lines()[1].contains(" recorded=failed datagrams=2 "), "{:?}", run.log);
}

#[test]
fn tags_the_user_may_not_create_are_dropped_and_the_incident_still_recorded() {
    let server = misp(ServerOptions { can_create_tags: false, ..ServerOptions::default() });
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.log_lines()[0].contains(" recorded=created "), "{:?}", run.log);
    let event = server.event(&incident_of_agent_004()).unwrap();
    assert_eq!(event["Event"]["Object"].as_array().unwrap().len(), 1);
}

#[test]
fn without_the_template_the_observation_is_recorded_as_plain_attributes() {
    let server = misp(ServerOptions { templates: Some(Vec::new()), ..ServerOptions::default() });
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let event = server.event(&incident_of_agent_004()).unwrap();
    let event = &event["Event"];
    assert!(event.get("Object").is_none_or(|o| o.as_array().unwrap().is_empty()));
    let attributes = event["Attribute"].as_array().unwrap();
    let ip = attributes.iter().find(|a| a["type"] == json!("ip-src")).unwrap();
    assert_eq!(ip["value"], json!("198.51.100.23"));
    assert_eq!(ip["to_ids"], json!(false));
    assert!(ip["comment"]
        .as_str()
        .unwrap()
        .starts_with("ip-src; Wazuh alert 1791962054.2210376, rule 5712"));
    // Again: MISP refuses the duplicate, the run counts a repeat and adds nothing.
    let again =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert!(again.log_lines()[0].contains(" recorded=repeat "), "{:?}", again.log);
    let event = server.event(&incident_of_agent_004()).unwrap();
    assert_eq!(event["Event"]["Attribute"].as_array().unwrap().len(), attributes.len());
}

#[test]
fn a_blocklisted_incident_is_reported_as_blocklisted() {
    let server = misp(ServerOptions::default());
    server.block_event_uuid(&incident_of_agent_004());
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 9, "{run:?}");
    assert_eq!(kinds(&run), vec!["match", "error record blocklisted"]);
    assert_eq!(
        run.message(1)["misp"]["error"]["message"],
        json!("Event blocked by event blocklist.")
    );
}

#[test]
fn a_write_that_times_out_half_way_is_reported_and_not_duplicated_later() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    // The incident exists: the brute force created it.
    let first =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(first.code, 0, "{first:?}");
    // MISP saves the file object only after the run has given up on it.
    let alert = sample("syscheck-554-dropper-added.json").replace(r#""id":"012""#, r#""id":"004""#);
    server.push_fault(FaultRule {
        path_prefix: "/objects/add".into(),
        fault: Fault::Delay(Duration::from_millis(1500)),
        times: Some(1),
    });
    let cut = manager.integratord(&alert, options(&server), "1", "0");
    assert_eq!(cut.code, 9, "{cut:?}");
    assert_eq!(kinds(&cut), vec!["match", "match", "match", "error record timeout"]);
    assert!(cut.elapsed < Duration::from_millis(1600), "took {:?}", cut.elapsed);
    let summary = cut.log_lines().last().cloned().unwrap_or_default();
    assert!(summary.contains(" recorded=kept datagrams=4 misp_writes=kept "), "{summary}");
    sleep(Duration::from_millis(1000));
    let objects = |server: &MispServer| {
        server.event(&incident_of_agent_004()).unwrap()["Event"]["Object"].as_array().unwrap().len()
    };
    assert_eq!(objects(&server), 2, "the delayed write landed");
    let retry = manager.integratord(&alert, options(&server), "5", "0");
    assert_eq!(retry.code, 0, "{retry:?}");
    // The retry records its own repeat, then sends the write kept by the
    // cut run: MISP has it, so nothing is added twice.
    let lines = retry.log_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with(" alert=1791968741.6102254 kept MISP writes sent"), "{lines:?}");
    assert!(
        lines[1].contains(" recorded=repeat datagrams=3 kept_writes_sent=1 kept_writes_left=0 "),
        "{lines:?}"
    );
    assert_eq!(objects(&server), 2, "no duplicate after the retry");
}

#[test]
fn a_missing_or_malformed_timestamp_is_reported_and_the_match_still_goes_out() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    for (stamp, seen) in [("", "\"\""), ("14/10/2026 07:14", "\"14/10/2026 07:14\"")] {
        let alert =
            sample("sshd-5712-bruteforce.json").replace("2026-10-14T07:14:14.381+0000", stamp);
        let run = manager.integratord(&alert, options(&server), "5", "0");
        assert_eq!(run.code, 9, "{run:?}");
        assert_eq!(kinds(&run), vec!["match", "error record bad_alert"]);
        assert_eq!(
            run.message(1)["misp"]["error"]["message"],
            json!(format!("alert timestamp: timestamp {seen} is not ISO 8601 with an offset"))
        );
    }
    assert!(server
        .events()
        .iter()
        .all(|e| !e["Event"]["info"].as_str().unwrap().starts_with("Wazuh incident")));
}

// The analyst's tasks.

fn task(manager: &Manager, server: &MispServer, args: &[&str]) -> (i32, String, String) {
    let options = manager.write(".options", &options(server).to_string());
    let output =
        Command::new(common::BINARY).args(args).arg("--options").arg(&options).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

#[test]
fn a_false_positive_is_a_type_1_sighting_on_every_attribute_with_the_value() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let (code, stdout, _) =
        task(&manager, &server, &["false-positive", "--source", "SOC analyst", "198.51.100.23"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "false positive sighting added for 198.51.100.23\n");
    let sightings = server.sightings();
    assert_eq!(sightings.len(), 1);
    assert_eq!(sightings[0]["type"], json!("1"));
    assert_eq!(sightings[0]["source"], json!("SOC analyst"));
}

#[test]
fn an_expiration_of_an_unknown_value_is_misp_s_refusal() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let (code, _, stderr) = task(&manager, &server, &["expire", "nothing-known.example.com"]);
    assert_eq!(code, 5);
    assert!(
        stderr.contains(
            "MISP added no sighting: Could not add the Sighting. Reason: No valid attributes found"
        ),
        "{stderr}"
    );
}

#[test]
fn feedback_values_must_be_iocs_so_no_search_operator_gets_through() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let (code, _, stderr) = task(&manager, &server, &["false-positive", "%.example.com"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("\"%.example.com\" is not an IP address, domain, URL or hash"),
        "{stderr}"
    );
    assert!(server.requests().is_empty());
}

fn tag_names(server: &MispServer, uuid: &str) -> Vec<String> {
    let event = server.event(uuid).unwrap();
    event["Event"]["Tag"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn tagging_the_incident_attaches_the_tags() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let uuid = incident_of_agent_004();
    let (code, stdout, stderr) =
        task(&manager, &server, &["tag", &uuid, "workflow:state=\"complete\""]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, format!("tagged {uuid} with workflow:state=\"complete\"\n"));
    assert!(tag_names(&server, &uuid).contains(&"workflow:state=\"complete\"".to_string()));
    let (code, _, stderr) = task(&manager, &server, &["tag", "not-a-uuid", "tlp:red"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("\"not-a-uuid\" is not a uuid"), "{stderr}");
}

#[test]
fn another_organisation_s_event_takes_local_tags_only() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let intel = "8f3c2b71-4d5e-4a9b-9c1d-2e7f60a4b315";
    let (code, _, stderr) = task(&manager, &server, &["tag", intel, "wazuh:seen"]);
    assert_eq!(code, 5);
    assert!(
        stderr.contains("forbidden (HTTP 403): Cannot alter the tags of this data"),
        "{stderr}"
    );
    let (code, _, stderr) = task(&manager, &server, &["tag", "--local", intel, "wazuh:seen"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(tag_names(&server, intel).contains(&"wazuh:seen".to_string()));
}

#[test]
fn the_timeline_of_an_unknown_incident_is_a_clear_error() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let (code, _, stderr) =
        task(&manager, &server, &["timeline", "00000000-0000-4000-8000-000000000000"]);
    assert_eq!(code, 5);
    assert!(
        stderr.contains("incident event 00000000-0000-4000-8000-000000000000: not_found (HTTP 404): Invalid event"),
        "{stderr}"
    );
}

#[test]
fn the_html_timeline_is_written_to_the_named_file() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let page = manager.dir.path().join("incident.html");
    let uuid = incident_of_agent_004();
    let (code, stdout, stderr) = task(
        &manager,
        &server,
        &["timeline", "--format", "html", "-o", page.to_str().unwrap(), &uuid],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout, "");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("Wazuh incident: agent 004 bastion-02 (10.30.1.4), 2026-10-14"));
    assert!(html.contains(r#"data-rule="5712""#));
}

#[test]
fn a_repeat_the_store_knows_costs_one_sighting_and_no_refused_add() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = sample("sshd-5712-bruteforce.json");
    let first = manager.integratord(&alert, options(&server), "5", "0");
    assert!(first.log_lines()[0].contains(" recorded=created "), "{:?}", first.log);
    server.clear_requests();
    let again = manager.integratord(&alert, options(&server), "5", "0");
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.log_lines()[0].contains(" requests=2 matches=1 recorded=repeat "),
        "{:?}",
        again.log
    );
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, vec!["/sightings/add", "/sightings/add"], "intel sighting, then the repeat");
    let repeats = server
        .sightings()
        .iter()
        .filter(|s| s["source"].as_str().unwrap_or("").ends_with(", repeat of rule 5712"))
        .count();
    assert_eq!(repeats, 1);
}
