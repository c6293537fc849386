//! The administrator's tasks on the store: loading feeds into the
//! indicator index, mirroring a MISP server into it, and sending what
//! earlier runs had to keep.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};

use crate::cache::Cache;
use crate::cli::{Cli, FeedAction, FeedArgs, ImportArgs, SyncArgs};
use crate::config::{self, Options};
use crate::exit::{fail, OrFail, Outcome};
use crate::misp::MispClient;
use crate::wazuh::QueueSocket;
use crate::{import, index, run, spool, sync};

/// The least time one page of a sync may take, whatever the run's budget.
const MIN_PAGE_TIME: Duration = Duration::from_secs(60);

/// The longest `flush` spends sending kept MISP writes.
const FLUSH_TIME: Duration = Duration::from_secs(3600);

/// The most kept datagrams `flush` delivers.
const FLUSH_DATAGRAMS: u64 = 10_000_000;

/// Runs `feed import`, `feed sync`, `feed list` or `feed remove`.
pub fn feed(cli: &Cli, args: &FeedArgs) -> Result<Outcome> {
    let options = Options::read(cli)?;
    let store = open_store(&options)?;
    match &args.action {
        FeedAction::Import(args) => import_feed(&store, args)?,
        FeedAction::Sync(args) => sync_misp(cli, &options, &store, args)?,
        FeedAction::List => {
            for s in index::sources(&store) {
                println!("{}: {} events, {} attributes", s.source, s.events, s.attributes);
            }
        }
        FeedAction::Remove { name } => {
            let removed = index::remove_source(&store, name).or_fail(Outcome::BadConfig)?;
            if removed == 0 {
                let why = anyhow!("{name}: not in the index (see feed list)");
                return Err(fail(Outcome::BadArguments, why));
            }
            println!("{name}: {removed} events removed");
        }
    }
    Ok(Outcome::Done)
}

fn import_feed(store: &Cache, args: &ImportArgs) -> Result<()> {
    let spec = import::Spec {
        location: args.location.clone(),
        format: args.format,
        name: args.name.clone(),
        value_column: args.value_column,
        info: args.info.clone(),
        threat_level: args.threat_level,
        tags: args.tags.clone(),
        to_ids: !args.not_for_ids,
    };
    let done = import::import(store, &spec)
        .with_context(|| format!("feed {}", args.location))
        .or_fail(Outcome::BadConfig)?;
    println!(
        "{}: {} events, {} attributes indexed, {} events removed, {} entries skipped",
        done.source, done.events, done.attributes, done.removed, done.skipped
    );
    Ok(())
}

fn sync_misp(cli: &Cli, options: &Options, store: &Cache, args: &SyncArgs) -> Result<()> {
    let client = connect(cli, options)?;
    let spec = sync::Spec {
        page_size: args.page_size as usize,
        full: args.full,
        first_window: args.days.map(|d| d * 86_400),
        page_time: config::budget(cli, options)?.max(MIN_PAGE_TIME),
    };
    let done = sync::sync(&client, store, &spec)
        .with_context(|| format!("feed sync from {}", client.url()))
        .or_fail(Outcome::MispFailed)?;
    let since = done.since.map_or("the start".into(), |s| format!("timestamp {s}"));
    println!(
        "{}: {} pages from page {} (changes since {since}), {} attributes indexed, {} removed",
        done.source, done.pages, done.first_page, done.attributes, done.removed
    );
    Ok(())
}

/// Runs `flush`: the MISP writes kept while MISP was down, when a MISP
/// server is named, then the datagrams kept while the socket was away.
/// Fails (exit 5, or the socket's code) when something is still kept.
pub fn flush(cli: &Cli) -> Result<Outcome> {
    let options = Options::read(cli)?;
    let store = open_store(&options)?;
    let max_age = config::spool_max_age(&options)?;
    let mut outcome = Outcome::Done;
    if spool::pending(&store) > 0 {
        let client = connect(cli, &options)?;
        let filters = config::filters(&options)?;
        let done = spool::send(&client, &filters, &store, FLUSH_TIME, max_age);
        println!(
            "MISP writes: {} sent, {} refused and dropped, {} expired, {} still kept",
            done.sent, done.refused, done.expired, done.left
        );
        if done.left > 0 {
            outcome = Outcome::MispFailed;
        }
    }
    let socket = QueueSocket::new(&config::socket_path(cli, &options)?);
    let (done, failure) =
        run::deliver_kept(&store, &socket, FLUSH_DATAGRAMS, max_age, Duration::from_secs(10));
    println!(
        "datagrams: {} delivered, {} expired, {} still kept",
        done.delivered, done.expired, done.left
    );
    if let Some(err) = failure {
        return Err(fail(run::socket_outcome(&err), anyhow!("{err}")));
    }
    if outcome == Outcome::MispFailed {
        return Err(fail(outcome, anyhow!("MISP writes are still kept: MISP is not reachable")));
    }
    Ok(outcome)
}

fn open_store(options: &Options) -> Result<Cache> {
    let dir = config::state_dir(options)?;
    let (store, warning) = Cache::open(&dir);
    if let Some(warning) = warning {
        log::warn!("{warning}");
    }
    if store.db().is_none() {
        return Err(fail(
            Outcome::BadConfig,
            anyhow!("state directory {}: cannot be used", dir.display()),
        ));
    }
    Ok(store)
}

fn connect(cli: &Cli, options: &Options) -> Result<MispClient> {
    let mut warnings = options.warnings()?;
    let connection = config::misp_connection(cli, options, &mut warnings)?;
    warnings.iter().for_each(|w| log::warn!("{w}"));
    MispClient::new(connection).context("building the MISP client").or_fail(Outcome::BadConfig)
}
