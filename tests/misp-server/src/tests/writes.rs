//! Writing to MISP: events, attributes, objects, sightings, tags, and
//! the warninglist check.

use serde_json::json;

use super::*;
use crate::{Numbers, ServerOptions};

fn integers() -> MispServer {
    seeded(ServerOptions { numbers: Numbers::Integers, ..ServerOptions::default() })
}

const INCIDENT: &str = "33333333-3333-4333-8333-333333333333";

fn add_incident(server: &MispServer) -> Reply {
    post(
        server,
        "/events/add",
        json!({"Event": {"uuid": INCIDENT, "info": "Wazuh incident",
            "Tag": [{"name": "tlp:amber"}],
            "Attribute": [{"type": "ip-src", "value": "198.51.100.23", "comment": "source"}]}}),
    )
}

#[test]
fn a_new_event_gets_misps_defaults_and_keeps_the_client_uuid() {
    let server = integers();
    let reply = add_incident(&server);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let event = &reply.json()["Event"];
    assert_eq!(event["uuid"], json!(INCIDENT));
    assert_eq!(event["id"], json!(3));
    assert_eq!(event["threat_level_id"], json!(4));
    assert_eq!(event["analysis"], json!(0));
    assert_eq!(event["distribution"], json!(1));
    assert_eq!(event["published"], json!(false));
    assert_eq!(event["date"], json!(crate::clock::today()));
    assert_eq!(event["Orgc"]["id"], json!(1));
    assert_eq!(event["Tag"][0]["name"], json!("tlp:amber"));
    assert_eq!(event["Attribute"][0]["category"], json!("Network activity"));
}

#[test]
fn adding_the_same_uuid_again_is_a_404_pointing_at_the_event() {
    let server = integers();
    assert_eq!(add_incident(&server).status, 200);
    let again = add_incident(&server);
    assert_eq!(again.status, 404);
    assert_eq!(
        again.json()["message"],
        json!(
            "Event already exists, if you would like to edit it, use the url in the location \
             header."
        )
    );
    assert_eq!(again.header("location"), Some(format!("{}/events/3", server.url()).as_str()));
    assert_eq!(server.events().len(), 3);
}

#[test]
fn a_deleted_or_blocked_uuid_cannot_be_added() {
    let server = integers();
    assert_eq!(add_incident(&server).status, 200);
    assert!(server.delete_event(INCIDENT));
    let reply = add_incident(&server);
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["message"], json!("Event blocked by event blocklist."));
    server.block_event_uuid("44444444-4444-4444-8444-444444444444");
    let blocked = post(
        &server,
        "/events/add",
        json!({"uuid": "44444444-4444-4444-8444-444444444444", "info": "x"}),
    );
    assert_eq!(blocked.status, 403);
}

#[test]
fn an_event_without_info_is_refused_with_validation_errors() {
    let server = integers();
    let reply = post(&server, "/events/add", json!({"Event": {"threat_level_id": 9}}));
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({"saved": false, "name": "Could not add Event", "message": "Could not add Event",
            "url": "/events/add", "errors": {"Event": {
                "threat_level_id": ["Options : 1, 2, 3, 4 (for High, Medium, Low, Undefined)"],
                "info": ["valueNotEmpty"]}}})
    );
}

#[test]
fn unknown_tags_are_dropped_when_tags_cannot_be_created() {
    let options = ServerOptions { can_create_tags: false, ..ServerOptions::default() };
    let server = seeded(options);
    let reply = post(
        &server,
        "/events/add",
        json!({"info": "x",
        "Tag": [{"name": "tlp:green"}, {"name": "brand-new:tag"}]}),
    );
    let tags = reply.json()["Event"]["Tag"].as_array().unwrap().clone();
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["name"], json!("tlp:green"));
}

#[test]
fn related_events_come_from_shared_values() {
    let server = integers();
    let event = server.event("11111111-1111-4111-8111-111111111111").unwrap();
    let related = event["Event"]["RelatedEvent"].as_array().unwrap();
    assert_eq!(related.len(), 1);
    assert_eq!(related[0]["Event"]["info"], json!("Scanner sightings"));
    assert_eq!(related[0]["Event"]["Orgc"]["name"], json!("Northwind CERT"));
    assert_eq!(event["Event"]["Galaxy"][0]["GalaxyCluster"][0]["value"], json!("Copper Lantern"));
    assert_eq!(event["Event"]["Object"][0]["Attribute"][0]["object_relation"], json!("sha256"));
}

#[test]
fn head_on_events_view_answers_200_or_404_without_a_body() {
    let server = integers();
    let found = exchange(&server, &request("HEAD", "/events/view/1", None));
    assert_eq!((found.status, found.body.len()), (200, 0));
    let missing = exchange(&server, &request("HEAD", "/events/view/99", None));
    assert_eq!(missing.status, 404);
    let view = get(&server, "/events/view/99");
    assert_eq!(
        view.text(),
        r#"{"message":"Invalid event","name":"Invalid event","url":"\/events\/view\/99"}"#
    );
}

#[test]
fn a_duplicate_attribute_is_refused_with_403() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        &format!("/attributes/add/{INCIDENT}"),
        json!({"type": "ip-src", "value": "198.51.100.23"}),
    );
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({"saved": false, "name": "Could not add Attribute",
            "message": "Could not add Attribute", "url": "/attributes/add",
            "errors": {"value": ["A similar attribute already exists for this event."]}})
    );
}

#[test]
fn an_array_is_saved_partly_with_errors_per_index() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        "/attributes/add/3",
        json!([
            {"type": "ip-src", "value": "198.51.100.23"},
            {"type": "domain", "value": "c2.example.net"},
            {"type": "ip-dst", "value": "not an ip"}
        ]),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["Attribute"]["value"], json!("c2.example.net"), "one saved: not a list");
    assert_eq!(
        body["errors"],
        json!({"attribute_0": {"value": ["A similar attribute already exists for this event."]},
            "attribute_2": {"value": ["IP address has an invalid format."]}})
    );
}

#[test]
fn an_attribute_on_another_organisations_event_is_refused() {
    let server = integers();
    let reply = post(&server, "/attributes/add/1", json!({"type": "ip-src", "value": "10.0.0.1"}));
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["message"], json!("You do not have permission to do that."));
}

#[test]
fn seen_times_come_back_in_utc_with_microseconds_and_can_be_extended() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        "/attributes/add/3",
        json!({"type": "domain", "value": "c2.example.net",
        "first_seen": "2025-09-10T10:15:02.123456+02:00",
        "last_seen": "2025-09-10T09:00:00+00:00"}),
    );
    let attribute = &reply.json()["Attribute"];
    assert_eq!(attribute["first_seen"], json!("2025-09-10T08:15:02.123456+00:00"));
    assert_eq!(reply.json()["AttributeTag"], json!([]));
    let uuid = attribute["uuid"].as_str().unwrap().to_owned();
    let edit = post(
        &server,
        &format!("/attributes/edit/{uuid}"),
        json!({"last_seen": "2025-09-11T00:00:00.5+00:00"}),
    );
    assert_eq!(edit.status, 200, "{}", edit.text());
    assert_eq!(edit.json()["Attribute"]["last_seen"], json!("2025-09-11T00:00:00.500000+00:00"));
    assert_eq!(edit.json()["Attribute"]["first_seen"], json!("2025-09-10T08:15:02.123456+00:00"));
    assert!(edit.json()["Attribute"].get("value1").is_none());
}

#[test]
fn an_unknown_object_template_is_a_404() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        "/objects/add/3/11111111-2222-4333-8444-555555555555",
        json!({"Object": {"name": "wazuh-rule", "Attribute": []}}),
    );
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["message"], json!("Invalid template."));
}

#[test]
fn a_saved_object_appears_in_the_event_view() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        "/objects/add/3/9b39afe0-9809-4fe0-8a0b-4cec2b140dd2",
        json!({"Object": {
        "name": "authentication-failure-report", "first_seen": "2025-09-10T08:00:00+00:00",
        "Attribute": [
            {"object_relation": "ip-src", "type": "ip-src", "value": "198.51.100.23"},
            {"object_relation": "total", "type": "counter", "value": "12"},
            {"object_relation": "type", "type": "text", "value": "ssh"}]}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["Object"]["template_version"], json!(4));
    assert_eq!(
        reply.json()["Object"]["Attribute"][0]["first_seen"],
        json!("2025-09-10T08:00:00.000000+00:00")
    );
    let event = server.event(INCIDENT).unwrap();
    let object = &event["Event"]["Object"][0];
    assert_eq!(object["name"], json!("authentication-failure-report"));
    assert_eq!(object["Attribute"].as_array().unwrap().len(), 3);
}

#[test]
fn an_object_missing_a_required_relation_is_refused() {
    let server = integers();
    add_incident(&server);
    let reply = post(
        &server,
        "/objects/add/3/9b39afe0-9809-4fe0-8a0b-4cec2b140dd2",
        json!({"Object": {
        "Attribute": [{"object_relation": "ip-src", "type": "ip-src", "value": "198.51.100.23"}]}}),
    );
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json()["errors"],
        json!("Could not save the object as a required attribute is not set (total)")
    );
}

#[test]
fn a_sighting_of_an_unknown_value_is_a_200_with_misps_message() {
    let server = integers();
    let reply =
        post(&server, "/sightings/add", json!({"values": ["192.0.2.200"], "source": "wazuh"}));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        "{\"message\":\"Could not add the Sighting. Reason: No valid attributes found that \
         match the criteria.\"}"
    );
    assert!(server.sightings().is_empty());
}

#[test]
fn a_sighting_by_value_sights_every_matching_attribute() {
    let server = integers();
    let reply = post(
        &server,
        "/sightings/add",
        json!({"values": ["198.51.100.23"], "source": "wazuh", "type": 0,
            "timestamp": 1_790_400_000}),
    );
    assert_eq!(reply.status, 200);
    let sighting = &reply.json()["Sighting"];
    assert_eq!(sighting["attribute_id"], json!(5));
    assert_eq!(sighting["date_sighting"], json!(1_790_400_000));
    assert_eq!(sighting["source"], json!("wazuh"));
    assert_eq!(server.sightings().len(), 2);
    let event = server.event("1").unwrap();
    assert_eq!(event["Event"]["Attribute"][0]["Sighting"][0]["org_id"], json!(1));
}

#[test]
fn attaching_a_tag_twice_succeeds_both_times() {
    let server = integers();
    add_incident(&server);
    let tag = "misp-galaxy:threat-actor=\"Copper Lantern\"";
    let body = json!({"uuid": INCIDENT, "tag": tag, "local": false});
    let first = post(&server, "/tags/attachTagToObject", body.clone());
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["saved"], json!(true));
    let second = post(&server, "/tags/attachTagToObject", body);
    assert_eq!(second.status, 200);
    assert_eq!(
        second.json()["message"],
        json!(format!(
            "Event already has the requested tag attached, no changes had to be made for tag \
             {tag}."
        ))
    );
    let event = server.event(INCIDENT).unwrap();
    assert_eq!(event["Event"]["Tag"].as_array().unwrap().len(), 2);
    assert_eq!(event["Event"]["Galaxy"][0]["GalaxyCluster"][0]["value"], json!("Copper Lantern"));
}

#[test]
fn check_value_lists_hits_and_answers_an_empty_array_for_none() {
    let server = integers();
    server.add_warninglist("List of known IPv4 public DNS resolvers", &["8.8.8.8", "1.1.1.0/24"]);
    let reply = post(&server, "/warninglists/checkValue", json!(["8.8.8.8", "192.0.2.1"]));
    assert_eq!(
        reply.json(),
        json!({"8.8.8.8": [{"id": 1, "name": "List of known IPv4 public DNS resolvers",
            "matched": "8.8.8.8/32"}]})
    );
    let none = post(&server, "/warninglists/checkValue", json!(["192.0.2.1"]));
    assert_eq!(none.text(), "[]");
}
