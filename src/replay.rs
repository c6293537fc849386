//! Replaying a file of alerts (JSON lines, as alerts.json) through the
//! integration one by one, as integratord runs it: each alert with its
//! own time budget and a fresh MISP client, in file order. For labs and
//! for back-filling incidents after an outage.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::time::Instant;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use log::{info, warn};

use crate::alert::Alert;
use crate::budget::Deadline;
use crate::cli::{Cli, ReplayArgs};
use crate::config::{Config, Options};
use crate::exit::{OrFail, Outcome};
use crate::run::{self, Report};

/// Totals of a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read.
    pub alerts: usize,
    /// Lines that were not alerts.
    pub invalid: usize,
    /// Alerts the integration block's filters would not have passed.
    pub filtered: usize,
    /// Alerts skipped: results of integrations, or without IoCs.
    pub skipped: usize,
    /// Alerts with at least one IoC that matched.
    pub matched: usize,
    /// Datagrams delivered.
    pub datagrams: usize,
    /// Alerts recorded in an incident (created, added or repeat).
    pub recorded: usize,
    /// Alerts whose lookup or recording failed.
    pub failed: usize,
    /// MISP requests made.
    pub requests: usize,
}

impl Summary {
    fn add(&mut self, report: &Report) {
        self.skipped += usize::from(report.skipped);
        self.matched += usize::from(report.matches > 0);
        self.datagrams += report.datagrams;
        self.recorded +=
            usize::from(matches!(report.recorded.as_str(), "created" | "added" | "repeat"));
        self.failed += usize::from(report.outcome != Outcome::Done);
        self.requests += report.requests;
    }
}

/// `replay`: runs every alert of the file; prints a summary line on
/// standard error. Fails only when the file cannot be read or a datagram
/// cannot be delivered; a bad line or a failed lookup is counted.
pub fn replay(cli: &Cli, args: &ReplayArgs) -> Result<Outcome> {
    let options = Options::read(cli)?;
    let config = Config::build_for(cli, &options, args.file.clone())?;
    config.warnings.iter().for_each(|w| warn!("{w}"));
    let lines = read_lines(&args.file)?;
    let bar = progress(lines.len(), args.quiet);
    let started = Instant::now();
    let mut summary = Summary::default();
    for (number, line) in lines.iter().enumerate() {
        bar.inc(1);
        if line.trim().is_empty() {
            continue;
        }
        summary.alerts += 1;
        let alert = match Alert::parse(line.as_bytes()) {
            Ok(alert) => alert,
            Err(err) => {
                warn!("{} line {}: {err:#}", args.file.display(), number + 1);
                summary.invalid += 1;
                continue;
            }
        };
        if !passes_filters(args, &alert) {
            summary.filtered += 1;
            continue;
        }
        let report = run::handle(&config, &alert, &Deadline::after(config.budget))?;
        summary.add(&report);
    }
    bar.finish_and_clear();
    let line = summary_line(&summary, started.elapsed().as_secs_f64());
    eprintln!("{line}");
    info!("{line}");
    Ok(if summary.failed > 0 || summary.invalid > 0 { Outcome::MispFailed } else { Outcome::Done })
}

/// The filters of an `<integration>` block, all of which must pass, as
/// integratord applies them.
fn passes_filters(args: &ReplayArgs, alert: &Alert) -> bool {
    let level = args.level.is_none_or(|min| alert.rule_level() >= min);
    let groups =
        args.group.is_empty() || alert.rule_groups().iter().any(|g| args.group.contains(g));
    let rule = args.rule_id.is_empty() || args.rule_id.contains(&alert.rule_id());
    level && groups && rule
}

fn read_lines(path: &std::path::Path) -> Result<Vec<String>> {
    let file = File::open(path)
        .with_context(|| format!("alerts file {}", path.display()))
        .or_fail(Outcome::BadAlert)?;
    BufReader::new(file)
        .lines()
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("alerts file {}", path.display()))
        .or_fail(Outcome::BadAlert)
}

/// A progress bar on a terminal, nothing otherwise.
fn progress(total: usize, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} alerts {per_sec} {eta}") {
        bar.set_style(style);
    }
    bar
}

/// `replayed 57 alerts in 1.2 s (47.5 alerts/s): ...`.
pub fn summary_line(s: &Summary, seconds: f64) -> String {
    let rate = if seconds > 0.0 { s.alerts as f64 / seconds } else { 0.0 };
    let per_alert = if s.alerts > 0 { s.requests as f64 / s.alerts as f64 } else { 0.0 };
    format!(
        "replayed {} alerts in {seconds:.2} s ({rate:.1} alerts/s): {} filtered out, {} matched \
         ({} datagrams), {} recorded, {} skipped, {} failed, {} invalid; {} MISP requests \
         ({per_alert:.2} per alert)",
        s.alerts,
        s.filtered,
        s.matched,
        s.datagrams,
        s.recorded,
        s.skipped,
        s.failed,
        s.invalid,
        s.requests
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_rates_and_counts() {
        let s = Summary {
            alerts: 10,
            matched: 4,
            datagrams: 6,
            recorded: 5,
            requests: 25,
            ..Summary::default()
        };
        assert_eq!(
            summary_line(&s, 2.0),
            "replayed 10 alerts in 2.00 s (5.0 alerts/s): 0 filtered out, 4 matched (6 datagrams), \
             5 recorded, 0 skipped, 0 failed, 0 invalid; 25 MISP requests (2.50 per alert)"
        );
    }
}
