//! Recovery from a failed write (spec/relay-protocol.md §5 "Storage failures"): after an I/O
//! error (a full disk, a failed write or fsync) redb refuses every later operation on its
//! handle until it is closed and reopened. The writer thread then, by itself:
//!
//! 1. refuses writes ([`StorageError::Unavailable`], with the time of its next attempt) and
//!    logs one line saying so;
//! 2. closes the failed handle and opens a fresh one on the same file (redb checks the file
//!    and, after an unclean close, rebuilds its allocator state from the last durable
//!    commit), with backoff while that fails; reads work again as soon as it is open;
//! 3. verifies that the file takes a write (the health probe's one-row commit, with fsync),
//!    after a backoff wait that starts at [`FIRST_BACKOFF`] and doubles up to
//!    [`MAX_BACKOFF`]; a failed verification starts again at step 2;
//! 4. takes writes again and logs one line saying so.
//!
//! A batch whose commit failed was answered with the error and nothing of it is
//! acknowledged: after an fsync error what it wrote is not trusted to be durable, and the
//! fresh handle reads the file as the last commit redb can verify left it. A client that
//! retries gets the same answer it would have had (envelope ids make SEND idempotent).

use super::slot::{FailKind, Slot};
use super::writer::Job;
use super::*;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// First wait before verifying a reopened handle; also the `retry_after_ms` of a batch that
/// failed.
pub(crate) const FIRST_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the wait for readers of the failed handle looks again.
const RELEASE_POLL: Duration = Duration::from_millis(5);

/// Recovers from `cause`. Returns `false` when the store was closed meanwhile (the writer
/// then ends), `true` once the store takes writes again.
pub(super) fn recover(
    slot: &Slot,
    path: &Path,
    rx: &mpsc::Receiver<Job>,
    cause: &StorageError,
) -> bool {
    let kind = FailKind::of(cause).unwrap_or(FailKind::Io);
    let started = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let first = reason_of(cause);
    let mut reason = first.clone();
    slot.set_failing(kind, reason.clone(), backoff);
    metrics::counter!("hush_relay_storage_failures_total", "reason" => kind.label()).increment(1);
    tracing::error!(
        error = %cause,
        reason = kind.label(),
        "storage failing: writes are refused (ERROR_CODE_STORAGE_UNAVAILABLE) until the \
         database is reopened and takes a write again"
    );
    let mut attempts: u64 = 0;
    loop {
        attempts += 1;
        match reopen(slot, path, rx) {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::debug!(error = %e, attempt = attempts, "reopening the database failed");
                reason = format!("{first} (reopening the database failed: {})", reason_of(&e));
                slot.set_failing(kind, trim(&reason), backoff);
                if !refuse_for(slot, rx, backoff) {
                    return false;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        }
        slot.set_failing(kind, trim(&reason), backoff);
        if !refuse_for(slot, rx, backoff) {
            return false;
        }
        match verify(slot) {
            Ok(()) => {
                slot.set_ok();
                let ms = started.elapsed().as_millis() as u64;
                tracing::warn!(
                    reason = kind.label(),
                    attempts,
                    refused_for_ms = ms,
                    "storage recovered: the reopened database took a write; writes are accepted again"
                );
                return true;
            }
            Err(e) => {
                tracing::debug!(error = %e, attempt = attempts, "the reopened database still refuses writes");
                reason = reason_of(&e);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// The reason an error gives, without the "storage unavailable" its refusal adds again.
fn reason_of(e: &StorageError) -> String {
    match e {
        StorageError::Unavailable { reason, .. } => reason.clone(),
        e => e.to_string(),
    }
}

/// Keeps the last reason short enough for one line.
fn trim(reason: &str) -> String {
    const MAX: usize = 300;
    match reason.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &reason[..i]),
        None => reason.to_string(),
    }
}

/// Closes the failed handle (once every reader has let go of it) and installs a fresh one.
/// `Ok(false)` when the store was closed meanwhile.
fn reopen(slot: &Slot, path: &Path, rx: &mpsc::Receiver<Job>) -> Result<bool, StorageError> {
    if let Some(mut old) = slot.take() {
        // Readers hold the handle for one read at most; redb keeps the file locked until
        // the last holder lets go, and a second handle cannot open it before.
        loop {
            match Arc::try_unwrap(old) {
                Ok(db) => {
                    // Its error is the I/O failure we know of; the file is left for the
                    // next open to recover.
                    let _ = db.close();
                    break;
                }
                Err(still_shared) => {
                    old = still_shared;
                    if !refuse_for(slot, rx, RELEASE_POLL) {
                        return Ok(false);
                    }
                }
            }
        }
    }
    let db = Database::create(path)?;
    slot.put(db);
    Ok(true)
}

/// One small write through the fresh handle, committed with fsync.
fn verify(slot: &Slot) -> Result<(), StorageError> {
    let db = slot.db()?;
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| StorageError::Backend(e.to_string()))?;
    health::probe_tx(&txn)?;
    txn.commit()?;
    Ok(())
}

/// Waits `d`, refusing every write that arrives meanwhile (dropping a job answers its caller
/// with the slot's refusal). `false` when the store was closed.
fn refuse_for(slot: &Slot, rx: &mpsc::Receiver<Job>, d: Duration) -> bool {
    let until = Instant::now() + d;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        match rx.recv_timeout(left) {
            Ok(job) => {
                metrics::counter!("hush_relay_writes_refused_total", "reason" => slot.kind().label())
                    .increment(1);
                drop(job);
            }
            Err(RecvTimeoutError::Timeout) => return true,
            Err(RecvTimeoutError::Disconnected) => return false,
        }
    }
}
