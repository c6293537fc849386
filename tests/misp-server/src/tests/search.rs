//! `/attributes/restSearch` and `/events/restSearch` against seeded
//! intel.

use serde_json::json;

use super::*;
use crate::{Numbers, ServerOptions};

fn integers() -> MispServer {
    seeded(ServerOptions { numbers: Numbers::Integers, ..ServerOptions::default() })
}

fn values(found: &[Value]) -> Vec<String> {
    found.iter().map(|a| a["value"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn a_value_list_is_an_or_over_every_value() {
    let server = integers();
    let found =
        search(&server, json!({"value": ["198.51.100.23", "nothing.example", "203.0.113.66"]}));
    assert_eq!(values(&found), ["198.51.100.23", "203.0.113.66|4444", "198.51.100.23"]);
}

#[test]
fn either_half_of_a_composite_value_matches() {
    let server = integers();
    assert_eq!(values(&search(&server, json!({"value": "4444"}))), ["203.0.113.66|4444"]);
    assert_eq!(values(&search(&server, json!({"value": "203.0.113.66"}))), ["203.0.113.66|4444"]);
}

#[test]
fn the_reply_has_misps_framing_and_result_headers() {
    let server = integers();
    let reply = post(&server, "/attributes/restSearch", json!({"value": "203.0.113.66"}));
    assert!(reply.text().starts_with("{\"response\": {\"Attribute\": [{"));
    assert!(reply.text().ends_with("}]}}\n"));
    assert_eq!(reply.header("x-result-count"), Some("1"));
    let empty = post(&server, "/attributes/restSearch", json!({"value": "none.example"}));
    assert_eq!(empty.text(), "{\"response\": {\"Attribute\": []}}\n");
}

#[test]
fn a_plain_attribute_carries_the_short_event_and_its_own_tags() {
    let server = integers();
    let found = search(&server, json!({"value": "198.51.100.23", "eventid": 1}));
    let attribute = &found[0];
    assert_eq!(attribute["type"], json!("ip-src"));
    assert_eq!(attribute["object_id"], json!(0));
    assert_eq!(attribute["first_seen"], json!(null));
    assert_eq!(
        attribute["Event"],
        json!({"id": 1, "info": "Copper Lantern brute force",
            "uuid": "11111111-1111-4111-8111-111111111111", "org_id": 1, "orgc_id": 2,
            "distribution": 3, "publish_timestamp": 1_790_239_200})
    );
    assert_eq!(attribute["Tag"][0]["name"], json!("kill-chain:Delivery"));
    assert_eq!(attribute["Tag"][0]["local"], json!(false));
    assert!(attribute.get("value1").is_none());
}

#[test]
fn type_and_ids_filters_narrow_the_matches() {
    let server = integers();
    let by_type = search(&server, json!({"value": "198.51.100.23", "type": ["ip-dst"]}));
    assert_eq!(by_type.len(), 1);
    assert_eq!(by_type[0]["event_id"], json!(2));
    let ids_only = search(&server, json!({"value": "198.51.100.23", "to_ids": 1}));
    assert_eq!(ids_only.len(), 1);
    assert_eq!(ids_only[0]["event_id"], json!(1));
}

#[test]
fn a_bang_excludes_and_a_percent_matches_like_sql() {
    let server = integers();
    let found = search(&server, json!({"value": ["%.100.23", "!198.51.100.23"]}));
    assert!(found.is_empty());
    assert_eq!(search(&server, json!({"value": "%.100.23"})).len(), 2);
    assert!(search(&server, json!({"value": "198.51%100.23"})).is_empty());
}

#[test]
fn a_warninglisted_value_is_dropped_under_enforce_warninglist() {
    let server = integers();
    server.add_warninglist("List of known IPv4 public DNS resolvers", &["198.51.100.0/24"]);
    let filters = json!({"value": ["198.51.100.23", "203.0.113.66"], "enforceWarninglist": true});
    assert_eq!(values(&search(&server, filters)), ["203.0.113.66|4444"]);
    let hits = search(&server, json!({"value": "198.51.100.23", "includeWarninglistHits": 1}));
    assert_eq!(hits[0]["warnings"][0]["match"], json!("198.51.100.0/24"));
    assert!(hits[1].get("warnings").is_none(), "no warning without the IDS flag");
}

#[test]
fn include_event_tags_puts_the_events_tags_after_the_attributes_own() {
    let server = integers();
    let found =
        search(&server, json!({"value": "198.51.100.23", "eventid": 1, "includeEventTags": true}));
    let names: Vec<&str> =
        found[0]["Tag"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["kill-chain:Delivery", "tlp:green", "misp-galaxy:threat-actor=\"Copper Lantern\""]
    );
    assert_eq!(found[0]["Tag"][1]["inherited"], json!(1));
}

#[test]
fn include_context_gives_the_whole_event_without_its_attributes() {
    let server = integers();
    let found = search(&server, json!({"value": "203.0.113.66", "includeContext": true}));
    let event = &found[0]["Event"];
    assert_eq!(event["date"], json!("2026-09-24"));
    assert_eq!(event["threat_level_id"], json!(2));
    assert_eq!(event["Orgc"]["name"], json!("Northwind CERT"));
    assert_eq!(event["Tag"][0]["name"], json!("tlp:green"));
    assert!(event.get("Attribute").is_none());
}

#[test]
fn object_attributes_are_found_with_their_object() {
    let server = integers();
    let hash = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08";
    let found = search(&server, json!({"value": hash}));
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["object_id"], json!(1));
    assert_eq!(found[0]["object_relation"], json!("sha256"));
    assert_eq!(found[0]["Object"]["id"], json!(1));
}

#[test]
fn deleted_attributes_are_never_found() {
    let server = integers();
    assert!(search(&server, json!({"value": "gone.example.net"})).is_empty());
}

#[test]
fn correlations_and_sightings_are_added_when_asked() {
    let server = integers();
    let found = search(
        &server,
        json!({"value": "198.51.100.23", "eventid": 1,
        "includeCorrelations": true, "includeSightings": true}),
    );
    let related = found[0]["RelatedAttribute"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["Event"]["info"], json!("Scanner sightings"));
    assert_eq!(found[0]["Sighting"], json!([]));
}

#[test]
fn limit_and_page_split_the_results() {
    let server = integers();
    let first = search(&server, json!({"value": "198.51.100.23", "limit": 1}));
    let second = search(&server, json!({"value": "198.51.100.23", "limit": 1, "page": 2}));
    assert_eq!((first[0]["id"].clone(), second[0]["id"].clone()), (json!(1), json!(5)));
}

#[test]
fn a_get_search_takes_named_parameters_from_the_path() {
    let server = integers();
    let reply = get(&server, "/attributes/restSearch/value:203.0.113.66");
    assert_eq!(reply.json()["response"]["Attribute"][0]["value"], json!("203.0.113.66|4444"));
    assert_eq!(get(&server, "/attributes/restSearch").status, 400);
}

#[test]
fn a_search_without_filters_is_a_400() {
    let server = integers();
    let raw = format!(
        "POST /attributes/restSearch HTTP/1.1\r\nAuthorization: {TEST_API_KEY}\r\n\
         Accept: application/json\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let reply = exchange(&server, raw.as_bytes());
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json()["message"],
        json!(
            "Either specify the search terms in the url, or POST a json with the filter \
             parameters."
        )
    );
}

#[test]
fn event_search_returns_whole_events_holding_the_value() {
    let server = integers();
    let reply = post(&server, "/events/restSearch", json!({"value": "203.0.113.66"}));
    let events = reply.json()["response"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["Event"]["uuid"], json!("11111111-1111-4111-8111-111111111111"));
    assert_eq!(events[0]["Event"]["Attribute"].as_array().unwrap().len(), 2);
    let tagged = post(&server, "/events/restSearch", json!({"tags": ["tlp:green"]}));
    assert_eq!(tagged.json()["response"].as_array().unwrap().len(), 1);
}
