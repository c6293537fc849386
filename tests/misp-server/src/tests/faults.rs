//! Every fault, observed from a plain TCP socket.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::{Fault, FaultRule, ServerOptions};

const SEARCH: &str = "/attributes/restSearch";

fn faulty(fault: Fault) -> MispServer {
    let server = seeded(ServerOptions::default());
    server.push_fault(FaultRule { path_prefix: SEARCH.to_owned(), fault, times: None });
    server
}

fn search_bytes() -> Vec<u8> {
    request("POST", SEARCH, Some(&json!({"value": ["198.51.100.23"]})))
}

/// Sends a search and returns everything the server sent until it
/// closed or went quiet for `quiet`.
fn raw_exchange(server: &MispServer, quiet: Duration) -> (Vec<u8>, bool) {
    let mut stream = TcpStream::connect(address(server)).unwrap();
    stream.set_read_timeout(Some(quiet)).unwrap();
    stream.write_all(&search_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buf = [0; 65_536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (received, true),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(_) => return (received, false),
        }
    }
}

fn split_head(wire: &[u8]) -> (String, &[u8]) {
    let end = wire.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head") + 4;
    (String::from_utf8_lossy(&wire[..end]).into_owned(), &wire[end..])
}

fn content_length(head: &str) -> usize {
    let line =
        head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-length:")).unwrap();
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn a_hang_reads_the_request_and_never_answers() {
    let server = faulty(Fault::Hang);
    let (received, closed) = raw_exchange(&server, Duration::from_millis(300));
    assert!(received.is_empty());
    assert!(!closed, "the socket stays open");
    assert_eq!(server.count("POST", SEARCH), 1);
}

#[test]
fn a_delay_answers_normally_afterwards() {
    let server = faulty(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    let reply = exchange(&server, &search_bytes());
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(reply.json()["response"]["Attribute"].as_array().unwrap().len(), 2);
}

#[test]
fn a_slow_body_sends_the_head_at_once_and_the_body_at_its_rate() {
    let server = faulty(Fault::SlowBody { bytes_per_second: 2_000 });
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream.write_all(&search_bytes()).unwrap();
    let started = Instant::now();
    let mut conn = BufReader::new(stream);
    let reply = read_reply(&mut conn).unwrap();
    let elapsed = started.elapsed();
    let expected = Duration::from_secs_f64(reply.body.len() as f64 / 2_000.0);
    assert!(elapsed >= expected.mul_f64(0.8), "{elapsed:?} for {} bytes", reply.body.len());
    assert_eq!(reply.json()["response"]["Attribute"].as_array().unwrap().len(), 2);
}

#[test]
fn a_reset_closes_without_a_byte() {
    let server = faulty(Fault::Reset);
    let (received, closed) = raw_exchange(&server, Duration::from_secs(5));
    assert!(received.is_empty());
    assert!(closed);
}

#[test]
fn close_mid_body_announces_the_full_length_and_sends_half() {
    let server = faulty(Fault::CloseMidBody);
    let (received, closed) = raw_exchange(&server, Duration::from_secs(5));
    assert!(closed);
    let (head, body) = split_head(&received);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
    assert_eq!(body.len(), content_length(&head) / 2);
}

#[test]
fn a_status_fault_answers_with_misps_body_for_it() {
    let server = faulty(Fault::Status(500));
    let reply = exchange(&server, &search_bytes());
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.text(),
        "{\"message\":\"An Internal Error Has Occurred.\",\
         \"name\":\"An Internal Error Has Occurred.\",\
         \"url\":\"\\/attributes\\/restSearch\"}"
    );
    let limited = faulty(Fault::Status(429));
    let reply = exchange(&limited, &search_bytes());
    assert_eq!(reply.status, 429);
    assert_eq!(reply.json()["message"], json!("Rate limit exceeded."));
    assert_eq!(reply.header("x-rate-limit-remaining"), Some("0"));
    let refused = faulty(Fault::Status(403));
    assert_eq!(exchange(&refused, &search_bytes()).json()["name"], json!(crate::AUTH_FAILED));
}

#[test]
fn an_html_fault_is_a_proxy_page() {
    let server = faulty(Fault::Html(502));
    let reply = exchange(&server, &search_bytes());
    assert_eq!(reply.status, 502);
    assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    assert!(reply.text().contains("<title>502 Bad Gateway</title>"));
}

#[test]
fn a_truncated_reply_is_complete_on_the_wire_but_not_json() {
    let server = faulty(Fault::Truncated);
    let whole = {
        let clean = seeded(ServerOptions::default());
        exchange(&clean, &search_bytes()).body.len()
    };
    let reply = exchange(&server, &search_bytes());
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), whole / 2);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[test]
fn a_body_fault_sends_exactly_what_it_is_given() {
    let fault = Fault::Body {
        status: 418,
        content_type: "text/plain".to_owned(),
        body: b"teapot".to_vec(),
    };
    let reply = exchange(&faulty(fault), &search_bytes());
    assert_eq!((reply.status, reply.text()), (418, "teapot".to_owned()));
    assert_eq!(reply.header("content-type"), Some("text/plain"));
}

#[test]
fn huge_attributes_answers_that_many_matches() {
    let server = faulty(Fault::HugeAttributes(10_000));
    let reply = exchange(&server, &search_bytes());
    let attributes = reply.json()["response"]["Attribute"].as_array().unwrap().clone();
    assert_eq!(attributes.len(), 10_000);
    assert_eq!(attributes[9_999]["value"], json!("198.51.100.23"));
    assert_eq!(reply.header("x-result-count"), Some("10000"));
}

#[test]
fn a_huge_body_is_streamed_to_the_exact_size_as_valid_json() {
    let size = 8 * 1024 * 1024;
    let reply = exchange(&faulty(Fault::HugeBody(size)), &search_bytes());
    assert_eq!(reply.body.len(), size);
    assert_eq!(reply.json()["response"]["Attribute"].as_array().unwrap().len(), 2);
}

#[test]
fn a_rule_with_a_count_wears_out_and_clear_removes_the_rest() {
    let server = seeded(ServerOptions::default());
    let rule = |fault, times| FaultRule { path_prefix: String::new(), fault, times };
    server.push_fault(rule(Fault::Status(503), Some(1)));
    server.push_fault(rule(Fault::Status(502), None));
    assert_eq!(exchange(&server, &search_bytes()).status, 503);
    assert_eq!(exchange(&server, &search_bytes()).status, 502);
    server.clear_faults();
    assert_eq!(exchange(&server, &search_bytes()).status, 200);
}

#[test]
fn a_hung_connection_ends_when_the_server_is_dropped() {
    let server = faulty(Fault::Hang);
    let mut stream = TcpStream::connect(address(&server)).unwrap();
    stream.write_all(&search_bytes()).unwrap();
    while server.count("POST", SEARCH) == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(server);
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0; 16];
    assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
}
