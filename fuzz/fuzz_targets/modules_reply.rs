//! A misp-modules answer of any bytes, read each way the program reads
//! one: as the `/modules` list, and as the answer of every kind of module
//! to `/query`, down to the enrichment section of a datagram.
//!
//! Besides not panicking, the enrichment section must fit in a datagram.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use wazuh_misp::alert::Alert;
use wazuh_misp::enrich::{section, verdict_of, Verdict};
use wazuh_misp::modules::{answer_of, parse_modules, Answer};
use wazuh_misp::wazuh::{frame, MAX_DATAGRAM};

/// Modules whose names change how their results are judged, and one
/// whose name does not.
const MODULES: [&str; 4] = ["hashlookup", "malwarebazaar", "virustotal_public", "ipasn"];

/// Detection thresholds at both ends and the default.
const THRESHOLDS: [f64; 3] = [0.0, 0.2, 1.0];

fuzz_target!(|body: &[u8]| {
    let Ok(reply) = serde_json::from_slice::<Value>(body) else { return };
    let _ = parse_modules(&reply);
    let Answer::Results(results) = answer_of(reply) else { return };
    for threshold in THRESHOLDS {
        let verdicts: Vec<Verdict> =
            MODULES.iter().map(|m| verdict_of(m, &results, threshold)).collect();
        let message = json!({"integration": "misp", "misp": {"enrichment": section(&verdicts)}});
        let datagram = frame(&alert().agent(), &message);
        assert!(datagram.len() <= MAX_DATAGRAM, "datagram of {} bytes", datagram.len());
    }
});

/// The alert the answers enrich: an agent's, so that its location is
/// framed in full.
fn alert() -> &'static Alert {
    static ALERT: OnceLock<Alert> = OnceLock::new();
    ALERT.get_or_init(|| {
        Alert::parse(include_bytes!("../seeds/alert/sshd-5712-bruteforce-ipv6.json"))
            .expect("the sample alert parses")
    })
}
