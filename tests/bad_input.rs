//! Bad input, each with its one-line error and documented exit code, and
//! the Wazuh socket's failure modes. These runs use the bundled offline
//! feed, so no MISP server is involved.

mod common;

use std::os::unix::net::UnixDatagram;

use common::{sample, Manager};
use serde_json::{json, Value};

fn feed_options() -> serde_json::Value {
    json!({"feed": common::feed()})
}

/// Runs on an alert file holding `text`; returns the run.
fn run_on(manager: &Manager, text: &str) -> common::Run {
    manager.integratord(text, feed_options(), "10", "3")
}

fn only_error(run: &common::Run) -> String {
    assert_eq!(run.log.len(), 1, "{:?}", run.log);
    run.log_lines()[0].clone()
}

#[test]
fn a_missing_alert_file_is_exit_3_with_the_path_named() {
    let manager = Manager::new();
    let options = manager.write(".options", &manager.options(feed_options()).to_string());
    let run = manager.run(&[
        "/nonexistent/custom-misp-1.alert",
        "",
        "",
        "",
        options.to_str().unwrap(),
        "10",
        "3",
    ]);
    assert_eq!(run.code, 3);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: alert file /nonexistent/custom-misp-1.alert: cannot open: No such file or directory (os error 2)"
    );
    assert_eq!(
        run.stderr,
        "custom-misp: alert file /nonexistent/custom-misp-1.alert: cannot open: No such file or directory (os error 2)\n"
    );
    assert!(run.datagrams.is_empty());
}

#[test]
fn an_empty_alert_path_is_exit_3() {
    let manager = Manager::new();
    let options = manager.write(".options", &manager.options(feed_options()).to_string());
    let run = manager.run(&["", "", "", "", options.to_str().unwrap(), "10", "3"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: alert file: empty path (integratord could not write the alert?)"
    );
}

#[test]
fn an_alert_path_that_is_a_directory_is_unreadable() {
    let manager = Manager::new();
    let options = manager.write(".options", &manager.options(feed_options()).to_string());
    let dir = manager.dir.path().to_str().unwrap().to_string();
    let run = manager.run(&[&dir, "", "", "", options.to_str().unwrap(), "10", "3"]);
    assert_eq!(run.code, 3);
    assert_eq!(
        only_error(&run),
        format!("custom-misp ERROR: alert file {dir}: cannot read: Is a directory (os error 21)")
    );
}

#[test]
fn alert_files_that_are_not_alerts_are_exit_3_with_the_reason() {
    let cases = [
        ("", "empty file"),
        (
            "timestamp='2026' rule.id='5712'",
            "not JSON (is <alert_format>json</alert_format> set in ossec.conf?)",
        ),
        ("[{\"rule\":{}}]", "JSON is not an object"),
        ("{\"id\":\"1\"}", "no rule object: not a Wazuh alert"),
        (
            "{\"rule\":{\"id\":\"5712\"",
            "invalid JSON: EOF while parsing an object at line 1 column 20",
        ),
    ];
    for (text, reason) in cases {
        let manager = Manager::new();
        let run = run_on(&manager, text);
        assert_eq!(run.code, 3, "{text}: {run:?}");
        let line = only_error(&run);
        assert!(line.starts_with("custom-misp ERROR: alert file /"), "{line}");
        assert!(line.ends_with(&format!(".alert: {reason}")), "{text}: {line}");
        assert!(run.datagrams.is_empty());
    }
}

#[test]
fn an_alert_over_the_size_cap_is_refused() {
    let manager = Manager::new();
    let big = format!("{{\"rule\":{{}},\"full_log\":\"{}\"}}", "a".repeat(1024 * 1024));
    let run = run_on(&manager, &big);
    assert_eq!(run.code, 3);
    assert!(only_error(&run).ends_with(".alert: larger than 1024 KiB"), "{:?}", run.log);
}

#[test]
fn an_alert_over_64_kib_is_still_answered_in_one_datagram_that_fits() {
    let manager = Manager::new();
    let mut alert: serde_json::Value =
        serde_json::from_str(&sample("sshd-5712-bruteforce.json")).unwrap();
    alert["previous_output"] = json!("Invalid user from 198.51.100.23\n".repeat(4000));
    alert["rule"]["description"] = json!("d".repeat(70_000));
    let text = alert.to_string();
    assert!(text.len() > 64 * 1024);
    let run = run_on(&manager, &text);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1);
    assert!(run.datagrams[0].len() <= 65535);
    let description =
        run.message(0)["misp"]["alert"]["rule_description"].as_str().unwrap().to_string();
    assert_eq!(description, format!("{}...", "d".repeat(256)));
    assert_eq!(run.message(0)["misp"]["ioc"]["value"], json!("198.51.100.23"));
}

#[test]
fn fields_of_unexpected_types_and_malformed_values_are_dropped_not_fatal() {
    let manager = Manager::new();
    let alert = json!({
        "id": 17, "timestamp": ["x"], "rule": {"id": 5712, "level": "ten", "groups": {"a": 1}},
        "agent": "not an object",
        "data": {
            "srcip": {"nested": "198.51.100.23"},
            "dstip": "198.51.100.23\n",
            "dest_ip": "198.51.100.23\u{0}",
            "hostname": "h".repeat(10_000),
            "url": "http://update-check.example.net/a%20b",
            "src_ip": 198
        }
    });
    let options = json!({"feed": common::feed(), "debug": true});
    let run = manager.integratord(&alert.to_string(), options, "10", "3");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.datagrams.is_empty()
            || run.message(0)["misp"]["ioc"]["value"] == json!("update-check.example.net")
    );
    let lines = run.log_lines();
    let dropped: Vec<&String> = lines.iter().filter(|l| l.contains(" dropped ")).collect();
    assert_eq!(dropped.len(), 5, "{lines:?}");
    assert!(lines.iter().any(|l| l
        .contains("dropped \"198.51.100.23\\n\" from data.dstip: malformed: control character")));
    assert!(lines.iter().any(|l| l.contains("from data.url: malformed: percent sign in URL")));
    assert!(lines.last().unwrap().contains("iocs=domain:update-check.example.net "), "{lines:?}");
}

#[test]
fn malformed_options_json_is_exit_4() {
    let manager = Manager::new();
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let options = manager.write(".options", "{\"feed\": ");
    let log = manager.log.to_str().unwrap().to_string();
    let run = manager.run(&[
        "--log-file",
        &log,
        alert.to_str().unwrap(),
        "",
        "",
        "",
        options.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 4);
    let line = only_error(&run);
    assert!(line.starts_with("custom-misp ERROR: options file /"), "{line}");
    assert!(
        line.ends_with(".options: invalid JSON: EOF while parsing a value at line 1 column 9"),
        "{line}"
    );
}

#[test]
fn an_option_of_the_wrong_type_is_exit_4_and_an_unknown_one_a_warning() {
    let manager = Manager::new();
    let bad = manager.integratord(
        &sample("sshd-5712-bruteforce.json"),
        json!({"feed": common::feed(), "verify_tls": "yes"}),
        "10",
        "3",
    );
    assert_eq!(bad.code, 4);
    assert!(
        only_error(&bad).ends_with(".options: `verify_tls` must be true or false"),
        "{:?}",
        bad.log
    );
    let unknown = manager.integratord(
        &sample("sshd-5712-bruteforce.json"),
        json!({"feed": common::feed(), "colour": 1}),
        "10",
        "3",
    );
    assert_eq!(unknown.code, 0);
    assert_eq!(unknown.log_lines()[0], "custom-misp WARN: options: unknown key `colour` ignored");
}

#[test]
fn a_missing_options_file_is_exit_4() {
    let manager = Manager::new();
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let log = manager.log.to_str().unwrap().to_string();
    let run = manager.run(&[
        "--log-file",
        &log,
        alert.to_str().unwrap(),
        "",
        "",
        "",
        "/nonexistent/x.options",
    ]);
    assert_eq!(run.code, 4);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: options file /nonexistent/x.options: No such file or directory (os error 2)"
    );
}

#[test]
fn no_misp_url_and_no_feed_is_exit_4() {
    let manager = Manager::new();
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), json!({}), "10", "3");
    assert_eq!(run.code, 4);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: no MISP URL: set misp_url in <options> (or <hook_url>), or use --feed"
    );
}

#[test]
fn a_timeout_argument_that_is_not_a_number_is_exit_2() {
    let manager = Manager::new();
    let run =
        manager.integratord(&sample("sshd-5712-bruteforce.json"), feed_options(), "soon", "3");
    assert_eq!(run.code, 2);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: timeout argument \"soon\": not a number of seconds from 0 to 3600"
    );
}

#[test]
fn no_arguments_at_all_is_exit_2() {
    let manager = Manager::new();
    let run = manager.run(&["--log-file", "-"]);
    assert_eq!(run.code, 2);
    assert_eq!(
        run.stderr.lines().last().unwrap().split_once(' ').unwrap().1,
        "custom-misp ERROR: no alert file given (see custom-misp --help)"
    );
    let unknown = manager.run(&["--frobnicate"]);
    assert_eq!(unknown.code, 2);
    assert_eq!(
        unknown.stderr,
        "custom-misp: bad arguments: unexpected argument '--frobnicate' found (see custom-misp --help)\n"
    );
}

#[test]
fn help_explains_both_forms_and_exits_0() {
    let manager = Manager::new();
    let run = manager.run(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("As wazuh-integratord runs it"));
    assert!(run.stdout.contains("--stdout"));
    assert!(run.stdout.contains("--options <FILE>"));
    assert!(run.stdout.contains("Exit codes: 0 done"));
}

// The Wazuh socket.

#[test]
fn a_missing_socket_is_exit_6() {
    let manager = Manager::new();
    let options = json!({"feed": common::feed(), "socket": "/nonexistent/queue"});
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "10", "3");
    assert_eq!(run.code, 6);
    assert_eq!(
        only_error(&run),
        "custom-misp ERROR: alert=1791962054.2210376 rule=5712 agent=004 answer not delivered: \
         Wazuh queue socket /nonexistent/queue: No such file or directory (os error 2) (is wazuh-analysisd running?); \
         1 datagram kept for the next run"
    );
}

#[test]
fn a_socket_nobody_reads_is_exit_7() {
    let manager = Manager::new();
    let dead = manager.dir.path().join("dead-queue");
    drop(UnixDatagram::bind(&dead).unwrap());
    let options = json!({"feed": common::feed(), "socket": dead});
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "10", "3");
    assert_eq!(run.code, 7, "{run:?}");
    assert!(
        only_error(&run).ends_with("connection refused (wazuh-analysisd is not reading it); 1 datagram kept for the next run"),
        "{:?}",
        run.log
    );
}

#[test]
fn stdout_mode_prints_the_datagrams_and_sends_nothing() {
    let manager = Manager::new();
    let alert = manager.write(".alert", &sample("sysmon-22-c2-dns.json"));
    let feed = common::feed();
    let log = manager.log.to_str().unwrap().to_string();
    let run = manager.run(&[
        "--stdout",
        "--log-file",
        &log,
        "--feed",
        feed.to_str().unwrap(),
        alert.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.datagrams.is_empty());
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(
        |l| l.starts_with("1:[007] (WKS-FIN-0142) 10.40.12.42->misp:{\"integration\":\"misp\"")
    ));
}

#[test]
fn datagrams_that_could_not_be_sent_are_delivered_first_by_the_next_run_once() {
    let manager = Manager::new();
    let dead = manager.dir.path().join("restarting-queue");
    drop(UnixDatagram::bind(&dead).unwrap());
    let down = json!({"feed": common::feed(), "socket": dead});
    let first = manager.integratord(&sample("sysmon-22-c2-dns.json"), down, "10", "3");
    assert_eq!(first.code, 7, "{first:?}");
    assert!(only_error(&first).ends_with("; 2 datagrams kept for the next run"), "{:?}", first.log);
    // analysisd is back: the next run delivers the kept ones, then its own.
    let up = json!({"feed": common::feed(), "flood_control": false});
    let second = manager.integratord(&sample("sshd-5712-bruteforce.json"), up.clone(), "10", "3");
    assert_eq!(second.code, 0, "{second:?}");
    let order: Vec<Value> = (0..second.datagrams.len())
        .map(|i| second.message(i)["misp"]["ioc"]["value"].clone())
        .collect();
    assert_eq!(
        order,
        vec![json!("update-check.example.net"), json!("203.0.113.66"), json!("198.51.100.23")]
    );
    assert_eq!(second.log_lines()[0], "custom-misp INFO: 2 kept datagrams delivered");
    let third = manager.integratord(&sample("sshd-5712-bruteforce.json"), up, "10", "3");
    assert_eq!(third.datagrams.len(), 1, "nothing is delivered twice");
}
