//! Log set-up: one line per record, appended to Wazuh's integrations.log
//! (or standard error), at info level, or debug when asked.
//!
//! Only this crate's records are kept: the HTTP stack's own debug output
//! would bury the lines an operator wants.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use log::LevelFilter;

use crate::config::{LogSettings, LogTarget};
use crate::permissions::FILE_MODE;

/// Starts logging as `settings` say. When the log file cannot be opened
/// (a manual run by a user who may not write it), logs go to standard
/// error and the returned warning says why.
pub fn init(settings: &LogSettings) -> Option<String> {
    let level = match (settings.debug, settings.quiet) {
        (true, _) => LevelFilter::Debug,
        (false, true) => LevelFilter::Warn,
        (false, false) => LevelFilter::Info,
    };
    let mut builder = env_logger::Builder::new();
    builder.filter_level(LevelFilter::Off).filter_module("wazuh_misp", level);
    builder.format(|buf, record| {
        let time = buf.timestamp_millis();
        writeln!(buf, "{time} custom-misp {}: {}", record.level(), record.args())
    });
    let mut warning = None;
    match &settings.target {
        LogTarget::Stderr => {
            builder.target(env_logger::Target::Stderr);
        }
        LogTarget::File(path) => {
            let file = OpenOptions::new().create(true).append(true).mode(FILE_MODE).open(path);
            match file {
                Ok(file) => {
                    builder.target(env_logger::Target::Pipe(Box::new(file)));
                }
                Err(err) => {
                    warning = Some(format!(
                        "log file {}: {err}; logging to standard error",
                        path.display()
                    ));
                    builder.target(env_logger::Target::Stderr);
                }
            }
        }
    }
    // A second initialisation (tests calling in-process) keeps the first.
    let _ = builder.try_init();
    warning
}
