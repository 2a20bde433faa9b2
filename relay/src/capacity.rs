//! Bounded relay storage (spec/relay-protocol.md §5 "Relay-wide storage cap" and §6): the
//! size limit of a directory entry, the relay-wide storage cap (`ERROR_CODE_RELAY_FULL`) and
//! the storage gauges. Blobs count with their declared lengths, reserved at BLOB_CREATE
//! (spec §11.5).
//!
//! The cap is enforced here, in front of the storage backend, for both backends alike. The
//! relay measures what the store holds ([`Storage::usage`]) every `storage_usage_interval`
//! and in between adds the bytes it admitted itself: a write is admitted when
//!
//! ```text
//! measured total + bytes admitted by this node since the measurement + its bytes <= cap
//! ```
//!
//! Nothing is updated on the write path of the store (no hot counter row on PostgreSQL).
//! An admitted write that the store then refuses or finds to be a duplicate gives its bytes
//! back. Space freed by ACKs, fetches that take directory entries, replacing uploads or the
//! expiry sweep is seen at the next measurement; a write that would be refused after such a
//! free first measures again (at most every [`REMEASURE_GAP`]), so an ACK makes room at once.
//! Slack, documented in the spec: the total can exceed the cap by the writes in flight while
//! a measurement runs and, with several nodes on one database, by what the other nodes admit
//! between two measurements.

use crate::cmd::CmdError;
use crate::proto::ErrorCode;
use crate::reserve::Reserve;
use crate::storage::{Storage, StorageUsage};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The shortest time between two measurements made because a write would be refused.
pub(crate) const REMEASURE_GAP: Duration = Duration::from_millis(100);

/// Refuses an upload whose entry is larger than `max` bytes; `what` names the entry.
pub(crate) fn check_entry(what: &str, len: usize, max: usize) -> Result<(), CmdError> {
    if len <= max {
        return Ok(());
    }
    metrics::counter!("hush_relay_directory_entries_too_large_total").increment(1);
    Err(CmdError::new(
        ErrorCode::DirectoryEntryTooLarge,
        format!(
            "{what} of {len} bytes exceeds the relay's limit of {max} bytes per directory entry \
             (max_directory_entry_bytes); nothing was stored"
        ),
    ))
}

/// The last measurement.
#[derive(Debug, Default)]
struct Measured {
    /// Its total bytes.
    total: u64,
    /// [`Capacity::net`] when it started: admissions after that are added to `total`.
    net_at: i64,
    /// [`Capacity::frees`] when it started.
    frees_at: u64,
    /// When it started; `None` before the first one.
    at: Option<Instant>,
}

/// The relay-wide storage cap of one relay node.
pub(crate) struct Capacity {
    max: Option<u64>,
    /// The blob store, whose reserved lengths count toward the cap.
    blobs: Option<Arc<crate::blobs::Blobs>>,
    /// The free-space reserve of the store's file system (`reserve.rs`).
    pub(crate) reserve: Arc<Reserve>,
    /// Bytes admitted minus bytes given back, since start.
    net: AtomicI64,
    /// Operations that may have freed space, since start.
    frees: AtomicU64,
    last: Mutex<Measured>,
    /// One measurement at a time.
    measuring: tokio::sync::Mutex<()>,
}

/// Bytes admitted under the cap. Dropping it gives them back (the write failed or stored
/// nothing); [`Admitted::keep`] keeps them counted.
#[must_use]
pub(crate) struct Admitted<'a> {
    cap: &'a Capacity,
    bytes: i64,
}

impl Admitted<'_> {
    /// The write stored its bytes.
    pub(crate) fn keep(mut self) {
        self.bytes = 0;
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.bytes != 0 {
            self.cap.net.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

impl Capacity {
    /// A cap of `max` bytes (`None` for no cap) over the store and `blobs`.
    pub(crate) fn new(
        max: Option<u64>,
        reserve: Reserve,
        blobs: Option<Arc<crate::blobs::Blobs>>,
    ) -> Self {
        metrics::gauge!("hush_relay_max_storage_bytes").set(max.unwrap_or(0) as f64);
        Capacity {
            max,
            blobs,
            reserve: Arc::new(reserve),
            net: AtomicI64::new(0),
            frees: AtomicU64::new(0),
            last: Mutex::new(Measured::default()),
            measuring: tokio::sync::Mutex::new(()),
        }
    }

    /// Something may have freed space (ACK, take, replacing upload, sweep, blob expiry).
    pub(crate) fn freed(&self) {
        self.frees.fetch_add(1, Ordering::Relaxed);
    }

    /// Measures the store now (unless `only_if_stale` and nothing was freed since the last
    /// measurement, or it is younger than [`REMEASURE_GAP`]), and publishes the gauges.
    pub(crate) async fn measure(
        &self,
        storage: &dyn Storage,
        only_if_stale: bool,
    ) -> Result<(), CmdError> {
        let _one = self.measuring.lock().await;
        let frees = self.frees.load(Ordering::Relaxed);
        if only_if_stale {
            let last = self.lock_last();
            let fresh = last.at.is_some() && last.frees_at == frees;
            let recent = last.at.is_some_and(|t| t.elapsed() < REMEASURE_GAP);
            if fresh || recent {
                return Ok(());
            }
        }
        let started = Instant::now();
        let net_at = self.net.load(Ordering::Relaxed);
        let u = storage.usage().await?;
        let blob_bytes = match &self.blobs {
            Some(b) => b.stored_bytes().await.map_err(crate::cmd::blob_error)?,
            None => 0,
        };
        publish(&u, blob_bytes);
        *self.lock_last() = Measured {
            total: u.total_bytes().saturating_add(blob_bytes),
            net_at,
            frees_at: frees,
            at: Some(started),
        };
        Ok(())
    }

    /// Admits a write of `bytes` under the cap and the free-space reserve, or refuses it
    /// with `RELAY_FULL`.
    pub(crate) async fn admit(
        &self,
        storage: &dyn Storage,
        bytes: u64,
    ) -> Result<Admitted<'_>, CmdError> {
        if bytes > 0 {
            self.reserve.check()?;
        }
        let Some(max) = self.max.filter(|_| bytes > 0) else {
            return Ok(Admitted {
                cap: self,
                bytes: 0,
            });
        };
        let b = i64::try_from(bytes).unwrap_or(i64::MAX);
        if self.lock_last().at.is_none() {
            // The first write measures (once, also when several arrive at the same time).
            self.measure(storage, true).await?;
        }
        let mut remeasured = false;
        loop {
            let net = self.net.fetch_add(b, Ordering::Relaxed).saturating_add(b);
            let (total, stale) = {
                let last = self.lock_last();
                let since = i128::from(net) - i128::from(last.net_at);
                let total = (i128::from(last.total) + since).max(0);
                (total, last.frees_at != self.frees.load(Ordering::Relaxed))
            };
            if total <= i128::from(max) {
                return Ok(Admitted {
                    cap: self,
                    bytes: b,
                });
            }
            self.net.fetch_sub(b, Ordering::Relaxed);
            if stale && !remeasured {
                remeasured = true;
                self.measure(storage, true).await?;
                continue;
            }
            metrics::counter!("hush_relay_relay_full_total").increment(1);
            let stored = total - i128::from(b);
            let mut e = CmdError::new(
                ErrorCode::RelayFull,
                format!(
                    "relay full: about {stored} bytes stored, {bytes} more would exceed the \
                     relay's storage cap of {max} bytes; nothing was stored"
                ),
            );
            e.retry_after_ms = REMEASURE_GAP.as_millis() as u64;
            return Err(e);
        }
    }

    fn lock_last(&self) -> std::sync::MutexGuard<'_, Measured> {
        // The guarded value is plain numbers, valid whatever a panicking holder did.
        self.last.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Sets the storage gauges.
fn publish(u: &StorageUsage, blob_bytes: u64) {
    metrics::gauge!("hush_relay_stored_blob_bytes").set(blob_bytes as f64);
    metrics::gauge!("hush_relay_stored_envelopes").set(u.envelopes as f64);
    metrics::gauge!("hush_relay_stored_envelope_bytes").set(u.envelope_bytes as f64);
    metrics::gauge!("hush_relay_stored_group_entries").set(u.group_entries as f64);
    metrics::gauge!("hush_relay_stored_group_bytes").set(u.group_bytes as f64);
    metrics::gauge!("hush_relay_directory_entries").set(u.directory_entries as f64);
    metrics::gauge!("hush_relay_directory_bytes").set(u.directory_bytes as f64);
    metrics::gauge!("hush_relay_stored_bytes")
        .set(u.total_bytes().saturating_add(blob_bytes) as f64);
}

/// Measures every `interval` (for the gauges, and to see other nodes' writes and frees)
/// until shutdown.
pub(crate) async fn measure_loop(
    shared: std::sync::Arc<crate::shared::Shared>,
    interval: Duration,
    mut shutdown: crate::shutdown::Shutdown,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        shared.capacity.reserve.sample();
        if let Err(e) = shared.capacity.measure(&*shared.storage, false).await {
            metrics::counter!("hush_relay_errors_total", "kind" => "storage").increment(1);
            tracing::warn!(error = %e.message, "storage usage measurement failed");
        }
    }
}
