//! The store's own intel and its spool of MISP writes: feeds imported
//! into the indicator index, a MISP server mirrored into it page by page,
//! the lookup modes that answer from it, and the writes kept while MISP is
//! down and sent once it is back, never twice.

mod common;

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use common::{sample, Manager, Run};
use misp_test_server::{Fault, FaultRule, MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};

/// The alert whose source address the generated feeds carry.
const BRUTE_FORCE_IP: &str = "198.51.100.23";

fn misp() -> MispServer {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::feed()).unwrap();
    server
}

fn live(server_url: &str) -> Value {
    json!({"misp_url": server_url, "api_key": TEST_API_KEY, "flood_control": false})
}

/// Runs a task with `options` written to a file of the manager.
fn task(manager: &Manager, options: Value, args: &[&str]) -> Run {
    let file = manager.write(".task-options", &manager.options(options).to_string());
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--options", file.to_str().unwrap()]);
    manager.run(&all)
}

fn uuid(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// A MISP-format feed of `events` events of `per_event` domain attributes
/// each; the first attribute of event 57 is the brute-force address.
fn generated_feed(dir: &Path, events: usize, per_event: usize) -> PathBuf {
    let feed = dir.join("generated");
    fs::create_dir_all(&feed).unwrap();
    let mut manifest = serde_json::Map::new();
    for e in 0..events {
        let attributes: Vec<Value> = (0..per_event)
            .map(|a| {
                let (kind, value) = if e == 57 && a == 0 {
                    ("ip-src", BRUTE_FORCE_IP.to_string())
                } else {
                    ("domain", format!("host-{e}-{a}.feed.example"))
                };
                json!({"uuid": uuid(1_000_000 + e * per_event + a), "type": kind,
                       "category": "Network activity", "value": value, "to_ids": true,
                       "timestamp": "1760000000"})
            })
            .collect();
        let event = json!({"Event": {
            "uuid": uuid(e), "info": format!("Generated event {e}"), "threat_level_id": "2",
            "date": "2026-10-01", "published": true, "Orgc": {"name": "Feed Org"},
            "Tag": [{"name": "tlp:green"}], "Attribute": attributes}});
        fs::write(feed.join(format!("{}.json", uuid(e))), event.to_string()).unwrap();
        manifest.insert(uuid(e), json!({"info": format!("Generated event {e}")}));
    }
    fs::write(feed.join("manifest.json"), Value::Object(manifest).to_string()).unwrap();
    feed
}

#[test]
fn a_feed_of_a_hundred_thousand_attributes_is_imported_and_answers_locally() {
    let manager = Manager::new();
    let feed = generated_feed(manager.dir.path(), 100, 1000);
    let import = task(&manager, json!({}), &["feed", "import", feed.to_str().unwrap()]);
    assert_eq!(import.code, 0, "{import:?}");
    assert_eq!(
        import.stdout,
        "generated: 100 events, 100000 attributes indexed, 0 events removed, 0 entries skipped\n"
    );
    let local = json!({"lookup": "local"});
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), local.clone(), "5", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.datagrams.len(), 1, "{run:?}");
    let misp = &run.message(0)["misp"];
    assert_eq!(misp["status"], "match");
    assert_eq!(misp["attribute"]["value"], BRUTE_FORCE_IP);
    assert_eq!(misp["event"]["info"], "Generated event 57");
    assert_eq!(misp["event"]["org"], "Feed Org");
    assert_eq!(misp["tlp"], "tlp:green");
    let line = run.log_lines().pop().unwrap();
    assert!(line.contains(" requests=0 matches=1 recorded=off datagrams=1 "), "{line}");

    // The same feed, one event fewer: importing again replaces it.
    fs::remove_file(feed.join(format!("{}.json", uuid(3)))).unwrap();
    let manifest = fs::read_to_string(feed.join("manifest.json")).unwrap();
    let mut manifest: Value = serde_json::from_str(&manifest).unwrap();
    manifest.as_object_mut().unwrap().remove(&uuid(3));
    fs::write(feed.join("manifest.json"), manifest.to_string()).unwrap();
    let again =
        task(&manager, json!({}), &["feed", "import", &format!("file://{}", feed.display())]);
    assert_eq!(
        again.stdout,
        "generated: 99 events, 99000 attributes indexed, 1 events removed, 0 entries skipped\n"
    );
    let list = task(&manager, json!({}), &["feed", "list"]);
    assert_eq!(list.stdout, "generated: 99 events, 99000 attributes\n");
}

#[test]
fn csv_and_freetext_feeds_become_one_event_each() {
    let manager = Manager::new();
    let csv = manager.write(
        "-blocklist.csv",
        "uuid,event_id,category,type,value,comment,to_ids,date\n\
         # exported from a partner's MISP\n\
         5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b,12,Network activity,ip-src,198.51.100.23,ssh scanner,1,1760000000\n\
         ,12,Network activity,domain,,empty value,1,1760000000\n",
    );
    let text = manager.write(
        "-report.txt",
        "The dropper calls hxxp://update-check[.]example[.]net/gate.php and resolves\n\
         update-check[.]example[.]net. # the C2\n",
    );
    let csv_run = task(
        &manager,
        json!({}),
        &["feed", "import", csv.to_str().unwrap(), "--name", "partner", "--tag", "tlp:amber"],
    );
    assert_eq!(
        csv_run.stdout,
        "partner: 1 events, 1 attributes indexed, 0 events removed, 1 entries skipped\n"
    );
    let text_run = task(
        &manager,
        json!({}),
        &[
            "feed",
            "import",
            text.to_str().unwrap(),
            "--name",
            "report",
            "--info",
            "Invoice dropper report",
            "--threat-level",
            "1",
        ],
    );
    // "The", "dropper", "calls", "and", "resolves" are words, not IoCs.
    assert_eq!(
        text_run.stdout,
        "report: 1 events, 2 attributes indexed, 0 events removed, 5 entries skipped\n"
    );
    let local = json!({"lookup": "local"});
    let dns = manager.integratord(&sample("sysmon-22-c2-dns.json"), local.clone(), "5", "0");
    assert_eq!(dns.code, 0, "{dns:?}");
    let misp = &dns.message(0)["misp"];
    assert_eq!(misp["attribute"]["type"], "domain");
    assert_eq!(misp["event"]["info"], "Invoice dropper report");
    assert_eq!(misp["event"]["threat_level"], "high");
    let ssh = manager.integratord(&sample("sshd-5712-bruteforce.json"), local, "5", "0");
    let misp = &ssh.message(0)["misp"];
    assert_eq!(misp["attribute"]["uuid"], "5e6f7a8b-1c2d-4e3f-8a9b-0c1d2e3f4a5b");
    assert_eq!(misp["attribute"]["comment"], "ssh scanner");
    assert_eq!(misp["tlp"], "tlp:amber");
    let removed = task(&manager, json!({}), &["feed", "remove", "partner"]);
    assert_eq!(removed.stdout, "partner: 1 events removed\n");
    let unknown = task(&manager, json!({}), &["feed", "remove", "partner"]);
    assert_eq!(unknown.code, 2);
    assert_eq!(unknown.stderr, "custom-misp: partner: not in the index (see feed list)\n");
}

/// An event of `count` domain attributes `sync-{tag}-{i}.example.org`
/// whose timestamps count up from `first_stamp`.
fn sync_event(n: usize, tag: &str, count: usize, first_stamp: i64) -> Value {
    let attributes: Vec<Value> = (0..count)
        .map(|i| {
            json!({"uuid": uuid(5_000_000 + n * 10_000 + i), "type": "domain",
                   "category": "Network activity", "value": format!("sync-{tag}-{i}.example.org"),
                   "to_ids": true, "timestamp": (first_stamp + i as i64).to_string()})
        })
        .collect();
    json!({"Event": {"uuid": uuid(900 + n), "info": format!("Mirrored event {tag}"),
                     "threat_level_id": "1", "date": "2026-11-01", "published": true,
                     "timestamp": first_stamp.to_string(),
                     "Tag": [{"name": "misp-galaxy:threat-actor=\"Glass Heron\""}],
                     "Attribute": attributes}})
}

fn pages_asked(server: &MispServer) -> Vec<(u64, Option<i64>)> {
    server
        .requests()
        .iter()
        .filter(|r| r.path == "/attributes/restSearch")
        .map(|r| {
            let body: Value = serde_json::from_str(&r.body).unwrap();
            (body["page"].as_u64().unwrap(), body["timestamp"].as_i64())
        })
        .collect()
}

#[test]
fn a_sync_is_paged_resumes_after_an_interruption_and_then_fetches_only_changes() {
    let server = MispServer::start(ServerOptions::default());
    server.add_event(sync_event(1, "a", 1500, 1_760_000_000));
    server.add_event(sync_event(2, "b", 1000, 1_760_001_500));
    let manager = Manager::new();
    let options = json!({"misp_url": server.url(), "api_key": TEST_API_KEY, "retries": 0});
    let sync = |manager: &Manager| {
        task(manager, options.clone(), &["feed", "sync", "--page-size", "1000"])
    };

    // The second page fails: the first is kept.
    server.push_fault(FaultRule {
        path_prefix: "/attributes/restSearch".into(),
        fault: Fault::Pass,
        times: Some(1),
    });
    server.push_fault(FaultRule {
        path_prefix: "/attributes/restSearch".into(),
        fault: Fault::Status(500),
        times: None,
    });
    let cut = sync(&manager);
    assert_eq!(cut.code, 5, "{cut:?}");
    assert!(
        cut.stderr.starts_with(&format!(
            "custom-misp: feed sync from {}: MISP page 2: 1000 attributes kept; feed sync resumes here: ",
            server.url()
        )),
        "{}",
        cut.stderr
    );
    let list = task(&manager, json!({}), &["feed", "list"]);
    assert_eq!(list.stdout, format!("{}: 1 events, 1000 attributes\n", server.url()));

    server.clear_faults();
    server.clear_requests();
    let resumed = sync(&manager);
    assert_eq!(resumed.code, 0, "{resumed:?}");
    assert_eq!(
        resumed.stdout,
        format!(
            "{}: 2 pages from page 2 (changes since the start), 1500 attributes indexed, 0 removed\n",
            server.url()
        )
    );
    assert_eq!(pages_asked(&server), vec![(2, None), (3, None)]);
    let list = task(&manager, json!({}), &["feed", "list"]);
    assert_eq!(list.stdout, format!("{}: 2 events, 2500 attributes\n", server.url()));

    // MISP changes: one attribute deleted, one event added.
    assert!(server.delete_attribute(&uuid(5_010_000)));
    server.add_event(sync_event(3, "c", 1, 1_770_000_000));
    server.clear_requests();
    let delta = sync(&manager);
    assert_eq!(
        delta.stdout,
        format!(
            "{}: 1 pages from page 1 (changes since timestamp 1760002499), 2 attributes indexed, 1 removed\n",
            server.url()
        )
    );
    assert_eq!(pages_asked(&server), vec![(1, Some(1_760_002_499))]);
    let list = task(&manager, json!({}), &["feed", "list"]);
    assert_eq!(list.stdout, format!("{}: 3 events, 2500 attributes\n", server.url()));
}

#[test]
fn local_then_live_asks_misp_only_for_what_the_index_does_not_know() {
    let server = misp();
    let manager = Manager::new();
    let options = json!({"misp_url": server.url(), "api_key": TEST_API_KEY, "retries": 0});
    assert_eq!(task(&manager, options.clone(), &["feed", "sync"]).code, 0);
    let dns_alert = sample("sysmon-22-c2-dns.json");
    let mut settings = live(&server.url());
    settings["lookup"] = json!("local");
    settings["record"] = json!(false);
    settings["sightings"] = json!(false);
    let from_index = manager.integratord(&dns_alert, settings.clone(), "5", "0");
    settings["lookup"] = json!("live");
    let from_misp = manager.integratord(&dns_alert, settings.clone(), "5", "0");
    assert!(!from_index.datagrams.is_empty(), "{from_index:?}");
    assert_eq!(from_index.datagrams.len(), from_misp.datagrams.len());
    for i in 0..from_index.datagrams.len() {
        let (a, b) = (from_index.message(i), from_misp.message(i));
        for part in ["attribute", "event", "ioc", "tags", "tlp", "threat_actors", "galaxies"] {
            assert_eq!(a["misp"][part], b["misp"][part], "{part} differs between index and MISP");
        }
    }
    assert!(from_index.log_lines().pop().unwrap().contains(" requests=0 "));

    // The index knows one of the dropper's four hashes.
    task(&manager, json!({}), &["feed", "remove", &server.url()]);
    let sha1 = "27e9abb9de4bd70181ee8353a5758e316714c13b";
    let known = manager.write("-known.txt", &format!("{sha1}\n"));
    assert_eq!(task(&manager, json!({}), &["feed", "import", known.to_str().unwrap()]).code, 0);
    server.clear_requests();
    settings["lookup"] = json!("local-then-live");
    let mixed = manager.integratord(&sample("sysmon-1-dropper.json"), settings, "5", "0");
    assert_eq!(mixed.code, 0, "{mixed:?}");
    assert_eq!(mixed.datagrams.len(), 4, "{mixed:?}");
    let searches: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.path == "/attributes/restSearch")
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["value"].clone())
        .collect();
    assert_eq!(searches.len(), 1, "one request for the values the index lacks");
    let asked = searches[0].as_array().unwrap();
    assert_eq!(asked.len(), 3, "{searches:?}");
    assert!(!asked.contains(&json!(sha1)), "{searches:?}");
}

/// The source of the DNS sample's sightings: its manager and agent.
const DNS_AGENT_SOURCE: &str = "Wazuh wazuh-manager agent 007";

/// The MISP test server's address, to start it again there.
fn address_of(server: &MispServer) -> SocketAddr {
    server.url().trim_start_matches("http://").parse().unwrap()
}

fn copy_store(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn attribute_count(server: &MispServer) -> usize {
    server
        .events()
        .iter()
        .map(|e| {
            let e = &e["Event"];
            let objects = e["Object"].as_array().into_iter().flatten();
            e["Attribute"].as_array().map_or(0, Vec::len)
                + objects.map(|o| o["Attribute"].as_array().map_or(0, Vec::len)).sum::<usize>()
        })
        .sum()
}

#[test]
fn writes_kept_during_a_misp_outage_are_sent_once_however_often_they_are_replayed() {
    let first = misp();
    let address = address_of(&first);
    let url = first.url();
    drop(first);
    let manager = Manager::new();
    let mut options = live(&url);
    options["spool_replay_time"] = json!(0);
    let brute = sample("sshd-5712-bruteforce.json");
    let dropper =
        sample("syscheck-554-dropper-added.json").replace(r#""id":"012""#, r#""id":"004""#);
    for alert in [&brute, &dropper] {
        let run = manager.integratord(alert, options.clone(), "2", "0");
        assert_eq!(run.code, 5, "{run:?}");
        let line = run.log_lines().pop().unwrap();
        assert!(line.contains(" recorded=kept datagrams=1 misp_writes=kept "), "{line}");
    }

    // MISP is back, but its sightings fail once: that sighting is kept.
    let server = MispServer::start_on(ServerOptions::default(), address).unwrap();
    server.load_feed(&common::feed()).unwrap();
    let events_before = server.events().len();
    server.push_fault(FaultRule {
        path_prefix: "/sightings/add".into(),
        fault: Fault::Status(503),
        times: Some(1),
    });
    let dns = manager.integratord(&sample("sysmon-22-c2-dns.json"), options.clone(), "5", "0");
    assert_eq!(dns.code, 9, "{dns:?}");
    let line = dns.log_lines().pop().unwrap();
    assert!(line.contains(" misp_writes=kept "), "{line}");
    let info = task(&manager, json!({}), &["store"]);
    assert!(info.stdout.contains(", 3 MISP writes kept\n"), "{}", info.stdout);

    let state = manager.dir.path().join("state");
    let before_flush = manager.dir.path().join("state-before-flush");
    copy_store(&state, &before_flush);
    let flush = task(&manager, options.clone(), &["flush"]);
    assert_eq!(flush.code, 0, "{flush:?}");
    assert_eq!(
        flush.stdout,
        "MISP writes: 3 sent, 0 refused and dropped, 0 expired, 0 still kept\n\
         datagrams: 0 delivered, 0 expired, 0 still kept\n"
    );
    let events = server.events().len();
    let attributes = attribute_count(&server);
    let sightings = server.sightings().len();
    assert_eq!(events, events_before + 2, "the brute force's and the DNS query's incidents");
    let from_dns_agent = server
        .sightings()
        .iter()
        .filter(|s| s["source"].as_str().unwrap_or("").starts_with(DNS_AGENT_SOURCE))
        .count();
    // One per attribute holding the domain or the address: four in the feed.
    assert_eq!(from_dns_agent, 4, "{:?}", server.sightings());

    // The same writes sent again, as after a crash before they were
    // forgotten: MISP already has every one of them.
    fs::remove_dir_all(&state).unwrap();
    copy_store(&before_flush, &state);
    let again = task(&manager, options.clone(), &["flush"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(server.events().len(), events);
    assert_eq!(attribute_count(&server), attributes);
    assert_eq!(server.sightings().len(), sightings);

    let idle = task(&manager, options, &["flush"]);
    assert_eq!(idle.stdout, "datagrams: 0 delivered, 0 expired, 0 still kept\n");
}

#[test]
fn kept_writes_are_bounded_in_number_and_age() {
    let first = misp();
    let url = first.url();
    drop(first);
    let manager = Manager::new();
    let mut options = manager.options(live(&url));
    options["spool_max"] = json!(2);
    options["spool_max_age"] = json!(3600);
    let file = manager.write(".options", &options.to_string());
    let alert = manager.write(".alert", &sample("sshd-5712-bruteforce.json"));
    let clock = |at: i64, args: &[&str]| {
        manager.run_with_env(args, &[("CUSTOM_MISP_TEST_NOW", &at.to_string())])
    };
    let argv = [alert.to_str().unwrap(), "", "", "", file.to_str().unwrap(), "2", "0"];
    for _ in 0..3 {
        assert_eq!(clock(1_800_000_000, &argv).code, 5);
    }
    let log = fs::read_to_string(&manager.log).unwrap();
    let bound = log
        .lines()
        .filter(|l| l.ends_with("spool bound of 2 MISP writes reached: 1 oldest dropped"));
    assert_eq!(bound.count(), 1, "{log}");
    let flush = clock(1_800_003_601, &["flush", "--options", file.to_str().unwrap()]);
    assert_eq!(flush.code, 0, "{flush:?}");
    assert_eq!(
        flush.stdout,
        "MISP writes: 0 sent, 0 refused and dropped, 2 expired, 0 still kept\n\
         datagrams: 0 delivered, 0 expired, 0 still kept\n"
    );
    let log = fs::read_to_string(&manager.log).unwrap();
    assert!(
        log.contains("custom-misp WARN: 2 kept MISP writes older than 3600 s dropped unsent\n"),
        "{log}"
    );
}

#[test]
fn datagrams_kept_past_their_age_are_dropped_and_counted() {
    let manager = Manager::new();
    let gone = manager.dir.path().join("no-queue");
    let mut options = manager.options(json!({"feed": common::feed().display().to_string()}));
    options["spool_max_age"] = json!(600);
    let away = manager.write(
        ".options",
        &json!(options)
            .to_string()
            .replace(&manager.socket.display().to_string(), &gone.display().to_string()),
    );
    let alert = manager.write(".alert", &sample("sysmon-22-c2-dns.json"));
    let at = |when: i64, args: &[&str]| {
        manager.run_with_env(args, &[("CUSTOM_MISP_TEST_NOW", &when.to_string())])
    };
    let argv = [alert.to_str().unwrap(), "", "", "", away.to_str().unwrap(), "5", "0"];
    let kept = at(1_800_000_000, &argv);
    assert_eq!(kept.code, 6, "{kept:?}");
    let here = manager.write(".options", &options.to_string());
    let flush = at(1_800_000_601, &["flush", "--options", here.to_str().unwrap()]);
    assert_eq!(flush.code, 0, "{flush:?}");
    assert_eq!(flush.stdout, "datagrams: 0 delivered, 2 expired, 0 still kept\n");
    assert!(manager.received().is_empty());
    let log = fs::read_to_string(&manager.log).unwrap();
    assert!(
        log.contains("custom-misp WARN: 2 kept datagrams older than 600 s dropped undelivered\n"),
        "{log}"
    );
}

#[test]
fn writes_kept_for_misp_are_kept_when_the_socket_is_gone_too() {
    let first = misp();
    let url = first.url();
    drop(first);
    let manager = Manager::new();
    let gone = manager.dir.path().join("no-queue");
    let mut options = live(&url);
    options["socket"] = json!(gone.display().to_string());
    let run = manager.integratord(&sample("sshd-5712-bruteforce.json"), options, "2", "0");
    assert_eq!(run.code, 6, "{run:?}");
    let info = task(&manager, json!({}), &["store"]);
    assert!(
        info.stdout.contains(", 1 datagrams kept for delivery, 1 MISP writes kept\n"),
        "{}",
        info.stdout
    );
}
