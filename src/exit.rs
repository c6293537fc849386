//! Exit codes, chosen in one place.
//!
//! integratord logs "Unable to run integration" with the last output line
//! for any non-zero code, so each failure class has its own code and the
//! README lists them.

use std::fmt;

/// How a run ended. The discriminant is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    /// The alert was handled (matched, not matched, skipped or without IoCs).
    #[default]
    Done = 0,
    /// An unexpected internal failure.
    Internal = 1,
    /// The command line could not be understood.
    BadArguments = 2,
    /// The alert file is missing, unreadable or not a Wazuh alert.
    BadAlert = 3,
    /// The options file or another setting is invalid.
    BadConfig = 4,
    /// MISP could not answer the lookup; an error datagram was sent.
    MispFailed = 5,
    /// The Wazuh queue socket does not exist or cannot be used.
    SocketMissing = 6,
    /// The Wazuh queue socket refused the datagram (analysisd not running).
    SocketRefused = 7,
    /// A datagram was too long for the socket.
    DatagramTooLong = 8,
    /// The lookup was answered, but recording the alert in MISP (or a
    /// sighting) failed; an error datagram says why.
    RecordFailed = 9,
}

impl Outcome {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// An error that decides the exit code of the run. It wraps the real error
/// and prints exactly as the wrapped error does.
#[derive(Debug)]
pub struct Failure {
    /// The exit code this failure leads to.
    pub outcome: Outcome,
    inner: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.inner)
    }
}

impl std::error::Error for Failure {}

/// Tags `err` with the exit code `outcome`.
pub fn fail(outcome: Outcome, err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Failure { outcome, inner: err.into() })
}

/// The exit code for `err`: the outcome of the first [`Failure`] in its
/// chain, or [`Outcome::Internal`] when none was tagged.
pub fn outcome_of(err: &anyhow::Error) -> Outcome {
    err.chain().find_map(|e| e.downcast_ref::<Failure>()).map_or(Outcome::Internal, |f| f.outcome)
}

/// Extension for tagging results with an exit code.
pub trait OrFail<T> {
    /// Tags the error of `self`, if any, with `outcome`.
    fn or_fail(self, outcome: Outcome) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> OrFail<T> for Result<T, E> {
    fn or_fail(self, outcome: Outcome) -> anyhow::Result<T> {
        self.map_err(|e| fail(outcome, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_outcome_survives_added_context() {
        let err: anyhow::Result<()> = Err(fail(Outcome::BadAlert, anyhow::anyhow!("not json")));
        let err = err.context("reading alert file a.alert").unwrap_err();
        assert_eq!(outcome_of(&err), Outcome::BadAlert);
        assert_eq!(format!("{err:#}"), "reading alert file a.alert: not json");
    }

    #[test]
    fn an_untagged_error_is_internal() {
        assert_eq!(outcome_of(&anyhow::anyhow!("boom")), Outcome::Internal);
        assert_eq!(Outcome::DatagramTooLong.code(), 8);
    }
}
