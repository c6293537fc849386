//! One run of the integration: read the alert, find its IoCs, ask the
//! intel source once, answer Wazuh, log one line.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use log::{debug, error, info, warn};

use crate::alert::Alert;
use crate::budget::Deadline;
use crate::cli::Cli;
use crate::config::{self, Config, LogTarget, Options, Output, SourceSettings};
use crate::exit::{fail, outcome_of, OrFail, Outcome};
use crate::extract::{self, Found};
use crate::feed::Feed;
use crate::intel::{self, IntelSource};
use crate::logging;
use crate::message::{self, AlertSummary};
use crate::misp::MispClient;
use crate::wazuh::{self, QueueSocket, SocketError};

/// Runs the integration for `cli` and returns the exit code. Every
/// failure is logged once, and repeated on standard error so that
/// integratord's "Unable to run integration" line in ossec.log names it.
pub fn main(cli: Cli) -> u8 {
    let started = Instant::now();
    let options = Options::read(&cli);
    let log = config::log_settings(&cli, options.as_ref().ok());
    if let Some(warning) = logging::init(&log) {
        eprintln!("custom-misp: {warning}");
    }
    let result = options.and_then(|options| Config::build(&cli, &options)).and_then(|config| {
        config.warnings.iter().for_each(|w| warn!("{w}"));
        run(&config, Deadline::since(started, config.budget))
    });
    let to_stderr = log.target != LogTarget::Stderr;
    match result {
        Ok(outcome) => outcome.code(),
        Err(err) => {
            error!("{err:#}");
            if to_stderr {
                eprintln!("custom-misp: {err:#}");
            }
            outcome_of(&err).code()
        }
    }
}

/// Handles the alert named in `config` within `deadline`. Returns
/// [`Outcome::MispFailed`] when the lookup failed but its error datagram
/// was delivered; fails on an unreadable alert or an undeliverable
/// datagram.
pub fn run(config: &Config, deadline: Deadline) -> Result<Outcome> {
    let alert = Alert::read(&config.alert)
        .with_context(|| format!("alert file {}", config.alert.display()))
        .or_fail(Outcome::BadAlert)?;
    let summary = AlertSummary::of(&alert);
    let head = format!("alert={} rule={} agent={}", summary.id, summary.rule_id, summary.agent.id);
    if let Some(origin) = alert.integration_origin() {
        info!("{head} skipped: a result of the {origin} integration");
        return Ok(Outcome::Done);
    }
    let found = extract::extract(&alert, &config.extraction);
    log_extraction(&head, &found);
    if found.iocs.is_empty() {
        info!("{head} iocs=none elapsed_ms={}", deadline.elapsed().as_millis());
        return Ok(Outcome::Done);
    }
    let source = open_source(config)?;
    let (messages, matches, outcome) = lookup(config, &source, &found, &summary, &deadline, &head);
    let datagrams: Vec<String> = messages.iter().map(|m| wazuh::frame(&summary.agent, m)).collect();
    deliver(&config.output, &datagrams).with_context(|| format!("{head} answer not delivered"))?;
    info!(
        "{head} iocs={} requests={} matches={matches} datagrams={} elapsed_ms={}",
        ioc_list(&found),
        source.requests(),
        datagrams.len(),
        deadline.elapsed().as_millis()
    );
    Ok(outcome)
}

/// Asks the source and builds the messages: one per matched IoC, one for a
/// failure, one for no match when asked. Returns them with the number of
/// matched IoCs and the outcome of the run.
fn lookup(
    config: &Config,
    source: &IntelSource,
    found: &Found,
    summary: &AlertSummary,
    deadline: &Deadline,
    head: &str,
) -> (Vec<serde_json::Value>, usize, Outcome) {
    match source.search(&found.iocs, &config.filters, deadline) {
        Ok(attributes) => {
            let findings = intel::findings(&found.iocs, &attributes);
            let mut messages: Vec<_> =
                findings.iter().map(|f| message::match_message(f, summary)).collect();
            if messages.is_empty() && config.report_no_match {
                messages.push(message::no_match_message(&found.iocs, summary));
            }
            (messages, findings.len(), Outcome::Done)
        }
        Err(err) => {
            warn!("{head} MISP lookup failed: {err}");
            (vec![message::error_message(&err, summary)], 0, Outcome::MispFailed)
        }
    }
}

fn open_source(config: &Config) -> Result<IntelSource> {
    match &config.source {
        SourceSettings::Misp(connection) => {
            let client = MispClient::new(connection.clone())
                .context("building the MISP client")
                .or_fail(Outcome::BadConfig)?;
            Ok(IntelSource::Misp(client))
        }
        SourceSettings::Feed(dir) => {
            Ok(IntelSource::Feed(Feed::open(dir).or_fail(Outcome::BadConfig)?))
        }
    }
}

fn log_extraction(head: &str, found: &Found) {
    for dropped in &found.dropped {
        debug!("{head} dropped {} from {}: {}", dropped.value, dropped.field, dropped.why);
    }
    if found.over_limit > 0 {
        warn!("{head} {} more IoCs over the max_iocs limit were not looked up", found.over_limit);
    }
}

/// `type:value` of every IoC, comma-separated.
fn ioc_list(found: &Found) -> String {
    let items: Vec<String> = found.iocs.iter().map(|i| format!("{}:{}", i.kind, i.value)).collect();
    items.join(",")
}

/// Sends the datagrams to the socket, or prints them one per line.
fn deliver(output: &Output, datagrams: &[String]) -> Result<()> {
    match output {
        Output::Stdout => {
            let mut out = std::io::stdout().lock();
            for datagram in datagrams {
                writeln!(out, "{datagram}").context("writing to standard output")?;
            }
            out.flush().context("writing to standard output")
        }
        Output::Socket(path) => QueueSocket::new(path).send(datagrams).map_err(|err| {
            let outcome = match err {
                SocketError::Missing(..) => Outcome::SocketMissing,
                SocketError::Refused(_) => Outcome::SocketRefused,
                SocketError::TooLong(_) => Outcome::DatagramTooLong,
            };
            fail(outcome, err)
        }),
    }
}
