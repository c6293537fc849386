//! The command line: integratord's positional form, plus the flags for
//! running by hand.
//!
//! integratord runs `custom-misp <alert> <api_key> <hook_url> <debug>
//! <options> <timeout> <retries> > /dev/null 2>&1` without a shell, so the
//! redirect arrives as arguments and any value may be an empty string.
//! Older Wazuh versions pass only the first five. argv[0] is
//! `integrations`, never the program's path, and is not used.

use std::ffi::OsString;
use std::path::PathBuf;

use std::io::Write;

use clap::error::ErrorKind;
use clap::Parser;

const AFTER_HELP: &str = "\
As wazuh-integratord runs it (the block in ossec.conf names custom-misp):
  custom-misp /tmp/custom-misp-1.alert '' '' '' /tmp/custom-misp-1.options 10 3 '> /dev/null 2>&1'

By hand, on a sample alert, against an offline MISP feed, printing the datagrams:
  custom-misp --stdout --feed integration/feed integration/sample-alerts/sysmon-1-dropper.json

By hand, against a MISP server named in an options file:
  custom-misp --stdout --options misp.options /tmp/alert.json

The analyst's tasks (see custom-misp help <task>):
  custom-misp timeline --options misp.options --format html -o incident.html <event uuid>
  custom-misp replay --options misp.options --stdout alerts.json
  custom-misp false-positive --options misp.options 203.0.113.45

Local intel and outages (see custom-misp help feed):
  custom-misp feed sync --options misp.options
  custom-misp feed import --options misp.options /srv/feeds/circl-osint
  custom-misp flush --options misp.options

Exit codes: 0 done, 1 internal error, 2 bad arguments, 3 alert unreadable or invalid,
4 configuration invalid, 5 MISP failed (an error datagram was sent), 6 Wazuh socket
missing, 7 Wazuh socket refused, 8 datagram too long, 9 recording in MISP failed
(the lookup answer was sent).";

/// The raw command line. [`crate::config::Config`] turns it into checked
/// settings; nothing else reads it.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "custom-misp",
    bin_name = "custom-misp",
    args_conflicts_with_subcommands = true,
    version,
    about = "Checks the IoCs of a Wazuh alert against MISP and answers on Wazuh's queue socket.",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// A task for the analyst instead of handling one alert.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The alert file (integratord's argv[1]); JSON, one alert.
    #[arg(value_name = "ALERT_FILE")]
    pub alert: Option<String>,

    /// MISP API key (argv[2], the block's <api_key>). Visible in `ps`:
    /// prefer `api_key` in the options.
    #[arg(value_name = "API_KEY")]
    pub api_key: Option<String>,

    /// MISP base URL (argv[3], the block's <hook_url>); `misp_url` in the
    /// options overrides it.
    #[arg(value_name = "HOOK_URL")]
    pub hook_url: Option<String>,

    /// `debug` to log MISP requests and replies (argv[4]).
    #[arg(value_name = "DEBUG")]
    pub debug_word: Option<String>,

    /// Options file integratord writes from <options> (argv[5]).
    #[arg(value_name = "OPTIONS_FILE")]
    pub options_file: Option<String>,

    /// Time budget of the whole run in seconds (argv[6], the block's
    /// <timeout>; default 10); `timeout` in the options overrides it.
    #[arg(value_name = "TIMEOUT")]
    pub timeout: Option<String>,

    /// Further attempts after a connection failure, 429 or 5xx, within the
    /// budget (argv[7], the block's <retries>; default 3).
    #[arg(value_name = "RETRIES")]
    pub retries: Option<String>,

    /// Anything after that (integratord adds `> /dev/null 2>&1`); ignored.
    #[arg(
        value_name = "IGNORED",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        hide = true
    )]
    pub rest: Vec<String>,

    /// Print the datagrams, one per line, instead of sending them to Wazuh.
    #[arg(long, global = true)]
    pub stdout: bool,

    /// Read options from FILE (JSON, as in ossec.conf's <options>);
    /// overrides the positional options file.
    #[arg(long, value_name = "FILE", global = true)]
    pub options: Option<PathBuf>,

    /// Look IoCs up in a MISP-format feed folder instead of a MISP server.
    #[arg(long, value_name = "DIR", global = true)]
    pub feed: Option<PathBuf>,

    /// The Wazuh queue socket [default: /var/ossec/queue/sockets/queue].
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Log file, `-` for standard error
    /// [default: /var/ossec/logs/integrations.log].
    #[arg(long, value_name = "FILE", global = true)]
    pub log_file: Option<PathBuf>,

    /// Log MISP requests and replies (never the API key).
    #[arg(long, global = true)]
    pub debug: bool,
}

/// The analyst's tasks. Each reads the same options as the integration
/// (`--options FILE`, or `MISP_API_KEY` for the key).
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print the attack timeline of an incident: its steps by first_seen,
    /// the intel they hit, and the events MISP correlates with it.
    Timeline(TimelineArgs),
    /// Run a file of alerts (JSON lines, as alerts.json) through the
    /// integration one by one, as integratord would.
    Replay(ReplayArgs),
    /// Tell MISP that values seen by Wazuh are false positives (sighting
    /// type 1).
    FalsePositive(FeedbackArgs),
    /// Tell MISP that values are no longer valid indicators (sighting type
    /// 2, expiration).
    Expire(FeedbackArgs),
    /// Attach tags to a MISP event or attribute (by uuid).
    Tag(TagArgs),
    /// Show what the state directory remembers, or drop it.
    Store(StoreArgs),
    /// Load intel into the store's indicator index (`import`), mirror a
    /// MISP server into it (`sync`), list or remove what it holds.
    Feed(FeedArgs),
    /// Send what earlier runs could not: MISP writes kept while MISP was
    /// down, datagrams kept while analysisd was away.
    Flush,
}

/// Arguments of `feed`.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: FeedAction,
}

/// What `feed` does.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FeedAction {
    /// Load a MISP-format, CSV or freetext feed into the index, replacing
    /// what it held of that feed.
    Import(ImportArgs),
    /// Mirror the attributes of the MISP server in the options into the
    /// index: what changed since the last sync, page by page, resuming an
    /// interrupted sync.
    Sync(SyncArgs),
    /// What the index holds, per feed and server.
    List,
    /// Drop a feed (by name) or a server's mirror (by URL) from the index.
    Remove {
        /// The name `feed list` shows.
        #[arg(value_name = "NAME")]
        name: String,
    },
}

/// Arguments of `feed import`.
#[derive(Debug, Clone, clap::Args)]
pub struct ImportArgs {
    /// The feed: a MISP-format folder (or its manifest.json), a CSV or
    /// text file, as a path or a file:// URL.
    #[arg(value_name = "FEED")]
    pub location: String,
    /// The kind of feed [default: misp for a folder, csv for *.csv,
    /// freetext otherwise].
    #[arg(long, value_enum)]
    pub format: Option<crate::import::Format>,
    /// The name the feed is kept under [default: the folder's or file's
    /// name].
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// CSV without a header: the column (from 1) that holds the value.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub value_column: usize,
    /// CSV and freetext: the info of the feed's event [default: Feed NAME].
    #[arg(long, value_name = "TEXT")]
    pub info: Option<String>,
    /// CSV and freetext: the event's threat level, 1 (high) to 4
    /// (undefined).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u8).range(1..=4))]
    pub threat_level: u8,
    /// CSV and freetext: a tag of the event (repeat for more), e.g.
    /// tlp:green.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// CSV and freetext: the indicators are context, not for detection
    /// (to_ids false).
    #[arg(long)]
    pub not_for_ids: bool,
}

/// Arguments of `feed sync`.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// Attributes per request.
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub page_size: u64,
    /// Drop the mirror and fetch everything again (removes what MISP
    /// deleted when the key's user cannot see deletions).
    #[arg(long)]
    pub full: bool,
    /// The first sync fetches only attributes changed in the last DAYS
    /// days [default: all].
    #[arg(long, value_name = "DAYS")]
    pub days: Option<u64>,
}

/// Arguments of `store`.
#[derive(Debug, Clone, clap::Args)]
pub struct StoreArgs {
    /// `info` (size and counts), `prune` (drop expired answers and old
    /// flood counts) or `clear` (drop every answer and flood count; the
    /// indicator index and what is kept for delivery stay).
    #[arg(value_enum, default_value = "info")]
    pub action: StoreAction,
}

/// What `store` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreAction {
    /// Size and counts.
    Info,
    /// Drop expired answers and flood counts older than any window.
    Prune,
    /// Drop every answer and flood count.
    Clear,
}

/// Arguments of `timeline`.
#[derive(Debug, Clone, clap::Args)]
pub struct TimelineArgs {
    /// The incident event's id or uuid.
    #[arg(value_name = "EVENT", required_unless_present = "agent")]
    pub event: Option<String>,
    /// Instead of an event: the agent id whose incidents to show.
    #[arg(long, value_name = "ID", requires = "from")]
    pub agent: Option<String>,
    /// With --agent: the Wazuh manager name the incidents were recorded by
    /// [default: this host's name].
    #[arg(long, value_name = "NAME")]
    pub manager: Option<String>,
    /// With --agent: the first day (YYYY-MM-DD, UTC).
    #[arg(long, value_name = "DATE")]
    pub from: Option<String>,
    /// With --agent: the last day [default: the first day].
    #[arg(long, value_name = "DATE")]
    pub to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: TimelineFormat,
    /// Write to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// How `timeline` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// For a terminal, 100 columns.
    Text,
    /// The timeline as JSON.
    Json,
    /// A self-contained HTML page with an SVG timeline.
    Html,
}

/// Arguments of `replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// JSON lines of alerts, as /var/ossec/logs/alerts/alerts.json.
    #[arg(value_name = "ALERTS_FILE")]
    pub file: PathBuf,
    /// Only alerts of this rule level and above, as the block's <level>.
    #[arg(long, value_name = "N")]
    pub level: Option<u64>,
    /// Only alerts in one of these rule groups (comma-separated, exact
    /// names), as the block's <group>.
    #[arg(long, value_name = "GROUPS", value_delimiter = ',')]
    pub group: Vec<String>,
    /// Only alerts of these rule ids (comma-separated), as the block's
    /// <rule_id>.
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub rule_id: Vec<String>,
    /// No progress bar, even on a terminal.
    #[arg(long)]
    pub quiet: bool,
}

/// Arguments of `false-positive` and `expire`.
#[derive(Debug, Clone, clap::Args)]
pub struct FeedbackArgs {
    /// The values (IP addresses, domains, hashes, URLs).
    #[arg(value_name = "VALUE", required = true)]
    pub values: Vec<String>,
    /// Who says so, shown in MISP's sightings [default: the analyst's user
    /// and host].
    #[arg(long, value_name = "TEXT")]
    pub source: Option<String>,
}

/// Arguments of `tag`.
#[derive(Debug, Clone, clap::Args)]
pub struct TagArgs {
    /// The uuid of the event or attribute.
    #[arg(value_name = "UUID")]
    pub uuid: String,
    /// The tags, e.g. tlp:red or 'workflow:state="complete"'.
    #[arg(value_name = "TAG", required = true)]
    pub tags: Vec<String>,
    /// Attach as local tags (not shared with other MISP instances).
    #[arg(long)]
    pub local: bool,
}

impl Cli {
    /// Parses `args` (argv including argv[0]).
    pub fn parse_from_os<I>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = OsString>,
    {
        Cli::try_parse_from(args)
    }
}

/// Prints a parse failure and returns its exit code: 0 for `--help` and
/// `--version`, 2 for bad arguments (one line on standard error).
pub fn report_usage_error(err: clap::Error) -> u8 {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // A closed pipe (`custom-misp --help | head`) is not a failure.
            let _ = write!(std::io::stdout(), "{err}");
            0
        }
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("bad arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("custom-misp: bad arguments: {first} (see custom-misp --help)");
            crate::exit::Outcome::BadArguments.code()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::parse_from_os(args.iter().map(OsString::from)).unwrap()
    }

    #[test]
    fn integratord_s_full_form_with_empty_values_and_redirect_parses() {
        let cli = parse(&[
            "integrations",
            "/tmp/a.alert",
            "",
            "",
            "",
            "/tmp/a.options",
            "10",
            "3",
            ">",
            "/dev/null",
            "2>&1",
        ]);
        assert_eq!(cli.alert.as_deref(), Some("/tmp/a.alert"));
        assert_eq!(cli.api_key.as_deref(), Some(""));
        assert_eq!(cli.options_file.as_deref(), Some("/tmp/a.options"));
        assert_eq!(cli.timeout.as_deref(), Some("10"));
        assert_eq!(cli.rest, vec![">", "/dev/null", "2>&1"]);
    }

    #[test]
    fn the_redirect_as_one_argument_and_the_short_form_parse() {
        let cli = parse(&[
            "integrations",
            "/tmp/a.alert",
            "k",
            "https://misp",
            "debug",
            "",
            "5",
            "0",
            "> /dev/null 2>&1",
        ]);
        assert_eq!(cli.debug_word.as_deref(), Some("debug"));
        let short = parse(&["integrations", "/tmp/a.alert", "", "https://misp"]);
        assert_eq!(short.hook_url.as_deref(), Some("https://misp"));
        assert_eq!(short.timeout, None);
    }

    #[test]
    fn manual_flags_mix_with_the_positional_form() {
        let cli = parse(&["custom-misp", "--stdout", "--feed", "f", "a.json"]);
        assert!(cli.stdout);
        assert_eq!(cli.alert.as_deref(), Some("a.json"));
    }
}
