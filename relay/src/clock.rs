//! The relay's clock. Handlers and the expiry sweep read the time from the shared state,
//! never from the system directly, so that tests can pin it and move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Unix time in milliseconds: the system clock ([`Clock::default`]), or a pinned time that
/// only moves when told to (for tests). Clones share the pinned time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    pinned: Option<Arc<AtomicU64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock pinned at `ms` (Unix ms).
    pub fn pinned(ms: u64) -> Self {
        Clock {
            pinned: Some(Arc::new(AtomicU64::new(ms))),
        }
    }

    /// The time now, Unix ms.
    pub fn now_ms(&self) -> u64 {
        match &self.pinned {
            Some(t) => t.load(Ordering::SeqCst),
            None => crate::types::now_ms(),
        }
    }

    /// Sets a pinned clock to `ms`; false (and no effect) on the system clock.
    pub fn set(&self, ms: u64) -> bool {
        match &self.pinned {
            Some(t) => {
                t.store(ms, Ordering::SeqCst);
                true
            }
            None => false,
        }
    }

    /// Moves a pinned clock forward by `d`; false (and no effect) on the system clock.
    pub fn advance(&self, d: Duration) -> bool {
        match &self.pinned {
            Some(t) => {
                let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
                let _ = t.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| {
                    Some(v.saturating_add(ms))
                });
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_clock_moves_only_when_told_and_clones_share_it() {
        let c = Clock::pinned(1000);
        let d = c.clone();
        assert_eq!(c.now_ms(), 1000);
        assert!(d.advance(Duration::from_millis(500)));
        assert_eq!(c.now_ms(), 1500);
        assert!(c.set(7));
        assert_eq!(d.now_ms(), 7);
        let s = Clock::system();
        assert!(!s.set(7));
        assert!(s.now_ms() > 1_700_000_000_000);
    }
}
