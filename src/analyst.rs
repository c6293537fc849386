//! The analyst's tasks: the timeline of an incident, false positives and
//! expirations fed back to MISP as sightings, and tags on events.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{anyhow, bail, Context, Result};
use chrono::{Duration as Days, NaiveDate, TimeZone, Utc};
use log::info;
use serde_json::{json, Value};

use crate::budget::Deadline;
use crate::cache::Cache;
use crate::cli::{
    Cli, FeedbackArgs, StoreAction, StoreArgs, TagArgs, TimelineArgs, TimelineFormat,
};
use crate::config::{self, Options};
use crate::exit::{fail, OrFail, Outcome};
use crate::incident;
use crate::ioc::{self, Acceptance, IocType};
use crate::misp::{ErrorKind, MispClient, MispError};
use crate::permissions::FILE_MODE;
use crate::timeline::{fetch, model::Timeline, render};

/// The width of the text timeline.
const TEXT_WIDTH: usize = 100;

/// The longest span `timeline --agent` covers.
const MAX_DAYS: i64 = 31;

/// A MISP client and budget from the options, for a task.
fn connect(cli: &Cli) -> Result<(MispClient, Deadline, Options)> {
    let options = Options::read(cli)?;
    let mut warnings = options.warnings()?;
    let connection = config::misp_connection(cli, &options, &mut warnings)?;
    warnings.iter().for_each(|w| log::warn!("{w}"));
    let budget = config::budget(cli, &options)?;
    let client = MispClient::new(connection)
        .context("building the MISP client")
        .or_fail(Outcome::BadConfig)?;
    Ok((client, Deadline::after(budget), options))
}

/// `timeline`: fetches and prints the incident(s).
pub fn timeline(cli: &Cli, args: &TimelineArgs) -> Result<Outcome> {
    let (client, deadline, options) = connect(cli)?;
    let references = match (&args.event, &args.agent) {
        (Some(event), _) => vec![event.clone()],
        (None, Some(agent)) => agent_incidents(args, agent, &options)?,
        (None, None) => bail!("name an incident event, or --agent with --from"),
    };
    let mut timelines = Vec::new();
    for reference in &references {
        match fetch::fetch(&client, reference, &deadline) {
            Ok(timeline) => timelines.push(timeline),
            Err(err) if args.agent.is_some() && is_not_found(&err) => continue,
            Err(err) => return Err(fail(Outcome::MispFailed, err)),
        }
    }
    if timelines.is_empty() {
        return Err(fail(
            Outcome::MispFailed,
            anyhow!(
                "no incident of agent {} in MISP for those days",
                args.agent.as_deref().unwrap_or("?")
            ),
        ));
    }
    let text = render_all(&timelines, args.format)?;
    write_output(args, &text)?;
    let steps: usize = timelines.iter().map(|t| t.steps.len()).sum();
    info!(
        "timeline of {} incident(s): {steps} steps, {} MISP requests",
        timelines.len(),
        client.requests()
    );
    Ok(Outcome::Done)
}

fn render_all(timelines: &[Timeline], format: TimelineFormat) -> Result<String> {
    Ok(match format {
        TimelineFormat::Text => {
            timelines.iter().map(|t| render::text(t, TEXT_WIDTH)).collect::<Vec<_>>().join("\n")
        }
        TimelineFormat::Json if timelines.len() == 1 => render::json(&timelines[0]),
        TimelineFormat::Json => serde_json::to_string_pretty(timelines)?,
        TimelineFormat::Html if timelines.len() == 1 => render::html(&timelines[0]),
        TimelineFormat::Html => {
            let uuids: Vec<&str> = timelines.iter().map(|t| t.incident.uuid.as_str()).collect();
            bail!(
                "an HTML page shows one incident; {} match: name one of {}",
                uuids.len(),
                uuids.join(", ")
            )
        }
    })
}

/// Writes the timeline to the named file (made 0640 when new: it holds
/// the incident), or to standard output.
fn write_output(args: &TimelineArgs, text: &str) -> Result<()> {
    match &args.output {
        Some(path) => fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .open(path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not a failure.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            Ok(())
        }
    }
}

/// The uuids of the incidents of `agent` on each day from `--from` to
/// `--to`, derived exactly as recording derives them.
fn agent_incidents(args: &TimelineArgs, agent: &str, options: &Options) -> Result<Vec<String>> {
    let day = |text: &str| {
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| fail(Outcome::BadArguments, anyhow!("date {text:?} is not YYYY-MM-DD")))
    };
    let from = day(args.from.as_deref().unwrap_or_default())?;
    let to = match &args.to {
        Some(to) => day(to)?,
        None => from,
    };
    if to < from || (to - from).num_days() > MAX_DAYS {
        return Err(fail(
            Outcome::BadArguments,
            anyhow!("--from to --to must be 0 to {MAX_DAYS} days forward"),
        ));
    }
    let manager = args.manager.clone().unwrap_or_else(host_name);
    let hours = config::record_settings(options)?.window_hours;
    let start = Utc.from_utc_datetime(&from.and_hms_opt(0, 0, 0).unwrap_or_default());
    let end = Utc.from_utc_datetime(&(to + Days::days(1)).and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut uuids = Vec::new();
    let mut window = start;
    while window < end {
        uuids.push(incident::incident_uuid(&manager, agent, &window));
        window += Days::hours(i64::from(hours));
    }
    Ok(uuids)
}

/// This host's name, which Wazuh uses as the manager name by default.
fn host_name() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// `false-positive` (sighting type 1) and `expire` (type 2).
pub fn feedback(cli: &Cli, args: &FeedbackArgs, sighting_type: u8) -> Result<Outcome> {
    let values = args.values.iter().map(|v| checked_value(v)).collect::<Result<Vec<_>>>()?;
    let (client, deadline, _) = connect(cli)?;
    let source = args.source.clone().unwrap_or_else(analyst_source);
    let body = json!({"values": values, "source": source, "type": sighting_type.to_string()});
    let reply = client
        .post("/sightings/add", &body, &deadline)
        .map_err(|e| fail(Outcome::MispFailed, e))?;
    let reply: Value = serde_json::from_slice(&reply).unwrap_or(Value::Null);
    if reply.get("Sighting").is_none() {
        let said =
            reply.get("message").and_then(Value::as_str).unwrap_or("no sighting in MISP's reply");
        return Err(fail(Outcome::MispFailed, anyhow!("MISP added no sighting: {said}")));
    }
    let what = if sighting_type == 1 { "false positive" } else { "expiration" };
    println!("{what} sighting added for {}", values.join(", "));
    info!("{what} sighting added for {} by {source}", values.join(","));
    Ok(Outcome::Done)
}

/// The value normalised as the IoC type it parses as; anything else is
/// refused, so no value can carry MISP's `%` or `!` operators.
fn checked_value(raw: &str) -> Result<String> {
    let keep = Acceptance { keep_private: true };
    let by_length = IocType::hash_of_len(raw.trim().len());
    let kinds = [by_length, Some(IocType::Ip), Some(IocType::Url), Some(IocType::Domain)];
    kinds.into_iter().flatten().find_map(|kind| ioc::normalise(kind, raw, keep).ok()).ok_or_else(
        || {
            fail(
                Outcome::BadArguments,
                anyhow!("{raw:?} is not an IP address, domain, URL or hash"),
            )
        },
    )
}

fn analyst_source() -> String {
    let user = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "analyst".into());
    format!("Wazuh analyst {user}@{}", host_name())
}

/// `tag`: attaches tags to an event or attribute.
pub fn tag(cli: &Cli, args: &TagArgs) -> Result<Outcome> {
    if uuid::Uuid::parse_str(&args.uuid).is_err() {
        return Err(fail(Outcome::BadArguments, anyhow!("{:?} is not a uuid", args.uuid)));
    }
    if let Some(bad) =
        args.tags.iter().find(|t| t.trim().is_empty() || t.chars().any(char::is_control))
    {
        return Err(fail(
            Outcome::BadArguments,
            anyhow!("tag {bad:?} is empty or has control characters"),
        ));
    }
    let (client, deadline, _) = connect(cli)?;
    let body = json!({"uuid": args.uuid, "tag": args.tags, "local": args.local});
    client
        .post("/tags/attachTagToObject", &body, &deadline)
        .map_err(|e| fail(Outcome::MispFailed, e))?;
    println!("tagged {} with {}", args.uuid, args.tags.join(", "));
    info!("tagged {} with {}", args.uuid, args.tags.join(","));
    Ok(Outcome::Done)
}

fn is_not_found(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<MispError>().is_some_and(|m| m.kind == ErrorKind::NotFound))
}

/// `store`: what the state directory remembers; prunes or clears it.
pub fn store(cli: &Cli, args: &StoreArgs) -> Result<Outcome> {
    let options = Options::read(cli)?;
    let dir = config::state_dir(&options)?;
    let (cache, warning) = Cache::open(&dir);
    if let Some(warning) = warning {
        log::warn!("{warning}");
    }
    let removed = match args.action {
        StoreAction::Info => None,
        StoreAction::Prune => Some(cache.prune(false)),
        StoreAction::Clear => Some(cache.prune(true)),
    };
    let Some(stats) = cache.stats(&dir) else {
        return Err(fail(
            Outcome::BadConfig,
            anyhow!("state directory {}: cannot be used", dir.display()),
        ));
    };
    if let Some(removed) = removed {
        println!("removed {removed} remembered answers");
    }
    println!(
        "{}: {} bytes, {} remembered answers, {} expired, {} datagrams kept for delivery, \
         {} MISP writes kept",
        stats.path.display(),
        stats.bytes,
        stats.live,
        stats.expired,
        stats.spooled,
        stats.writes
    );
    for source in crate::index::sources(&cache) {
        println!(
            "indicator index {}: {} events, {} attributes",
            source.source, source.events, source.attributes
        );
    }
    Ok(Outcome::Done)
}
