//! The embedded default backend, on [redb](https://docs.rs/redb).
//!
//! All writes go through one writer thread that practises group commit: it takes every
//! operation waiting in its queue, applies them in order inside one write transaction and
//! commits once (`Durability::Immediate`, so one fsync for the whole batch). Only after the
//! commit returns does any caller of the batch get its answer. Operations are serial, so each
//! is atomic: one that fails a check (quota, epoch, id conflict) does so before it writes.
//! Reads run inline on the caller's thread against a snapshot.
//!
//! The files of this module, by concern: `open.rs` opens the file (format version, tables,
//! the one-time upgrade of older files); `writer.rs` is the writer thread and its group
//! commit, and the read path; `envelopes.rs` the mailboxes and their envelopes; `sweep.rs`
//! the expiry sweep; `stock.rs` the directory counts, stock and takes; `groups.rs` the group
//! logs; the directory writes are in `../redb_directory.rs`, the state generation, storage
//! usage and health probe in `generation.rs`, `usage.rs` and `health.rs`.

use super::records::*;
use super::*;
use crate::types::sha256;
use prost::Message;
use redb::{
    Database, Durability, ReadTransaction, ReadableDatabase, ReadableTable, Table, TableDefinition,
    TableHandle, WriteTransaction,
};

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

// The directory writes, in a file next to this module's directory.
#[path = "../redb_directory.rs"]
mod directory;
mod envelopes;
mod groups;
mod kem;
mod open;
mod recovery;
mod slot;
mod stock;
mod sweep;
mod writer;

use stock::{directory_counts, set_directory_counts, stock_rx, stock_tx};
pub use writer::CommitStats;
use writer::{CommitCounters, Job};

type Bytes<'a> = &'a [u8];
const ENVELOPES: TableDefinition<Bytes, Bytes> = TableDefinition::new("envelopes");
const ENVELOPE_INDEX: TableDefinition<Bytes, Bytes> = TableDefinition::new("envelope_index");
const MAILBOXES: TableDefinition<Bytes, Bytes> = TableDefinition::new("mailboxes");
const EXPIRY: TableDefinition<Bytes, Bytes> = TableDefinition::new("envelope_expiry");
const FORGET: TableDefinition<Bytes, Bytes> = TableDefinition::new("envelope_forget");
const SIGNED_PREKEYS: TableDefinition<Bytes, Bytes> = TableDefinition::new("signed_prekeys");
const ONE_TIME_PREKEYS: TableDefinition<Bytes, Bytes> = TableDefinition::new("one_time_prekeys");
const KEY_PACKAGES: TableDefinition<Bytes, Bytes> = TableDefinition::new("key_packages");
const LAST_RESORT: TableDefinition<Bytes, Bytes> = TableDefinition::new("last_resort_key_packages");
const GROUPS: TableDefinition<Bytes, Bytes> = TableDefinition::new("groups");
const GROUP_LOG: TableDefinition<Bytes, Bytes> = TableDefinition::new("group_log");
const GROUP_EXPIRY: TableDefinition<Bytes, Bytes> = TableDefinition::new("group_expiry");
/// Per mailbox, how many one-time prekeys and KeyPackages it has stored (two big-endian
/// u64), kept with every change to those tables so that the directory stock, which every
/// pushed page carries, costs one lookup rather than a count of the mailbox's entries.
const DIRECTORY_COUNTS: TableDefinition<Bytes, Bytes> = TableDefinition::new("directory_counts");
/// Facts about the file itself: [`FORMAT_KEY`] holds the format version that wrote it.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const FORMAT_KEY: &str = "format";

/// The format this binary writes and understands. 1: the tables before
/// [`DIRECTORY_COUNTS`] (files without [`META`] and without the counts); 2: with the counts.
/// A file of a newer format is refused: an older relay would not keep up what the newer one
/// added (the counts, for one), and would silently make it wrong.
pub(crate) const FORMAT_VERSION: u64 = 2;

macro_rules! backend_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                from_redb(e.into())
            }
        }
    )*};
}
backend_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl From<redb::Error> for StorageError {
    fn from(e: redb::Error) -> Self {
        from_redb(e)
    }
}

/// An I/O failure (or a handle that an earlier one poisoned, or closed for reopening) is
/// `Unavailable`: the writer reopens the database (`recovery.rs`). Anything else is `Backend`.
fn from_redb(e: redb::Error) -> StorageError {
    match e {
        redb::Error::Io(_)
        | redb::Error::PreviousIo
        | redb::Error::DatabaseClosed
        | redb::Error::TransactionPoisoned => StorageError::Unavailable {
            reason: e.to_string(),
            retry_after_ms: recovery::FIRST_BACKOFF.as_millis() as u64,
        },
        e => StorageError::Backend(e.to_string()),
    }
}

impl StorageError {
    /// Whether the error means the write transaction can no longer be trusted.
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            StorageError::Backend(_)
                | StorageError::Corrupt(_)
                | StorageError::Closed
                | StorageError::Unavailable { .. }
        )
    }
}

/// The redb-backed [`Storage`].
pub struct RedbStorage {
    slot: Arc<slot::Slot>,
    /// The database file.
    path: std::path::PathBuf,
    stats: Arc<CommitCounters>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn get_row<M: prost::Message + Default>(
    t: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    key: &[u8],
    what: &str,
) -> Result<Option<M>, StorageError> {
    match t.get(key)? {
        None => Ok(None),
        Some(g) => decode(what, g.value()).map(Some),
    }
}

impl Storage for RedbStorage {
    fn put_envelope(&self, env: NewEnvelope, quota: MailboxQuota) -> StorageFuture<'_, PutOutcome> {
        self.submit(move |txn| envelopes::put_envelope_tx(txn, &env, quota))
    }

    fn fetch_envelopes(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, Vec<StoredEnvelope>> {
        self.read(move |txn| {
            envelopes::envelopes_from(txn, mailbox, cursor, limit, max_bytes, now_ms)
                .map(|(envs, _)| envs)
        })
    }

    fn fetch_page(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, MailboxPage> {
        self.read(move |txn| envelopes::page_rx(txn, mailbox, cursor, limit, max_bytes, now_ms))
    }

    fn ack_envelopes(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<u64>,
        now_ms: u64,
    ) -> StorageFuture<'_, u32> {
        self.submit(move |txn| envelopes::ack_tx(txn, mailbox, seqs, now_ms))
    }

    fn envelope_status(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> StorageFuture<'_, Option<EnvelopeStatus>> {
        self.read(move |txn| envelopes::status_rx(txn, id, now_ms))
    }

    fn sweep(&self, now_ms: u64) -> StorageFuture<'_, SweepReport> {
        self.submit(move |txn| sweep::sweep_tx(txn, now_ms))
    }

    fn upload_prekeys(
        &self,
        mailbox: MailboxAddress,
        upload: PrekeyUpload,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| directory::put_prekeys_tx(txn, mailbox, upload, max_stock))
    }

    fn take_prekey_bundle(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<PrekeyBundle>> {
        self.submit(move |txn| stock::take_prekey_bundle_tx(txn, mailbox))
    }

    fn put_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| {
            directory::put_key_packages_tx(
                txn,
                mailbox,
                key_packages,
                last_resort,
                max_stock,
                false,
            )
        })
    }

    fn take_key_package(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<KeyPackage>> {
        self.submit(move |txn| stock::take_key_package_tx(txn, mailbox))
    }

    fn directory_stock(&self, mailbox: MailboxAddress) -> StorageFuture<'_, DirectoryStock> {
        self.read(move |txn| stock_rx(txn, &mailbox.0))
    }

    fn append_group(
        &self,
        msg: NewGroupMessage,
        welcomes: Vec<NewEnvelope>,
        quota: MailboxQuota,
    ) -> StorageFuture<'_, GroupAppendOutcome> {
        self.submit(move |txn| groups::append_group_tx(txn, msg, welcomes, quota))
    }

    fn fetch_group(
        &self,
        group: GroupId,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, GroupPage> {
        self.read(move |txn| groups::fetch_group_rx(txn, group, cursor, limit, max_bytes, now_ms))
    }

    fn backup(&self, dest: std::path::PathBuf) -> StorageFuture<'_, ()> {
        let open = self.sender.lock().map(|g| g.is_some()).unwrap_or(false);
        let slot = self.slot.clone();
        Box::pin(async move {
            if !open {
                return Err(StorageError::Closed);
            }
            let db = slot.db()?;
            tokio::task::spawn_blocking(move || super::redb_backup::copy_to(&db, &dest))
                .await
                .map_err(|e| StorageError::Backend(format!("backup: {e}")))?
        })
    }

    fn set_fetch_verifier(
        &self,
        mailbox: MailboxAddress,
        verifier: [u8; 32],
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| directory::set_fetch_verifier_tx(txn, mailbox, verifier))
    }

    fn fetch_verifier(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<[u8; 32]>> {
        self.read(move |txn| directory::fetch_verifier_rx(txn, mailbox))
    }

    fn replace_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| {
            directory::put_key_packages_tx(txn, mailbox, key_packages, last_resort, max_stock, true)
        })
    }

    fn data_dir(&self) -> Option<std::path::PathBuf> {
        self.path.parent().map(Path::to_path_buf)
    }

    fn probe(&self) -> StorageFuture<'_, ()> {
        self.submit(health::probe_tx)
    }

    fn close(&self) -> StorageFuture<'_, ()> {
        let sender = self.sender.lock().ok().and_then(|mut g| g.take());
        let writer = self.writer.lock().ok().and_then(|mut g| g.take());
        Box::pin(async move {
            drop(sender);
            if let Some(w) = writer {
                tokio::task::spawn_blocking(move || w.join())
                    .await
                    .map_err(|e| StorageError::Backend(format!("close: {e}")))?
                    .map_err(|_| StorageError::Backend("writer thread panicked".into()))?;
            }
            Ok(())
        })
    }

    // --- State generation (in `generation.rs`) ---

    fn generation(&self, mailbox: MailboxAddress) -> StorageFuture<'_, u64> {
        self.read(move |txn| generation::read_rx(txn, &mailbox))
    }

    fn advance_generation(
        &self,
        mailbox: MailboxAddress,
        expected: u64,
        next: u64,
    ) -> StorageFuture<'_, GenerationOutcome> {
        self.submit(move |txn| generation::advance_tx(txn, &mailbox, expected, next))
    }

    // --- Storage cap and gauges (in `usage.rs`) ---

    fn usage(&self) -> StorageFuture<'_, StorageUsage> {
        let open = self.sender.lock().map(|g| g.is_some()).unwrap_or(false);
        let slot = self.slot.clone();
        Box::pin(async move {
            if !open {
                return Err(StorageError::Closed);
            }
            let db = slot.db()?;
            tokio::task::spawn_blocking(move || usage::usage_rx(&db.begin_read()?))
                .await
                .map_err(|e| StorageError::Backend(format!("usage task: {e}")))?
        })
    }
}

mod generation;
mod usage;

// The health probe's write (`/readyz`): `redb_backend/health.rs`.
mod health;

#[cfg(test)]
mod tests;
