//! An options file of any bytes, as integratord writes the `<options>`
//! text: parsed, every key's shape checked, and turned into the run's
//! configuration both as integratord runs the program and as an analyst
//! runs it by hand on a feed. A configuration that builds then extracts
//! the IoCs of a sample alert with the fields it names.
//!
//! Nothing here opens a connection: building a configuration only reads
//! files, and the ones the options may name are kept inside a scratch
//! folder. The administrator writes the options, so a `/dev/zero` there
//! is theirs to avoid; a fuzzed one would only hang the fuzzer.

#![no_main]

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use wazuh_misp::alert::Alert;
use wazuh_misp::cli::Cli;
use wazuh_misp::config::{log_settings, parse_options, Config, Options, KEY_VARIABLE};
use wazuh_misp::extract::extract;

/// Options whose value is the path of a file that building reads, the
/// file they are pointed at instead, and what it holds: a well-formed key,
/// and no certificate.
const FILE_OPTIONS: [(&str, &str, &str); 2] = [
    ("api_key_file", "key", "abcdefghijABCDEFGHIJ0123456789abcdefghij\n"),
    ("ca_file", "ca.pem", "not a certificate\n"),
];

fuzz_target!(|text: &[u8]| {
    let Ok(text) = std::str::from_utf8(text) else { return };
    let Ok(options) = parse_options(text) else { return };
    write_folder(options);
    for cli in command_lines() {
        let Ok(options) = Options::read(cli) else { continue };
        let _ = options.warnings();
        let _ = log_settings(cli, Some(&options));
        if let Ok(config) = Config::build(cli, &options) {
            let _ = extract(sample_alert(), &config.extraction);
        }
    }
    fs::remove_dir_all(scratch()).expect("removing the scratch folder");
});

/// Writes `options` as the options file, every option that names a file
/// read while building pointed at a file of the folder. Values of other
/// types are left for the shape checks.
fn write_folder(mut options: Map<String, Value>) {
    let dir = scratch();
    fs::create_dir_all(dir).expect("creating the scratch folder");
    for (key, file, content) in FILE_OPTIONS {
        fs::write(dir.join(file), content).expect("writing a file");
        if let Some(value @ Value::String(_)) = options.get_mut(key) {
            *value = Value::String(dir.join(file).display().to_string());
        }
    }
    fs::write(options_file(), Value::Object(options).to_string()).expect("writing a file");
}

/// The command line of integratord, with the options file as argv[5],
/// and one typed by hand that names a feed and the options file.
fn command_lines() -> &'static [Cli] {
    static LINES: OnceLock<Vec<Cli>> = OnceLock::new();
    LINES.get_or_init(|| {
        let path = options_file();
        let options = path.to_str().expect("a UTF-8 scratch path");
        let integratord =
            ["integrations", "a.alert", "", "", "", options, "10", "3", "> /dev/null 2>&1"];
        let by_hand = ["custom-misp", "--feed", "feed", "--options", options, "a.alert"];
        [&integratord[..], &by_hand[..]]
            .iter()
            .map(|args| Cli::parse_from_os(args.iter().map(OsString::from)))
            .map(|cli| cli.expect("a valid command line"))
            .collect()
    })
}

/// Where the options file is written.
fn options_file() -> PathBuf {
    scratch().join("custom-misp.options")
}

/// A folder of this process for the files of one input. The key never
/// comes from the environment.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        std::env::remove_var(KEY_VARIABLE);
        std::env::temp_dir().join(format!("wazuh-misp-fuzz-options-{}", std::process::id()))
    })
}

/// An alert with IoCs in fields the options may name.
fn sample_alert() -> &'static Alert {
    static ALERT: OnceLock<Alert> = OnceLock::new();
    ALERT.get_or_init(|| {
        Alert::parse(include_bytes!("../seeds/alert/generic-fields.json"))
            .expect("the sample alert parses")
    })
}
