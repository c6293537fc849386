//! The binary run as wazuh-integratord runs it, against the MISP test
//! server and a real Unix datagram socket: exact datagrams, exit codes,
//! request counts and log lines.

mod common;

use std::time::Duration;

use common::{header_of, sample, Manager};
use misp_test_server::{
    Fault, FaultRule, MispServer, Numbers, ServerOptions, TlsMode, TEST_API_KEY,
};
use serde_json::{json, Value};

const SEARCH: &str = "/attributes/restSearch";

/// A MISP test server holding the bundled feed's events.
fn misp(options: ServerOptions) -> MispServer {
    let server = MispServer::start(options);
    server.load_feed(&common::feed()).unwrap();
    server
}

/// Options for a lookup only: recording, sightings and the matched
/// events' context are tested on their own.
fn misp_options(server: &MispServer) -> Value {
    json!({
        "misp_url": server.url(), "api_key": TEST_API_KEY,
        "record": false, "sightings": false, "event_context": false, "flood_control": false
    })
}

fn fault(path: &str, fault: Fault) -> FaultRule {
    FaultRule { path_prefix: path.to_string(), fault, times: None }
}

#[test]
fn a_sysmon_process_alert_gets_one_datagram_per_matched_hash_from_one_request() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sysmon-1-dropper.json"), misp_options(&server), "10", "3");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(server.count("POST", SEARCH), 1);
    assert_eq!(run.datagrams.len(), 4);
    for datagram in &run.datagrams {
        assert_eq!(header_of(datagram), "1:[007] (WKS-FIN-0142) 10.40.12.42->misp:");
    }
    let kinds: Vec<Value> = (0..4).map(|i| run.message(i)["misp"]["ioc"]["type"].clone()).collect();
    assert_eq!(kinds, vec![json!("sha1"), json!("md5"), json!("sha256"), json!("imphash")]);
    let first = run.message(0);
    assert_eq!(first["integration"], json!("misp"));
    assert_eq!(first["misp"]["status"], json!("match"));
    assert_eq!(first["misp"]["ioc"]["kind"], json!("hash"));
    assert_eq!(first["misp"]["ioc"]["field"], json!("data.win.eventdata.hashes"));
    assert_eq!(first["misp"]["event"]["threat_level"], json!("high"));
    assert_eq!(first["misp"]["tlp"], json!("tlp:amber"));
    assert_eq!(first["misp"]["threat_actors"], json!(["Glass Heron"]));
    assert_eq!(first["misp"]["alert"]["rule_id"], json!("92003"));
    assert_eq!(first["misp"]["alert"]["agent_id"], json!("007"));
}

#[test]
fn the_search_asks_for_every_value_at_once_with_the_key_in_the_header() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sysmon-22-c2-dns.json"), misp_options(&server), "10", "3");
    assert_eq!(run.code, 0, "{run:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, SEARCH);
    assert_eq!(request.headers.get("authorization").map(String::as_str), Some(TEST_API_KEY));
    assert_eq!(request.headers.get("accept").map(String::as_str), Some("application/json"));
    assert_eq!(request.headers.get("content-type").map(String::as_str), Some("application/json"));
    let body: Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["value"], json!(["update-check.example.net", "203.0.113.66"]));
    assert_eq!(body["to_ids"], json!(true));
    assert_eq!(body["enforceWarninglist"], json!(true));
    assert_eq!(body["includeEventTags"], json!(true));
    assert_eq!(
        body["type"],
        json!([
            "ip-src",
            "ip-dst",
            "ip-src|port",
            "ip-dst|port",
            "domain|ip",
            "domain",
            "hostname"
        ])
    );
}

#[test]
fn the_info_line_names_alert_iocs_requests_matches_and_datagrams() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sysmon-22-c2-dns.json"), misp_options(&server), "10", "3");
    assert_eq!(
        run.log_lines(),
        vec![
            "custom-misp INFO: alert=1791968540.4475311 rule=61650 agent=007 \
             iocs=domain:update-check.example.net,ip:203.0.113.66 requests=1 matches=2 \
             recorded=off datagrams=2 elapsed_ms=_"
        ]
    );
}

#[test]
fn numbers_as_integers_give_the_same_datagrams_as_numbers_as_strings() {
    let strings = misp(ServerOptions::default());
    let integers = misp(ServerOptions { numbers: Numbers::Integers, ..ServerOptions::default() });
    let manager = Manager::new();
    let alert = sample("sshd-5712-bruteforce.json");
    let a = manager.integratord(&alert, misp_options(&strings), "10", "3");
    let b = manager.integratord(&alert, misp_options(&integers), "10", "3");
    assert_eq!(a.code, 0);
    assert_eq!(a.datagrams.len(), 1);
    assert_eq!(a.datagrams, b.datagrams);
}

#[test]
fn the_pre_4_8_short_form_and_extra_arguments_work() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let options =
        manager.write(".options", &manager.options(json!({"flood_control": false})).to_string());
    let url = server.url();
    let short =
        manager.run(&[alert.to_str().unwrap(), TEST_API_KEY, &url, "", options.to_str().unwrap()]);
    assert_eq!(short.code, 0, "{short:?}");
    assert_eq!(short.datagrams.len(), 1);
    assert_eq!(
        short.log_lines()[0],
        "custom-misp WARN: the API key came on the command line, where `ps` shows it: put it in <options> as api_key"
    );
    let options = options.to_str().unwrap();
    let long = manager.run(&[
        alert.to_str().unwrap(),
        TEST_API_KEY,
        &url,
        "",
        options,
        "10",
        "3",
        ">",
        "/dev/null",
        "2>&1",
        "x",
    ]);
    assert_eq!(long.code, 0, "{long:?}");
    assert_eq!(long.datagrams.len(), 1);
}

#[test]
fn an_alert_without_a_match_sends_nothing_unless_asked() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = sample("sshd-5760-no-match.json");
    let quiet = manager.integratord(&alert, misp_options(&server), "10", "3");
    assert_eq!(quiet.code, 0);
    assert!(quiet.datagrams.is_empty());
    let mut options = misp_options(&server);
    options["report_no_match"] = json!(true);
    let told = manager.integratord(&alert, options, "10", "3");
    assert_eq!(told.datagrams.len(), 1);
    assert_eq!(told.message(0)["misp"]["status"], json!("no_match"));
    assert_eq!(told.message(0)["misp"]["iocs"], json!(["203.0.113.250"]));
}

#[test]
fn the_to_ids_filter_can_be_turned_off() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = sample("sshd-5712-bruteforce.json").replace("198.51.100.23", "198.51.100.200");
    let strict = manager.integratord(&alert, misp_options(&server), "10", "3");
    assert!(strict.datagrams.is_empty());
    let mut options = misp_options(&server);
    options["to_ids"] = json!(false);
    let loose = manager.integratord(&alert, options, "10", "3");
    assert_eq!(loose.datagrams.len(), 1);
    assert_eq!(loose.message(0)["misp"]["attribute"]["to_ids"], json!(false));
}

#[test]
fn a_value_on_a_warninglist_is_not_reported() {
    let server = misp(ServerOptions::default());
    server.add_warninglist("List of known IPv4 public DNS resolvers", &["198.51.100.23"]);
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "10", "3");
    assert_eq!(run.code, 0);
    assert!(run.datagrams.is_empty());
}

#[test]
fn results_of_integrations_are_skipped_without_a_request() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let ours = sample("sysmon-22-c2-dns.json").replace(r#""location":"#, r#""ignored":"#);
    let ours = ours.replacen('{', r#"{"location":"misp","#, 1);
    let run = manager.integratord(&ours, misp_options(&server), "10", "3");
    assert_eq!(run.code, 0);
    assert_eq!(server.count("POST", SEARCH), 0);
    assert!(
        run.log_lines()[0].ends_with("skipped: a result of the misp integration"),
        "{:?}",
        run.log
    );
}

// Faults: every run ends inside its budget with the right error kind.

fn error_run(server: &MispServer, timeout: &str, retries: &str) -> (common::Run, Value) {
    let manager = Manager::new();
    let run = manager.integratord(
        &sample("sshd-5712-bruteforce.json"),
        misp_options(server),
        timeout,
        retries,
    );
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.datagrams.len(), 1, "{run:?}");
    let error = run.message(0)["misp"]["error"].clone();
    (run, error)
}

#[test]
fn a_server_that_never_answers_ends_as_timeout_within_the_budget() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::Hang));
    let (run, error) = error_run(&server, "1", "3");
    assert_eq!(error["kind"], json!("timeout"));
    assert!(run.elapsed < Duration::from_millis(1500), "took {:?}", run.elapsed);
    assert_eq!(server.count("POST", SEARCH), 1);
}

#[test]
fn a_body_sent_one_byte_at_a_time_ends_as_timeout_within_the_budget() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::SlowBody { bytes_per_second: 1 }));
    let (run, error) = error_run(&server, "1", "3");
    assert_eq!(error["kind"], json!("timeout"));
    assert!(run.elapsed < Duration::from_millis(1500), "took {:?}", run.elapsed);
}

#[test]
fn a_reset_connection_is_retried_then_reported_unreachable() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::Reset));
    let (_, error) = error_run(&server, "5", "2");
    assert_eq!(error["kind"], json!("unreachable"));
    assert_eq!(server.count("POST", SEARCH), 3);
}

#[test]
fn a_refused_key_is_reported_at_once_without_retries() {
    let server = misp(ServerOptions { api_key: "A".repeat(40), ..ServerOptions::default() });
    let (run, error) = error_run(&server, "5", "3");
    assert_eq!(error["kind"], json!("auth_failed"));
    assert_eq!(error["http_status"], json!(403));
    assert_eq!(
        error["message"],
        json!("Authentication failed. Please make sure you pass the API key of an API enabled user along in the Authorization header.")
    );
    assert_eq!(server.count("POST", SEARCH), 1);
    assert!(run.stderr.starts_with("custom-misp: "), "{}", run.stderr);
}

#[test]
fn rate_limiting_is_retried_and_then_reported() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::Status(429)));
    let (_, error) = error_run(&server, "3", "1");
    assert_eq!(error["kind"], json!("rate_limited"));
    assert_eq!(error["http_status"], json!(429));
}

#[test]
fn a_server_error_is_retried_within_the_budget() {
    let server = misp(ServerOptions::default());
    server.push_fault(FaultRule {
        path_prefix: SEARCH.into(),
        fault: Fault::Status(500),
        times: Some(1),
    });
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "5", "3");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
    assert_eq!(server.count("POST", SEARCH), 2);
    let persistent = misp(ServerOptions::default());
    persistent.push_fault(fault(SEARCH, Fault::Status(500)));
    let (_, error) = error_run(&persistent, "5", "2");
    assert_eq!(error["kind"], json!("server_error"));
    assert_eq!(persistent.count("POST", SEARCH), 3);
}

#[test]
fn a_proxy_s_html_page_is_a_bad_reply() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::Html(200)));
    let (_, error) = error_run(&server, "5", "0");
    assert_eq!(error["kind"], json!("bad_reply"));
    assert_eq!(error["message"], json!("reply is HTML, not JSON (a proxy or login page?)"));
}

#[test]
fn truncated_json_is_a_bad_reply() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::Truncated));
    let (_, error) = error_run(&server, "5", "0");
    assert_eq!(error["kind"], json!("bad_reply"));
    assert!(
        error["message"].as_str().unwrap().starts_with("truncated JSON in search reply"),
        "{error}"
    );
}

#[test]
fn a_reply_over_the_size_cap_is_a_bad_reply() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::HugeBody(100 * 1024 * 1024)));
    let (_, error) = error_run(&server, "20", "0");
    assert_eq!(error["kind"], json!("bad_reply"));
    assert_eq!(error["message"], json!("reply larger than 16 MiB"));
}

#[test]
fn ten_thousand_matching_attributes_give_one_datagram_that_fits() {
    let server = misp(ServerOptions::default());
    server.push_fault(fault(SEARCH, Fault::HugeAttributes(10_000)));
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
    assert!(run.datagrams[0].len() <= 65535);
    assert_eq!(run.message(0)["misp"]["matches"]["attributes"], json!(10_000));
}

#[test]
fn a_dead_server_is_reported_unreachable() {
    let server = misp(ServerOptions::default());
    let url = server.url();
    drop(server);
    let manager = Manager::new();
    let options =
        json!({"misp_url": url, "api_key": TEST_API_KEY, "record": false, "flood_control": false});
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "2", "1");
    assert_eq!(run.code, 5, "{run:?}");
    let error = run.message(0)["misp"]["error"].clone();
    assert_eq!(error["kind"], json!("unreachable"));
    assert!(error["message"].as_str().unwrap().starts_with("cannot connect: "), "{error}");
}

// TLS.

#[test]
fn https_with_the_server_s_ca_file_matches() {
    let server = misp(ServerOptions { tls: Some(TlsMode::Valid), ..ServerOptions::default() });
    let manager = Manager::new();
    let ca = common::write_file(manager.dir.path(), "ca.pem", &server.ca_pem().unwrap());
    let mut options = misp_options(&server);
    options["ca_file"] = json!(ca);
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
}

#[test]
fn a_self_signed_certificate_without_ca_file_is_a_tls_error() {
    let server = misp(ServerOptions { tls: Some(TlsMode::SelfSigned), ..ServerOptions::default() });
    let (_, error) = error_run(&server, "5", "0");
    assert_eq!(error["kind"], json!("tls"));
}

#[test]
fn turning_verification_off_works_and_is_warned_about() {
    let server = misp(ServerOptions { tls: Some(TlsMode::SelfSigned), ..ServerOptions::default() });
    let manager = Manager::new();
    let mut options = misp_options(&server);
    options["verify_tls"] = json!(false);
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
    assert_eq!(
        run.log_lines()[0],
        "custom-misp WARN: verify_tls is false: the MISP server's certificate is not checked"
    );
}

// Secrets.

#[test]
fn the_api_key_appears_nowhere_even_in_debug_mode() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = manager.write(".alert", &sample("sysmon-1-dropper.json"));
    let options = manager.write(".options", &manager.options(misp_options(&server)).to_string());
    let run = manager.run(&[
        alert.to_str().unwrap(),
        "",
        "",
        "debug",
        options.to_str().unwrap(),
        "10",
        "3",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.log.iter().any(|l| l.contains(" DEBUG: MISP request 0: POST ")), "{:?}", run.log);
    let everything =
        format!("{}{}{}{}", run.stdout, run.stderr, run.log.join("\n"), run.datagrams.join("\n"));
    assert!(!everything.contains(TEST_API_KEY));
}

// The matched events' context.

#[test]
fn a_match_carries_its_event_s_threat_context_read_once_and_remembered() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let mut options = misp_options(&server);
    options["event_context"] = json!(true);
    let run = manager.integratord(&sample("sysmon-1-dropper.json"), options.clone(), "10", "3");
    assert_eq!(run.code, 0, "{run:?}");
    // Four hashes matched one event: one search and one view of that event.
    assert_eq!(server.count("POST", SEARCH), 1);
    assert_eq!(server.count("GET", "/events/view/"), 1);
    let context = &run.message(0)["misp"]["context"];
    assert_eq!(context["threat_actors"][0]["name"], json!("Glass Heron"));
    assert_eq!(context["malware"], json!(["InvoiceLoader"]));
    assert_eq!(run.message(3)["misp"]["context"], *context);
    let again = manager.integratord(&sample("sysmon-1-dropper.json"), options, "10", "3");
    assert_eq!(again.message(0)["misp"]["context"], *context);
    assert_eq!(server.count("GET", "/events/view/"), 1, "the context is remembered between runs");
}

#[test]
fn the_info_line_names_the_tag_filter_so_an_empty_answer_can_be_explained() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let mut options = misp_options(&server);
    options["tags"] = json!(["tlp:white"]);
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "10", "3");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.datagrams.is_empty());
    let body: Value = serde_json::from_str(&server.requests()[0].body).unwrap();
    assert_eq!(body["tags"], json!(["tlp:white"]));
    assert_eq!(
        run.log_lines(),
        vec![
            "custom-misp INFO: alert=1791962054.2210376 rule=5712 agent=004 iocs=ip:198.51.100.23 \
             requests=1 tags=tlp:white matches=0 recorded=off datagrams=0 elapsed_ms=_"
        ]
    );
}

// Remembered lookups.

/// Runs `alert` at the test clock `now` (seconds since the epoch).
fn at(manager: &Manager, now: i64, alert: &str, options: Value) -> common::Run {
    let alert_file = manager.write(".alert", alert);
    let options_file = manager.write(".options", &manager.options(options).to_string());
    let args =
        [alert_file.to_str().unwrap(), "", "", "", options_file.to_str().unwrap(), "10", "0"];
    manager.run_with_env(&args, &[("CUSTOM_MISP_TEST_NOW", &now.to_string())])
}

/// Replays `n` copies of the sample brute force, each with an id of its
/// own, through the integration with `options`.
fn replay_burst(manager: &Manager, options: Value, n: usize) -> common::Run {
    let alert: Value = serde_json::from_str(&sample("sshd-5712-bruteforce.json")).unwrap();
    let burst: Vec<String> = (0..n)
        .map(|i| {
            let mut a = alert.clone();
            a["id"] = json!(format!("1791962054.{i}"));
            a.to_string()
        })
        .collect();
    let file = manager.write(".json", &(burst.join("\n") + "\n"));
    let options = manager.write(".options", &manager.options(options).to_string());
    let options = options.to_str().unwrap();
    manager.run(&["replay", "--quiet", "--options", options, file.to_str().unwrap()])
}

#[test]
fn a_burst_of_500_alerts_from_one_address_costs_one_misp_request() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run = replay_burst(&manager, misp_options(&server), 500);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(server.count("POST", SEARCH), 1);
    assert_eq!(run.datagrams.len(), 500, "every alert is still answered");
}

#[test]
fn a_match_is_remembered_for_an_hour_and_a_miss_for_ten_minutes() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let hit = sample("sshd-5712-bruteforce.json");
    let miss = sample("sshd-5760-no-match.json");
    let t = 1_800_000_000;
    for (now, searches) in [(t, 1), (t + 3599, 1), (t + 3600, 2)] {
        let run = at(&manager, now, &hit, misp_options(&server));
        assert_eq!(run.datagrams.len(), 1, "{run:?}");
        assert_eq!(server.count("POST", SEARCH), searches, "a match at +{}", now - t);
    }
    for (now, searches) in [(t, 3), (t + 599, 3), (t + 600, 4)] {
        at(&manager, now, &miss, misp_options(&server));
        assert_eq!(server.count("POST", SEARCH), searches, "a miss at +{}", now - t);
    }
}

#[test]
fn a_failed_lookup_is_never_remembered() {
    let server = misp(ServerOptions::default());
    server.push_fault(FaultRule {
        path_prefix: SEARCH.into(),
        fault: Fault::Status(500),
        times: Some(1),
    });
    let manager = Manager::new();
    let failed =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "5", "0");
    assert_eq!(failed.code, 5);
    let answered =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "5", "0");
    assert_eq!(answered.code, 0, "{answered:?}");
    assert_eq!(answered.message(0)["misp"]["status"], json!("match"));
    assert_eq!(server.count("POST", SEARCH), 2);
}

#[test]
fn answers_under_other_filters_are_not_reused() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alert = sample("sshd-5712-bruteforce.json").replace("198.51.100.23", "198.51.100.200");
    assert!(manager.integratord(&alert, misp_options(&server), "5", "0").datagrams.is_empty());
    let mut loose = misp_options(&server);
    loose["to_ids"] = json!(false);
    assert_eq!(manager.integratord(&alert, loose, "5", "0").datagrams.len(), 1);
    assert_eq!(server.count("POST", SEARCH), 2);
}

#[test]
fn the_store_task_shows_prunes_and_clears_what_is_remembered() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sysmon-22-c2-dns.json"), misp_options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let options = manager.write(".options", &manager.options(json!({})).to_string());
    let store =
        |action: &str| manager.run(&["store", action, "--options", options.to_str().unwrap()]);
    let info = store("info");
    assert_eq!(info.code, 0, "{info:?}");
    assert!(
        info.stdout
            .contains(" bytes, 2 remembered answers, 0 expired, 0 datagrams kept for delivery, 0 MISP writes kept\n"),
        "{}",
        info.stdout
    );
    let cleared = store("clear");
    assert!(cleared.stdout.starts_with("removed 2 remembered answers\n"), "{}", cleared.stdout);
    assert!(
        cleared
            .stdout
            .ends_with(" bytes, 0 remembered answers, 0 expired, 0 datagrams kept for delivery, 0 MISP writes kept\n"),
        "{}",
        cleared.stdout
    );
}

#[test]
fn a_corrupt_store_is_moved_aside_with_a_warning_and_the_alert_still_answered() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let state = manager.dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("custom-misp.db"), vec![0x5a; 4096]).unwrap();
    let run =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), misp_options(&server), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
    let warning = &run.log_lines()[0];
    assert!(warning.starts_with("custom-misp WARN: state database "), "{warning}");
    assert!(warning.contains("file is not a database; moved to "), "{warning}");
    assert!(warning.ends_with(", started anew"), "{warning}");
}

#[test]
fn sixteen_concurrent_runs_share_one_store() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let alerts = [
        "sshd-5712-bruteforce.json",
        "sysmon-1-dropper.json",
        "sysmon-22-c2-dns.json",
        "sysmon-3-c2-connection.json",
    ];
    let mut options = misp_options(&server);
    options["enrichment"] = json!({});
    let options_file = manager.write(".options", &manager.options(options).to_string());
    let children: Vec<std::process::Child> = (0..16)
        .map(|i| {
            let alert = manager.write(".alert", &sample(alerts[i % alerts.len()]));
            std::process::Command::new(common::BINARY)
                .args([
                    alert.to_str().unwrap(),
                    "",
                    "",
                    "",
                    options_file.to_str().unwrap(),
                    "10",
                    "0",
                ])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert_eq!(child.wait().unwrap().code(), Some(0));
    }
    let log = std::fs::read_to_string(&manager.log).unwrap();
    assert_eq!(log.lines().filter(|l| l.contains(" INFO: ")).count(), 16, "{log}");
    assert!(!log.contains(" WARN: "), "{log}");
    assert_eq!(manager.received().len(), 4 * (1 + 4 + 2 + 1), "every run answered");
}

#[test]
fn a_flood_of_one_match_is_reported_first_then_every_hundredth_while_sightings_go_on() {
    let server = misp(ServerOptions::default());
    let manager = Manager::new();
    let mut options = misp_options(&server);
    options["flood_control"] = json!(true);
    options["sightings"] = json!(true);
    let run = replay_burst(&manager, options, 250);
    assert_eq!(run.code, 0, "{run:?}");
    let repeats: Vec<Value> =
        (0..run.datagrams.len()).map(|i| run.message(i)["misp"]["repeat_count"].clone()).collect();
    assert_eq!(repeats, vec![Value::Null, json!(100), json!(200)]);
    assert_eq!(server.count("POST", "/sightings/add"), 250, "every alert is still sighted");
    let held = run.log.iter().filter(|l| l.contains(" repeats_held=1 ")).count();
    assert_eq!(held, 247);
}
