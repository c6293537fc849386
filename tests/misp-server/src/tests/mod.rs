//! End-to-end tests: a real server on loopback and a small HTTP client
//! written here, so that every byte the server sends can be checked.

mod api;
mod edits;
mod faults;
mod search;
mod tls;
mod writes;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::{MispServer, ServerOptions, TEST_API_KEY};

/// A reply as read off the wire.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// The body parsed as JSON; panics when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first header called `name`, compared without case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// The `host:port` of a server's URL.
pub fn address(server: &MispServer) -> String {
    server.url().rsplit("//").next().unwrap().to_owned()
}

/// Sends raw request bytes on a new connection and reads one reply.
pub fn exchange(server: &MispServer, request: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(request).unwrap();
    read_reply(&mut BufReader::new(stream)).unwrap()
}

/// Reads one reply with a `Content-Length` body; `None` when the
/// connection ends before a status line.
pub fn read_reply<R: Read>(conn: &mut BufReader<R>) -> Option<Reply> {
    let mut line = String::new();
    if conn.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let status = line.split(' ').nth(1)?.parse().ok()?;
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        conn.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    conn.read_exact(&mut body).ok()?;
    Some(Reply { status, headers, body })
}

/// A request as the integration sends it: key, JSON accept and type.
pub fn request(method: &str, path: &str, body: Option<&Value>) -> Vec<u8> {
    request_with_key(method, path, body, TEST_API_KEY)
}

/// Like [`request`], with another key.
pub fn request_with_key(method: &str, path: &str, body: Option<&Value>, key: &str) -> Vec<u8> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {key}\r\n\
         Accept: application/json\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A GET with the test key.
pub fn get(server: &MispServer, path: &str) -> Reply {
    exchange(server, &request("GET", path, None))
}

/// A POST of `body` with the test key.
pub fn post(server: &MispServer, path: &str, body: Value) -> Reply {
    exchange(server, &request("POST", path, Some(&body)))
}

/// A restSearch for `filters`, returning the attribute list.
pub fn search(server: &MispServer, filters: Value) -> Vec<Value> {
    let reply = post(server, "/attributes/restSearch", filters);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()["response"]["Attribute"].as_array().unwrap().clone()
}

/// A server holding [`seed_events`], with integers unless `strings`.
pub fn seeded(options: ServerOptions) -> MispServer {
    let server = MispServer::start(options);
    for event in seed_events() {
        server.add_event(event);
    }
    server
}

/// Two feed events from another organisation sharing one IP.
pub fn seed_events() -> Vec<Value> {
    vec![
        json!({"Event": {
            "uuid": "11111111-1111-4111-8111-111111111111",
            "info": "Copper Lantern brute force",
            "date": "2026-09-24",
            "threat_level_id": "2",
            "analysis": "2",
            "distribution": "3",
            "published": true,
            "timestamp": "1790235600",
            "publish_timestamp": "1790239200",
            "Orgc": {"name": "Northwind CERT", "uuid": "0b6c3e8a-91f2-4d7e-b5a4-7c2e19d8f063"},
            "Tag": [{"name": "tlp:green", "colour": "#33FF00"}],
            "Galaxy": [{"uuid": "7cdff317-a673-4474-84ec-4f1754947823", "name": "Threat Actor",
                "type": "threat-actor", "GalaxyCluster": [{"value": "Copper Lantern",
                "uuid": "c1a0f2d4-0000-4000-8000-000000000001",
                "tag_name": "misp-galaxy:threat-actor=\"Copper Lantern\""}]}],
            "Attribute": [
                {"uuid": "a0000000-0000-4000-8000-000000000001", "type": "ip-src",
                 "category": "Network activity", "value": "198.51.100.23", "to_ids": true,
                 "timestamp": "1790235600", "Tag": [{"name": "kill-chain:Delivery"}]},
                {"uuid": "a0000000-0000-4000-8000-000000000002", "type": "ip-dst|port",
                 "category": "Network activity", "value": "203.0.113.66|4444", "to_ids": true,
                 "timestamp": "1790235600"},
                {"uuid": "a0000000-0000-4000-8000-000000000003", "type": "domain",
                 "category": "Network activity", "value": "gone.example.net", "to_ids": true,
                 "deleted": true, "timestamp": "1790235600"}
            ],
            "Object": [{"name": "file", "meta-category": "file",
                "template_uuid": "688c46fb-5edb-40a3-8273-1af7923e2215", "template_version": "25",
                "uuid": "b0000000-0000-4000-8000-000000000001", "timestamp": "1790235600",
                "Attribute": [{"uuid": "a0000000-0000-4000-8000-000000000004",
                    "type": "sha256", "object_relation": "sha256", "category": "Payload delivery",
                    "value": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "to_ids": true, "timestamp": "1790235600"}]}]
        }}),
        json!({"Event": {
            "uuid": "22222222-2222-4222-8222-222222222222",
            "info": "Scanner sightings",
            "date": "2026-09-25",
            "threat_level_id": "3",
            "published": true,
            "timestamp": "1790300000",
            "Orgc": {"name": "Northwind CERT", "uuid": "0b6c3e8a-91f2-4d7e-b5a4-7c2e19d8f063"},
            "Attribute": [
                {"uuid": "a0000000-0000-4000-8000-000000000005", "type": "ip-dst",
                 "category": "Network activity", "value": "198.51.100.23", "to_ids": false,
                 "timestamp": "1790300000"}
            ]
        }}),
    ]
}
