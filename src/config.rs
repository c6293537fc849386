//! One checked configuration from the command line, the options file and
//! the environment.
//!
//! Precedence, highest first: flags given by hand (`--feed`, `--socket`,
//! `--log-file`, `--options`), the options file (ossec.conf's `<options>`),
//! integratord's positional arguments, the environment (`MISP_API_KEY`),
//! built-in defaults. Nothing downstream reads argv or the environment.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{Map, Value};

use crate::cli::Cli;
use crate::exit::{fail, OrFail, Outcome};
use crate::extract::{Extraction, Reader, Source};
use std::collections::BTreeMap;

use crate::enrich::{EnrichSettings, When};
use crate::incident::RecordSettings;
use crate::intel::Remember;
use crate::ioc::{Acceptance, IocType};
use crate::misp::{Connection, SearchFilters};
use crate::secret::Secret;
use crate::wazuh::DEFAULT_SOCKET;

/// The default log file, the one Wazuh's own integrations write.
pub const DEFAULT_LOG_FILE: &str = "/var/ossec/logs/integrations.log";

/// The default time budget of a run (integratord's default `<timeout>`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default number of further attempts (integratord's `<retries>`).
pub const DEFAULT_RETRIES: u32 = 3;

/// The environment variable holding the API key, when the options do not.
pub const KEY_VARIABLE: &str = "MISP_API_KEY";

/// The shape a value in the options file must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Text,
    Flag,
    Seconds,
    Count,
    TextList,
    Fields,
    Ratio,
    Modules,
    ModuleConfig,
}

/// Every key the options file may hold, with the shape of its value.
const OPTION_SHAPES: &[(&str, Shape)] = &[
    ("misp_url", Shape::Text),
    ("api_key", Shape::Text),
    ("api_key_file", Shape::Text),
    ("verify_tls", Shape::Flag),
    ("ca_file", Shape::Text),
    ("timeout", Shape::Seconds),
    ("retries", Shape::Count),
    ("socket", Shape::Text),
    ("log_file", Shape::Text),
    ("feed", Shape::Text),
    ("to_ids", Shape::Flag),
    ("enforce_warninglist", Shape::Flag),
    ("published_only", Shape::Flag),
    ("tags", Shape::TextList),
    ("max_matches", Shape::Count),
    ("max_iocs", Shape::Count),
    ("keep_private_ips", Shape::Flag),
    ("fields", Shape::Fields),
    ("report_no_match", Shape::Flag),
    ("debug", Shape::Flag),
    ("record", Shape::Flag),
    ("record_min_level", Shape::Count),
    ("record_groups", Shape::TextList),
    ("incident_window_hours", Shape::Count),
    ("distribution", Shape::Count),
    ("tlp", Shape::Text),
    ("sightings", Shape::Flag),
    ("state_dir", Shape::Text),
    ("event_context", Shape::Flag),
    ("modules_url", Shape::Text),
    ("enrichment", Shape::Modules),
    ("module_config", Shape::ModuleConfig),
    ("enrich", Shape::Text),
    ("enrich_min_level", Shape::Count),
    ("module_timeout", Shape::Seconds),
    ("enrichment_ttl", Shape::Count),
    ("detection_threshold", Shape::Ratio),
    ("spool_max", Shape::Count),
    ("spool_max_age", Shape::Count),
    ("spool_replay_time", Shape::Count),
    ("lookup", Shape::Text),
    ("flood_control", Shape::Flag),
    ("flood_window", Shape::Count),
    ("flood_every", Shape::Count),
    ("cache_match_ttl", Shape::Count),
    ("cache_no_match_ttl", Shape::Count),
];

/// Every key the options file may hold.
pub fn option_keys() -> impl Iterator<Item = &'static str> {
    OPTION_SHAPES.iter().map(|(key, _)| *key)
}

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Appended to a file.
    File(PathBuf),
    /// Standard error.
    Stderr,
}

/// How to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Where.
    pub target: LogTarget,
    /// Requests and replies too.
    pub debug: bool,
    /// Warnings and errors only (an analyst's task logging to the
    /// terminal).
    pub quiet: bool,
}

/// Where the intel comes from.
#[derive(Debug, Clone)]
pub enum SourceSettings {
    /// A MISP server.
    Misp(Connection),
    /// A MISP-format feed folder.
    Feed(PathBuf),
    /// The store's indicator index alone: `lookup` is `local` and no MISP
    /// server is named, so nothing is written back.
    Offline,
}

/// Where lookups are answered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupMode {
    /// MISP for every alert, with the cache in front.
    Live,
    /// The store's indicator index only.
    Local,
    /// The index, then MISP for the values the index does not know.
    LocalThenLive,
}

/// Where datagrams go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Wazuh's queue socket at this path.
    Socket(PathBuf),
    /// Standard output, one datagram per line.
    Stdout,
}

/// The checked configuration of one run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The alert file.
    pub alert: PathBuf,
    /// The intel source.
    pub source: SourceSettings,
    /// The time budget of the whole run.
    pub budget: Duration,
    /// Where datagrams go.
    pub output: Output,
    /// Search filters.
    pub filters: SearchFilters,
    /// Extraction settings.
    pub extraction: Extraction,
    /// Send a datagram for alerts whose IoCs matched nothing.
    pub report_no_match: bool,
    /// Recording of alerts in MISP incident events, and sightings.
    pub record: RecordSettings,
    /// Enrichment by misp-modules.
    pub enrich: EnrichSettings,
    /// Read the galaxy context of matched events.
    pub event_context: bool,
    /// Where answers are remembered between runs.
    pub state_dir: PathBuf,
    /// How long MISP's answers are remembered.
    pub remember: Remember,
    /// Flood control of match datagrams.
    pub flood: Flood,
    /// Where lookups are answered from.
    pub lookup: LookupMode,
    /// The most undelivered datagrams, and the most MISP writes, kept for
    /// later runs.
    pub spool_max: u64,
    /// How long kept datagrams and MISP writes wait before they are
    /// dropped.
    pub spool_max_age: Duration,
    /// The most time a run spends sending MISP writes kept by earlier runs.
    pub spool_replay_time: Duration,
    /// Warnings to log once logging is set up.
    pub warnings: Vec<String>,
}

/// The parsed options file, empty when there is none.
#[derive(Debug, Clone, Default)]
pub struct Options {
    path: Option<PathBuf>,
    map: Map<String, Value>,
}

impl Options {
    /// Reads the options file named by `--options` or argv[5], if any.
    /// Fails on an unreadable file or malformed JSON.
    pub fn read(cli: &Cli) -> Result<Options> {
        let positional = cli.options_file.as_deref().filter(|p| !p.is_empty()).map(PathBuf::from);
        let Some(path) = cli.options.clone().or(positional) else {
            return Ok(Options::default());
        };
        let text = fs::read_to_string(&path)
            .with_context(|| format!("options file {}", path.display()))
            .or_fail(Outcome::BadConfig)?;
        let map = parse_options(&text)
            .with_context(|| format!("options file {}", path.display()))
            .or_fail(Outcome::BadConfig)?;
        Ok(Options { path: Some(path), map })
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(self.invalid(key, "must be a string")),
        }
    }

    fn path(&self, key: &str) -> Result<Option<PathBuf>> {
        Ok(self.string(key)?.filter(|s| !s.is_empty()).map(PathBuf::from))
    }

    fn flag(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.invalid(key, "must be true or false")),
        }
    }

    fn count(&self, key: &str, max: u64) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n <= max) => Ok(n.as_u64()),
            Some(_) => Err(self.invalid(key, &format!("must be a whole number from 0 to {max}"))),
        }
    }

    fn seconds(&self, key: &str) -> Result<Option<Duration>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                n.as_f64().and_then(checked_seconds).map(Some).ok_or_else(|| {
                    self.invalid(key, "must be a number of seconds above 0 and at most 3600")
                })
            }
            Some(_) => Err(self.invalid(key, "must be a number of seconds")),
        }
    }

    fn ratio(&self, key: &str) -> Result<Option<f64>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_f64().is_some_and(|r| (0.0..=1.0).contains(&r)) => {
                Ok(n.as_f64())
            }
            Some(_) => Err(self.invalid(key, "must be a number from 0 to 1")),
        }
    }

    fn strings(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| self.invalid(key, "must be a list of strings")),
            Some(_) => Err(self.invalid(key, "must be a list of strings")),
        }
    }

    fn invalid(&self, key: &str, why: &str) -> anyhow::Error {
        let file = self.path.as_deref().map_or("-".into(), |p| p.display().to_string());
        fail(Outcome::BadConfig, anyhow!("options file {file}: `{key}` {why}"))
    }

    /// Checks every key's shape and returns a warning per unknown key.
    pub fn warnings(&self) -> Result<Vec<String>> {
        self.check_shapes()?;
        Ok(self
            .unknown_keys()
            .iter()
            .map(|k| format!("options: unknown key `{k}` ignored"))
            .collect())
    }

    fn unknown_keys(&self) -> Vec<String> {
        self.map
            .keys()
            .filter(|k| !option_keys().any(|known| known == k.as_str()))
            .cloned()
            .collect()
    }

    /// Checks the shape of every known key, whether or not this run uses
    /// it, so that a mistake shows on the first run, not the first run
    /// that needs the key.
    fn check_shapes(&self) -> Result<()> {
        for (key, shape) in OPTION_SHAPES {
            match shape {
                Shape::Text => self.string(key).map(drop)?,
                Shape::Flag => self.flag(key).map(drop)?,
                Shape::Seconds => self.seconds(key).map(drop)?,
                Shape::Count => self.count(key, u32::MAX.into()).map(drop)?,
                Shape::TextList => self.strings(key).map(drop)?,
                Shape::Fields => extra_fields(self).map(drop)?,
                Shape::Ratio => self.ratio(key).map(drop)?,
                Shape::Modules => module_lists(self).map(drop)?,
                Shape::ModuleConfig => module_configs(self).map(drop)?,
            }
        }
        Ok(())
    }
}

/// Parses the text of an options file: a JSON object, or nothing at all.
pub fn parse_options(text: &str) -> Result<Map<String, Value>> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text).context("invalid JSON")? {
        Value::Object(map) => Ok(map),
        _ => bail!("not a JSON object"),
    }
}

fn checked_seconds(seconds: f64) -> Option<Duration> {
    (seconds > 0.0 && seconds <= 3600.0).then(|| Duration::from_secs_f64(seconds))
}

/// Where to log, decided before anything else so that every later failure
/// can be logged: `--log-file`, then the options' `log_file`, then the
/// default. `-` means standard error.
pub fn log_settings(cli: &Cli, options: Option<&Options>) -> LogSettings {
    let from_options = options.and_then(|o| o.path("log_file").ok().flatten());
    let chosen = cli.log_file.clone().or(from_options);
    // An analyst's task talks to a terminal: without a log file named, it
    // logs warnings there instead of into Wazuh's integrations.log.
    let quiet = chosen.is_none() && cli.command.is_some();
    let path = chosen.unwrap_or_else(|| if quiet { "-".into() } else { DEFAULT_LOG_FILE.into() });
    let target = if path == Path::new("-") { LogTarget::Stderr } else { LogTarget::File(path) };
    let debug_option = options.and_then(|o| o.flag("debug").ok().flatten()).unwrap_or(false);
    let debug = cli.debug || cli.debug_word.as_deref() == Some("debug") || debug_option;
    LogSettings { target, debug, quiet: quiet && !debug }
}

impl Config {
    /// Builds the configuration from the command line and its options file.
    pub fn build(cli: &Cli, options: &Options) -> Result<Config> {
        Config::build_for(cli, options, alert_path(cli)?)
    }

    /// Builds the configuration for runs on `alert`, or on alerts that do
    /// not come from a file (a replay), whatever the command line says.
    pub fn build_for(cli: &Cli, options: &Options, alert: PathBuf) -> Result<Config> {
        let mut warnings = options.warnings()?;
        let lookup = lookup_mode(options)?;
        let source = source(cli, options, lookup, &mut warnings)?;
        let output =
            if cli.stdout { Output::Stdout } else { Output::Socket(socket_path(cli, options)?) };
        Ok(Config {
            alert,
            source,
            budget: budget(cli, options)?,
            output,
            filters: filters(options)?,
            extraction: extraction(options)?,
            report_no_match: options.flag("report_no_match")?.unwrap_or(false),
            record: record_settings(options)?,
            enrich: enrich_settings(options)?,
            event_context: options.flag("event_context")?.unwrap_or(true),
            state_dir: state_dir(options)?,
            lookup,
            spool_max: options.count("spool_max", 10_000_000)?.unwrap_or(10_000),
            spool_max_age: spool_max_age(options)?,
            spool_replay_time: Duration::from_secs(
                options.count("spool_replay_time", 3600)?.unwrap_or(1),
            ),
            flood: Flood {
                enabled: options.flag("flood_control")?.unwrap_or(true),
                window: Duration::from_secs(
                    options.count("flood_window", 7 * 24 * 3600)?.unwrap_or(600),
                ),
                every: options.count("flood_every", 1_000_000)?.unwrap_or(100).max(1),
            },
            remember: Remember {
                matched: Duration::from_secs(
                    options.count("cache_match_ttl", 7 * 24 * 3600)?.unwrap_or(3600),
                ),
                unmatched: Duration::from_secs(
                    options.count("cache_no_match_ttl", 7 * 24 * 3600)?.unwrap_or(600),
                ),
            },
            warnings,
        })
    }
}

/// Wazuh's queue socket: `--socket`, the options' `socket`, or Wazuh's
/// own path.
pub fn socket_path(cli: &Cli, options: &Options) -> Result<PathBuf> {
    Ok(cli.socket.clone().or(options.path("socket")?).unwrap_or_else(|| DEFAULT_SOCKET.into()))
}

/// How long kept datagrams and MISP writes wait before they are dropped.
pub fn spool_max_age(options: &Options) -> Result<Duration> {
    let seconds = options.count("spool_max_age", 365 * 24 * 3600)?.unwrap_or(7 * 24 * 3600);
    Ok(Duration::from_secs(seconds))
}

fn alert_path(cli: &Cli) -> Result<PathBuf> {
    match cli.alert.as_deref() {
        None => Err(fail(
            Outcome::BadArguments,
            anyhow!("no alert file given (see custom-misp --help)"),
        )),
        Some("") => Err(fail(
            Outcome::BadAlert,
            anyhow!("alert file: empty path (integratord could not write the alert?)"),
        )),
        Some(path) => Ok(PathBuf::from(path)),
    }
}

/// The time budget: the options' `timeout`, then argv[6], then 10 s.
pub fn budget(cli: &Cli, options: &Options) -> Result<Duration> {
    if let Some(budget) = options.seconds("timeout")? {
        return Ok(budget);
    }
    match cli.timeout.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_TIMEOUT),
        Some(text) => text.parse::<f64>().ok().and_then(checked_seconds).ok_or_else(|| {
            fail(
                Outcome::BadArguments,
                anyhow!("timeout argument {text:?}: not a number of seconds from 0 to 3600"),
            )
        }),
    }
}

fn retries(cli: &Cli, options: &Options) -> Result<u32> {
    if let Some(n) = options.count("retries", 10)? {
        return Ok(n as u32);
    }
    match cli.retries.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(DEFAULT_RETRIES),
        Some(text) => text.parse::<u32>().ok().filter(|n| *n <= 10).ok_or_else(|| {
            fail(
                Outcome::BadArguments,
                anyhow!("retries argument {text:?}: not a whole number from 0 to 10"),
            )
        }),
    }
}

fn source(
    cli: &Cli,
    options: &Options,
    lookup: LookupMode,
    warnings: &mut Vec<String>,
) -> Result<SourceSettings> {
    if let Some(feed) = cli.feed.clone().or(options.path("feed")?) {
        return Ok(SourceSettings::Feed(feed));
    }
    let named = options.string("misp_url")?.is_some_and(|u| !u.is_empty())
        || cli.hook_url.as_deref().is_some_and(|u| !u.trim().is_empty());
    if lookup == LookupMode::Local && !named {
        return Ok(SourceSettings::Offline);
    }
    misp_connection(cli, options, warnings).map(SourceSettings::Misp)
}

/// The `lookup` option: `live` (the default), `local` or
/// `local-then-live`.
fn lookup_mode(options: &Options) -> Result<LookupMode> {
    match options.string("lookup")?.as_deref() {
        None | Some("live") => Ok(LookupMode::Live),
        Some("local") => Ok(LookupMode::Local),
        Some("local-then-live") => Ok(LookupMode::LocalThenLive),
        Some(_) => Err(options.invalid("lookup", "must be live, local or local-then-live")),
    }
}

/// The MISP server to talk to, from the options and the command line.
/// Fails without a URL or a key, or with an unreadable CA file.
pub fn misp_connection(
    cli: &Cli,
    options: &Options,
    warnings: &mut Vec<String>,
) -> Result<Connection> {
    let url = misp_url(cli, options)?;
    let key = api_key(cli, options, warnings)?;
    let verify_tls = options.flag("verify_tls")?.unwrap_or(true);
    if !verify_tls {
        warnings.push("verify_tls is false: the MISP server's certificate is not checked".into());
    }
    let ca_pem = match options.path("ca_file")? {
        None => None,
        Some(path) => Some(read_ca(&path)?),
    };
    let retries = retries(cli, options)?;
    Ok(Connection { url, key, verify_tls, ca_pem, retries })
}

fn misp_url(cli: &Cli, options: &Options) -> Result<String> {
    let positional = cli.hook_url.clone().filter(|u| !u.trim().is_empty());
    let Some(raw) = options.string("misp_url")?.filter(|u| !u.is_empty()).or(positional) else {
        let why = "no MISP URL: set misp_url in <options> (or <hook_url>), or use --feed";
        return Err(fail(Outcome::BadConfig, anyhow!(why)));
    };
    let raw = raw.trim();
    let parsed = reqwest::Url::parse(raw)
        .map_err(|e| fail(Outcome::BadConfig, anyhow!("MISP URL {raw:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(fail(
            Outcome::BadConfig,
            anyhow!("MISP URL {raw:?}: not an http or https URL"),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(fail(
            Outcome::BadConfig,
            anyhow!("MISP URL: credentials in the URL are not allowed; use api_key"),
        ));
    }
    Ok(raw.trim_end_matches('/').to_string())
}

fn api_key(cli: &Cli, options: &Options, warnings: &mut Vec<String>) -> Result<Secret> {
    let on_argv = cli.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty());
    if on_argv.is_some() {
        warnings.push("the API key came on the command line, where `ps` shows it: put it in <options> as api_key".into());
    }
    let from_options = options.string("api_key")?.filter(|k| !k.is_empty());
    let from_file = match (&from_options, options.path("api_key_file")?) {
        (None, Some(path)) => Some(read_key_file(&path).or_fail(Outcome::BadConfig)?),
        _ => None,
    };
    let from_env = std::env::var(KEY_VARIABLE).ok();
    let key = from_options
        .or(from_file)
        .or(from_env)
        .or(on_argv.map(str::to_string))
        .map(|k| Secret::new(&k))
        .filter(|k| !k.is_empty());
    let Some(key) = key else {
        let why = "no MISP API key: set api_key in <options> (or api_key_file, or MISP_API_KEY)";
        return Err(fail(Outcome::BadConfig, anyhow!(why)));
    };
    if reqwest::header::HeaderValue::from_str(key.expose()).is_err() {
        let why = "MISP API key: holds a character no HTTP header can carry (a control character?)";
        return Err(fail(Outcome::BadConfig, anyhow!(why)));
    }
    if !key.looks_like_misp_key() {
        warnings.push("the API key is not 40 letters and digits, as MISP keys are".into());
    }
    Ok(key)
}

/// The key in `path`, once its mode shows that only its owner and group
/// can read it.
fn read_key_file(path: &Path) -> Result<String> {
    crate::permissions::check_key_file(path)?;
    fs::read_to_string(path).with_context(|| format!("API key file {}", path.display()))
}

fn read_ca(path: &Path) -> Result<Vec<u8>> {
    let pem = fs::read(path)
        .with_context(|| format!("CA file {}", path.display()))
        .or_fail(Outcome::BadConfig)?;
    if reqwest::Certificate::from_pem_bundle(&pem).map_or(true, |certs| certs.is_empty()) {
        return Err(fail(
            Outcome::BadConfig,
            anyhow!("CA file {}: no PEM certificate in it", path.display()),
        ));
    }
    Ok(pem)
}

/// The search filters of the options.
pub fn filters(options: &Options) -> Result<SearchFilters> {
    let defaults = SearchFilters::default();
    let to_ids = match options.flag("to_ids")? {
        Some(false) => None,
        _ => Some(true),
    };
    Ok(SearchFilters {
        to_ids,
        enforce_warninglist: options
            .flag("enforce_warninglist")?
            .unwrap_or(defaults.enforce_warninglist),
        published_only: options.flag("published_only")?.unwrap_or(defaults.published_only),
        tags: options.strings("tags")?,
        limit: options.count("max_matches", 10_000)?.map_or(defaults.limit, |n| n.max(1) as usize),
    })
}

/// The default state directory; the installer creates it, owned by the
/// `wazuh` user.
pub const DEFAULT_STATE_DIR: &str = "/var/ossec/var/custom-misp";

/// The default misp-modules server.
pub const DEFAULT_MODULES_URL: &str = "http://127.0.0.1:6666";

/// Flood control settings.
#[derive(Debug, Clone, Copy)]
pub struct Flood {
    /// On or off.
    pub enabled: bool,
    /// How long the same IoC, intel and agent count as one flood.
    pub window: Duration,
    /// Report every so many repeats within the window.
    pub every: u64,
}

/// The state directory of the options, or the default. Fails when every
/// user may write it.
pub fn state_dir(options: &Options) -> Result<PathBuf> {
    let dir = options.path("state_dir")?.unwrap_or_else(|| DEFAULT_STATE_DIR.into());
    crate::permissions::check_state_dir(&dir).or_fail(Outcome::BadConfig)?;
    Ok(dir)
}

fn enrich_settings(options: &Options) -> Result<EnrichSettings> {
    let when = match options.string("enrich")?.as_deref() {
        None | Some("matched") => When::Matched,
        Some("all") => When::All,
        Some(_) => return Err(options.invalid("enrich", "must be \"matched\" or \"all\"")),
    };
    let url = options
        .string("modules_url")?
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_MODULES_URL.into());
    if reqwest::Url::parse(&url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
        return Err(options.invalid("modules_url", "must be an http or https URL"));
    }
    Ok(EnrichSettings {
        url: url.trim_end_matches('/').to_string(),
        modules: module_lists(options)?,
        config: module_configs(options)?,
        when,
        min_level: options.count("enrich_min_level", 16)?,
        timeout: options.seconds("module_timeout")?.unwrap_or(Duration::from_secs(3)),
        ttl: Duration::from_secs(options.count("enrichment_ttl", 30 * 24 * 3600)?.unwrap_or(3600)),
        threshold: options.ratio("detection_threshold")?.unwrap_or(0.2),
    })
}

/// The `enrichment` option: `{"hash": ["hashlookup"], "ip": ["ipasn"],
/// "domain": [...], "url": [...]}`.
fn module_lists(options: &Options) -> Result<BTreeMap<String, Vec<String>>> {
    let Some(value) = options.get("enrichment") else { return Ok(BTreeMap::new()) };
    let bad = || {
        options.invalid("enrichment", "must map hash, ip, domain or url to a list of module names")
    };
    let map = value.as_object().ok_or_else(bad)?;
    let mut out = BTreeMap::new();
    for (kind, names) in map {
        if !["hash", "ip", "domain", "url"].contains(&kind.as_str()) {
            return Err(bad());
        }
        let names: Option<Vec<String>> = names
            .as_array()
            .and_then(|n| n.iter().map(|m| m.as_str().map(str::to_string)).collect());
        out.insert(kind.clone(), names.ok_or_else(bad)?);
    }
    Ok(out)
}

/// The `module_config` option: each module's settings object, kept as a
/// secret because it holds API keys.
fn module_configs(options: &Options) -> Result<BTreeMap<String, Secret>> {
    let Some(value) = options.get("module_config") else { return Ok(BTreeMap::new()) };
    let bad = || options.invalid("module_config", "must map module names to objects of settings");
    let map = value.as_object().ok_or_else(bad)?;
    map.iter()
        .map(|(module, config)| match config {
            Value::Object(_) => Ok((module.clone(), Secret::new(&config.to_string()))),
            _ => Err(bad()),
        })
        .collect()
}

/// Recording settings from the options.
pub fn record_settings(options: &Options) -> Result<RecordSettings> {
    let defaults = RecordSettings::default();
    let tlp = options.string("tlp")?.filter(|t| !t.is_empty()).unwrap_or(defaults.tlp);
    if !tlp.to_ascii_lowercase().starts_with("tlp:") {
        return Err(options.invalid("tlp", "must be a TLP tag such as tlp:amber"));
    }
    let window = options.count("incident_window_hours", 24 * 31)?.unwrap_or(24);
    if window == 0 {
        return Err(options.invalid("incident_window_hours", "must be at least 1"));
    }
    Ok(RecordSettings {
        enabled: options.flag("record")?.unwrap_or(defaults.enabled),
        min_level: options.count("record_min_level", 16)?.unwrap_or(defaults.min_level),
        groups: options.strings("record_groups")?,
        window_hours: window as u32,
        distribution: options.count("distribution", 4)?.map_or(defaults.distribution, |d| d as u8),
        tlp,
        sightings: options.flag("sightings")?.unwrap_or(defaults.sightings),
    })
}

/// The default most IoCs kept from one alert.
pub const DEFAULT_MAX_IOCS: usize = 32;

fn extraction(options: &Options) -> Result<Extraction> {
    let acceptance =
        Acceptance { keep_private: options.flag("keep_private_ips")?.unwrap_or(false) };
    let max_iocs = options.count("max_iocs", 1000)?.map_or(DEFAULT_MAX_IOCS, |n| n as usize);
    Ok(Extraction { extra: extra_fields(options)?, acceptance, max_iocs })
}

/// The `fields` option: `{"ip": [paths], "domain": [...], "url": [...],
/// "hash": [...], "md5": [...], ...}`.
fn extra_fields(options: &Options) -> Result<Vec<Source>> {
    let Some(value) = options.get("fields") else { return Ok(Vec::new()) };
    let Value::Object(map) = value else {
        return Err(
            options.invalid("fields", "must be an object of IoC type to list of alert fields")
        );
    };
    let mut sources = Vec::new();
    for (kind, paths) in map {
        let reader = match kind.as_str() {
            "hash" => Reader::AnyHash,
            "url" => Reader::Url(None),
            "host" => Reader::Host,
            other => match IocType::ALL.iter().find(|t| t.name() == other) {
                Some(t) => Reader::Value(*t),
                None => {
                    return Err(options.invalid("fields", &format!("has unknown IoC type `{kind}`")))
                }
            },
        };
        let paths =
            paths.as_array().and_then(|p| p.iter().map(Value::as_str).collect::<Option<Vec<_>>>());
        let Some(paths) = paths else {
            return Err(
                options.invalid("fields", &format!("`{kind}` must be a list of alert fields"))
            );
        };
        sources.extend(paths.into_iter().map(|p| Source { path: p.to_string(), reader }));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn cli(args: &[&str]) -> Cli {
        Cli::parse_from_os(args.iter().map(OsString::from)).unwrap()
    }

    fn options(json: &str) -> Options {
        Options { path: Some("o.json".into()), map: parse_options(json).unwrap() }
    }

    const KEY: &str = "abcdefghijABCDEFGHIJ0123456789abcdefghij";

    #[test]
    fn options_override_the_positional_url_timeout_and_key() {
        let args =
            cli(&["integrations", "a.alert", "argvkey", "http://argv.example", "", "o", "10", "3"]);
        let opts = options(&format!(
            r#"{{"misp_url":"https://misp.example/","api_key":"{KEY}","timeout":2.5}}"#
        ));
        let config = Config::build(&args, &opts).unwrap();
        let SourceSettings::Misp(conn) = &config.source else { panic!("not MISP") };
        assert_eq!(conn.url, "https://misp.example");
        assert_eq!(conn.key.expose(), KEY);
        assert_eq!(config.budget, Duration::from_millis(2500));
        assert_eq!(
            config.warnings,
            vec!["the API key came on the command line, where `ps` shows it: put it in <options> as api_key"]
        );
    }

    #[test]
    fn positional_values_are_used_when_the_options_are_silent() {
        let args =
            cli(&["integrations", "a.alert", KEY, "http://127.0.0.1:8080", "", "", "4", "1"]);
        let config = Config::build(&args, &Options::default()).unwrap();
        assert_eq!(config.budget, Duration::from_secs(4));
        let SourceSettings::Misp(conn) = &config.source else { panic!("not MISP") };
        assert_eq!(conn.retries, 1);
        assert!(conn.verify_tls);
    }

    #[test]
    fn unknown_keys_warn_and_bad_values_fail_with_the_key_named() {
        let args = cli(&["integrations", "a.alert", "", "", "", "", "", ""]);
        let opts = options(r#"{"feed":"f","colour":"blue"}"#);
        let config = Config::build(&args, &opts).unwrap();
        assert_eq!(config.warnings, vec!["options: unknown key `colour` ignored"]);
        let bad = options(r#"{"feed":"f","timeout":"soon"}"#);
        let err = Config::build(&args, &bad).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "options file o.json: `timeout` must be a number of seconds"
        );
        assert_eq!(crate::exit::outcome_of(&err), Outcome::BadConfig);
    }

    #[test]
    fn malformed_options_json_is_an_error() {
        assert_eq!(
            format!("{:#}", parse_options("{\"a\":").unwrap_err()).split(':').next(),
            Some("invalid JSON")
        );
        assert_eq!(format!("{:#}", parse_options("[1]").unwrap_err()), "not a JSON object");
        assert!(parse_options("  ").unwrap().is_empty());
    }

    #[test]
    fn a_missing_url_or_key_is_a_configuration_error() {
        let args = cli(&["integrations", "a.alert"]);
        let err = Config::build(&args, &Options::default()).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "no MISP URL: set misp_url in <options> (or <hook_url>), or use --feed"
        );
        let with_url = options(r#"{"misp_url":"https://misp.example"}"#);
        std::env::remove_var(KEY_VARIABLE);
        let err = Config::build(&args, &with_url).unwrap_err();
        assert!(format!("{err:#}").starts_with("no MISP API key"));
    }

    #[test]
    fn extra_fields_name_known_ioc_types() {
        let opts = options(r#"{"feed":"f","fields":{"ip":["data.peer"],"hash":["data.digest"]}}"#);
        let config = Config::build(&cli(&["x", "a.alert"]), &opts).unwrap();
        assert_eq!(config.extraction.extra.len(), 2);
        let bad = options(r#"{"feed":"f","fields":{"colour":["data.x"]}}"#);
        let err = Config::build(&cli(&["x", "a.alert"]), &bad).unwrap_err();
        assert_eq!(
            format!("{err:#}"),
            "options file o.json: `fields` has unknown IoC type `colour`"
        );
    }

    #[test]
    fn a_bad_timeout_argument_is_a_bad_argument() {
        let args = cli(&["integrations", "a.alert", "", "", "", "", "soon"]);
        let err = Config::build(&args, &options(r#"{"feed":"f"}"#)).unwrap_err();
        assert_eq!(crate::exit::outcome_of(&err), Outcome::BadArguments);
    }
}
