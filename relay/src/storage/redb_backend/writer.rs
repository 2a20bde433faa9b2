//! The single writer thread and its group commit: every operation waiting in the queue is
//! applied in order inside one write transaction, committed once (one fsync), and only then
//! answered. Reads run inline on a snapshot.

use super::slot::{FailKind, Slot};
use super::*;

/// Most operations in one group commit.
const MAX_BATCH: usize = 512;

/// Group-commit counters.
#[derive(Default)]
pub(super) struct CommitCounters {
    pub(super) commits: AtomicU64,
    pub(super) operations: AtomicU64,
}

/// How many write transactions the writer committed, and how many operations they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Committed write transactions (one fsync each).
    pub commits: u64,
    /// Operations in those transactions.
    pub operations: u64,
}

pub(super) type Completion = Box<dyn FnOnce(Option<&StorageError>) + Send>;
pub(super) type Job = Box<dyn FnOnce(&WriteTransaction) -> Result<Completion, StorageError> + Send>;

impl RedbStorage {
    /// Group-commit counters since opening: with concurrent writers, `operations` grows
    /// faster than `commits`.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            operations: self.stats.operations.load(Ordering::Relaxed),
        }
    }

    pub(super) fn submit<T: Send + 'static>(
        &self,
        op: impl FnOnce(&WriteTransaction) -> Result<T, StorageError> + Send + 'static,
    ) -> StorageFuture<'_, T> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, StorageError>>();
        let job: Job = Box::new(move |txn| match op(txn) {
            Ok(v) => Ok(Box::new(move |err: Option<&StorageError>| {
                let _ = tx.send(match err {
                    None => Ok(v),
                    Some(e) => Err(e.clone()),
                });
            }) as Completion),
            Err(e) if e.is_fatal() => {
                let _ = tx.send(Err(e.clone()));
                Err(e)
            }
            Err(e) => Ok(Box::new(move |err: Option<&StorageError>| {
                let _ = tx.send(Err(err.cloned().unwrap_or(e)));
            }) as Completion),
        });
        let refused = self.slot.refusal();
        let sent = refused.is_none()
            && match self.sender.lock() {
                Ok(guard) => guard.as_ref().map(|s| s.send(job).is_ok()).unwrap_or(false),
                Err(_) => false,
            };
        if refused.is_some() {
            metrics::counter!("hush_relay_writes_refused_total", "reason" => self.slot.kind().label())
                .increment(1);
        }
        Box::pin(async move {
            if let Some(e) = refused {
                return Err(e);
            }
            if !sent {
                return Err(StorageError::Closed);
            }
            // A job the writer dropped unanswered was refused while it recovered.
            rx.await.unwrap_or_else(|_| {
                Err(self.slot.refusal().unwrap_or_else(|| {
                    StorageError::Backend("write batch aborted by an earlier failure".into())
                }))
            })
        })
    }

    pub(super) fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, StorageError> + Send + 'static,
    ) -> StorageFuture<'_, T> {
        let open = self.sender.lock().map(|g| g.is_some()).unwrap_or(false);
        // Inline on the polling thread: a read works on a snapshot (it never waits for the
        // writer) and on pages redb or the OS has cached, and the requests it serves are
        // small. A hand-off to the blocking pool cost more than the read itself (two thread
        // switches per read, and a pool thread per concurrent reader: BENCHMARKS.md Part 3).
        Box::pin(async move {
            if !open {
                return Err(StorageError::Closed);
            }
            let txn = self.slot.db()?.begin_read()?;
            f(&txn)
        })
    }
}

/// The writer thread: group commits until the store is closed, and recovery after a commit
/// that failed with an I/O error (`recovery.rs`).
pub(super) fn writer_loop(
    slot: &Slot,
    path: &Path,
    rx: mpsc::Receiver<Job>,
    stats: &CommitCounters,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        if let Err(e) = commit_batch(slot, batch, stats)
            && FailKind::of(&e).is_some()
            && !recovery::recover(slot, path, &rx, &e)
        {
            return;
        }
    }
}

/// Applies `batch` in one write transaction and commits it, then answers every job: with
/// its result after a successful commit, with the error otherwise.
fn commit_batch(slot: &Slot, batch: Vec<Job>, stats: &CommitCounters) -> Result<(), StorageError> {
    let size = batch.len();
    let txn = slot.db().and_then(|db| {
        let mut t = db.begin_write()?;
        // The default, made explicit: commit returns only after fsync.
        t.set_durability(Durability::Immediate)
            .map_err(|e| StorageError::Backend(e.to_string()))?;
        Ok(t)
    });
    let txn = match txn {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot begin write transaction");
            refuse_from_now(slot, &e);
            // Dropping the batch answers every caller with the slot's refusal or an error.
            return Err(e);
        }
    };
    let mut completions = Vec::with_capacity(size);
    let mut fatal = None;
    let mut jobs = batch.into_iter();
    for job in jobs.by_ref() {
        match job(&txn) {
            Ok(c) => completions.push(c),
            Err(e) => {
                fatal = Some(e);
                break;
            }
        }
    }
    let result = match fatal {
        Some(e) => {
            tracing::error!(error = %e, "write batch aborted");
            let _ = txn.abort();
            refuse_from_now(slot, &e);
            drop(jobs); // not run: answered like the jobs that come during recovery
            Err(e)
        }
        None => txn.commit().map_err(StorageError::from),
    };
    if result.is_ok() {
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats
            .operations
            .fetch_add(completions.len() as u64, Ordering::Relaxed);
    }
    metrics::histogram!("hush_relay_commit_batch_size").record(size as f64);
    if let Err(e) = &result {
        // Nothing of the batch is acknowledged: after a failed write or fsync what it wrote
        // is not trusted to be durable.
        tracing::error!(error = %e, "commit failed");
    }
    for c in completions {
        c(result.as_ref().err());
    }
    result
}

/// After an error that needs a fresh handle, refuses writes at once (recovery follows).
fn refuse_from_now(slot: &Slot, e: &StorageError) {
    if let Some(kind) = FailKind::of(e) {
        let reason = match e {
            StorageError::Unavailable { reason, .. } => reason.clone(),
            e => e.to_string(),
        };
        slot.set_failing(kind, reason, recovery::FIRST_BACKOFF);
    }
}
