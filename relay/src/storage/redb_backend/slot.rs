//! The database handle that the writer thread and the readers share, and whether the store
//! takes writes now.
//!
//! After an I/O error redb fails every later operation on the handle ("Previous I/O error
//! occurred. Please close and re-open the database"): the writer then takes the handle out
//! of the slot, closes it and puts a fresh one in (`recovery.rs`). While it does, and until a
//! write succeeds again, the slot is *failing*: writes are refused at once with
//! [`StorageError::Unavailable`] and reads use whatever handle is in the slot.

use super::*;
use std::sync::RwLock;
use std::sync::atomic::AtomicBool;

/// Why writes are refused, as a metric label (`hush_relay_writes_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// The file system is full (`ENOSPC`, `EDQUOT`).
    DiskFull,
    /// Any other I/O error, or a handle poisoned by one.
    Io,
}

impl FailKind {
    pub(crate) fn label(self) -> &'static str {
        match self {
            FailKind::DiskFull => "disk_full",
            FailKind::Io => "io_error",
        }
    }

    /// The kind of a storage error that calls for a fresh handle, `None` for any other.
    pub(crate) fn of(e: &StorageError) -> Option<FailKind> {
        match e {
            StorageError::Unavailable { reason, .. } if is_disk_full(reason) => {
                Some(FailKind::DiskFull)
            }
            StorageError::Unavailable { .. } => Some(FailKind::Io),
            _ => None,
        }
    }
}

/// Whether an error message is the OS's "no space" (ENOSPC 28 or EDQUOT 122 on Linux).
fn is_disk_full(reason: &str) -> bool {
    reason.contains("os error 28")
        || reason.contains("os error 122")
        || reason.contains("No space left")
        || reason.contains("StorageFull")
}

/// What the slot says while it is failing.
#[derive(Debug, Clone)]
struct Failing {
    kind: FailKind,
    reason: String,
    retry_after_ms: u64,
}

/// The shared handle and its state.
pub(super) struct Slot {
    db: RwLock<Option<Arc<Database>>>,
    failing: AtomicBool,
    why: Mutex<Option<Failing>>,
}

impl Slot {
    pub(super) fn new(db: Database) -> Self {
        metrics::gauge!("hush_relay_storage_writable").set(1.0);
        Slot {
            db: RwLock::new(Some(Arc::new(db))),
            failing: AtomicBool::new(false),
            why: Mutex::new(None),
        }
    }

    /// The current handle, or `Unavailable` while there is none (between closing a failed
    /// handle and opening the next).
    pub(super) fn db(&self) -> Result<Arc<Database>, StorageError> {
        let g = self.db.read().unwrap_or_else(|p| p.into_inner());
        g.clone().ok_or_else(|| self.unavailable())
    }

    /// Takes the handle out: readers get `Unavailable` until [`Slot::put`].
    pub(super) fn take(&self) -> Option<Arc<Database>> {
        self.db.write().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Installs a fresh handle.
    pub(super) fn put(&self, db: Database) {
        *self.db.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(db));
    }

    /// `Some(refusal)` while writes are refused.
    pub(super) fn refusal(&self) -> Option<StorageError> {
        self.failing
            .load(Ordering::Acquire)
            .then(|| self.unavailable())
    }

    /// The refusal to answer now.
    pub(super) fn unavailable(&self) -> StorageError {
        match self.lock_why().clone() {
            Some(f) => StorageError::Unavailable {
                reason: f.reason,
                retry_after_ms: f.retry_after_ms,
            },
            None => StorageError::Unavailable {
                reason: "the database is being reopened".into(),
                retry_after_ms: super::recovery::FIRST_BACKOFF.as_millis() as u64,
            },
        }
    }

    /// The metric label of the current refusal.
    pub(super) fn kind(&self) -> FailKind {
        self.lock_why().as_ref().map_or(FailKind::Io, |f| f.kind)
    }

    /// Refuses writes from now on, for `reason`, until [`Slot::set_ok`].
    pub(super) fn set_failing(&self, kind: FailKind, reason: String, retry_after: Duration) {
        *self.lock_why() = Some(Failing {
            kind,
            reason,
            retry_after_ms: retry_after.as_millis() as u64,
        });
        self.failing.store(true, Ordering::Release);
        metrics::gauge!("hush_relay_storage_writable").set(0.0);
    }

    /// Takes writes again.
    pub(super) fn set_ok(&self) {
        self.failing.store(false, Ordering::Release);
        *self.lock_why() = None;
        metrics::gauge!("hush_relay_storage_writable").set(1.0);
    }

    fn lock_why(&self) -> std::sync::MutexGuard<'_, Option<Failing>> {
        self.why.lock().unwrap_or_else(|p| p.into_inner())
    }
}

use std::time::Duration;
