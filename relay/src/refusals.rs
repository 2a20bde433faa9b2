//! Recent storage refusals, for readiness (spec/relay-protocol.md §5 "Storage failures"):
//! a relay whose store refused a write with `STORAGE_UNAVAILABLE` in the last
//! [`REFUSAL_WINDOW`], and stored no envelope or group-log entry since, is not ready. The storage probe alone cannot tell: a PostgreSQL server
//! out of disk still takes the probe's one small row (it fits in a page already there) while
//! it refuses every envelope that needs a new one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long after a refused write the relay reports itself not ready. Longer than the
/// retry time the PostgreSQL backend asks for (1 s), so that clients retrying a full store
/// keep it "not ready"; short enough that readiness comes back soon after writes do.
pub const REFUSAL_WINDOW: Duration = Duration::from_secs(2);

/// When this node's store last refused a write.
pub(crate) struct Refusals {
    start: Instant,
    /// Milliseconds since `start` of the last refusal, plus one (0: none yet).
    last: AtomicU64,
    /// Its reason, for the readiness answer.
    reason: std::sync::Mutex<String>,
}

impl Refusals {
    pub(crate) fn new() -> Self {
        Refusals {
            start: Instant::now(),
            last: AtomicU64::new(0),
            reason: std::sync::Mutex::new(String::new()),
        }
    }

    /// Records a refused write.
    pub(crate) fn note(&self, reason: &str) {
        let at = self.start.elapsed().as_millis() as u64 + 1;
        if let Ok(mut r) = self.reason.lock() {
            reason.clone_into(&mut r);
        }
        self.last.store(at, Ordering::Relaxed);
    }

    /// Forgets the last refusal: a write that adds data was just stored.
    pub(crate) fn clear(&self) {
        self.last.store(0, Ordering::Relaxed);
    }

    /// For readiness: why writes are being refused, if one was within [`REFUSAL_WINDOW`].
    pub(crate) fn recent(&self) -> Option<String> {
        let last = self.last.load(Ordering::Relaxed);
        if last == 0 {
            return None;
        }
        let ago = (self.start.elapsed().as_millis() as u64 + 1).saturating_sub(last);
        if ago >= REFUSAL_WINDOW.as_millis() as u64 {
            return None;
        }
        let reason = self.reason.lock().map(|r| r.clone()).unwrap_or_default();
        Some(format!("a write was refused {ago} ms ago: {reason}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_counts_for_the_window_only() {
        let mut r = Refusals::new();
        r.start = Instant::now()
            .checked_sub(Duration::from_secs(10))
            .expect("the clock is past 10 s");
        assert_eq!(r.recent(), None);
        r.note("database refused the write (disk_full)");
        let why = r.recent().expect("refused just now");
        assert!(why.contains("disk_full"), "{why}");
        // A refusal 10 s ago (at `start`) no longer counts.
        r.last.store(1, Ordering::Relaxed);
        assert_eq!(r.recent(), None);
        // A stored write ends it at once.
        r.note("disk_full");
        assert!(r.recent().is_some());
        r.clear();
        assert_eq!(r.recent(), None);
    }
}
