//! The stop signal shared by the server's threads: waits that end early
//! when the server is dropped, so that hung and delayed connections do
//! not outlive it.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Set once, when the server stops; every wait on it then returns.
#[derive(Debug, Default)]
pub struct Shutdown {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl Shutdown {
    /// Marks the server stopped and wakes every waiter.
    pub fn trigger(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    /// Whether the server is stopping.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps for `duration`; returns `false` when woken by a stop.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            let (guard, _) = self
                .changed
                .wait_timeout(stopped, deadline - now)
                .unwrap_or_else(|e| e.into_inner());
            stopped = guard;
        }
        false
    }

    /// Blocks until the server stops.
    pub fn wait(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            stopped = self.changed.wait(stopped).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_stop_cuts_a_sleep_short() {
        let shutdown = Arc::new(Shutdown::default());
        let waker = Arc::clone(&shutdown);
        let thread = std::thread::spawn(move || waker.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(50));
        shutdown.trigger();
        assert!(!thread.join().unwrap());
        assert!(!shutdown.sleep(Duration::from_secs(30)));
    }
}
