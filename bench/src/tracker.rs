//! What happened to every message: receipts, deliveries, latencies, errors.
//!
//! Definitions (also in BENCHMARKS.md):
//! * a *send* counts once the relay (or JetStream) acknowledged it as stored;
//! * a *delivery* is the first time the owner receives a message (its latency, from the time
//!   the send was started or scheduled to the push, goes into the histogram);
//! * *lost*: acknowledged but never delivered by the end of the drain period;
//! * *redelivered*: the same message again under the same relay sequence number (the cursor
//!   an app keeps filters these, so they are not visible to the app);
//! * *duplicated*: the same message again under another sequence number, that is, stored
//!   twice; an app that trusts the cursor would see it twice;
//! * *corrupted*: a delivered envelope whose bytes do not check out.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Default)]
struct Msg {
    receipted: bool,
    delivered_seq: Option<u64>,
}

/// Counters at the end of a run.
pub(crate) struct Totals {
    pub receipted: u64,
    pub deliveries: u64,
    pub lost: u64,
    pub redelivered: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub unreceipted_delivered: u64,
    pub abandoned: u64,
    pub errors: BTreeMap<String, u64>,
    pub hist: Histogram<u64>,
    pub last_receipt: Option<Instant>,
    pub last_delivery: Option<Instant>,
}

struct Inner {
    msgs: HashMap<u64, Msg>,
    keep_done: bool,
    receipted: u64,
    deliveries: u64,
    done: u64,
    redelivered: u64,
    duplicated: u64,
    corrupted: u64,
    abandoned: u64,
    errors: BTreeMap<String, u64>,
    hist: Histogram<u64>,
    last_receipt: Option<Instant>,
    last_delivery: Option<Instant>,
}

/// Shared by every sender and receiver task.
pub(crate) struct Tracker {
    inner: Mutex<Inner>,
}

impl Tracker {
    /// `keep_done`: remember delivered messages (needed to count duplicates; `--verify`).
    pub(crate) fn new(keep_done: bool) -> anyhow::Result<Tracker> {
        // Microseconds, 1 µs .. 10 min, 3 significant digits.
        let hist = Histogram::new_with_bounds(1, 600_000_000, 3)?;
        Ok(Tracker {
            inner: Mutex::new(Inner {
                msgs: HashMap::new(),
                keep_done,
                receipted: 0,
                deliveries: 0,
                done: 0,
                redelivered: 0,
                duplicated: 0,
                corrupted: 0,
                abandoned: 0,
                errors: BTreeMap::new(),
                hist,
                last_receipt: None,
                last_delivery: None,
            }),
        })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }

    /// The relay acknowledged message `n` as stored.
    pub(crate) fn receipt(&self, n: u64) {
        self.with(|s| {
            let m = s.msgs.entry(n).or_default();
            if m.receipted {
                return;
            }
            m.receipted = true;
            let delivered = m.delivered_seq.is_some();
            s.receipted += 1;
            s.last_receipt = Some(Instant::now());
            if delivered {
                s.done += 1;
                if !s.keep_done {
                    s.msgs.remove(&n);
                }
            }
        })
    }

    /// Message `n` arrived at its owner under sequence number `seq`, `latency_us` after it
    /// was sent.
    pub(crate) fn delivery(&self, n: u64, seq: u64, latency_us: u64) {
        self.with(|s| {
            let m = s.msgs.entry(n).or_default();
            match m.delivered_seq {
                Some(first) if first == seq => s.redelivered += 1,
                Some(_) => s.duplicated += 1,
                None => {
                    m.delivered_seq = Some(seq);
                    let receipted = m.receipted;
                    s.deliveries += 1;
                    s.last_delivery = Some(Instant::now());
                    let _ = s.hist.record(latency_us.clamp(1, 600_000_000));
                    if receipted {
                        s.done += 1;
                        if !s.keep_done {
                            s.msgs.remove(&n);
                        }
                    }
                }
            }
        })
    }

    /// A delivered envelope did not check out.
    pub(crate) fn corrupt(&self) {
        self.with(|s| s.corrupted += 1)
    }

    /// A send was given up after the run (it has no receipt; it is not counted).
    pub(crate) fn abandon(&self) {
        self.with(|s| s.abandoned += 1)
    }

    /// One error of `kind`.
    pub(crate) fn error(&self, kind: &str) {
        self.with(|s| *s.errors.entry(kind.to_string()).or_default() += 1)
    }

    /// Acknowledged messages not yet delivered.
    pub(crate) fn outstanding(&self) -> u64 {
        self.with(|s| s.receipted - s.done)
    }

    /// The final counters.
    pub(crate) fn totals(&self) -> Totals {
        self.with(|s| {
            let unreceipted_delivered = s
                .msgs
                .values()
                .filter(|m| !m.receipted && m.delivered_seq.is_some())
                .count() as u64;
            Totals {
                receipted: s.receipted,
                deliveries: s.deliveries,
                lost: s.receipted - s.done,
                redelivered: s.redelivered,
                duplicated: s.duplicated,
                corrupted: s.corrupted,
                unreceipted_delivered,
                abandoned: s.abandoned,
                errors: s.errors.clone(),
                hist: s.hist.clone(),
                last_receipt: s.last_receipt,
                last_delivery: s.last_delivery,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lost_duplicated_redelivered() {
        let t = Tracker::new(true).unwrap();
        t.receipt(1);
        t.receipt(2);
        t.delivery(2, 10, 5);
        t.receipt(3);
        t.delivery(3, 11, 5);
        t.delivery(3, 11, 5);
        t.delivery(3, 12, 5);
        t.delivery(4, 13, 5);
        let s = t.totals();
        assert_eq!(s.receipted, 3);
        assert_eq!(s.lost, 1);
        assert_eq!(s.redelivered, 1);
        assert_eq!(s.duplicated, 1);
        assert_eq!(s.unreceipted_delivered, 1);
        assert_eq!(s.deliveries, 3);
    }
}
