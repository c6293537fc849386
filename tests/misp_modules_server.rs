//! The misp-modules server that the enrichment tests run against: the real
//! misp-modules 3.1.1 with the test modules of `tests/misp-modules/custom`,
//! asked directly over HTTP. These tests pin down what the server and each
//! module answer, so that a change of version or of a test module shows up
//! here rather than as a puzzling failure of the binary.
//!
//! Each test starts a server of its own: a server in a static would never
//! be dropped, and so never stopped. A start takes well under a second.

#[path = "common/modules.rs"]
mod modules;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use modules::ModulesServer;
use serde_json::{json, Value};

/// The lab malware, by hash type.
const LAB_MD5: &str = "32ea19a51e3b1ccef50268e1b3dd37e0";
const LAB_SHA1: &str = "1e696d41068dd19fd3b3c3c512aa8de8c9fac23e";
const LAB_SHA256: &str = "8f37280f596c73a11d706625c737694416ca426d8763dd7dccc90a1d24c73463";

/// The UUID of the attribute the hash queries carry.
const ATTRIBUTE_UUID: &str = "c3b0a7a4-6f7e-4c1b-9d2a-1e5f8b9c0d7e";

/// The entry of `GET /modules` for `name`.
fn listed(list: &Value, name: &str) -> Value {
    let entries = list.as_array().expect("GET /modules answers a list");
    let mut found = entries.iter().filter(|m| m["name"] == name);
    let entry = found.next().unwrap_or_else(|| panic!("{name}: not in GET /modules"));
    assert!(found.next().is_none(), "{name}: listed twice");
    entry.clone()
}

/// A query of the reputation module for one hash attribute.
fn reputation_query(kind: &str, value: &str, config: Value) -> Value {
    json!({
        "module": "wazuh_test_reputation",
        "attribute": {"type": kind, "value": value, "uuid": ATTRIBUTE_UUID},
        "config": config,
    })
}

#[test]
fn the_server_answers_its_health_check_and_its_version() {
    let server = ModulesServer::start();

    assert_eq!(server.get("/healthcheck"), (200, r#"{"status":true}"#.to_string()));
    assert_eq!(server.get("/version"), (200, r#"{"version":"3.1.1"}"#.to_string()));
}

#[test]
fn the_module_list_has_the_test_modules_with_their_inputs_config_and_format() {
    let server = ModulesServer::start();
    let (status, body) = server.get("/modules");
    assert_eq!(status, 200);
    let list: Value = serde_json::from_str(&body).unwrap();

    let reputation = listed(&list, "wazuh_test_reputation");
    assert_eq!(reputation["type"], "expansion");
    assert_eq!(
        reputation["mispattributes"],
        json!({"input": ["md5", "sha1", "sha256"], "format": "misp_standard"})
    );
    assert_eq!(reputation["meta"]["config"], json!(["apikey"]));
    assert_eq!(reputation["meta"]["module-type"], json!(["expansion"]));

    let asn = listed(&list, "wazuh_test_asn");
    assert_eq!(asn["type"], "expansion");
    assert_eq!(
        asn["mispattributes"],
        json!({"input": ["ip-src", "ip-dst"], "output": ["AS", "text"]})
    );
    assert_eq!(asn["meta"]["config"], json!([]));
    assert_eq!(asn["meta"]["module-type"], json!(["expansion", "hover"]));

    let broken = listed(&list, "wazuh_test_broken");
    assert_eq!(
        broken["mispattributes"],
        json!({"input": ["domain", "hostname"], "output": ["text"]})
    );
    assert_eq!(broken["meta"]["config"], json!([]));

    let slow = listed(&list, "wazuh_test_slow");
    assert_eq!(
        slow["mispattributes"],
        json!({"input": ["ip-src", "ip-dst", "domain"], "output": ["text"]})
    );
    assert_eq!(slow["meta"]["config"], json!([]));
}

#[test]
fn the_module_list_has_the_offline_built_in_modules_without_a_format() {
    let server = ModulesServer::start();
    let list: Value = serde_json::from_str(&server.get("/modules").1).unwrap();

    let countrycode = listed(&list, "countrycode");
    assert_eq!(countrycode["type"], "expansion");
    assert_eq!(countrycode["mispattributes"], json!({"input": ["hostname", "domain"]}));
    assert_eq!(countrycode["meta"]["config"], json!([]));
    assert_eq!(countrycode["meta"]["module-type"], json!(["hover"]));

    // eql never names its settings: its meta has no config at all.
    let eql = listed(&list, "eql");
    assert_eq!(eql["type"], "expansion");
    assert_eq!(eql["mispattributes"], json!({"input": ["ip-src", "ip-dst", "filename"]}));
    assert_eq!(eql["meta"].get("config"), None);
}

#[test]
fn the_reputation_module_reports_the_lab_malware_as_a_virustotal_report() {
    let server = ModulesServer::start();

    let answer = server.query(&reputation_query("sha256", LAB_SHA256, json!({"apikey": "k"})));

    let object_uuid = "a918abf3-124b-5462-8fa8-39aa81e2b72b";
    assert_eq!(
        answer,
        json!({"results": {
            "Attribute": [{
                "uuid": ATTRIBUTE_UUID,
                "type": "sha256",
                "value": LAB_SHA256,
                "category": "Payload delivery",
                "to_ids": true,
                "disable_correlation": false,
            }],
            "Object": [{
                "name": "virustotal-report",
                "meta-category": "misc",
                "template_uuid": "d7dd0154-e04f-4c34-a2fb-79f3a3a52aa4",
                "description": "VirusTotal report",
                "template_version": "5",
                "uuid": object_uuid,
                "ObjectReference": [{
                    "uuid": "6928e5c3-d8ee-5266-b6ae-6081284e3b81",
                    "object_uuid": object_uuid,
                    "referenced_uuid": ATTRIBUTE_UUID,
                    "relationship_type": "related-to",
                }],
                "Attribute": [
                    {
                        "uuid": "cfb91857-f553-5600-9889-2b25527bfbc6",
                        "object_relation": "detection-ratio",
                        "value": "52/71",
                        "type": "text",
                        "category": "External analysis",
                        "disable_correlation": true,
                        "to_ids": false,
                    },
                    {
                        "uuid": "0f89578c-9e2c-56b2-a809-62de5d0647d9",
                        "object_relation": "permalink",
                        "value": format!("https://reputation.example.net/file/{LAB_SHA256}"),
                        "type": "link",
                        "category": "External analysis",
                        "disable_correlation": true,
                        "to_ids": false,
                    },
                    {
                        "uuid": "b71f88de-90e8-5f2f-964b-27dd6ed6bc62",
                        "object_relation": "last-submission",
                        "value": "2024-05-14T09:26:53+00:00",
                        "type": "datetime",
                        "category": "Other",
                        "disable_correlation": true,
                        "to_ids": false,
                    },
                ],
                "distribution": "5",
                "sharing_group_id": "0",
            }],
        }})
    );
}

#[test]
fn the_reputation_module_knows_the_lab_malware_under_its_md5_and_sha1() {
    let server = ModulesServer::start();

    for (kind, hash) in [("md5", LAB_MD5), ("sha1", LAB_SHA1)] {
        let answer = server.query(&reputation_query(kind, hash, json!({"apikey": "k"})));
        let results = &answer["results"];
        assert_eq!(results["Attribute"][0]["type"], kind);
        assert_eq!(results["Attribute"][0]["value"], hash);
        let report = &results["Object"][0];
        assert_eq!(report["name"], "virustotal-report");
        let permalink = format!("https://reputation.example.net/file/{hash}");
        assert_eq!(report["Attribute"][1]["value"], permalink.as_str());
        assert_eq!(report["Attribute"][0]["value"], "52/71");
    }
}

#[test]
fn the_reputation_module_answers_the_same_report_every_time() {
    let server = ModulesServer::start();
    let query = reputation_query("sha1", LAB_SHA1, json!({"apikey": "k"}));

    assert_eq!(server.query(&query), server.query(&query));
}

#[test]
fn the_reputation_module_answers_not_found_for_any_other_hash() {
    let server = ModulesServer::start();
    let not_found = json!({"error": "Non existing hash"});

    let empty_file = "d41d8cd98f00b204e9800998ecf8427e";
    let other = server.query(&reputation_query("md5", empty_file, json!({"apikey": "k"})));
    assert_eq!(other, not_found);
    // A known value under another hash type is another hash.
    let mistyped = server.query(&reputation_query("md5", LAB_SHA1, json!({"apikey": "k"})));
    assert_eq!(mistyped, not_found);
}

#[test]
fn the_reputation_module_requires_an_api_key() {
    let server = ModulesServer::start();
    let required = json!({"error": "An API key is required"});

    for config in [json!({}), json!({"apikey": ""}), json!(null)] {
        let answer = server.query(&reputation_query("sha256", LAB_SHA256, config.clone()));
        assert_eq!(answer, required, "config {config}");
    }
    let without_config = json!({
        "module": "wazuh_test_reputation",
        "attribute": {"type": "sha256", "value": LAB_SHA256, "uuid": ATTRIBUTE_UUID},
    });
    assert_eq!(server.query(&without_config), required);
}

#[test]
fn the_reputation_module_wants_a_hash_attribute_with_a_uuid() {
    let server = ModulesServer::start();

    let without_uuid = json!({
        "module": "wazuh_test_reputation",
        "attribute": {"type": "sha256", "value": LAB_SHA256},
        "config": {"apikey": "k"},
    });
    assert_eq!(
        server.query(&without_uuid),
        json!({"error": "This module requires an \"attribute\" field as input, which should \
                         contain at least a type, a value and an uuid."})
    );
    let not_a_hash = reputation_query("ip-src", "198.51.100.7", json!({"apikey": "k"}));
    assert_eq!(server.query(&not_a_hash), json!({"error": "Unsupported attribute type."}));
}

#[test]
fn the_asn_module_answers_both_test_networks_in_the_legacy_format() {
    let server = ModulesServer::start();

    let transit =
        server.query(&json!({"module": "wazuh_test_asn", "ip-src": "198.51.100.7", "config": {}}));
    assert_eq!(
        transit,
        json!({"results": [
            {"types": ["AS"], "values": ["AS64500"]},
            {"types": ["text"], "values": ["Example Transit Ltd, NL"]},
        ]})
    );
    let hosting =
        server.query(&json!({"module": "wazuh_test_asn", "ip-dst": "203.0.113.9", "config": {}}));
    assert_eq!(
        hosting,
        json!({"results": [
            {"types": ["AS"], "values": ["AS64511"]},
            {"types": ["text"], "values": ["Example Hosting GmbH, DE"]},
        ]})
    );
}

#[test]
fn the_asn_module_answers_no_result_for_other_addresses() {
    let server = ModulesServer::start();

    for ip in ["192.0.2.1", "198.51.101.7", "2001:db8::1"] {
        let answer = server.query(&json!({"module": "wazuh_test_asn", "ip-dst": ip, "config": {}}));
        assert_eq!(answer, json!({"results": []}), "{ip}");
    }
}

#[test]
fn the_broken_module_answers_its_upstream_error() {
    let server = ModulesServer::start();

    for field in ["domain", "hostname"] {
        let query = json!({"module": "wazuh_test_broken", field: "example.org", "config": {}});
        assert_eq!(server.query(&query), json!({"error": "upstream service said: quota exceeded"}));
    }
}

#[test]
fn the_slow_module_answers_after_three_seconds() {
    let server = ModulesServer::start();

    let started = Instant::now();
    let answer =
        server.query(&json!({"module": "wazuh_test_slow", "domain": "example.org", "config": {}}));
    let took = started.elapsed();

    assert_eq!(answer, json!({"results": [{"types": ["text"], "values": ["slow answer"]}]}));
    assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(6), "took {took:?}");
}

#[test]
fn a_query_timeout_shorter_than_the_module_answers_timeout_in_that_time() {
    let server = ModulesServer::start();
    let query =
        json!({"module": "wazuh_test_slow", "ip-src": "198.51.100.7", "config": {}, "timeout": 1});

    let started = Instant::now();
    let answer = server.query(&query);
    let took = started.elapsed();

    assert_eq!(answer, json!({"error": "Timeout."}));
    assert!(took >= Duration::from_secs(1) && took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn a_query_timeout_is_cut_to_whole_seconds() {
    let server = ModulesServer::start();
    let query =
        json!({"module": "wazuh_test_slow", "domain": "example.org", "config": {}, "timeout": 0.9});

    let started = Instant::now();
    let answer = server.query(&query);

    assert_eq!(answer, json!({"error": "Timeout."}));
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
}

#[test]
fn the_server_stops_within_its_grace_period_while_a_module_is_working() {
    let server = ModulesServer::start();
    let pid = server.pid();
    let addr = server.url().trim_start_matches("http://").to_string();
    let asking = thread::spawn(move || {
        let body = r#"{"module": "wazuh_test_slow", "domain": "example.org", "config": {}}"#;
        let mut stream = TcpStream::connect(&addr).unwrap();
        let head =
            format!("POST /query HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n", body.len());
        write!(stream, "{head}Connection: close\r\n\r\n{body}").unwrap();
        let mut reply = String::new();
        let _ = stream.read_to_string(&mut reply);
        reply
    });
    // Long enough for the module to be asleep in its call.
    thread::sleep(Duration::from_millis(500));

    let started = Instant::now();
    drop(server);
    let stopping = started.elapsed();

    assert!(stopping < Duration::from_secs(3), "stopping took {stopping:?}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "process {pid} is still there");
    // The server drops the connections it had not answered yet.
    assert_eq!(asking.join().unwrap(), "");
}

#[test]
fn countrycode_names_a_generic_top_level_domain_offline() {
    let server = ModulesServer::start();

    let answer =
        server.query(&json!({"module": "countrycode", "domain": "www.example.com", "config": {}}));
    assert_eq!(
        answer,
        json!({"results": [{"types": ["text"], "values": ["Commercial (Worldwide)"]}]})
    );
    let hostname = server
        .query(&json!({"module": "countrycode", "hostname": "mail.example.org", "config": {}}));
    assert_eq!(
        hostname,
        json!({"results": [{"types": ["text"], "values": ["Organisation (Worldwide)"]}]})
    );
}

#[test]
fn eql_writes_a_network_query_for_an_ip() {
    let server = ModulesServer::start();

    let destination =
        server.query(&json!({"module": "eql", "ip-dst": "203.0.113.9", "config": {}}));
    // Unlike the legacy results of other modules, `values` is a string.
    assert_eq!(
        destination,
        json!({"results": [{
            "types": ["comment"],
            "categories": ["External analysis"],
            "values": "network where destination_address == \"203.0.113.9\"",
            "comment": "Event EQL queries",
        }]})
    );
    let source = server.query(&json!({"module": "eql", "ip-src": "198.51.100.7", "config": {}}));
    assert_eq!(source["results"][0]["values"], "network where source_address == \"198.51.100.7\"");
}

#[test]
fn an_unknown_module_and_a_module_that_raises_answer_the_same_error() {
    let server = ModulesServer::start();
    let went_wrong = json!({"error": "Something went wrong, look in the server logs for details"});

    let unknown =
        server.query(&json!({"module": "no_such_module", "domain": "example.org", "config": {}}));
    assert_eq!(unknown, went_wrong);
    // eql has no query for a domain and fails on it.
    let raises = server.query(&json!({"module": "eql", "domain": "example.org", "config": {}}));
    assert_eq!(raises, went_wrong);
    let no_module = server.query(&json!({"domain": "example.org", "config": {}}));
    assert_eq!(no_module, went_wrong);
}

#[test]
fn a_body_that_is_not_json_or_a_timeout_that_is_not_a_number_is_http_500() {
    let server = ModulesServer::start();
    let page = "<html><title>500: Internal Server Error</title>\
                <body>500: Internal Server Error</body></html>";

    assert_eq!(server.post("/query", "not json"), (500, page.to_string()));
    let query = json!({"module": "wazuh_test_asn", "ip-src": "198.51.100.7", "timeout": "soon"});
    assert_eq!(server.post("/query", &query.to_string()), (500, page.to_string()));
}
