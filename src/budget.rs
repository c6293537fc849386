//! The time budget of one run.
//!
//! integratord waits for the program, so every network step takes its
//! timeout from one deadline fixed at start-up: whatever MISP does, the run
//! ends within the budget plus the time to write the answer.

use std::time::{Duration, Instant};

/// A point in time after which the run must stop waiting on the network.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    start: Instant,
    end: Instant,
}

impl Deadline {
    /// A deadline `budget` from now.
    pub fn after(budget: Duration) -> Deadline {
        Deadline::since(Instant::now(), budget)
    }

    /// A deadline `budget` after `start`, for a run whose clock started
    /// before its budget was known.
    pub fn since(start: Instant, budget: Duration) -> Deadline {
        Deadline { start, end: start + budget }
    }

    /// Time left before the deadline, zero once it has passed.
    pub fn remaining(&self) -> Duration {
        self.end.saturating_duration_since(Instant::now())
    }

    /// True once the deadline has passed.
    pub fn expired(&self) -> bool {
        self.remaining().is_zero()
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// The whole budget.
    pub fn budget(&self) -> Duration {
        self.end - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_budget_is_expired_at_once() {
        let deadline = Deadline::after(Duration::ZERO);
        assert!(deadline.expired());
        assert_eq!(deadline.remaining(), Duration::ZERO);
    }

    #[test]
    fn the_remaining_time_never_exceeds_the_budget() {
        let deadline = Deadline::after(Duration::from_secs(5));
        assert!(deadline.remaining() <= Duration::from_secs(5));
        assert!(!deadline.expired());
        assert_eq!(deadline.budget(), Duration::from_secs(5));
    }
}
