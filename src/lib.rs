//! wazuh-misp: checks the IoCs of Wazuh alerts against MISP and writes the
//! answer back to Wazuh's queue socket.
//!
//! The binary `custom-misp` is run by wazuh-integratord once per alert. The
//! flow of one run is: [`cli`] arguments and the options file become a
//! [`config::Config`]; the [`alert`] is read; [`extract`] finds its
//! [`ioc`]s; an [`intel`] source (a MISP server through [`misp`], an
//! offline [`feed`], or the store's [`index`]) is asked once; [`message`]
//! turns the answer into datagrams that [`wazuh`] frames and sends;
//! [`record`] writes the alert into its [`incident`] in MISP, with what
//! [`enrich`] and [`context`] learnt. [`run`] ties the steps together and
//! [`exit`] maps failures to the documented exit codes.
//!
//! Between runs, the [`cache`] (one SQLite database) remembers answers,
//! counts floods and keeps what could not be delivered: datagrams, and the
//! MISP writes of the [`spool`]. The tasks run by hand live in [`analyst`]
//! (timeline, feedback, tags), [`admin`] (feeds: [`import`], [`sync`];
//! flush) and [`replay`].

pub mod admin;
pub mod alert;
pub mod analyst;
pub mod budget;
pub mod cache;
pub mod cli;
pub mod config;
pub mod context;
pub mod enrich;
pub mod exit;
pub mod extract;
pub mod feed;
pub mod import;
pub mod incident;
pub mod index;
pub mod intel;
pub mod ioc;
pub mod logging;
pub mod message;
pub mod misp;
pub mod modules;
pub mod permissions;
pub mod record;
pub mod replay;
pub mod run;
pub mod secret;
pub mod spool;
pub mod sync;
pub mod timeline;
pub mod timestamp;
pub mod wazuh;

use std::ffi::OsString;

/// Runs the program on `args` (argv including argv[0]) and returns the
/// process exit code. Every failure is logged once as a single line; a
/// bug that panics ends as one line on standard error and exit code 1,
/// never as a backtrace in ossec.log.
pub fn main_with_args<I>(args: I) -> u8
where
    I: IntoIterator<Item = OsString>,
{
    std::panic::set_hook(Box::new(|info| {
        let place =
            info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        eprintln!("custom-misp: internal error{place}: {}", panic_message(info));
    }));
    let args: Vec<OsString> = args.into_iter().collect();
    let outcome = std::panic::catch_unwind(move || {
        let cli = match cli::Cli::parse_from_os(args) {
            Ok(cli) => cli,
            Err(err) => return cli::report_usage_error(err),
        };
        run::main(cli)
    });
    outcome.unwrap_or(exit::Outcome::Internal.code())
}

fn panic_message(info: &std::panic::PanicHookInfo) -> String {
    let payload = info.payload();
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}
