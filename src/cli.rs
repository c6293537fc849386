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

use clap::error::ErrorKind;
use clap::Parser;

const AFTER_HELP: &str = "\
As wazuh-integratord runs it (the block in ossec.conf names custom-misp):
  custom-misp /tmp/custom-misp-1.alert '' '' '' /tmp/custom-misp-1.options 10 3 '> /dev/null 2>&1'

By hand, on a sample alert, against an offline MISP feed, printing the datagrams:
  custom-misp --stdout --feed integration/feed integration/sample-alerts/sysmon-1-dropper.json

By hand, against a MISP server named in an options file:
  custom-misp --stdout --options misp.options /tmp/alert.json

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
    version,
    about = "Checks the IoCs of a Wazuh alert against MISP and answers on Wazuh's queue socket.",
    after_help = AFTER_HELP
)]
pub struct Cli {
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
    #[arg(long)]
    pub stdout: bool,

    /// Read options from FILE (JSON, as in ossec.conf's <options>);
    /// overrides the positional options file.
    #[arg(long, value_name = "FILE")]
    pub options: Option<PathBuf>,

    /// Look IoCs up in a MISP-format feed folder instead of a MISP server.
    #[arg(long, value_name = "DIR")]
    pub feed: Option<PathBuf>,

    /// The Wazuh queue socket [default: /var/ossec/queue/sockets/queue].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Log file, `-` for standard error
    /// [default: /var/ossec/logs/integrations.log].
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// Log MISP requests and replies (never the API key).
    #[arg(long)]
    pub debug: bool,
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
            print!("{err}");
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
