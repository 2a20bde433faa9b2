//! The storage trait and the records it deals in.
//!
//! Two backends implement it, each behind a Cargo feature of this crate (both on by
//! default): `RedbStorage`, the embedded default (one relay node; feature `redb`), and
//! `PgStorage`, PostgreSQL shared by several relay nodes (feature `postgres`).
//!
//! Every method that changes state is a single atomic operation on the backend, so a
//! backend that serves many relay nodes implements each one as one transaction: "store an envelope unless the mailbox is full", "take one one-time
//! prekey", "append a commit if its epoch is current". A method returns only once its effect is
//! durable. Methods return boxed futures so the trait is object-safe (`Arc<dyn Storage>`) and
//! async backends fit as well as blocking ones.

#[cfg(not(any(feature = "redb", feature = "postgres")))]
compile_error!(
    "hush-relay needs a storage backend: enable the feature `redb` (embedded store), \
     `postgres` (PostgreSQL), or both (the default)"
);

#[cfg(feature = "postgres")]
mod pg_backend;
#[cfg(feature = "postgres")]
mod pg_listen;
#[cfg(feature = "postgres")]
mod pg_schema;
#[cfg(feature = "postgres")]
mod pg_tls;
// The embedded store's row encodings and key layouts; without it only the envelope state
// codes, which the PostgreSQL backend stores too, are used.
#[cfg_attr(not(feature = "redb"), allow(dead_code))]
mod records;
#[cfg(feature = "redb")]
mod redb_backend;
#[cfg(feature = "redb")]
mod redb_backup;
mod usage;

/// The records a relay hands out, defined with the wire format so clients need no server crate.
pub use hush_wire::model::{
    DirectoryStock, GroupEntry, GroupMessageKind, KemPrekey, KeyPackage, OneTimePrekey,
    PrekeyBundle, PrekeyUpload, SignedPrekey, StoredEnvelope,
};
#[cfg(feature = "postgres")]
pub use pg_backend::{DEFAULT_POOL_SIZE, PgStorage};
#[cfg(feature = "postgres")]
pub(crate) use pg_backend::{is_transient as pg_transient, with_causes as pg_error_text};
#[cfg(feature = "postgres")]
pub use pg_schema::SCHEMA_VERSION;
#[cfg(feature = "postgres")]
#[doc(hidden)]
pub use pg_schema::migrate_up_to;
#[cfg(feature = "postgres")]
pub use pg_tls::PgSslMode;
#[cfg(feature = "redb")]
pub use redb_backend::{CommitStats, RedbStorage};
pub use usage::StorageUsage;

use crate::types::{EnvelopeId, GroupId, MailboxAddress};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// The future every storage method returns.
pub type StorageFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StorageError>> + Send + 'a>>;

/// A storage failure. The logical variants leave the store unchanged.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StorageError {
    /// The mailbox would exceed its envelope count or byte quota; nothing was stored.
    #[error(
        "mailbox full: {count} envelopes / {bytes} bytes stored, limit {max_count} envelopes / {max_bytes} bytes"
    )]
    QuotaExceeded {
        /// Envelopes stored now.
        count: u64,
        /// Bytes stored now.
        bytes: u64,
        /// Envelope limit.
        max_count: u64,
        /// Byte limit.
        max_bytes: u64,
    },
    /// The envelope id is already used for another mailbox or other bytes.
    #[error("envelope id already used for a different envelope")]
    EnvelopeIdConflict,
    /// A commit for an epoch that is not the group's current one.
    #[error("epoch conflict, current epoch is {current}")]
    EpochConflict {
        /// The group's current epoch.
        current: u64,
    },
    /// A commit for epoch 2^64 − 1, after which no epoch could follow; nothing was stored.
    #[error("a commit's epoch must be below 2^64 - 1")]
    LastEpoch,
    /// The directory stock would exceed its limit.
    #[error("directory full: {0}")]
    DirectoryFull(String),
    /// Stored bytes could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The backend failed (I/O, database error). Nothing of this operation is acknowledged.
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The store cannot take writes now (disk full, an I/O error it is recovering from, a
    /// read-only database) and refused this one, or failed it without acknowledging
    /// anything. It comes back by itself; retry after `retry_after_ms`.
    #[error("storage unavailable: {reason}")]
    Unavailable {
        /// Why, in one line.
        reason: String,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
    /// The database could not be reached (every attempt's connection refused or broken, or
    /// no pooled connection in time). An attempt that broke during its commit may have landed,
    /// so whether this request was stored is unknown: the client repeats it after
    /// `retry_after_ms` (every write tolerates a repeat, spec §5 "Storage failures").
    #[error("storage unavailable: {reason}")]
    Unreachable {
        /// Why, in one line.
        reason: String,
        /// When to try again, in milliseconds.
        retry_after_ms: u64,
    },
    /// The store was closed.
    #[error("storage is closed")]
    Closed,
    /// The backend does not offer this operation.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// Something that changed in the store, for waking live subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wake {
    /// New envelopes in this mailbox.
    Mailbox(MailboxAddress),
    /// New entries in the group log with this SHA-256 group id digest ([`GroupId::digest`]).
    Group([u8; 32]),
    /// Anything may have changed (the feed of changes was interrupted and resumed): every
    /// subscriber should read the store again.
    All,
}

/// Where a backend shared by several relay nodes reports changes, possibly made through
/// other nodes. Called from a background task; it must not block.
pub type WakeSink = Arc<dyn Fn(Wake) + Send + Sync>;

/// Per-mailbox limits, checked atomically with each insert.
#[derive(Debug, Clone, Copy)]
pub struct MailboxQuota {
    /// Most envelopes a mailbox holds.
    pub max_count: u64,
    /// Most ciphertext bytes a mailbox holds.
    pub max_bytes: u64,
}

/// An envelope to store.
#[derive(Debug, Clone)]
pub struct NewEnvelope {
    /// Recipient.
    pub mailbox: MailboxAddress,
    /// Client-chosen id.
    pub envelope_id: EnvelopeId,
    /// Opaque ciphertext.
    pub ciphertext: Vec<u8>,
    /// Time of storing, Unix ms.
    pub now_ms: u64,
    /// When it expires, Unix ms.
    pub expires_at_ms: u64,
    /// When the relay forgets the envelope id and its receipts, Unix ms.
    pub forget_at_ms: u64,
}

/// Result of storing an envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOutcome {
    /// Recipient.
    pub mailbox: MailboxAddress,
    /// Sequence number in the mailbox.
    pub seq: u64,
    /// Time it was (first) stored.
    pub stored_at_ms: u64,
    /// True when the id was already stored with the same bytes.
    pub duplicate: bool,
}

/// A page of a mailbox with its directory stock, as FETCH and SUBSCRIBE answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxPage {
    /// Envelopes, as [`Storage::fetch_envelopes`] returns them.
    pub envelopes: Vec<StoredEnvelope>,
    /// The mailbox's directory stock.
    pub stock: DirectoryStock,
    /// True when the page ends at the end of the mailbox as the backend read it: nothing
    /// stored before the read is left beyond it. False when it may have stopped early (at
    /// its count or byte limit), or when the backend cannot tell.
    pub complete: bool,
}

/// Lifecycle state of an envelope id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeState {
    /// In the mailbox.
    Stored,
    /// Acknowledged by the owner (and deleted) at this time.
    Delivered {
        /// Unix ms.
        at_ms: u64,
    },
    /// Removed unread by TTL at this time.
    Expired {
        /// Unix ms.
        at_ms: u64,
    },
}

/// What the relay remembers about an envelope id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeStatus {
    /// Recipient.
    pub mailbox: MailboxAddress,
    /// Time stored.
    pub stored_at_ms: u64,
    /// Expiry time.
    pub expires_at_ms: u64,
    /// Current state.
    pub state: EnvelopeState,
}

/// Counts from an expiry sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Envelopes removed by TTL.
    pub envelopes_expired: u64,
    /// Ciphertext bytes removed by TTL.
    pub bytes_expired: u64,
    /// Envelope ids (and receipts) forgotten.
    pub ids_forgotten: u64,
    /// Group log entries removed by TTL.
    pub group_entries_expired: u64,
}

/// A message to append to a group log.
#[derive(Debug, Clone)]
pub struct NewGroupMessage {
    /// The group.
    pub group: GroupId,
    /// Epoch the message was created in.
    pub epoch: u64,
    /// Its kind.
    pub kind: GroupMessageKind,
    /// Opaque bytes.
    pub message: Vec<u8>,
    /// Time of appending, Unix ms.
    pub now_ms: u64,
    /// When the entry expires, Unix ms.
    pub expires_at_ms: u64,
}

/// Result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAppendOutcome {
    /// Sequence number of the entry.
    pub seq: u64,
    /// The group's epoch after the append, if it has seen a commit.
    pub current_epoch: Option<u64>,
    /// True when this exact commit was already accepted.
    pub duplicate: bool,
    /// Outcome of each welcome envelope, in order.
    pub welcomes: Vec<PutOutcome>,
}

/// A page of a group log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPage {
    /// Entries with seq >= cursor, in order.
    pub entries: Vec<GroupEntry>,
    /// The group's current epoch (after its last commit).
    pub current_epoch: Option<u64>,
}

/// Durable storage for the relay. See the module docs for the contract.
pub trait Storage: Send + Sync + 'static {
    /// Stores an envelope unless the mailbox is full. A repeated id with the same mailbox and
    /// bytes returns the first outcome with `duplicate = true`.
    fn put_envelope(&self, env: NewEnvelope, quota: MailboxQuota) -> StorageFuture<'_, PutOutcome>;

    /// Envelopes of `mailbox` with `seq >= cursor` that have not expired at `now_ms`, at most
    /// `limit` of them and about `max_bytes` of ciphertext (always at least one if any).
    fn fetch_envelopes(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, Vec<StoredEnvelope>>;

    /// [`Storage::fetch_envelopes`] and [`Storage::directory_stock`] together. A backend may
    /// answer both from one read (the embedded one does); this default makes two and reports
    /// the page `complete` only when it is empty.
    fn fetch_page(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, MailboxPage> {
        Box::pin(async move {
            let envelopes = self
                .fetch_envelopes(mailbox, cursor, limit, max_bytes, now_ms)
                .await?;
            let stock = self.directory_stock(mailbox).await?;
            let complete = envelopes.is_empty();
            Ok(MailboxPage {
                envelopes,
                stock,
                complete,
            })
        })
    }

    /// Deletes the named envelopes and marks them delivered at `now_ms`. Returns how many were
    /// present.
    fn ack_envelopes(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<u64>,
        now_ms: u64,
    ) -> StorageFuture<'_, u32>;

    /// The status of an envelope id, if the relay still remembers it. An envelope past its
    /// expiry that the sweep has not removed yet reports `Expired`.
    fn envelope_status(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> StorageFuture<'_, Option<EnvelopeStatus>>;

    /// Removes expired envelopes and group entries, and forgets old envelope ids.
    fn sweep(&self, now_ms: u64) -> StorageFuture<'_, SweepReport>;

    /// Stores a prekey upload in one transaction: replaces the signed prekey and the
    /// last-resort KEM prekey (each if given), with `replace_one_time` first removes every
    /// one-time prekey and one-time KEM prekey of the mailbox, then adds the one-time prekeys
    /// and one-time KEM prekeys; refused (nothing written) if either one-time stock would
    /// exceed `max_stock`.
    fn upload_prekeys(
        &self,
        mailbox: MailboxAddress,
        upload: PrekeyUpload,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock>;

    /// Replaces the signed prekey (if given) and adds one-time prekeys, unless the stock would
    /// exceed `max_stock`.
    fn put_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        let upload = PrekeyUpload {
            signed_prekey: signed,
            one_time_prekeys: one_time,
            ..PrekeyUpload::default()
        };
        self.upload_prekeys(mailbox, upload, max_stock)
    }

    /// Atomically takes one one-time prekey (never the same twice) with the signed prekey,
    /// and one one-time KEM prekey (never the same twice) or else the last-resort KEM prekey
    /// (kept), if the owner stored any. `None` when no signed prekey is stored.
    fn take_prekey_bundle(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<PrekeyBundle>>;

    /// Adds KeyPackages and replaces the last-resort one (if given), unless the stock would
    /// exceed `max_stock`.
    fn put_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock>;

    /// Atomically takes one KeyPackage, or returns the last-resort one when none are left.
    fn take_key_package(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<KeyPackage>>;

    /// The directory stock of a mailbox.
    fn directory_stock(&self, mailbox: MailboxAddress) -> StorageFuture<'_, DirectoryStock>;

    /// Appends to a group log. A commit is accepted only if its epoch is the group's current
    /// epoch (any epoch for a group without commits) and moves the group to `epoch + 1`; the
    /// welcomes are stored in the same transaction, only if the commit is accepted.
    fn append_group(
        &self,
        msg: NewGroupMessage,
        welcomes: Vec<NewEnvelope>,
        quota: MailboxQuota,
    ) -> StorageFuture<'_, GroupAppendOutcome>;

    /// Entries of a group log with `seq >= cursor`, bounded like [`Storage::fetch_envelopes`].
    fn fetch_group(
        &self,
        group: GroupId,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, GroupPage>;

    /// Finishes pending writes and closes the store. Later calls fail with `Closed`.
    fn close(&self) -> StorageFuture<'_, ()>;

    /// Asks the backend to report changes made through *other* relay nodes to `sink` (the
    /// node wakes its own subscribers for its own writes). A backend that serves a single
    /// node has no such changes and ignores the sink, which is this default. A shared backend
    /// also reports [`Wake::All`] whenever its change feed resumes after an interruption,
    /// so that subscribers re-read from their cursors and miss nothing.
    fn set_wake_sink(&self, sink: WakeSink) {
        let _ = sink;
    }

    /// The folder whose file system holds the store's data, for the relay's free-space
    /// reserve (§5 "Free-space reserve"): the embedded store's folder; `None` (this default)
    /// for a backend whose data lives elsewhere (PostgreSQL).
    fn data_dir(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// The shared database's connection pool, where a PostgreSQL node keeps its blobs
    /// (spec §11.5) so that any node serves any blob; `None` (this default) for a backend
    /// whose node keeps its blobs as files in its data folder.
    #[cfg(feature = "postgres")]
    fn blob_pool(&self) -> Option<deadpool_postgres::Pool> {
        None
    }

    /// Writes a consistent copy of the whole store, as of one moment, to a new file at
    /// `dest`, while the store keeps serving. The embedded backend implements it; a backend
    /// with backup tools of its own (PostgreSQL: `pg_dump`, base backups) answers
    /// [`StorageError::Unsupported`], which is this default.
    fn backup(&self, dest: std::path::PathBuf) -> StorageFuture<'_, ()> {
        let _ = dest;
        Box::pin(async {
            Err(StorageError::Unsupported(
                "this storage backend has no built-in backup (use the database's own tools)",
            ))
        })
    }

    // --- State generation (rollback detection; spec/relay-protocol.md "GENERATION") ---

    /// The state generation of `mailbox`: 0 until its owner first advances it.
    fn generation(&self, mailbox: MailboxAddress) -> StorageFuture<'_, u64>;

    /// Compare-and-set of the state generation: if it equals `expected`, sets it to `next`
    /// (the caller checks `next > expected`) durably. Either way, answers the value after
    /// the operation and whether it was set.
    fn advance_generation(
        &self,
        mailbox: MailboxAddress,
        expected: u64,
        next: u64,
    ) -> StorageFuture<'_, GenerationOutcome>;

    // ---- Blind directory (spec/relay-protocol.md §6.1) ----

    /// Registers (or replaces) the mailbox's directory fetch verifier, the SHA-256 hash its
    /// fetch tokens must have. Returns the mailbox's stock.
    fn set_fetch_verifier(
        &self,
        mailbox: MailboxAddress,
        verifier: [u8; 32],
    ) -> StorageFuture<'_, DirectoryStock>;

    /// The mailbox's directory fetch verifier, `None` for a mailbox that has none (legacy).
    fn fetch_verifier(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<[u8; 32]>>;

    /// Like [`Storage::put_prekeys`], but first removes every one-time prekey (and one-time
    /// KEM prekey) of the mailbox, in the same transaction.
    fn replace_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        let upload = PrekeyUpload {
            signed_prekey: signed,
            one_time_prekeys: one_time,
            replace_one_time: true,
            ..PrekeyUpload::default()
        };
        self.upload_prekeys(mailbox, upload, max_stock)
    }

    /// Like [`Storage::put_key_packages`], but first removes every KeyPackage of the mailbox
    /// (not the last-resort one), in the same transaction.
    fn replace_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock>;

    // ---- Storage cap and gauges (spec/relay-protocol.md §5 "Relay-wide storage cap") ----

    /// Measures what the whole store holds (every mailbox, group log and directory, also
    /// what other relay nodes wrote to a shared store). Read-only; it may read every stored
    /// item, so the relay calls it every few seconds, not per request.
    fn usage(&self) -> StorageFuture<'_, StorageUsage>;

    // ---- Health probe (operators: the metrics listener's `/readyz`, spec §10) ----

    /// Proves, cheaply, that the store is reachable and takes writes: the embedded backend
    /// commits one small write (table `health`) through its writer, PostgreSQL runs a
    /// transaction with a write it then rolls back (refused by a read-only server or a
    /// standby). Fails like any other operation, with `Closed` once the store is closed.
    fn probe(&self) -> StorageFuture<'_, ()>;
}

/// The answer of [`Storage::advance_generation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerationOutcome {
    /// The generation after the operation: `next` when advanced, else the stored value.
    pub current: u64,
    /// True when the stored value equalled `expected` and is now `next`.
    pub advanced: bool,
}
