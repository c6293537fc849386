//! Faults end to end: the binary run as integratord runs it against a
//! MISP that hangs, trickles, cuts or swells its reply or presents the
//! wrong certificate, a misp-modules that hangs, and a queue socket that
//! goes away between runs. Every run ends inside its budget with its exit
//! code, an error datagram and a log line naming the fault, and keeps what
//! it could not deliver.

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::sync::OnceLock;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use common::hostile::{Behaviour, Hostile};
use common::{sample, Manager, Run};
use misp_test_server::{MispServer, ServerOptions, TlsMode, TEST_API_KEY};
use serde_json::{json, Value};
use wazuh_misp::incident::incident_uuid;

/// The budget of every run here, as integratord's `<timeout>`.
const TIMEOUT: &str = "2";
const BUDGET: Duration = Duration::from_secs(2);

/// The most any reply may weigh (the client's cap).
const REPLY_CAP: usize = 16 * 1024 * 1024;

/// The head every log line about the brute-force sample starts with.
const HEAD: &str = "alert=1791962054.2210376 rule=5712 agent=004";

/// What a run may take beyond its budget: the cost of a run with nothing
/// to wait for (start-up, one refused connection, the answer, the exit),
/// measured once on this machine as loaded as it is, twice over, plus
/// room for a scheduler that lets a process wait.
fn slack() -> Duration {
    static SLACK: OnceLock<Duration> = OnceLock::new();
    *SLACK.get_or_init(|| {
        let manager = Manager::new();
        let run = manager.integratord(&brute_force(), lookup(&dead_url()), TIMEOUT, "0");
        assert_eq!(run.code, 5, "{run:?}");
        run.elapsed * 2 + Duration::from_millis(250)
    })
}

/// Asserts that `run` ended within the budget and its slack, and says how
/// long it took.
fn assert_within_budget(case: &str, run: &Run) {
    let limit = BUDGET + slack();
    eprintln!("{case}: {:?} of a {BUDGET:?} budget, exit {}", run.elapsed, run.code);
    assert!(run.elapsed <= limit, "{case}: took {:?}, more than {limit:?}", run.elapsed);
}

fn brute_force() -> String {
    sample("sshd-5712-bruteforce.json")
}

/// A loopback URL where nothing listens.
fn dead_url() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

/// Options for a lookup only: what a failed lookup does to MISP writes
/// is not at stake here.
fn lookup(url: &str) -> Value {
    json!({
        "misp_url": url, "api_key": TEST_API_KEY,
        "record": false, "sightings": false, "event_context": false, "flood_control": false
    })
}

/// `text` with the millisecond counts written `_`.
fn without_ms(text: &str) -> String {
    let words: Vec<&str> = text.split(' ').collect();
    let mut out = Vec::with_capacity(words.len());
    for (i, word) in words.iter().enumerate() {
        let before_ms = words.get(i + 1) == Some(&"ms") || words.get(i + 1) == Some(&"ms;");
        let number = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
        out.push(if before_ms && number { "_" } else { word });
    }
    out.join(" ")
}

/// A failed lookup: exit code 5, one error datagram at stage `lookup`,
/// the warning naming it, repeated on standard error, and the info line.
/// Returns the error of the datagram.
fn assert_failed_lookup(case: &str, run: &Run, requests: usize) -> Value {
    assert_within_budget(case, run);
    assert_eq!(run.code, 5, "{run:?}");
    assert_eq!(run.datagrams.len(), 1, "{run:?}");
    let misp = &run.message(0)["misp"];
    assert_eq!(misp["status"], json!("error"));
    assert_eq!(misp["error"]["stage"], json!("lookup"));
    let error = &misp["error"];
    let status = error["http_status"].as_u64().map_or(String::new(), |s| format!(" (HTTP {s})"));
    let failure = format!(
        "{HEAD} MISP lookup failed: {}{status}: {}",
        error["kind"].as_str().unwrap(),
        error["message"].as_str().unwrap()
    );
    assert_eq!(
        run.log_lines(),
        vec![
            format!("custom-misp WARN: {failure}"),
            format!(
                "custom-misp INFO: {HEAD} iocs=ip:198.51.100.23 requests={requests} matches=0 \
                 recorded=off datagrams=1 elapsed_ms=_"
            ),
        ]
    );
    assert_eq!(run.stderr, format!("custom-misp: {failure}\n"));
    error.clone()
}

fn hostile_lookup(behaviour: Behaviour, retries: &str) -> (Hostile, Run) {
    let misp = Hostile::start(behaviour);
    let run = Manager::new().integratord(&brute_force(), lookup(&misp.url()), TIMEOUT, retries);
    (misp, run)
}

#[test]
fn a_misp_that_accepts_and_never_answers_times_out_at_the_budget_without_a_retry() {
    let (misp, run) = hostile_lookup(Behaviour::Silent, "3");
    let error = assert_failed_lookup("silent MISP", &run, 1);
    assert!(run.elapsed >= BUDGET, "gave up early, after {:?}", run.elapsed);
    assert_eq!(error["kind"], json!("timeout"));
    assert_eq!(without_ms(error["message"].as_str().unwrap()), "no reply after _ ms");
    assert_eq!(misp.connections(), 1);
}

#[test]
fn a_misp_answering_one_byte_a_second_times_out_at_the_budget() {
    let (misp, run) = hostile_lookup(Behaviour::Trickle, "3");
    let error = assert_failed_lookup("one byte a second", &run, 1);
    assert!(run.elapsed >= BUDGET, "gave up early, after {:?}", run.elapsed);
    assert_eq!(error["kind"], json!("timeout"));
    assert_eq!(without_ms(error["message"].as_str().unwrap()), "no reply after _ ms");
    assert!(misp.bytes_sent() <= 3, "{} bytes", misp.bytes_sent());
}

#[test]
fn a_reply_cut_mid_body_is_retried_then_reported_as_a_lost_connection() {
    let (misp, run) = hostile_lookup(Behaviour::CloseMidBody, "3");
    let error = assert_failed_lookup("closed mid-body", &run, 4);
    assert_eq!(error["kind"], json!("unreachable"));
    assert_eq!(error["http_status"], json!(200));
    assert_eq!(
        error["message"],
        json!("connection lost while reading the reply: end of file before message length reached")
    );
    assert_eq!(misp.connections(), 4, "the first attempt and three retries");
}

#[test]
fn a_reply_announcing_100_mb_is_refused_unread() {
    let (misp, run) = hostile_lookup(Behaviour::Huge(100 * 1024 * 1024), "3");
    let error = assert_failed_lookup("100 MB body", &run, 1);
    assert_eq!(error["kind"], json!("bad_reply"));
    assert_eq!(error["message"], json!("reply larger than 16 MiB"));
    // What the server got out is what the client read plus what the
    // socket buffers hold: a client that read up to its cap before giving
    // up lets more than the cap out.
    assert!(misp.bytes_sent() < REPLY_CAP, "{} bytes went out", misp.bytes_sent());
}

/// A MISP test server over TLS with `mode`, the test CA named in
/// `ca_file` unless `trusted` is false, and the failed lookup's error.
fn tls_lookup(case: &str, mode: TlsMode, trusted: bool) -> Value {
    let misp = MispServer::start(ServerOptions { tls: Some(mode), ..ServerOptions::default() });
    let manager = Manager::new();
    let mut options = lookup(&misp.url());
    if trusted {
        let ca = common::write_file(manager.dir.path(), "ca.pem", &misp.ca_pem().unwrap());
        options["ca_file"] = json!(ca);
    }
    let run = manager.integratord(&brute_force(), options, TIMEOUT, "3");
    let error = assert_failed_lookup(case, &run, 1);
    assert_eq!(error["kind"], json!("tls"));
    assert!(misp.requests().is_empty(), "a request went out over an unchecked connection");
    error
}

#[test]
fn a_certificate_for_another_host_name_is_a_tls_error() {
    let error = tls_lookup("another host name", TlsMode::WrongHost, true);
    assert_eq!(
        error["message"],
        json!(
            "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; \
             certificate is only valid for DnsName(\"misp.invalid\")"
        )
    );
}

#[test]
fn an_expired_certificate_is_a_tls_error() {
    let error = tls_lookup("expired certificate", TlsMode::Expired, true);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("invalid peer certificate: certificate expired: verification time "),
        "{message}"
    );
}

#[test]
fn a_self_signed_certificate_without_ca_file_is_a_tls_error_that_names_the_fix() {
    let error = tls_lookup("self-signed, no ca_file", TlsMode::SelfSigned, false);
    assert_eq!(
        error["message"],
        json!("invalid peer certificate: UnknownIssuer (a self-signed or private CA: name it in ca_file)")
    );
}

/// A MISP test server holding the bundled feed's events.
#[test]
fn a_silent_misp_loses_no_write_the_alert_called_for() {
    let misp = Hostile::start(Behaviour::Silent);
    let manager = Manager::new();
    let writes = json!({"misp_url": misp.url(), "api_key": TEST_API_KEY, "flood_control": false});
    let run = manager.integratord(&brute_force(), writes, TIMEOUT, "0");
    assert_within_budget("silent MISP, recording on", &run);
    assert_eq!(run.code, 5, "{run:?}");
    let summary = run.log_lines().pop().unwrap();
    assert!(summary.contains(" recorded=kept datagrams=1 misp_writes=kept "), "{summary}");

    // The kept writes go to the MISP the options name once it answers.
    let server = misp_with_feed();
    let back = json!({"misp_url": server.url(), "api_key": TEST_API_KEY});
    let options = manager.write(".flush-options", &manager.options(back).to_string());
    let flush = manager.run(&["flush", "--options", options.to_str().unwrap()]);
    assert_eq!(flush.code, 0, "{flush:?}");
    assert!(flush.stdout.starts_with("MISP writes: 1 sent, 0 refused"), "{}", flush.stdout);
    let sighted = server
        .sightings()
        .iter()
        .any(|s| s["source"] == json!("Wazuh wazuh-manager agent 004 bastion-02"));
    assert!(sighted, "the matched intel is sighted: {:?}", server.sightings());
    let incident = incident_uuid(
        "wazuh-manager",
        "004",
        &Utc.with_ymd_and_hms(2026, 10, 14, 0, 0, 0).unwrap(),
    );
    assert!(server.event(&incident).is_some(), "the brute force is recorded in its incident");
}

fn misp_with_feed() -> MispServer {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::feed()).unwrap();
    server
}

#[test]
fn a_hung_misp_modules_is_a_timeout_of_its_modules_and_the_match_still_goes_out() {
    let misp = misp_with_feed();
    let modules = Hostile::start(Behaviour::Silent);
    let manager = Manager::new();
    let mut options = lookup(&misp.url());
    options["enrichment"] = json!({"ip": ["ipasn"]});
    options["modules_url"] = json!(modules.url());
    options["module_timeout"] = json!(1);
    for attempt in 1..=2 {
        let run = manager.integratord(&brute_force(), options.clone(), TIMEOUT, "3");
        assert_within_budget("hung misp-modules", &run);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(run.datagrams.len(), 1, "{run:?}");
        let misp = &run.message(0)["misp"];
        assert_eq!(misp["status"], json!("match"));
        let failure = format!("misp-modules at {}: no answer within 1000 ms", modules.url());
        assert_eq!(
            misp["enrichment"],
            json!({"errors": 1, "modules": [{"module": "ipasn", "status": "timeout", "error": failure}]})
        );
        let lines = run.log_lines();
        assert_eq!(lines[0], format!("custom-misp WARN: {failure}; IoCs not enriched"));
        assert!(lines[1].contains(" matches=1 modules=1 recorded=off datagrams=1 "), "{lines:?}");
        assert_eq!(modules.connections(), attempt, "a failed module list is never remembered");
    }
}

#[test]
fn a_hung_misp_modules_with_a_module_timeout_past_the_budget_ends_at_the_budget() {
    let misp = misp_with_feed();
    let modules = Hostile::start(Behaviour::Silent);
    let mut options = lookup(&misp.url());
    options["enrichment"] = json!({"ip": ["ipasn"]});
    options["modules_url"] = json!(modules.url());
    options["module_timeout"] = json!(30);
    let run = Manager::new().integratord(&brute_force(), options, TIMEOUT, "3");
    assert_within_budget("hung misp-modules, module_timeout 30", &run);
    assert_eq!(run.code, 0, "{run:?}");
    let modules = &run.message(0)["misp"]["enrichment"]["modules"][0];
    assert_eq!(modules["status"], json!("timeout"));
}

/// The brute-force sample with alert id `n`, so that each run's datagram
/// can be told apart.
fn brute_force_number(n: usize) -> String {
    let mut alert: Value = serde_json::from_str(&brute_force()).unwrap();
    alert["id"] = json!(format!("1791962054.{n}"));
    alert.to_string()
}

/// The alert ids of a run's datagrams, in order.
fn alert_ids(run: &Run) -> Vec<String> {
    (0..run.datagrams.len())
        .map(|i| run.message(i)["misp"]["alert"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn datagrams_kept_while_the_socket_is_gone_are_delivered_once_in_order_when_it_is_back() {
    let manager = Manager::new();
    let options = json!({"feed": common::feed(), "flood_control": false});
    let run = |n: usize| manager.integratord(&brute_force_number(n), options.clone(), TIMEOUT, "3");
    let socket = manager.socket.display().to_string();

    let first = run(1);
    assert_within_budget("socket present", &first);
    assert_eq!((first.code, alert_ids(&first)), (0, vec!["1791962054.1".to_string()]));

    manager.remove_socket();
    let missing = run(2);
    assert_within_budget("socket removed", &missing);
    assert_eq!(missing.code, 6, "{missing:?}");
    assert!(missing.datagrams.is_empty());
    let failure = format!(
        "{} answer not delivered: Wazuh queue socket {socket}: No such file or directory \
         (os error 2) (is wazuh-analysisd running?); 1 datagram kept for the next run",
        HEAD.replace("2210376", "2")
    );
    assert_eq!(missing.log_lines(), vec![format!("custom-misp ERROR: {failure}")]);
    assert_eq!(missing.stderr, format!("custom-misp: {failure}\n"));

    manager.leave_dead_socket();
    let refused = run(3);
    assert_within_budget("socket nobody reads", &refused);
    assert_eq!(refused.code, 7, "{refused:?}");
    assert_eq!(
        refused.log_lines(),
        vec![format!(
            "custom-misp ERROR: {} answer not delivered: Wazuh queue socket {socket}: \
             connection refused (wazuh-analysisd is not reading it); 1 datagram kept for the \
             next run",
            HEAD.replace("2210376", "3")
        )]
    );

    manager.restore_socket();
    let back = run(4);
    assert_within_budget("socket back", &back);
    assert_eq!(back.code, 0, "{back:?}");
    assert_eq!(alert_ids(&back), ["1791962054.2", "1791962054.3", "1791962054.4"]);
    assert_eq!(back.log_lines()[0], "custom-misp INFO: 2 kept datagrams delivered");

    let after = run(5);
    assert_eq!(alert_ids(&after), ["1791962054.5"], "nothing is delivered twice");
}
