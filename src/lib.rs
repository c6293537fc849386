//! wazuh-misp: checks the IoCs of Wazuh alerts against MISP and writes the
//! answer back to Wazuh's queue socket.
//!
//! The binary `custom-misp` is run by wazuh-integratord once per alert. The
//! flow of one run is: [`cli`] arguments and the options file become a
//! [`config::Config`]; the [`alert`] is read; [`extract`] finds its
//! [`ioc`]s; an [`intel`] source (a MISP server through [`misp`], or an
//! offline [`feed`]) is asked once; [`message`] turns the answer into
//! datagrams that [`wazuh`] frames and sends. [`run`] ties the steps
//! together and [`exit`] maps failures to the documented exit codes.

pub mod alert;
pub mod budget;
pub mod cli;
pub mod config;
pub mod exit;
pub mod extract;
pub mod feed;
pub mod incident;
pub mod intel;
pub mod ioc;
pub mod logging;
pub mod message;
pub mod misp;
pub mod record;
pub mod run;
pub mod secret;
pub mod timeline;
pub mod timestamp;
pub mod wazuh;

use std::ffi::OsString;

/// Runs the program on `args` (argv including argv[0]) and returns the
/// process exit code. Every failure is logged once as a single line.
pub fn main_with_args<I>(args: I) -> u8
where
    I: IntoIterator<Item = OsString>,
{
    let cli = match cli::Cli::parse_from_os(args) {
        Ok(cli) => cli,
        Err(err) => return cli::report_usage_error(err),
    };
    run::main(cli)
}
