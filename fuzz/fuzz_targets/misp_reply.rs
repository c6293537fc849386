//! A MISP reply body of any bytes, read each way the program reads MISP's
//! answers: as an attribute search, as the error body of every status
//! MISP answers with, and as an event view (the matched events' context
//! and the incident timeline).
//!
//! Besides not panicking: every match is answered by a datagram that
//! fits, every error message is one bounded line, and attributes that
//! are remembered read back the same.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use reqwest::header::HeaderMap;
use serde_json::Value;
use wazuh_misp::alert::Alert;
use wazuh_misp::context::summarise;
use wazuh_misp::intel::findings;
use wazuh_misp::ioc::{normalise, Acceptance, Ioc, IocType};
use wazuh_misp::message::{error_message, match_message, AlertSummary};
use wazuh_misp::misp::reply::{Attribute, SearchReply};
use wazuh_misp::misp::status_error;
use wazuh_misp::timeline::{fetch, render};
use wazuh_misp::wazuh::{frame, MAX_DATAGRAM};

/// Statuses whose errors read the body differently: a redirect, MISP's
/// refusals (whose body tells which refusal it is), and a server error.
const STATUSES: [u16; 3] = [302, 403, 500];

fuzz_target!(|body: &[u8]| {
    search_reply(body);
    error_reply(body);
    event_view(body);
});

/// A restSearch reply, parsed as the client parses it; each IoC its
/// attributes' values stand for is answered, and the attributes are
/// remembered and read back as the cache does.
fn search_reply(body: &[u8]) {
    let Ok(reply) = serde_json::from_slice::<SearchReply>(body) else { return };
    let attributes = reply.into_attributes();
    let iocs = iocs_of(&attributes);
    for finding in findings(&iocs, &attributes) {
        let datagram = frame(&summary().agent, &match_message(&finding, summary()));
        assert!(datagram.len() <= MAX_DATAGRAM, "datagram of {} bytes", datagram.len());
    }
    let remembered = serde_json::to_value(&attributes).expect("attributes serialise");
    let read_back: Vec<Attribute> =
        serde_json::from_value(remembered.clone()).expect("remembered attributes read back");
    assert_eq!(serde_json::to_value(&read_back).expect("attributes serialise"), remembered);
}

/// The IoCs that the attributes' values (both halves of a composite one)
/// are, of every type they normalise as.
fn iocs_of(attributes: &[Attribute]) -> Vec<Ioc> {
    let keep_all = Acceptance { keep_private: true };
    let values = attributes.iter().filter_map(|a| a.value.as_deref());
    let mut iocs = Vec::new();
    for part in values.flat_map(|v| v.split('|')) {
        for kind in IocType::ALL {
            if let Ok(value) = normalise(kind, part, keep_all) {
                iocs.push(Ioc { kind, value, field: "data.srcip".into(), file: None });
            }
        }
    }
    iocs
}

/// The body as MISP's answer to a failed request, under each status.
fn error_reply(body: &[u8]) {
    for status in STATUSES {
        let err = status_error(status, &HeaderMap::new(), body);
        assert!(!err.message.chars().any(char::is_control), "{:?}", err.message);
        assert!(err.message.chars().count() <= 303, "{} characters", err.message.len());
        let datagram = frame(&summary().agent, &error_message(&err, "lookup", summary()));
        assert!(datagram.len() <= MAX_DATAGRAM, "datagram of {} bytes", datagram.len());
    }
}

/// The body as `/events/view`: the context of a matched event, and the
/// timeline of an incident event in each of its printed forms.
fn event_view(body: &[u8]) {
    let view: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let event = view.get("Event").unwrap_or(&view);
    let _: Value = summarise(event);
    let timeline = fetch::from_event(event);
    let _ = render::text(&timeline, 100);
    let _ = render::json(&timeline);
    let _ = render::html(&timeline);
}

/// The alert the fuzzed answers are about: an agent's, so that its
/// location is framed in full.
fn summary() -> &'static AlertSummary {
    static SUMMARY: OnceLock<AlertSummary> = OnceLock::new();
    SUMMARY.get_or_init(|| {
        let alert = Alert::parse(include_bytes!("../seeds/alert/sshd-5712-bruteforce-ipv6.json"))
            .expect("the sample alert parses");
        AlertSummary::of(&alert)
    })
}
