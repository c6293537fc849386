//! One run of the integration: read the alert, find its IoCs, ask the
//! intel source once, learn what else is known (the matched events'
//! context, misp-modules), answer Wazuh, write back to MISP (sightings,
//! the incident), log one line.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use log::{debug, error, info, warn};

use crate::alert::Alert;
use crate::budget::Deadline;
use crate::cache::Cache;
use crate::cli::{Cli, Command};
use crate::config::{self, Config, LogTarget, LookupMode, Options, Output, SourceSettings};
use crate::exit::{fail, outcome_of, OrFail, Outcome};
use crate::extract::{self, Found};
use crate::feed::Feed;
use crate::incident::{Plan, RecordSettings};
use crate::intel::{self, Finding, IntelSource};
use crate::message::{self, AlertSummary};
use crate::misp::reply::Attribute;
use crate::misp::{ErrorKind, MispClient, MispError};
use crate::record::ModuleAnswer;
use crate::spool::{self, Writes};
use crate::wazuh::{self, QueueSocket, SocketError};
use crate::{admin, analyst, context, enrich, incident, index, logging, record, replay};

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
    let result = match &cli.command {
        Some(command) => task(&cli, command),
        None => options.and_then(|options| Config::build(&cli, &options)).and_then(|config| {
            config.warnings.iter().for_each(|w| warn!("{w}"));
            run(&config, Deadline::since(started, config.budget))
        }),
    };
    let to_stderr = log.target != LogTarget::Stderr;
    match result {
        Ok(report) => {
            if let (Some(failure), true) = (&report.failure, to_stderr) {
                eprintln!("custom-misp: {failure}");
            }
            report.outcome.code()
        }
        Err(err) => {
            error!("{err:#}");
            if to_stderr {
                eprintln!("custom-misp: {err:#}");
            }
            outcome_of(&err).code()
        }
    }
}

/// Runs one of the analyst's tasks.
fn task(cli: &Cli, command: &Command) -> Result<Report> {
    let outcome = match command {
        Command::Timeline(args) => analyst::timeline(cli, args)?,
        Command::Replay(args) => replay::replay(cli, args)?,
        Command::FalsePositive(args) => analyst::feedback(cli, args, 1)?,
        Command::Expire(args) => analyst::feedback(cli, args, 2)?,
        Command::Tag(args) => analyst::tag(cli, args)?,
        Command::Store(args) => analyst::store(cli, args)?,
        Command::Feed(args) => admin::feed(cli, args)?,
        Command::Flush => admin::flush(cli)?,
    };
    Ok(Report { outcome, ..Report::default() })
}

/// What one alert's run did, for the log line and for replays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// IoCs looked up.
    pub iocs: usize,
    /// MISP requests made.
    pub requests: usize,
    /// IoCs that matched intel.
    pub matches: usize,
    /// Datagrams delivered.
    pub datagrams: usize,
    /// What recording did: `off`, `skipped`, `created`, `added`,
    /// `repeat`, `kept` (for a later run, MISP being down) or `failed`.
    pub recorded: String,
    /// True when the alert was skipped (a result of an integration) or had
    /// no IoCs.
    pub skipped: bool,
    /// How the run ended.
    pub outcome: Outcome,
    /// The first failure of a step, as logged.
    pub failure: Option<String>,
}

/// Handles the alert named in `config` within `deadline`. Returns
/// [`Outcome::MispFailed`] when the lookup failed but its error datagram
/// was delivered, [`Outcome::RecordFailed`] when recording failed after
/// the answer went out; fails on an unreadable alert or an undeliverable
/// datagram.
pub fn run(config: &Config, deadline: Deadline) -> Result<Report> {
    let alert = Alert::read(&config.alert)
        .with_context(|| format!("alert file {}", config.alert.display()))
        .or_fail(Outcome::BadAlert)?;
    handle(config, &alert, &deadline)
}

/// Handles one parsed alert: extraction, lookup, sightings, recording,
/// the answer to Wazuh, the log line.
pub fn handle(config: &Config, alert: &Alert, deadline: &Deadline) -> Result<Report> {
    let summary = AlertSummary::of(alert);
    // Escaped: a newline in the alert must not start a line of its own in
    // the log or on standard error, whose last line integratord reports.
    let head = format!(
        "alert={} rule={} agent={}",
        summary.id.escape_debug(),
        summary.rule_id.escape_debug(),
        summary.agent.id.escape_debug()
    );
    let skipped = Report { skipped: true, recorded: "skipped".into(), ..Report::default() };
    if let Some(origin) = alert.integration_origin() {
        info!("{head} skipped: a result of the {origin} integration");
        return Ok(skipped);
    }
    let found = extract::extract(alert, &config.extraction);
    log_extraction(&head, &found);
    if found.iocs.is_empty() {
        info!("{head} iocs=none elapsed_ms={}", deadline.elapsed().as_millis());
        return Ok(skipped);
    }
    let source = open_source(config)?;
    let cache = open_cache(config);
    let mut answer = Answer::new(&head, &summary);
    let mut kept = Writes {
        alert: summary.id.clone(),
        source: sighting_source(alert),
        epoch: crate::timestamp::parse(&alert.timestamp()).map_or(0, |t| t.timestamp()),
        ..Writes::default()
    };
    let modules = answer.gather(config, &source, alert, &found, &cache, &mut kept, deadline);
    let datagrams: Vec<String> =
        answer.messages.iter().map(|m| wazuh::frame(&summary.agent, m)).collect();
    let delivered = deliver(config, &datagrams, &cache, deadline);
    // What MISP could not take is kept even when Wazuh could not take the
    // answer either.
    let writes = settle_writes(config, &source, &cache, &answer, &kept, deadline);
    delivered.with_context(|| format!("{head} answer not delivered"))?;
    let report = Report {
        iocs: found.iocs.len(),
        requests: source.requests(),
        matches: answer.matches,
        datagrams: datagrams.len(),
        recorded: answer.recorded.clone(),
        skipped: false,
        outcome: answer.outcome,
        failure: answer.failure.clone(),
    };
    let modules = modules.map_or_else(String::new, |m| format!(" modules={m}"));
    let held = match answer.suppressed {
        0 => String::new(),
        n => format!(" repeats_held={n}"),
    };
    log_summary(&head, config, &found, &report, &modules, &(held + &writes), deadline);
    Ok(report)
}

/// The one info line of a handled alert: `modules` goes after the match
/// count, `extra` after the datagram count.
fn log_summary(
    head: &str,
    config: &Config,
    found: &Found,
    report: &Report,
    modules: &str,
    extra: &str,
    deadline: &Deadline,
) {
    // A tag filter that matches no tag makes every lookup come back empty:
    // the line says which filter was in force.
    let tags = &config.filters.tags;
    let filter = if tags.is_empty() { String::new() } else { format!(" tags={}", tags.join(",")) };
    info!(
        "{head} iocs={} requests={}{filter} matches={}{modules} recorded={} datagrams={}{extra} elapsed_ms={}",
        ioc_list(found),
        report.requests,
        report.matches,
        report.recorded,
        report.datagrams,
        deadline.elapsed().as_millis()
    );
}

/// The messages of one run as they are gathered, and how the run went.
struct Answer<'a> {
    head: &'a str,
    summary: &'a AlertSummary,
    messages: Vec<serde_json::Value>,
    matches: usize,
    recorded: String,
    outcome: Outcome,
    failure: Option<String>,
    /// Match datagrams held back by flood control.
    suppressed: usize,
    /// A request failed because MISP is down, slow or overloaded.
    outage: bool,
}

impl<'a> Answer<'a> {
    fn new(head: &'a str, summary: &'a AlertSummary) -> Answer<'a> {
        let recorded = "off".to_string();
        Answer {
            head,
            summary,
            messages: Vec::new(),
            matches: 0,
            recorded,
            outcome: Outcome::Done,
            failure: None,
            suppressed: 0,
            outage: false,
        }
    }

    /// Looks the IoCs up, learns what else is known, adds the messages
    /// and writes back to MISP; what MISP could not take goes into
    /// `kept`. Returns how many module answers the run had, when
    /// enrichment is on.
    #[allow(clippy::too_many_arguments)]
    fn gather(
        &mut self,
        config: &Config,
        source: &IntelSource,
        alert: &Alert,
        found: &Found,
        cache: &Cache,
        kept: &mut Writes,
        deadline: &Deadline,
    ) -> Option<usize> {
        let Some(attributes) = self.look_up(config, source, found, cache, deadline) else {
            if self.outage && source.client().is_some() {
                self.keep_for_later(config, alert, found, kept);
            }
            return None;
        };
        let findings = intel::findings(&found.iocs, &attributes);
        let extras = Extras::gather(config, source, alert, found, &findings, cache, deadline);
        self.report(config, found, &findings, &extras, cache);
        if let Some(client) = source.client() {
            self.write_back(
                config, client, alert, found, &findings, &extras, cache, kept, deadline,
            );
        }
        config.enrich.enabled().then(|| extras.module_answers())
    }

    /// Asks the source. Returns the attributes, or `None` when the lookup
    /// failed, after adding the failure's message.
    fn look_up(
        &mut self,
        config: &Config,
        source: &IntelSource,
        found: &Found,
        cache: &Cache,
        deadline: &Deadline,
    ) -> Option<Vec<Attribute>> {
        match source.search(&found.iocs, &config.filters, cache, config.remember, deadline) {
            Ok(attributes) => Some(attributes),
            Err(err) => {
                self.outage = spool::is_outage(&err);
                let line = format!("{} MISP lookup failed: {err}", self.head);
                warn!("{line}");
                self.failure.get_or_insert(line);
                self.messages.push(message::error_message(&err, "lookup", self.summary));
                self.outcome = Outcome::MispFailed;
                None
            }
        }
    }

    /// Adds one message per matched IoC (with its enrichment and its
    /// event's context), one per unmatched IoC that a module found
    /// malicious, and one for no match when asked.
    fn report(
        &mut self,
        config: &Config,
        found: &Found,
        findings: &[Finding],
        extras: &Extras,
        cache: &Cache,
    ) {
        self.matches = findings.len();
        for finding in findings {
            let Some(repeats) = self.flood(config, cache, finding) else {
                self.suppressed += 1;
                continue;
            };
            let mut message = message::match_message(finding, self.summary);
            if repeats > 1 {
                message["misp"]["repeat_count"] = serde_json::json!(repeats);
            }
            if let Some(verdicts) = extras.verdicts_of(found, finding.ioc) {
                message["misp"]["enrichment"] = enrich::section(verdicts);
            }
            if let Some(context) = extras.context_of(finding) {
                message["misp"]["context"] = context.clone();
            }
            self.messages.push(message);
        }
        for (index, verdicts) in &extras.verdicts {
            let ioc = &found.iocs[*index];
            let matched = findings.iter().any(|f| std::ptr::eq(f.ioc, ioc));
            let section = enrich::section(verdicts);
            if !matched && section["verdict"] == "malicious" {
                self.messages.push(message::enriched_message(ioc, section, self.summary));
            }
        }
        if self.messages.is_empty() && config.report_no_match {
            self.messages.push(message::no_match_message(&found.iocs, self.summary));
        }
    }

    /// Flood control: the same IoC matching the same intel on the same
    /// agent within the window is reported once, then every
    /// `flood_every`-th time or once the window passed since the last
    /// report. Returns how many times it was seen, or `None` to stay quiet.
    fn flood(&self, config: &Config, cache: &Cache, finding: &Finding) -> Option<u64> {
        if !config.flood.enabled {
            return Some(1);
        }
        let event = event_of(finding).unwrap_or_default();
        let key =
            format!("{}|{}|{}|{event}", self.summary.agent.id, finding.ioc.kind, finding.ioc.value);
        let (count, report) = cache.flood(&key, config.flood.window, config.flood.every);
        report.then_some(count)
    }

    /// Sights matched intel and records the alert in its incident, with
    /// the enrichment results beside it. A failure adds an error message
    /// and never removes the lookup's; what failed because MISP is down
    /// goes into `kept` for a later run.
    #[allow(clippy::too_many_arguments)]
    fn write_back(
        &mut self,
        config: &Config,
        client: &MispClient,
        alert: &Alert,
        found: &Found,
        findings: &[Finding],
        extras: &Extras,
        cache: &Cache,
        kept: &mut Writes,
        deadline: &Deadline,
    ) {
        let settings = &config.record;
        if settings.sightings && !findings.is_empty() {
            let values: Vec<&str> = findings.iter().map(|f| f.ioc.value.as_str()).collect();
            let sighted = record::sight_intel(client, &values, &kept.source, kept.epoch, deadline);
            if let Err(err) = sighted {
                if spool::is_outage(&err) {
                    kept.sightings = values.iter().map(|v| v.to_string()).collect();
                }
                self.write_failed("sighting", &err);
            }
        }
        if !settings.admits(alert, found, !findings.is_empty()) {
            self.recorded = if settings.enabled { "skipped" } else { "off" }.to_string();
            return;
        }
        let high = findings
            .iter()
            .any(|f| f.best.event.as_ref().and_then(|e| e.threat_level_id.as_deref()) == Some("1"));
        let Some(plan) = self.plan(settings, alert, found, high, &extras.cluster_tags()) else {
            return;
        };
        let enrichment = ModuleAnswer::of(&extras.all_verdicts());
        match record::record(client, &plan, &kept.source, false, cache, deadline) {
            Ok(done) => {
                self.recorded = done.to_string();
                let new = matches!(done, record::Recorded::Added | record::Recorded::Created);
                if new && !enrichment.is_empty() {
                    if let Err(err) = record::add_enrichment(client, &plan, &enrichment, deadline) {
                        if spool::is_outage(&err) {
                            kept.plan = Some(plan);
                            kept.enrichment = enrichment;
                        }
                        self.write_failed("enrichment", &err);
                    }
                }
            }
            Err(err) => {
                if spool::is_outage(&err) {
                    kept.plan = Some(plan);
                    kept.record = true;
                    kept.enrichment = enrichment;
                }
                self.write_failed("record", &err);
            }
        }
    }

    /// The recording plan of the alert, or `None` after adding the reason
    /// it has none.
    fn plan(
        &mut self,
        settings: &RecordSettings,
        alert: &Alert,
        found: &Found,
        high: bool,
        cluster_tags: &[String],
    ) -> Option<Plan> {
        match incident::plan(settings, alert, found, high, cluster_tags) {
            Ok(plan) => Some(plan),
            Err(err) => {
                let err = MispError::new(ErrorKind::BadAlert, None, format!("{err:#}"));
                self.write_failed("record", &err);
                None
            }
        }
    }

    /// When the lookup could not reach MISP, neither can the sightings
    /// and the record: the IoCs are kept, to be looked up again when the
    /// writes are sent, with the alert's record (planned as for an alert
    /// without a match, written at once or only if the IoCs match).
    fn keep_for_later(&mut self, config: &Config, alert: &Alert, found: &Found, kept: &mut Writes) {
        let settings = &config.record;
        let record = settings.admits(alert, found, false);
        let record_if_match = !record && settings.admits(alert, found, true);
        if record || record_if_match {
            kept.plan = self.plan(settings, alert, found, false, &[]);
        }
        let planned = kept.plan.is_some();
        kept.record = record && planned;
        kept.record_if_match = record_if_match && planned;
        kept.sight_matches = settings.sightings;
        if kept.sight_matches || kept.record_if_match {
            kept.lookup = found.iocs.clone();
        }
        if planned {
            self.recorded = "kept".to_string();
        }
    }

    fn write_failed(&mut self, stage: &str, err: &MispError) {
        self.outage |= spool::is_outage(err);
        let line = format!("{} MISP {stage} failed: {err}", self.head);
        warn!("{line}");
        self.failure.get_or_insert(line);
        self.messages.push(message::error_message(err, stage, self.summary));
        if stage == "record" {
            self.recorded = if spool::is_outage(err) { "kept" } else { "failed" }.to_string();
        }
        if self.outcome == Outcome::Done {
            self.outcome = Outcome::RecordFailed;
        }
    }
}

/// What a run learns beside the lookup: the context of the matched events
/// and the modules' verdicts.
#[derive(Default)]
struct Extras {
    /// Context per matched event id.
    context: BTreeMap<String, serde_json::Value>,
    /// Verdicts per IoC index.
    verdicts: BTreeMap<usize, Vec<enrich::Verdict>>,
}

impl Extras {
    fn gather(
        config: &Config,
        source: &IntelSource,
        alert: &Alert,
        found: &Found,
        findings: &[Finding],
        cache: &Cache,
        deadline: &Deadline,
    ) -> Extras {
        let mut extras = Extras::default();
        let wants_context = config.event_context && !findings.is_empty();
        match (source, wants_context) {
            (IntelSource::Misp(client), true) => {
                let mut seen = std::collections::HashSet::new();
                let events: Vec<String> = findings
                    .iter()
                    .filter_map(event_of)
                    .filter(|e| seen.insert(e.clone()))
                    .collect();
                let url = client.url();
                extras.context =
                    context::of_events(client, url, &events, cache, config.enrich.ttl, deadline);
            }
            (IntelSource::Index { .. }, true) => extras.context = indexed_context(findings, cache),
            _ => {}
        }
        if config.enrich.enabled() {
            let level = alert.rule_level();
            let wanted: Vec<bool> = found
                .iocs
                .iter()
                .map(|ioc| {
                    config.enrich.wants(findings.iter().any(|f| std::ptr::eq(f.ioc, ioc)), level)
                })
                .collect();
            extras.verdicts = enrich::enrich(&config.enrich, &found.iocs, &wanted, cache, deadline);
        }
        extras
    }

    fn verdicts_of(&self, found: &Found, ioc: &crate::ioc::Ioc) -> Option<&Vec<enrich::Verdict>> {
        let index = found.iocs.iter().position(|i| std::ptr::eq(i, ioc))?;
        self.verdicts.get(&index)
    }

    fn context_of(&self, finding: &Finding) -> Option<&serde_json::Value> {
        self.context.get(&event_of(finding)?)
    }

    /// The galaxy tags of the matched events' threat actors and malware.
    fn cluster_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = Vec::new();
        for context in self.context.values() {
            for tag in context["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str()) {
                if !tags.iter().any(|t| t == tag) {
                    tags.push(tag.to_string());
                }
            }
        }
        tags
    }

    /// Every verdict with the IoC it is about.
    fn all_verdicts(&self) -> Vec<(usize, &enrich::Verdict)> {
        self.verdicts.iter().flat_map(|(i, list)| list.iter().map(move |v| (*i, v))).collect()
    }

    /// How many module answers the run had (fresh or remembered).
    fn module_answers(&self) -> usize {
        self.verdicts.values().map(Vec::len).sum()
    }
}

/// The context of the matched events that the indicator index keeps, by
/// the same event key as MISP's.
fn indexed_context(findings: &[Finding], cache: &Cache) -> BTreeMap<String, serde_json::Value> {
    let mut seen = std::collections::HashSet::new();
    let wanted: Vec<(String, String)> = findings
        .iter()
        .filter_map(|f| Some((event_of(f)?, f.best.event.as_ref()?.uuid.clone()?)))
        .filter(|pair| seen.insert(pair.clone()))
        .collect();
    let uuids: Vec<String> =
        wanted.iter().map(|(_, uuid)| uuid.clone()).take(context::MAX_EVENTS).collect();
    let events = index::events(cache, &uuids);
    wanted
        .into_iter()
        .filter_map(|(key, uuid)| {
            let (_, event) = events.iter().find(|(u, _)| *u == uuid)?;
            Some((key, context::summarise(event)))
        })
        .collect()
}

/// The id (or uuid) of the event of a finding's attribute.
fn event_of(finding: &Finding) -> Option<String> {
    let event = finding.best.event.as_ref();
    finding
        .best
        .event_id
        .clone()
        .or_else(|| event.and_then(|e| e.id.clone().or_else(|| e.uuid.clone())))
}

/// The source of sightings: the Wazuh manager and agent that saw the IoC.
fn sighting_source(alert: &Alert) -> String {
    let agent = alert.agent();
    format!("Wazuh {} agent {} {}", alert.manager(), agent.id, agent.name).trim().to_string()
}

/// The state directory's store, when something this run does can use it:
/// with MISP or the index, always (answers, floods, the index, kept
/// writes); with a feed folder, for enrichment and the socket spool.
fn open_cache(config: &Config) -> Cache {
    let socket = matches!(config.output, Output::Socket(_));
    let feed = matches!(config.source, SourceSettings::Feed(_));
    if feed && !(config.enrich.enabled() || socket) {
        return Cache::disabled();
    }
    let (cache, warning) = Cache::open(&config.state_dir);
    if let Some(warning) = warning {
        warn!("{warning}");
    }
    cache
}

fn open_source(config: &Config) -> Result<IntelSource> {
    let client = |connection: &crate::misp::Connection| {
        MispClient::new(connection.clone())
            .context("building the MISP client")
            .or_fail(Outcome::BadConfig)
    };
    match (&config.source, config.lookup) {
        (SourceSettings::Feed(dir), _) => {
            Ok(IntelSource::Feed(Feed::open(dir).or_fail(Outcome::BadConfig)?))
        }
        (SourceSettings::Offline, _) => Ok(IntelSource::Index { client: None, then_live: false }),
        (SourceSettings::Misp(connection), LookupMode::Live) => {
            Ok(IntelSource::Misp(client(connection)?))
        }
        (SourceSettings::Misp(connection), mode) => Ok(IntelSource::Index {
            client: Some(client(connection)?),
            then_live: mode == LookupMode::LocalThenLive,
        }),
    }
}

/// After the answer went out: keeps what this run could not write to MISP
/// for a later run, or, when MISP answered, sends what earlier runs kept
/// (for at most `spool_replay_time`). Returns the part of the log line
/// that says so.
fn settle_writes(
    config: &Config,
    source: &IntelSource,
    cache: &Cache,
    answer: &Answer,
    kept: &Writes,
    deadline: &Deadline,
) -> String {
    let Some(client) = source.client() else { return String::new() };
    if !kept.is_empty() {
        let (saved, dropped) = spool::keep(cache, kept, config.spool_max);
        if dropped > 0 {
            warn!(
                "spool bound of {} MISP writes reached: {dropped} oldest dropped",
                config.spool_max
            );
        }
        return if saved { " misp_writes=kept".into() } else { " misp_writes=lost".into() };
    }
    if answer.outage || spool::pending(cache) == 0 {
        return String::new();
    }
    let time = config.spool_replay_time.min(deadline.remaining());
    let done = spool::send(client, &config.filters, cache, time, config.spool_max_age);
    if done.sent + done.refused == 0 {
        return String::new();
    }
    format!(" kept_writes_sent={} kept_writes_left={}", done.sent, done.left)
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

/// The least time given to delivering the answer, even when the lookup
/// spent the whole budget: the answer is what the run is for.
const MIN_SEND_TIME: std::time::Duration = std::time::Duration::from_millis(500);

/// The most kept datagrams a run delivers before its own.
const MAX_SPOOLED_PER_RUN: u64 = 1000;

/// Sends the datagrams to the socket, or prints them one per line.
/// Datagrams that earlier runs could not deliver go first, oldest first;
/// what cannot be delivered now (analysisd stopped or restarting) is kept
/// for the next run, so nothing is lost and nothing is sent twice.
fn deliver(
    config: &Config,
    datagrams: &[String],
    cache: &Cache,
    deadline: &Deadline,
) -> Result<()> {
    let path = match &config.output {
        Output::Socket(path) => path,
        Output::Stdout => {
            let mut out = std::io::stdout().lock();
            for datagram in datagrams {
                writeln!(out, "{datagram}").context("writing to standard output")?;
            }
            return out.flush().context("writing to standard output");
        }
    };
    let socket = QueueSocket::new(path);
    let timeout = deadline.remaining().max(MIN_SEND_TIME);
    let (earlier, failure) =
        deliver_kept(cache, &socket, MAX_SPOOLED_PER_RUN, config.spool_max_age, timeout);
    if earlier.delivered > 0 {
        info!("{} kept datagrams delivered", earlier.delivered);
    }
    if let Some(err) = failure {
        return Err(keep(config, cache, datagrams, err));
    }
    socket.send(datagrams, timeout).map_err(|u| keep(config, cache, &datagrams[u.sent..], u.error))
}

/// What sending the datagrams kept by earlier runs did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeptDelivery {
    /// Datagrams delivered.
    pub delivered: usize,
    /// Datagrams past `spool_max_age`, dropped undelivered.
    pub expired: u64,
    /// Datagrams still kept.
    pub left: usize,
}

/// Sends the datagrams earlier runs kept, oldest first, at most `limit`,
/// after dropping (and logging) those older than `max_age`. On a socket
/// failure the rest stay kept and the failure is returned.
pub fn deliver_kept(
    cache: &Cache,
    socket: &QueueSocket,
    limit: u64,
    max_age: std::time::Duration,
    timeout: std::time::Duration,
) -> (KeptDelivery, Option<SocketError>) {
    let mut kept = cache.spooled(limit);
    let mut expired = 0;
    // Only a run that finds kept datagrams pays for the write that expires
    // the old ones.
    if !kept.is_empty() {
        expired = cache.expire_spool(max_age);
        if expired > 0 {
            let age = max_age.as_secs();
            warn!("{expired} kept datagrams older than {age} s dropped undelivered");
            kept = cache.spooled(limit);
        }
    }
    let (ids, pending): (Vec<i64>, Vec<String>) = kept.into_iter().unzip();
    let result = socket.send(&pending, timeout);
    let delivered = result.as_ref().map_or_else(|u| u.sent, |()| pending.len());
    ids[..delivered].iter().for_each(|id| cache.unspool(*id));
    let done = KeptDelivery { delivered, expired, left: pending.len() - delivered };
    (done, result.err().map(|u| u.error))
}

/// Keeps `undelivered` for the next run when the socket may come back,
/// and says so in the error.
fn keep(config: &Config, cache: &Cache, undelivered: &[String], err: SocketError) -> anyhow::Error {
    if matches!(err, SocketError::TooLong(_)) || undelivered.is_empty() {
        return socket_failure(err, 0);
    }
    let (kept, dropped) = cache.spool(undelivered, config.spool_max);
    if dropped > 0 {
        warn!("spool bound of {} datagrams reached: {dropped} oldest dropped", config.spool_max);
    }
    socket_failure(err, kept)
}

/// The exit code of a socket failure.
pub fn socket_outcome(err: &SocketError) -> Outcome {
    match err {
        SocketError::Missing(..) => Outcome::SocketMissing,
        SocketError::Refused(_) | SocketError::Full(_) => Outcome::SocketRefused,
        SocketError::TooLong(_) => Outcome::DatagramTooLong,
    }
}

/// A socket error tagged with its exit code, naming the datagrams kept.
fn socket_failure(err: SocketError, kept: u64) -> anyhow::Error {
    let outcome = socket_outcome(&err);
    match kept {
        0 => fail(outcome, err),
        1 => fail(outcome, anyhow::anyhow!("{err}; 1 datagram kept for the next run")),
        n => fail(outcome, anyhow::anyhow!("{err}; {n} datagrams kept for the next run")),
    }
}
