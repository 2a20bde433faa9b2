//! The PostgreSQL backend: one database shared by several relay nodes.
//!
//! Each storage operation is one transaction (READ COMMITTED) on a connection from a bounded
//! pool ([`deadpool_postgres`]). Where the embedded backend relies on its single writer, this
//! one relies on row locks and conditional statements:
//!
//! * an envelope insert locks its mailbox row (`SELECT .. FOR UPDATE`, or `INSERT .. ON
//!   CONFLICT DO UPDATE .. RETURNING` for a new mailbox) to allocate the sequence number and
//!   check the quota, and claims the envelope id with `INSERT .. ON CONFLICT DO NOTHING`;
//!   losing that race to a concurrent insert of the same id looks the id up again, which then
//!   sees the first one and answers "duplicate". All of it runs in the database, in one call
//!   of a PL/pgSQL routine ([`pg_schema::ROUTINES`]), and so does an ack: one round trip each
//!   instead of one per statement;
//! * one-time prekeys and KeyPackages are taken with `DELETE .. WHERE key = (SELECT .. FOR
//!   UPDATE SKIP LOCKED) RETURNING`, so concurrent fetches through any nodes get distinct keys;
//! * a group append locks the group row, then compares the commit's epoch with the current one
//!   and moves it in the same transaction (a unique index on `(group, epoch)` for commits
//!   backs this up);
//! * the expiry sweep runs under a session advisory lock (`pg_try_advisory_lock`): while one
//!   node sweeps, the others skip their turn; each row removal is a `DELETE .. RETURNING`
//!   whose counts come from the rows actually removed.
//!
//! Sends and acks go through a group commit (`batch.rs`): those that arrive together are
//! written in one transaction, one routine call, and each gets the answer it would get alone.
//!
//! Locks are always taken in the order group row, then mailbox rows (by address, when one
//! transaction locks several), then envelope rows. A commit returns only after PostgreSQL
//! reports it durable (`synchronous_commit` as the server is configured; its default `on`
//! waits for the WAL flush).
//!
//! Operations that fail because a connection broke (or on a serialization failure or a
//! deadlock) are retried a few times on a fresh connection. Every operation is safe to repeat
//! even if its first commit did in fact land: sends and commits are idempotent, acks of an
//! already acked envelope do nothing, a repeated take hands out a *different* key (one may be
//! lost, none is handed out twice).
//!
//! The files of this module, by concern: `pool.rs` connects (migrations included), hands
//! out pooled connections and closes; `retry.rs` runs an operation in a transaction or on a
//! connection and retries it, and sends the wake-ups of committed writes; `envelopes.rs`
//! the mailboxes and their envelopes; `batch.rs` the group commit of sends and acks;
//! `stock.rs` the directory stock and takes; `groups.rs` the group logs; `sweep.rs` the
//! expiry sweep; the directory writes are in `../pg_directory.rs`, the state generation,
//! storage usage and health probe in `generation.rs`, `usage.rs` and `health.rs`.

use super::pg_listen::{self, CHANNEL};
use super::pg_schema;
use super::pg_tls::{self, MakeRustlsConnect};
use super::records::{STATE_DELIVERED, STATE_EXPIRED, STATE_STORED};
use super::*;
use crate::types::sha256;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// Connections in the pool unless configured otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;
/// Most rows one fetch asks for.
const FETCH_LIMIT: usize = 10_000;

/// One line for a database error, with the server's message when there is one.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => with_causes(e),
    }
}

/// An error and its causes on one line (`tokio-postgres` leaves the cause of a TLS or I/O
/// failure out of its message); a cause already in the text is not repeated.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text.replace('\n', " ")
}

/// Whether a database error may go away on a fresh connection or a second try (the blob
/// store retries on these, like every operation here).
pub(crate) fn is_transient(e: &tokio_postgres::Error) -> bool {
    transient(e)
}

/// `u64` counters, sequence numbers and times into `bigint` (clamped).
fn to_i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `bigint` back to `u64` (negative values, which this backend never writes, read as 0).
fn to_u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Order-preserving `u64` to `bigint` for client-chosen values (prekey ids, epochs).
fn flip(v: u64) -> i64 {
    (v ^ (1 << 63)) as i64
}

/// Inverse of [`flip`].
fn unflip(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

/// The PostgreSQL-backed [`Storage`], for several relay nodes on one database.
pub struct PgStorage {
    conns: Conns,
    config: tokio_postgres::Config,
    /// The TLS connector for the URL's `sslmode` (also used by the wake-up listener).
    tls: MakeRustlsConnect,
    stop: watch::Sender<bool>,
    listener: Mutex<Option<JoinHandle<()>>>,
    /// The group commit of sends and acks (started on first use, see `batch.rs`).
    batcher: Mutex<Option<batch::Queue>>,
}

/// The pooled connections, shared with the group commit's tasks.
#[derive(Clone)]
pub(super) struct Conns {
    pool: Pool,
    closed: Arc<AtomicBool>,
    /// Batches of two or more operations written by the group commit, and their operations.
    batches: Arc<(AtomicU64, AtomicU64)>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("pool", &self.conns.pool.status())
            .finish_non_exhaustive()
    }
}

// The operation runners (`in_tx!`, `on_client!`, `retrying!`): declared first, so that the
// modules below can use its macros.
#[macro_use]
mod retry;

// The directory stock (its macro `stock_sql!` is used by `envelopes`).
#[macro_use]
mod stock;

mod batch;
mod envelopes;
mod groups;
mod kem;
mod pool;
mod sweep;

use retry::{
    ATTEMPTS, Fail, NOTIFY_STORED_SQL, Tx, corrupt, db_unreachable, execute, notify_committed,
    notify_failed, query, query_one, query_opt, transient, unavailable,
};

use stock::{lock_directory, stock_on};

impl Storage for PgStorage {
    fn put_envelope(&self, env: NewEnvelope, quota: MailboxQuota) -> StorageFuture<'_, PutOutcome> {
        Box::pin(self.put_envelope_pg(env, quota))
    }

    fn fetch_envelopes(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, Vec<StoredEnvelope>> {
        Box::pin(self.fetch_envelopes_pg(mailbox, cursor, limit, max_bytes, now_ms))
    }

    fn fetch_page(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, MailboxPage> {
        Box::pin(self.fetch_page_pg(mailbox, cursor, limit, max_bytes, now_ms))
    }

    fn ack_envelopes(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<u64>,
        now_ms: u64,
    ) -> StorageFuture<'_, u32> {
        Box::pin(self.ack_envelopes_pg(mailbox, seqs, now_ms))
    }

    fn envelope_status(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> StorageFuture<'_, Option<EnvelopeStatus>> {
        Box::pin(self.envelope_status_pg(id, now_ms))
    }

    fn sweep(&self, now_ms: u64) -> StorageFuture<'_, SweepReport> {
        Box::pin(self.sweep_pg(now_ms))
    }

    fn upload_prekeys(
        &self,
        mailbox: MailboxAddress,
        upload: PrekeyUpload,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.upload_prekeys_pg(mailbox, upload, max_stock)
    }

    fn take_prekey_bundle(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<PrekeyBundle>> {
        Box::pin(self.take_prekey_bundle_pg(mailbox))
    }

    fn put_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.put_key_packages_replacing(mailbox, key_packages, last_resort, max_stock, false)
    }

    fn take_key_package(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<KeyPackage>> {
        Box::pin(self.take_key_package_pg(mailbox))
    }

    fn directory_stock(&self, mailbox: MailboxAddress) -> StorageFuture<'_, DirectoryStock> {
        Box::pin(self.directory_stock_pg(mailbox))
    }

    fn append_group(
        &self,
        msg: NewGroupMessage,
        welcomes: Vec<NewEnvelope>,
        quota: MailboxQuota,
    ) -> StorageFuture<'_, GroupAppendOutcome> {
        Box::pin(self.append_group_pg(msg, welcomes, quota))
    }

    fn fetch_group(
        &self,
        group: GroupId,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, GroupPage> {
        Box::pin(self.fetch_group_pg(group, cursor, limit, max_bytes, now_ms))
    }

    fn set_fetch_verifier(
        &self,
        mailbox: MailboxAddress,
        verifier: [u8; 32],
    ) -> StorageFuture<'_, DirectoryStock> {
        self.set_fetch_verifier_impl(mailbox, verifier)
    }

    fn fetch_verifier(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<[u8; 32]>> {
        self.fetch_verifier_impl(mailbox)
    }

    fn replace_key_packages(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.put_key_packages_replacing(mailbox, key_packages, last_resort, max_stock, true)
    }

    fn probe(&self) -> StorageFuture<'_, ()> {
        Box::pin(self.probe_pg())
    }

    fn close(&self) -> StorageFuture<'_, ()> {
        Box::pin(self.close_pg())
    }

    fn set_wake_sink(&self, sink: WakeSink) {
        self.start_listener(sink);
    }

    // --- State generation (in `generation.rs`) ---

    fn generation(&self, mailbox: MailboxAddress) -> StorageFuture<'_, u64> {
        Box::pin(self.generation_pg(mailbox))
    }

    fn advance_generation(
        &self,
        mailbox: MailboxAddress,
        expected: u64,
        next: u64,
    ) -> StorageFuture<'_, GenerationOutcome> {
        Box::pin(self.advance_generation_pg(mailbox, expected, next))
    }

    // --- Storage cap and gauges (in `usage.rs`) ---

    fn usage(&self) -> StorageFuture<'_, StorageUsage> {
        Box::pin(self.usage_pg())
    }

    fn blob_pool(&self) -> Option<Pool> {
        Some(self.conns.pool.clone())
    }
}

mod generation;
mod usage;

// The health probe (`/readyz`): `pg_backend/health.rs`.
mod health;

// The directory writes (uploads, replacements, fetch verifiers), in a file of their own. Declared
// here, after the macros they use.
#[path = "../pg_directory.rs"]
mod directory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flip_preserves_order_and_round_trips() {
        let vals = [
            0u64,
            1,
            2,
            1 << 32,
            i64::MAX as u64,
            1 << 63,
            u64::MAX - 1,
            u64::MAX,
        ];
        for w in vals.windows(2) {
            assert!(flip(w[0]) < flip(w[1]), "{w:?}");
        }
        for v in vals {
            assert_eq!(unflip(flip(v)), v);
        }
        assert_eq!(to_i(u64::MAX), i64::MAX);
        assert_eq!(to_u(-5), 0);
    }
}
