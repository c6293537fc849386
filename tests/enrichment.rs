//! Enrichment against the real misp-modules server from PyPI, started by
//! the test with the custom modules of tests/misp-modules/custom (a
//! reputation module that needs an API key, a legacy AS module, one that
//! always fails, one that sleeps past short timeouts) and the built-in
//! offline modules countrycode and eql. Nothing here fakes the
//! misp-modules protocol.

mod common;

use std::time::Duration;

use common::modules::ModulesServer;
use common::Manager;
use misp_test_server::{MispServer, ServerOptions, TEST_API_KEY};
use serde_json::{json, Value};

/// Line `n` (from 1) of the lab's alerts.
fn lab_alert(n: usize) -> String {
    let text = std::fs::read_to_string(common::repo().join("learning/lab/alerts.json")).unwrap();
    text.lines().nth(n - 1).unwrap().to_string()
}

/// The dropper starting (Sysmon 1, its three hashes and its imphash).
fn dropper() -> String {
    lab_alert(16)
}

/// The DNS query for the C2 (a domain and an address).
fn c2_dns() -> String {
    lab_alert(17)
}

fn lab_misp() -> MispServer {
    let server = MispServer::start(ServerOptions::default());
    server.load_feed(&common::repo().join("learning/lab/intel-feed")).unwrap();
    server
}

/// Options for a lookup with enrichment by `modules`, without recording.
fn options(misp: &MispServer, modules: &ModulesServer, enrichment: Value) -> Value {
    json!({
        "misp_url": misp.url(), "api_key": TEST_API_KEY,
        "record": false, "sightings": false, "event_context": false, "flood_control": false,
        "modules_url": modules.url(), "enrichment": enrichment,
        "module_config": {"wazuh_test_reputation": {"apikey": "reputation-test-key"}},
        "module_timeout": 5
    })
}

fn enrichment_of(run: &common::Run, value: &str) -> Value {
    (0..run.datagrams.len())
        .map(|i| run.message(i))
        .find(|m| m["misp"]["ioc"]["value"] == json!(value))
        .unwrap_or_else(|| panic!("no datagram for {value}: {:?}", run.datagrams))["misp"]
        ["enrichment"]
        .clone()
}

const SHA256: &str = "8f37280f596c73a11d706625c737694416ca426d8763dd7dccc90a1d24c73463";

#[test]
fn matched_hashes_carry_the_reputation_verdict() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let run = manager.integratord(
        &dropper(),
        options(&misp, &modules, json!({"hash": ["wazuh_test_reputation"]})),
        "10",
        "0",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let enrichment = enrichment_of(&run, SHA256);
    assert_eq!(enrichment["verdict"], json!("malicious"));
    assert_eq!(enrichment["detection_ratio"], json!("52/71"));
    assert_eq!(enrichment["errors"], json!(0));
    assert_eq!(enrichment["modules"][0]["module"], json!("wazuh_test_reputation"));
    assert_eq!(enrichment["modules"][0]["status"], json!("ok"));
    // The reputation module takes no import hash: that datagram has no section.
    assert_eq!(enrichment_of(&run, "861387c1741b73a9dfb136b63135e0f1"), Value::Null);
    let line = run.log_lines().into_iter().find(|l| l.contains(" iocs=")).unwrap();
    assert!(line.contains(" matches=4 modules=3 "), "{line}");
}

#[test]
fn without_its_api_key_the_module_s_error_is_reported_for_that_module() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let mut options = options(&misp, &modules, json!({"hash": ["wazuh_test_reputation"]}));
    options["module_config"] = json!({});
    let run = manager.integratord(&dropper(), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let enrichment = enrichment_of(&run, SHA256);
    assert_eq!(enrichment.get("verdict"), None);
    assert_eq!(enrichment["errors"], json!(1));
    assert_eq!(
        enrichment["modules"][0],
        json!({"module": "wazuh_test_reputation", "status": "error", "error": "An API key is required"})
    );
}

#[test]
fn legacy_and_built_in_modules_answer_for_addresses_and_domains() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let enrichment =
        json!({"ip": ["wazuh_test_asn", "eql"], "domain": ["countrycode", "wazuh_test_broken"]});
    let run = manager.integratord(&c2_dns(), options(&misp, &modules, enrichment), "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let ip = enrichment_of(&run, "198.51.100.77");
    assert_eq!(ip["asn"], json!("AS64500"));
    assert_eq!(ip["as_owner"], json!("Example Transit Ltd, NL"));
    assert_eq!(ip["modules"][0]["summary"], json!("AS: AS64500; text: Example Transit Ltd, NL"));
    assert_eq!(ip["modules"][1]["module"], json!("eql"));
    assert_eq!(ip["modules"][1]["status"], json!("ok"));
    let domain = enrichment_of(&run, "cdn-telemetry.example.net");
    assert_eq!(domain["modules"][0]["module"], json!("countrycode"));
    assert_eq!(domain["modules"][0]["status"], json!("ok"));
    assert_eq!(
        domain["modules"][1],
        json!({"module": "wazuh_test_broken", "status": "error", "error": "upstream service said: quota exceeded"})
    );
}

#[test]
fn modules_run_at_once_so_a_run_costs_the_slowest_module() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    // Two slow answers (3 s each), one for the address, one for the domain.
    let enrichment =
        json!({"ip": ["wazuh_test_slow", "wazuh_test_asn"], "domain": ["wazuh_test_slow"]});
    let run = manager.integratord(&c2_dns(), options(&misp, &modules, enrichment), "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(enrichment_of(&run, "198.51.100.77")["modules"][0]["status"], json!("ok"));
    assert_eq!(
        enrichment_of(&run, "cdn-telemetry.example.net")["modules"][0]["summary"],
        json!("text: slow answer")
    );
    assert!(run.elapsed >= Duration::from_secs(3), "took {:?}", run.elapsed);
    assert!(
        run.elapsed < Duration::from_millis(4500),
        "the modules ran one after another: {:?}",
        run.elapsed
    );
}

#[test]
fn a_module_past_its_timeout_is_a_timeout_within_the_budget() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let mut options =
        options(&misp, &modules, json!({"ip": ["wazuh_test_slow", "wazuh_test_asn"]}));
    options["module_timeout"] = json!(1);
    let run = manager.integratord(&c2_dns(), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let ip = enrichment_of(&run, "198.51.100.77");
    assert_eq!(ip["modules"][0]["status"], json!("timeout"));
    assert_eq!(ip["modules"][1]["status"], json!("ok"));
    assert!(run.elapsed < Duration::from_millis(1800), "took {:?}", run.elapsed);
}

#[test]
fn an_unknown_module_and_a_dead_server_are_errors_of_the_module_not_of_the_run() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let run = manager.integratord(
        &c2_dns(),
        options(&misp, &modules, json!({"ip": ["no_such_module"]})),
        "10",
        "0",
    );
    assert_eq!(run.code, 0, "{run:?}");
    let ip = enrichment_of(&run, "198.51.100.77");
    assert_eq!(
        ip["modules"][0],
        json!({"module": "no_such_module", "status": "unknown_module", "error": "misp-modules has no such module"})
    );
    let mut dead = options(&misp, &modules, json!({"ip": ["wazuh_test_asn"]}));
    dead["modules_url"] = json!("http://127.0.0.1:9");
    dead["state_dir"] = json!(manager.dir.path().join("other-state"));
    let run = manager.integratord(&c2_dns(), dead, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(enrichment_of(&run, "198.51.100.77")["modules"][0]["status"], json!("unreachable"));
}

#[test]
fn a_value_seen_again_soon_costs_no_module_call() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let mut options = options(
        &misp,
        &modules,
        json!({"hash": ["wazuh_test_reputation"], "ip": ["wazuh_test_asn"]}),
    );
    options["debug"] = json!(true);
    let queries =
        |run: &common::Run| run.log.iter().filter(|l| l.contains("misp-modules query: ")).count();
    let first = manager.integratord(&dropper(), options.clone(), "10", "0");
    assert_eq!(queries(&first), 3);
    let again = manager.integratord(&dropper(), options, "10", "0");
    assert_eq!(queries(&again), 0, "{:?}", again.log);
    assert_eq!(enrichment_of(&again, SHA256), enrichment_of(&first, SHA256));
}

#[test]
fn an_unmatched_ioc_that_a_module_finds_malicious_gets_its_own_datagram() {
    // A MISP that does not know the lab's malware.
    let misp = MispServer::start(ServerOptions::default());
    let (modules, manager) = (ModulesServer::start(), Manager::new());
    let mut options = options(&misp, &modules, json!({"hash": ["wazuh_test_reputation"]}));
    options["enrich"] = json!("all");
    let run = manager.integratord(&dropper(), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let statuses: Vec<Value> =
        (0..run.datagrams.len()).map(|i| run.message(i)["misp"]["status"].clone()).collect();
    assert_eq!(statuses, vec![json!("enriched"); 3]);
    assert_eq!(enrichment_of(&run, SHA256)["verdict"], json!("malicious"));
}

#[test]
fn the_incident_event_holds_the_module_results_beside_the_observation() {
    let (misp, modules, manager) = (lab_misp(), ModulesServer::start(), Manager::new());
    let mut options = options(
        &misp,
        &modules,
        json!({"ip": ["wazuh_test_asn"], "hash": ["wazuh_test_reputation"]}),
    );
    options["record"] = json!(true);
    let run = manager.integratord(&dropper(), options.clone(), "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let run = manager.integratord(&c2_dns(), options, "10", "0");
    assert_eq!(run.code, 0, "{run:?}");
    let incident = misp
        .events()
        .into_iter()
        .find(|e| e["Event"]["info"].as_str().unwrap().starts_with("Wazuh incident"))
        .unwrap();
    let uuid = incident["Event"]["uuid"].as_str().unwrap().to_string();
    let event = misp.event(&uuid).unwrap();
    let attributes = event["Event"]["Attribute"].as_array().unwrap();
    let asn =
        attributes.iter().find(|a| a["type"] == json!("AS")).expect("the AS from the asn module");
    // MISP keeps an AS number without its "AS".
    assert_eq!(asn["value"], json!("64500"));
    assert_eq!(asn["to_ids"], json!(false));
    assert!(asn["comment"]
        .as_str()
        .unwrap()
        .starts_with("misp-modules wazuh_test_asn for the observation at 2026-11-18T09:15:03"));
    let objects: Vec<&str> = event["Event"]["Object"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(objects, vec!["file", "domain-ip"]);
    // The test server, like an older MISP, lacks the virustotal-report
    // template: its values are kept as attributes naming their relation.
    let ratio =
        attributes.iter().find(|a| a["value"] == json!("52/71")).expect("the detection ratio");
    let comment = ratio["comment"].as_str().unwrap();
    assert!(
        comment
            .starts_with("virustotal-report detection-ratio; misp-modules wazuh_test_reputation"),
        "{comment}"
    );
}
