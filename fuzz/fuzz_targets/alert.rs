//! An alert file of any bytes: parsing, every field a run reads, IoC
//! extraction with the settings a run gets when the options say nothing,
//! and the datagram that answers it.
//!
//! Besides not panicking, every IoC that comes out must be one a MISP
//! search may carry: in normal form already, without control characters
//! or search operators, each once, no more than the limit.

#![no_main]

use std::collections::HashSet;
use std::ffi::OsString;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wazuh_misp::alert::Alert;
use wazuh_misp::cli::Cli;
use wazuh_misp::config::{Config, Options};
use wazuh_misp::extract::{extract, Extraction};
use wazuh_misp::ioc::normalise;
use wazuh_misp::message::{no_match_message, AlertSummary};
use wazuh_misp::wazuh::{frame, MAX_DATAGRAM};

fuzz_target!(|text: &[u8]| {
    let Ok(alert) = Alert::parse(text) else { return };
    read_every_field(&alert);
    let settings = default_extraction();
    let found = extract(&alert, settings);
    let mut seen = HashSet::new();
    for ioc in &found.iocs {
        let again = normalise(ioc.kind, &ioc.value, settings.acceptance);
        assert_eq!(again.as_deref(), Ok(ioc.value.as_str()), "{} not stable", ioc.kind);
        assert!(!ioc.value.chars().any(char::is_control), "control character in {:?}", ioc.value);
        assert!(!ioc.value.starts_with('!'), "negation in {:?}", ioc.value);
        assert!(!ioc.value.contains('%'), "wildcard in {:?}", ioc.value);
        assert!(seen.insert((ioc.kind, &ioc.value)), "{:?} kept twice", ioc.value);
    }
    assert!(found.iocs.len() <= settings.max_iocs);
    let message = no_match_message(&found.iocs, &AlertSummary::of(&alert));
    let datagram = frame(&alert.agent(), &message);
    assert!(datagram.len() <= MAX_DATAGRAM, "datagram of {} bytes", datagram.len());
});

/// Reads what a run reads of an alert besides its IoCs.
fn read_every_field(alert: &Alert) {
    let _ = (alert.id(), alert.timestamp(), alert.rule_id(), alert.rule_level());
    let _ = (alert.rule_description(), alert.rule_groups(), alert.manager());
    let _ = (alert.agent().is_manager(), alert.integration_origin());
}

/// The extraction settings of a configuration built from an empty options
/// file.
fn default_extraction() -> &'static Extraction {
    static SETTINGS: OnceLock<Extraction> = OnceLock::new();
    SETTINGS.get_or_init(|| {
        let args = ["custom-misp", "--feed", "feed", "a.alert"].map(OsString::from);
        let cli = Cli::parse_from_os(args).expect("a valid command line");
        Config::build(&cli, &Options::default()).expect("the default configuration").extraction
    })
}
