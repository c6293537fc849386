//! Editing events through `/events/edit` and the event resource, and
//! changing what the user may do while the server runs.

use serde_json::{json, Value};

use super::*;
use crate::{Numbers, ServerOptions};

const INCIDENT: &str = "33333333-3333-4333-8333-333333333333";
const SOURCE: &str = "a0000000-0000-4000-8000-0000000000a1";
const FILE_TEMPLATE: &str = "688c46fb-5edb-40a3-8273-1af7923e2215";
const LOCAL_ORG: &str = "0ad46551-cb63-5686-a4aa-2fa183f29aa3";
const STAMP: i64 = 1_790_400_000;

fn integers() -> ServerOptions {
    ServerOptions { numbers: Numbers::Integers, ..ServerOptions::default() }
}

/// Adds the local incident: published, stamped [`STAMP`], tagged
/// `tlp:amber`, with the source IP as attribute [`SOURCE`].
fn add_incident(server: &MispServer) {
    let reply = post(
        server,
        "/events/add",
        json!({"Event": {"uuid": INCIDENT, "info": "Wazuh incident", "date": "2026-09-26",
            "timestamp": STAMP, "published": true, "Tag": [{"name": "tlp:amber"}],
            "Attribute": [{"uuid": SOURCE, "type": "ip-src", "value": "192.0.2.50",
                "timestamp": STAMP}]}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
}

/// A server holding only the incident, as event 1.
fn incident_only(options: ServerOptions) -> MispServer {
    let server = MispServer::start(options);
    add_incident(&server);
    server
}

/// A server holding the two feed events of another organisation and the
/// incident, as event 3.
fn incident_and_feed() -> MispServer {
    let server = seeded(integers());
    add_incident(&server);
    server
}

fn edit(server: &MispServer, reference: &str, body: Value) -> Reply {
    post(server, &format!("/events/edit/{reference}"), body)
}

fn names(list: &Value, key: &str) -> Vec<String> {
    let items = list.as_array().map(Vec::as_slice).unwrap_or_default();
    items.iter().map(|item| item[key].as_str().unwrap_or_default().to_owned()).collect()
}

#[test]
fn an_edit_changes_the_fields_sent_and_answers_with_the_whole_event() {
    let server = incident_only(integers());
    let reply = edit(
        &server,
        "1",
        json!({"Event": {"info": "Wazuh incident, contained", "threat_level_id": "1",
            "timestamp": STAMP + 100,
            "Attribute": [{"uuid": SOURCE, "comment": "source", "timestamp": STAMP + 100}]}}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let org = json!({"id": 1, "name": "ORGNAME", "uuid": LOCAL_ORG, "local": true});
    let amber = json!({"id": 1, "name": "tlp:amber", "colour": crate::ids::colour_for("tlp:amber"),
        "exportable": true, "user_id": 0, "hide_tag": false, "numerical_value": null,
        "is_galaxy": false, "is_custom_galaxy": false, "local_only": false, "local": false,
        "relationship_type": null});
    let source = json!({"id": 1, "event_id": 1, "object_id": 0, "object_relation": null,
        "category": "Network activity", "type": "ip-src", "to_ids": true, "uuid": SOURCE,
        "timestamp": STAMP + 100, "distribution": 5, "sharing_group_id": 0, "comment": "source",
        "deleted": false, "disable_correlation": false, "first_seen": null, "last_seen": null,
        "value": "192.0.2.50", "Galaxy": [], "ShadowAttribute": []});
    let mut expected = json!({
        "id": 1, "orgc_id": 1, "org_id": 1, "date": "2026-09-26", "threat_level_id": 1,
        "info": "Wazuh incident, contained", "published": false, "uuid": INCIDENT,
        "attribute_count": 1, "analysis": 0, "timestamp": STAMP + 100, "distribution": 1,
        "proposal_email_lock": false, "locked": false, "publish_timestamp": STAMP,
        "sharing_group_id": 0, "disable_correlation": false, "extends_uuid": "",
        "protected": null});
    let contents = json!({"Org": org, "Orgc": org, "Attribute": [source], "ShadowAttribute": [],
        "RelatedEvent": [], "Galaxy": [], "Object": [], "EventReport": [],
        "CryptographicKey": [], "Tag": [amber]});
    for (key, value) in contents.as_object().unwrap() {
        expected[key] = value.clone();
    }
    assert_eq!(reply.json(), json!({ "Event": expected }));
    assert_eq!(server.event(INCIDENT).unwrap(), reply.json());
}

#[test]
fn an_edit_that_does_not_ask_for_publication_unpublishes_the_event() {
    let server = incident_only(integers());
    let reply = edit(&server, INCIDENT, json!({}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let event = &reply.json()["Event"];
    assert_eq!(event["published"], json!(false));
    assert_eq!(event["publish_timestamp"], json!(STAMP));
    assert!(event["timestamp"].as_i64().unwrap() >= crate::clock::now() - 5);
    assert_eq!(event["info"], json!("Wazuh incident"));
}

#[test]
fn an_edit_that_asks_for_publication_publishes_anew_only_what_changed() {
    let server = incident_only(integers());
    let same = edit(&server, "1", json!({"published": true, "info": "Wazuh incident"}));
    let event = &same.json()["Event"];
    assert_eq!(
        (event["published"].clone(), event["publish_timestamp"].clone()),
        (json!(true), json!(STAMP))
    );
    let renamed = edit(&server, "1", json!({"published": true, "info": "Renamed"}));
    let event = &renamed.json()["Event"];
    assert_eq!(event["published"], json!(true));
    assert!(event["publish_timestamp"].as_i64().unwrap() >= crate::clock::now() - 5);
}

#[test]
fn a_timestamp_not_newer_than_the_stored_one_is_refused_with_403() {
    let server = incident_only(ServerOptions::default());
    for timestamp in [STAMP, STAMP - 1] {
        let reply = edit(&server, "1", json!({"Event": {"info": "x", "timestamp": timestamp}}));
        assert_eq!(reply.status, 403);
        assert_eq!(
            reply.text(),
            "{\"errors\":\"Event could not be saved: Event in the request not newer than the \
             local copy.\",\"id\":\"1\",\"message\":\"Could not edit Event\",\
             \"name\":\"Could not edit Event\",\"saved\":false,\"url\":\"/events/edit/1\"}"
        );
    }
    let event = server.event("1").unwrap();
    assert_eq!(event["Event"]["info"], json!("Wazuh incident"));
    assert_eq!(event["Event"]["published"], json!(true));
    let newer = edit(&server, "1", json!({"Event": {"info": "x", "timestamp": STAMP + 1}}));
    assert_eq!(newer.json()["Event"]["timestamp"], json!((STAMP + 1).to_string()));
}

#[test]
fn an_unknown_event_is_a_404() {
    let server = incident_only(integers());
    for reference in ["99", "nonsense", "44444444-4444-4444-8444-444444444444"] {
        let reply = edit(&server, reference, json!({"info": "x"}));
        assert_eq!(reply.status, 404, "{reference}");
        assert_eq!(
            reply.text(),
            format!(
                "{{\"message\":\"Invalid event\",\"name\":\"Invalid event\",\
                 \"url\":\"\\/events\\/edit\\/{reference}\"}}"
            )
        );
    }
}

#[test]
fn another_organisations_event_is_refused_with_403() {
    let server = incident_and_feed();
    let reply = edit(&server, "1", json!({"info": "x"}));
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.text(),
        "{\"message\":\"You are not authorised to do that.\",\"name\":\"You are not authorised \
         to do that.\",\"url\":\"\\/events\\/edit\\/1\"}"
    );
    assert_eq!(server.event("1").unwrap()["Event"]["info"], json!("Copper Lantern brute force"));
}

#[test]
fn a_uuid_in_the_body_names_the_event_that_is_edited() {
    let server = incident_and_feed();
    let foreign = "11111111-1111-4111-8111-111111111111";
    let refused = edit(&server, "3", json!({"Event": {"uuid": foreign, "info": "x"}}));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.json(),
        json!({"saved": false, "name": "Could not edit Event", "message": "Could not edit Event",
            "url": "/events/edit/3", "id": 3,
            "errors": "Event could not be saved: The user used to edit the event is not \
                       authorised to do so. This can be caused by the user not being of the \
                       same organisation as the original creator of the event whilst also not \
                       being a site administrator."})
    );
    let unknown = edit(&server, "3", json!({"uuid": "44444444-4444-4444-8444-444444444444"}));
    assert_eq!(
        unknown.json()["errors"],
        json!("Event could not be saved: Could not find the local event.")
    );
    assert_eq!(server.event("1").unwrap()["Event"]["info"], json!("Copper Lantern brute force"));
}

#[test]
fn invalid_fields_are_refused_with_the_validation_errors() {
    let server = incident_only(integers());
    let reply = edit(&server, "1", json!({"threat_level_id": 9, "info": " ", "date": "soon"}));
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.json(),
        json!({"saved": false, "name": "Could not edit Event", "message": "Could not edit Event",
            "url": "/events/edit/1", "id": 1, "errors": {
                "date": ["Expected date format: YYYY-MM-DD"],
                "threat_level_id": ["Options : 1, 2, 3, 4 (for High, Medium, Low, Undefined)"],
                "info": ["Info cannot be empty."]}})
    );
    let sharing = edit(&server, "1", json!({"distribution": 4}));
    assert_eq!(
        sharing.json()["errors"],
        json!(
            "Event could not be saved: Sharing group chosen as the distribution level, but no \
             sharing group specified. Make sure that the event includes a valid \
             sharing_group_id or change to a different distribution level."
        )
    );
    assert_eq!(server.event("1").unwrap()["Event"]["threat_level_id"], json!(4));
}

#[test]
fn attributes_are_added_or_revised_by_uuid_and_those_left_out_stay() {
    let server = incident_and_feed();
    let foreign = "a0000000-0000-4000-8000-000000000005";
    let reply = edit(
        &server,
        "3",
        json!({"Attribute": [
            {"uuid": SOURCE, "comment": "not newer", "timestamp": STAMP},
            {"type": "domain", "value": "c2.example.net", "to_ids": false},
            {"type": "ip-src", "value": "192.0.2.50"},
            {"type": "ip-dst", "value": "not an ip"},
            {"uuid": foreign, "comment": "moved", "timestamp": STAMP + 10}
        ]}),
    );
    assert_eq!(reply.status, 200, "{}", reply.text());
    let attributes = &reply.json()["Event"]["Attribute"];
    assert_eq!(names(attributes, "value"), ["192.0.2.50", "c2.example.net"]);
    assert_eq!(attributes[0]["comment"], json!(""));
    assert_eq!(attributes[1]["to_ids"], json!(false));
    assert_eq!(attributes[1]["distribution"], json!(5));
    assert_eq!(server.event("2").unwrap()["Event"]["Attribute"][0]["comment"], json!(""));
    let left_out = edit(&server, "3", json!({"info": "no attributes sent", "Attribute": []}));
    assert_eq!(left_out.json()["Event"]["attribute_count"], json!(2));
}

#[test]
fn alike_attributes_in_one_edit_are_checked_against_the_event_before_it() {
    let server = incident_only(integers());
    let twice = json!({"type": "domain", "value": "c2.example.net"});
    let reply = edit(&server, "1", json!({"Attribute": [twice.clone(), twice]}));
    assert_eq!(
        names(&reply.json()["Event"]["Attribute"], "value"),
        ["192.0.2.50", "c2.example.net", "c2.example.net"]
    );
}

#[test]
fn an_attribute_marked_deleted_is_soft_deleted() {
    let server = incident_only(integers());
    let reply = edit(&server, "1", json!({"Attribute": [{"uuid": SOURCE, "deleted": true}]}));
    let event = &reply.json()["Event"];
    assert_eq!(event["Attribute"], json!([]));
    assert_eq!(event["attribute_count"], json!(0));
    assert!(search(&server, json!({"value": "192.0.2.50"})).is_empty());
    let restored = edit(&server, "1", json!({"Attribute": [{"uuid": SOURCE, "deleted": false}]}));
    assert_eq!(names(&restored.json()["Event"]["Attribute"], "uuid"), [SOURCE]);
}

#[test]
fn tags_are_attached_and_a_tag_marked_deleted_is_detached() {
    let server = incident_only(integers());
    let reply = edit(
        &server,
        "1",
        json!({"Tag": [{"name": "tlp:amber", "deleted": true}, {"name": "tlp:red"}],
            "Attribute": [{"uuid": SOURCE, "timestamp": STAMP + 1,
                "Tag": [{"name": "kill-chain:Delivery", "local": true}]}]}),
    );
    let event = &reply.json()["Event"];
    assert_eq!(names(&event["Tag"], "name"), ["tlp:red"]);
    let tag = &event["Attribute"][0]["Tag"][0];
    assert_eq!(
        (tag["name"].clone(), tag["local"].clone()),
        (json!("kill-chain:Delivery"), json!(true))
    );
    let again = edit(&server, "1", json!({"Tag": [{"name": "tlp:red"}]}));
    assert_eq!(names(&again.json()["Event"]["Tag"], "name"), ["tlp:red"]);
}

#[test]
fn unknown_tags_are_dropped_once_tag_creation_is_withdrawn() {
    let server = incident_only(integers());
    server.set_can_create_tags(false);
    let body = json!({"Tag": [{"name": "tlp:amber"}, {"name": "brand-new:tag"}]});
    let reply = edit(&server, "1", body.clone());
    assert_eq!(names(&reply.json()["Event"]["Tag"], "name"), ["tlp:amber"]);
    let attached = post(
        &server,
        "/tags/attachTagToObject",
        json!({"uuid": INCIDENT, "tag": "brand-new:tag", "local": false}),
    );
    assert_eq!(attached.status, 403);
    server.set_can_create_tags(true);
    let reply = edit(&server, "1", body);
    assert_eq!(names(&reply.json()["Event"]["Tag"], "name"), ["tlp:amber", "brand-new:tag"]);
}

#[test]
fn objects_are_added_revised_and_deleted_by_uuid() {
    let server = incident_only(integers());
    let object = "b0000000-0000-4000-8000-0000000000b1";
    let sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    let added = edit(
        &server,
        "1",
        json!({"Object": [{"uuid": object, "name": "file", "meta-category": "file",
            "template_uuid": FILE_TEMPLATE, "template_version": 25, "timestamp": STAMP,
            "Attribute": [{"object_relation": "sha256", "type": "sha256", "value": sha256}]}]}),
    );
    let objects = &added.json()["Event"]["Object"];
    assert_eq!(names(objects, "uuid"), [object]);
    assert_eq!(names(&objects[0]["Attribute"], "object_relation"), ["sha256"]);
    let revised = edit(
        &server,
        "1",
        json!({"Object": [{"uuid": object, "comment": "dropped by the loader",
            "timestamp": STAMP + 1, "Attribute": [
                {"object_relation": "filename", "type": "filename", "value": "loader.exe"}]}]}),
    );
    let objects = &revised.json()["Event"]["Object"];
    assert_eq!(objects[0]["comment"], json!("dropped by the loader"));
    assert_eq!(names(&objects[0]["Attribute"], "object_relation"), ["sha256", "filename"]);
    let stale = edit(
        &server,
        "1",
        json!({"Object": [{"uuid": object, "comment": "stale",
        "timestamp": STAMP + 1}]}),
    );
    assert_eq!(stale.json()["Event"]["Object"][0]["comment"], json!("dropped by the loader"));
    let deleted = edit(&server, "1", json!({"Object": [{"uuid": object, "deleted": true}]}));
    let event = &deleted.json()["Event"];
    assert_eq!((event["Object"].clone(), event["attribute_count"].clone()), (json!([]), json!(1)));
}

#[test]
fn an_object_without_a_template_uuid_is_dropped() {
    let server = incident_only(integers());
    let reply = edit(
        &server,
        "1",
        json!({"Object": {"name": "file", "meta-category": "file",
            "Attribute": [{"object_relation": "filename", "type": "filename", "value": "a.exe"}]}}),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["Event"]["Object"], json!([]));
}

#[test]
fn put_and_the_event_resource_reach_the_edit() {
    let server = incident_only(integers());
    let put = exchange(&server, &request("PUT", "/events/edit/1", Some(&json!({"info": "put"}))));
    assert_eq!(put.json()["Event"]["info"], json!("put"));
    let by_id = post(&server, "/events/1", json!({"info": "posted to the resource"}));
    assert_eq!(by_id.json()["Event"]["info"], json!("posted to the resource"));
    let path = format!("/events/{INCIDENT}.json");
    let by_uuid = exchange(&server, &request("PUT", &path, Some(&json!({"info": "by uuid"}))));
    assert_eq!(by_uuid.json()["Event"]["info"], json!("by uuid"));
    assert_eq!(get(&server, "/events/1").json()["Event"]["info"], json!("by uuid"));
    let delete = exchange(&server, &request("DELETE", "/events/edit/1", None));
    assert_eq!(
        (delete.status, delete.text()),
        (
            500,
            "{\"message\":\"An Internal Error Has Occurred.\",\"name\":\"An Internal Error Has \
             Occurred.\",\"url\":\"\\/events\\/edit\\/1\"}"
                .to_owned()
        )
    );
}

#[test]
fn a_get_describes_the_edit_call() {
    let server = MispServer::start(integers());
    let reply = get(&server, "/events/edit/99");
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({"name": "/events/edit API description",
            "description": "POST a MISP Event JSON to this API to update an Event. Contained \
                objects can also be included (such as attributes, objects, tags, etc). If the \
                timestamp is set, it has to be newer than the existing Attribute.",
            "mandatory_fields": [],
            "optional_fields": ["info", "threat_level_id", "analysis", "distribution",
                "sharing_group_id", "uuid", "published", "timestamp", "date", "Attribute",
                "Object", "Shadow_Attribute", "EventTag"],
            "url": "/events/edit/[event_id]"})
    );
}

#[test]
fn withdrawing_the_right_to_add_refuses_edits_until_it_is_granted_again() {
    let server = incident_only(integers());
    server.set_can_create_events(false);
    let refused = edit(&server, "1", json!({"info": "x"}));
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.text(),
        "{\"message\":\"You do not have permission to use this functionality.\",\
         \"name\":\"You do not have permission to use this functionality.\",\
         \"url\":\"\\/events\\/edit\\/1\"}"
    );
    assert_eq!(post(&server, "/events/add", json!({"info": "y"})).status, 403);
    assert_eq!(get(&server, "/events/view/1").status, 200);
    server.set_can_create_events(true);
    assert_eq!(edit(&server, "1", json!({"info": "x"})).json()["Event"]["info"], json!("x"));
}

#[test]
fn replacing_the_templates_changes_which_objects_can_be_added() {
    let server = incident_only(integers());
    let custom = "11111111-2222-4333-8444-555555555555";
    let object = json!({"Object": {"name": "wazuh-rule", "meta-category": "misc",
        "description": "A Wazuh rule", "template_version": 1,
        "Attribute": [{"object_relation": "rule-id", "type": "text", "value": "5710"}]}});
    let unknown = post(&server, &format!("/objects/add/1/{custom}"), object.clone());
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["message"], json!("Invalid template."));
    server.set_templates(Some(vec![custom.to_owned()]));
    let added = post(&server, &format!("/objects/add/1/{custom}"), object.clone());
    assert_eq!(added.status, 200, "{}", added.text());
    assert_eq!(added.json()["Object"]["template_uuid"], json!(custom));
    let file = post(&server, &format!("/objects/add/1/{FILE_TEMPLATE}"), object.clone());
    assert_eq!(file.status, 404);
    server.set_templates(None);
    assert_eq!(post(&server, &format!("/objects/add/1/{custom}"), object).status, 404);
}
