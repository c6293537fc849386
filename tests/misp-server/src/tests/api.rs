//! The gates every request passes: key, API detection, routing, JSON
//! decoding, the rate limit; and how numbers are rendered.

use std::io::{BufReader, Write};
use std::net::TcpStream;

use serde_json::json;

use super::*;
use crate::{Numbers, ServerOptions};

#[test]
fn a_wrong_key_gets_misps_authentication_failure_body() {
    let server = MispServer::start(ServerOptions::default());
    let wrong = "B".repeat(40);
    let reply = exchange(
        &server,
        &request_with_key("POST", "/attributes/restSearch", Some(&json!({"value": "x"})), &wrong),
    );
    assert_eq!(reply.status, 403);
    assert_eq!(reply.header("content-type"), Some("application/json; charset=UTF-8"));
    assert_eq!(
        reply.text(),
        "{\"message\":\"Authentication failed. Please make sure you pass the API key of an API \
         enabled user along in the Authorization header.\",\"name\":\"Authentication failed. \
         Please make sure you pass the API key of an API enabled user along in the \
         Authorization header.\",\"url\":\"\\/attributes\\/restSearch\"}"
    );
}

#[test]
fn a_refused_request_is_recorded_with_lower_cased_headers() {
    let server = MispServer::start(ServerOptions::default());
    exchange(&server, &request_with_key("GET", "/servers/getVersion?x=1", None, "nope"));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/servers/getVersion");
    assert_eq!(requests[0].query, "x=1");
    assert_eq!(requests[0].headers.get("authorization").map(String::as_str), Some("nope"));
    assert_eq!(server.count("GET", "/servers"), 1);
    assert_eq!(server.count("POST", "/servers"), 0);
}

#[test]
fn the_version_check_names_2_5_1() {
    let server = MispServer::start(ServerOptions::default());
    let reply = get(&server, "/servers/getVersion");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["version"], json!("2.5.1"));
    assert_eq!(reply.json()["perm_sighting"], json!(true));
}

#[test]
fn an_unknown_controller_is_a_404_before_any_key_check() {
    let server = MispServer::start(ServerOptions::default());
    let reply = exchange(&server, &request_with_key("GET", "/nowhere/at/all", None, "bad"));
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.text(),
        r#"{"message":"Not Found","name":"Not Found","url":"\/nowhere\/at\/all"}"#
    );
}

#[test]
fn an_unknown_action_is_a_404_after_the_key_check() {
    let server = MispServer::start(ServerOptions::default());
    assert_eq!(get(&server, "/events/nothing").status, 404);
    let reply = exchange(&server, &request_with_key("GET", "/events/nothing", None, "bad"));
    assert_eq!(reply.status, 403);
}

#[test]
fn malformed_json_is_refused_with_405() {
    let server = MispServer::start(ServerOptions::default());
    let body = "{\"value\": ";
    let raw = format!(
        "POST /attributes/restSearch HTTP/1.1\r\nAuthorization: {TEST_API_KEY}\r\n\
         Accept: application/json\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let reply = exchange(&server, raw.as_bytes());
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.json()["message"],
        json!(
            "Invalid JSON input. Make sure that the JSON input is a correctly formatted JSON \
               string. This request has been blocked to avoid an unfiltered request."
        )
    );
}

#[test]
fn a_request_without_the_json_accept_value_is_sent_to_the_login_page() {
    let server = MispServer::start(ServerOptions::default());
    let raw = format!(
        "GET /servers/getVersion HTTP/1.1\r\nAuthorization: {TEST_API_KEY}\r\n\
         Accept: */*\r\nConnection: close\r\n\r\n"
    );
    let reply = exchange(&server, raw.as_bytes());
    assert_eq!(reply.status, 302);
    assert_eq!(reply.header("location"), Some(format!("{}/users/login", server.url()).as_str()));
}

#[test]
fn numbers_come_as_strings_or_as_integers() {
    for (numbers, id, to_ids) in
        [(Numbers::Strings, json!("1"), json!(true)), (Numbers::Integers, json!(1), json!(true))]
    {
        let server = seeded(ServerOptions { numbers, ..ServerOptions::default() });
        let found = search(&server, json!({"value": "198.51.100.23", "eventid": "1"}));
        assert_eq!(found[0]["id"], id);
        assert_eq!(found[0]["event_id"], id);
        assert_eq!(found[0]["to_ids"], to_ids);
        assert_eq!(found[0]["Event"]["id"], id);
        let event = server.event("1").unwrap();
        let threat = if numbers == Numbers::Strings { json!("2") } else { json!(2) };
        assert_eq!(event["Event"]["threat_level_id"], threat);
        assert_eq!(event["Event"]["published"], json!(true));
    }
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = MispServer::start(ServerOptions::default());
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    let one = format!(
        "GET /servers/getVersion HTTP/1.1\r\nAuthorization: {TEST_API_KEY}\r\n\
         Accept: application/json\r\n\r\n"
    );
    stream.write_all(one.repeat(3).as_bytes()).unwrap();
    let mut conn = BufReader::new(stream);
    for _ in 0..3 {
        let reply = read_reply(&mut conn).unwrap();
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("connection"), Some("keep-alive"));
    }
    assert_eq!(server.count("GET", "/servers/getVersion"), 3);
}

#[test]
fn a_chunked_request_body_is_understood() {
    let server = seeded(ServerOptions::default());
    let body = json!({"value": "198.51.100.23"}).to_string();
    let (head, tail) = body.split_at(5);
    let raw = format!(
        "POST /attributes/restSearch HTTP/1.1\r\nAuthorization: {TEST_API_KEY}\r\n\
         Accept: application/json\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
        head.len(),
        tail.len()
    );
    let reply = exchange(&server, raw.as_bytes());
    assert_eq!(reply.json()["response"]["Attribute"].as_array().unwrap().len(), 2);
    assert_eq!(server.requests()[0].body, body);
}

#[test]
fn the_rate_limit_answers_429_with_its_headers_after_the_allowance() {
    let server = seeded(ServerOptions { rate_limit: Some(2), ..ServerOptions::default() });
    let first = post(&server, "/attributes/restSearch", json!({"value": "x"}));
    assert_eq!(first.header("x-rate-limit-remaining"), Some("1"));
    assert_eq!(post(&server, "/attributes/restSearch", json!({"value": "x"})).status, 200);
    assert_eq!(get(&server, "/servers/getVersion").status, 200);
    let refused = post(&server, "/attributes/restSearch", json!({"value": "x"}));
    assert_eq!(refused.status, 429);
    assert_eq!(
        refused.text(),
        "{\"message\":\"Rate limit exceeded.\",\"name\":\"Rate limit exceeded.\",\
         \"url\":\"/attributes/restSearch\"}"
    );
    assert_eq!(refused.header("x-rate-limit-limit"), Some("2"));
    assert_eq!(refused.header("x-rate-limit-remaining"), Some("0"));
    assert!(refused.header("x-rate-limit-reset").unwrap().parse::<u64>().unwrap() <= 900);
}

#[test]
fn without_the_right_to_add_the_add_endpoints_answer_403() {
    let options = ServerOptions { can_create_events: false, ..ServerOptions::default() };
    let server = MispServer::start(options);
    let reply = post(&server, "/events/add", json!({"info": "x"}));
    assert_eq!(reply.status, 403);
    assert_eq!(
        reply.text(),
        "{\"message\":\"You do not have permission to use this functionality.\",\
         \"name\":\"You do not have permission to use this functionality.\",\
         \"url\":\"\\/events\\/add\"}"
    );
    assert_eq!(post(&server, "/attributes/add/1", json!({})).status, 403);
    assert!(server.events().is_empty());
}

#[test]
fn dropping_the_server_closes_its_port() {
    let server = MispServer::start(ServerOptions::default());
    let address = address(&server);
    drop(server);
    assert!(TcpStream::connect(address).is_err());
}
