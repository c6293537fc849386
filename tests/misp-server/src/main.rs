//! `misp-test-server`: the MISP stand-in as a process, for benchmarks and
//! for trying the integration by hand.
//!
//! It prints `url=<url>` once listening and serves until killed. Exit
//! codes: 0 never (it runs until a signal), 1 when it cannot start, 2 on
//! a usage error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use misp_test_server::{MispServer, Numbers, ServerOptions, TlsMode};

const USAGE: &str = "usage: misp-test-server [--listen 127.0.0.1:0] [--feed DIR]... \
[--tls valid|wrong-host|expired|self-signed] [--ca-out FILE] [--numbers strings|integers] \
[--api-key KEY]";

/// The command line, checked.
struct Args {
    listen: SocketAddr,
    feeds: Vec<PathBuf>,
    ca_out: Option<PathBuf>,
    options: ServerOptions,
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("misp-test-server: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("misp-test-server: {message}");
            ExitCode::from(1)
        }
    }
}

/// Starts the server, loads the feeds, announces the URL and serves.
fn run(args: Args) -> Result<(), String> {
    let server = MispServer::start_on(args.options, args.listen).map_err(|e| e.to_string())?;
    for feed in &args.feeds {
        server.load_feed(feed).map_err(|e| format!("loading feed {}: {e}", feed.display()))?;
    }
    if let (Some(path), Some(pem)) = (&args.ca_out, server.ca_pem()) {
        std::fs::write(path, pem).map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout();
    writeln!(stdout, "url={}", server.url()).map_err(|e| format!("writing stdout: {e}"))?;
    stdout.flush().map_err(|e| format!("writing stdout: {e}"))?;
    loop {
        std::thread::park();
    }
}

/// Reads the arguments; `None` when help was asked for.
fn parse(mut raw: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        feeds: Vec::new(),
        ca_out: None,
        options: ServerOptions::default(),
    };
    while let Some(flag) = raw.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let value = raw.next().ok_or_else(|| format!("{flag}: a value is missing"))?;
        match flag.as_str() {
            "--listen" => args.listen = listen_address(&value)?,
            "--feed" => args.feeds.push(PathBuf::from(value)),
            "--tls" => args.options.tls = Some(tls_mode(&value)?),
            "--ca-out" => args.ca_out = Some(PathBuf::from(value)),
            "--numbers" => args.options.numbers = numbers(&value)?,
            "--api-key" => args.options.api_key = value,
            _ => return Err(format!("{flag}: unknown option")),
        }
    }
    Ok(Some(args))
}

fn listen_address(value: &str) -> Result<SocketAddr, String> {
    let address: SocketAddr =
        value.parse().map_err(|_| format!("--listen {value}: not an address with a port"))?;
    if !address.ip().is_loopback() {
        return Err(format!("--listen {value}: only loopback addresses are allowed"));
    }
    Ok(address)
}

fn tls_mode(value: &str) -> Result<TlsMode, String> {
    match value {
        "valid" => Ok(TlsMode::Valid),
        "wrong-host" => Ok(TlsMode::WrongHost),
        "expired" => Ok(TlsMode::Expired),
        "self-signed" => Ok(TlsMode::SelfSigned),
        _ => Err(format!("--tls {value}: expected valid, wrong-host, expired or self-signed")),
    }
}

fn numbers(value: &str) -> Result<Numbers, String> {
    match value {
        "strings" => Ok(Numbers::Strings),
        "integers" => Ok(Numbers::Integers),
        _ => Err(format!("--numbers {value}: expected strings or integers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Option<Args>, String> {
        parse(list.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn a_public_listen_address_is_refused() {
        let error = args(&["--listen", "0.0.0.0:8443"]).err().unwrap();
        assert_eq!(error, "--listen 0.0.0.0:8443: only loopback addresses are allowed");
    }

    #[test]
    fn every_option_is_read() {
        let parsed = args(&[
            "--listen",
            "127.0.0.1:9999",
            "--feed",
            "a",
            "--feed",
            "b",
            "--tls",
            "self-signed",
            "--numbers",
            "integers",
            "--api-key",
            "k",
            "--ca-out",
            "ca.pem",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(parsed.listen.port(), 9999);
        assert_eq!(parsed.feeds.len(), 2);
        assert_eq!(parsed.options.tls, Some(TlsMode::SelfSigned));
        assert_eq!(parsed.options.numbers, Numbers::Integers);
        assert_eq!(parsed.options.api_key, "k");
    }

    #[test]
    fn a_flag_without_its_value_is_a_usage_error() {
        assert_eq!(args(&["--feed"]).err().unwrap(), "--feed: a value is missing");
    }
}
