//! The embedded default backend, on [redb](https://docs.rs/redb).
//!
//! All writes go through one writer thread that practises group commit: it takes every
//! operation waiting in its queue, applies them in order inside one write transaction and
//! commits once (`Durability::Immediate`, so one fsync for the whole batch). Only after the
//! commit returns does any caller of the batch get its answer. Operations are serial, so each
//! is atomic: one that fails a check (quota, epoch, id conflict) does so before it writes.
//! Reads run inline on the caller's thread against a snapshot.

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

/// Most operations in one group commit.
const MAX_BATCH: usize = 512;
/// Most items one sweep removes per index (the next sweep continues).
const SWEEP_LIMIT: usize = 10_000;

macro_rules! backend_error {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Backend(e.to_string())
            }
        }
    )*};
}
backend_error!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

impl StorageError {
    /// Whether the error means the write transaction can no longer be trusted.
    fn is_fatal(&self) -> bool {
        matches!(
            self,
            StorageError::Backend(_) | StorageError::Corrupt(_) | StorageError::Closed
        )
    }
}

/// Group-commit counters.
#[derive(Default)]
struct CommitCounters {
    commits: AtomicU64,
    operations: AtomicU64,
}

/// How many write transactions the writer committed, and how many operations they carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitStats {
    /// Committed write transactions (one fsync each).
    pub commits: u64,
    /// Operations in those transactions.
    pub operations: u64,
}

type Completion = Box<dyn FnOnce(Option<&StorageError>) + Send>;
type Job = Box<dyn FnOnce(&WriteTransaction) -> Result<Completion, StorageError> + Send>;

/// The redb-backed [`Storage`].
pub struct RedbStorage {
    db: Arc<Database>,
    stats: Arc<CommitCounters>,
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RedbStorage {
    /// Opens (or creates) the database file at `path` and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let tables: Vec<String> = txn.list_tables()?.map(|t| t.name().to_string()).collect();
        let has = |t: &str| tables.iter().any(|n| n == t);
        let format = if has(META.name()) {
            let meta = txn.open_table(META)?;
            let v = meta.get(FORMAT_KEY)?.map(|v| v.value());
            v.ok_or_else(|| StorageError::Corrupt("database format version missing".into()))?
        } else if tables.is_empty() {
            FORMAT_VERSION // a new file
        } else if has(DIRECTORY_COUNTS.name()) {
            2
        } else {
            1
        };
        if format > FORMAT_VERSION {
            return Err(StorageError::Backend(format!(
                "database format {format} is newer than this relay's ({FORMAT_VERSION}); upgrade the relay"
            )));
        }
        for t in [
            ENVELOPES,
            ENVELOPE_INDEX,
            MAILBOXES,
            EXPIRY,
            FORGET,
            SIGNED_PREKEYS,
            ONE_TIME_PREKEYS,
            KEY_PACKAGES,
            LAST_RESORT,
            GROUPS,
            GROUP_LOG,
            GROUP_EXPIRY,
            DIRECTORY_COUNTS,
            directory::DIRECTORY_VERIFIERS,
        ] {
            txn.open_table(t)?;
        }
        txn.open_table(generation::GENERATIONS)?;
        txn.open_table(health::HEALTH)?;
        // A database written before the counts existed gets them once, from its tables.
        if format < 2 {
            rebuild_directory_counts(&txn)?;
        }
        txn.open_table(META)?.insert(FORMAT_KEY, FORMAT_VERSION)?;
        txn.commit()?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel::<Job>();
        let wdb = db.clone();
        let stats = Arc::new(CommitCounters::default());
        let wstats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("hush-redb-writer".into())
            .spawn(move || writer_loop(&wdb, rx, &wstats))
            .map_err(|e| StorageError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(RedbStorage {
            db,
            stats,
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Group-commit counters since opening: with concurrent writers, `operations` grows
    /// faster than `commits`.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            commits: self.stats.commits.load(Ordering::Relaxed),
            operations: self.stats.operations.load(Ordering::Relaxed),
        }
    }

    fn submit<T: Send + 'static>(
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
        let sent = match self.sender.lock() {
            Ok(guard) => guard.as_ref().map(|s| s.send(job).is_ok()).unwrap_or(false),
            Err(_) => false,
        };
        Box::pin(async move {
            if !sent {
                return Err(StorageError::Closed);
            }
            rx.await.unwrap_or_else(|_| {
                Err(StorageError::Backend(
                    "write batch aborted by an earlier failure".into(),
                ))
            })
        })
    }

    fn read<T: Send + 'static>(
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
            let txn = self.db.begin_read()?;
            f(&txn)
        })
    }
}

fn writer_loop(db: &Database, rx: mpsc::Receiver<Job>, stats: &CommitCounters) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let txn = match db
            .begin_write()
            .map_err(StorageError::from)
            .and_then(|mut t| {
                // The default, made explicit: commit returns only after fsync.
                t.set_durability(Durability::Immediate)
                    .map_err(|e| StorageError::Backend(e.to_string()))?;
                Ok(t)
            }) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin write transaction");
                continue; // dropping the batch answers every caller with an error
            }
        };
        let mut completions = Vec::with_capacity(size);
        let mut fatal = None;
        for job in batch {
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
            tracing::error!(error = %e, "commit failed");
        }
        for c in completions {
            c(result.as_ref().err());
        }
    }
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

fn stock_of(
    counts: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    signed: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    last: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<DirectoryStock, StorageError> {
    let c = directory_counts(counts, a)?;
    Ok(DirectoryStock {
        one_time_prekeys: c.one_time_prekeys,
        key_packages: c.key_packages,
        has_signed_prekey: signed.get(a.as_slice())?.is_some(),
        has_last_resort: last.get(a.as_slice())?.is_some(),
    })
}

/// A mailbox's row of [`DIRECTORY_COUNTS`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct DirectoryCounts {
    one_time_prekeys: u64,
    key_packages: u64,
}

fn directory_counts(
    t: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<DirectoryCounts, StorageError> {
    match t.get(a.as_slice())? {
        None => Ok(DirectoryCounts::default()),
        Some(g) => {
            let v = g.value();
            let (Ok(otpk), Ok(kps)) = (
                <[u8; 8]>::try_from(v.get(..8).unwrap_or_default()),
                <[u8; 8]>::try_from(v.get(8..).unwrap_or_default()),
            ) else {
                return Err(StorageError::Corrupt("directory counts".into()));
            };
            Ok(DirectoryCounts {
                one_time_prekeys: u64::from_be_bytes(otpk),
                key_packages: u64::from_be_bytes(kps),
            })
        }
    }
}

/// Writes a mailbox's counts (a mailbox with none has no row).
fn set_directory_counts(
    t: &mut Table<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
    c: DirectoryCounts,
) -> Result<(), StorageError> {
    if c == DirectoryCounts::default() {
        t.remove(a.as_slice())?;
    } else {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&c.one_time_prekeys.to_be_bytes());
        v[8..].copy_from_slice(&c.key_packages.to_be_bytes());
        t.insert(a.as_slice(), v.as_slice())?;
    }
    Ok(())
}

/// Counts every mailbox's one-time prekeys and KeyPackages into [`DIRECTORY_COUNTS`] (both
/// tables are keyed by the 32-byte mailbox address first).
fn rebuild_directory_counts(txn: &WriteTransaction) -> Result<(), StorageError> {
    let mut all: HashMap<[u8; 32], DirectoryCounts> = HashMap::new();
    for (table, one_time) in [(ONE_TIME_PREKEYS, true), (KEY_PACKAGES, false)] {
        let t = txn.open_table(table)?;
        for item in t.iter()? {
            let (k, _) = item?;
            let Some(a) = k
                .value()
                .get(..32)
                .and_then(|p| <[u8; 32]>::try_from(p).ok())
            else {
                return Err(StorageError::Corrupt("directory key".into()));
            };
            let c = all.entry(a).or_default();
            if one_time {
                c.one_time_prekeys += 1;
            } else {
                c.key_packages += 1;
            }
        }
    }
    let mut counts = txn.open_table(DIRECTORY_COUNTS)?;
    for (a, c) in all {
        set_directory_counts(&mut counts, &a, c)?;
    }
    Ok(())
}

fn stock_tx(txn: &WriteTransaction, a: &[u8; 32]) -> Result<DirectoryStock, StorageError> {
    let counts = txn.open_table(DIRECTORY_COUNTS)?;
    let signed = txn.open_table(SIGNED_PREKEYS)?;
    let last = txn.open_table(LAST_RESORT)?;
    stock_of(&counts, &signed, &last, a)
}

fn stock_rx(txn: &ReadTransaction, a: &[u8; 32]) -> Result<DirectoryStock, StorageError> {
    let counts = txn.open_table(DIRECTORY_COUNTS)?;
    let signed = txn.open_table(SIGNED_PREKEYS)?;
    let last = txn.open_table(LAST_RESORT)?;
    stock_of(&counts, &signed, &last, a)
}

/// Envelopes of `mailbox` from `cursor` (see [`Storage::fetch_envelopes`]), and whether the
/// page reached the end of the mailbox in this snapshot.
fn envelopes_from(
    txn: &ReadTransaction,
    mailbox: MailboxAddress,
    cursor: u64,
    limit: usize,
    max_bytes: usize,
    now_ms: u64,
) -> Result<(Vec<StoredEnvelope>, bool), StorageError> {
    let t = txn.open_table(ENVELOPES)?;
    let lo = key_prefix_u64(&mailbox.0, cursor);
    let hi = key_prefix_u64(&mailbox.0, u64::MAX);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for item in t.range(lo.as_slice()..=hi.as_slice())? {
        if !out.is_empty() && out.len() >= limit {
            return Ok((out, false)); // full, and there is at least one more key
        }
        let (k, v) = item?;
        let row: EnvelopeRow = decode("envelope", v.value())?;
        if row.expires_at_ms <= now_ms {
            continue;
        }
        if !out.is_empty() && bytes + row.ciphertext.len() > max_bytes {
            return Ok((out, false));
        }
        bytes += row.ciphertext.len();
        out.push(StoredEnvelope {
            seq: trailing_u64(k.value())?,
            envelope_id: EnvelopeId::new(row.envelope_id)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            stored_at_ms: row.stored_at_ms,
            expires_at_ms: row.expires_at_ms,
            ciphertext: row.ciphertext,
        });
    }
    Ok((out, true))
}

/// Checks that `envs` can all be stored (ids free or idempotent, quotas respected).
fn check_envelopes(
    txn: &WriteTransaction,
    envs: &[NewEnvelope],
    quota: MailboxQuota,
) -> Result<(), StorageError> {
    let index = txn.open_table(ENVELOPE_INDEX)?;
    let mailboxes = txn.open_table(MAILBOXES)?;
    let mut added: HashMap<[u8; 32], (u64, u64)> = HashMap::new();
    for env in envs {
        if let Some(row) = get_row::<IndexRow>(&index, env.envelope_id.as_bytes(), "index")? {
            if row.mailbox != env.mailbox.0 || row.digest != sha256(&[&env.ciphertext]) {
                return Err(StorageError::EnvelopeIdConflict);
            }
            continue;
        }
        let e = added.entry(env.mailbox.0).or_default();
        e.0 += 1;
        e.1 += env.ciphertext.len() as u64;
    }
    for (a, (n, b)) in added {
        let meta = get_row::<MailboxRow>(&mailboxes, &a, "mailbox")?.unwrap_or_default();
        if meta.count.saturating_add(n) > quota.max_count
            || meta.bytes.saturating_add(b) > quota.max_bytes
        {
            return Err(StorageError::QuotaExceeded {
                count: meta.count,
                bytes: meta.bytes,
                max_count: quota.max_count,
                max_bytes: quota.max_bytes,
            });
        }
    }
    Ok(())
}

fn put_envelope_tx(
    txn: &WriteTransaction,
    env: &NewEnvelope,
    quota: MailboxQuota,
) -> Result<PutOutcome, StorageError> {
    let digest = sha256(&[&env.ciphertext]);
    let a = env.mailbox.0;
    let mut index = txn.open_table(ENVELOPE_INDEX)?;
    if let Some(row) = get_row::<IndexRow>(&index, env.envelope_id.as_bytes(), "index")? {
        if row.mailbox != a || row.digest != digest {
            return Err(StorageError::EnvelopeIdConflict);
        }
        return Ok(PutOutcome {
            mailbox: env.mailbox,
            seq: row.seq,
            stored_at_ms: row.stored_at_ms,
            duplicate: true,
        });
    }
    let mut mailboxes = txn.open_table(MAILBOXES)?;
    let mut meta = get_row::<MailboxRow>(&mailboxes, &a, "mailbox")?.unwrap_or_default();
    let len = env.ciphertext.len() as u64;
    if meta.count.saturating_add(1) > quota.max_count
        || meta.bytes.saturating_add(len) > quota.max_bytes
    {
        return Err(StorageError::QuotaExceeded {
            count: meta.count,
            bytes: meta.bytes,
            max_count: quota.max_count,
            max_bytes: quota.max_bytes,
        });
    }
    // Checks done: from here on only writes.
    let seq = meta.next_seq;
    meta.next_seq += 1;
    meta.count += 1;
    meta.bytes += len;
    mailboxes.insert(a.as_slice(), meta.encode_to_vec().as_slice())?;
    let row = EnvelopeRow {
        envelope_id: env.envelope_id.as_bytes().to_vec(),
        stored_at_ms: env.now_ms,
        expires_at_ms: env.expires_at_ms,
        ciphertext: env.ciphertext.clone(),
    };
    let mut envelopes = txn.open_table(ENVELOPES)?;
    envelopes.insert(
        key_prefix_u64(&a, seq).as_slice(),
        row.encode_to_vec().as_slice(),
    )?;
    let idx = IndexRow {
        mailbox: a.to_vec(),
        seq,
        state: STATE_STORED,
        stored_at_ms: env.now_ms,
        expires_at_ms: env.expires_at_ms,
        state_at_ms: env.now_ms,
        digest: digest.to_vec(),
        forget_at_ms: env.forget_at_ms,
    };
    index.insert(env.envelope_id.as_bytes(), idx.encode_to_vec().as_slice())?;
    let mut expiry = txn.open_table(EXPIRY)?;
    expiry.insert(
        expiry_key(env.expires_at_ms, &a, seq).as_slice(),
        [].as_slice(),
    )?;
    let mut forget = txn.open_table(FORGET)?;
    forget.insert(
        forget_key(env.forget_at_ms, env.envelope_id.as_bytes()).as_slice(),
        [].as_slice(),
    )?;
    Ok(PutOutcome {
        mailbox: env.mailbox,
        seq,
        stored_at_ms: env.now_ms,
        duplicate: false,
    })
}

/// Removes one envelope and marks its id `state` at `at`. Returns its size if it existed.
/// Removes an envelope and marks its id with the state and time `mark` gives for the
/// envelope's expiry time; returns its length and that state.
fn remove_envelope_tx(
    txn: &WriteTransaction,
    a: &[u8; 32],
    seq: u64,
    mark: impl FnOnce(u64) -> (u32, u64),
) -> Result<Option<(u64, u32)>, StorageError> {
    let mut envelopes = txn.open_table(ENVELOPES)?;
    let key = key_prefix_u64(a, seq);
    let row: EnvelopeRow = match envelopes.remove(key.as_slice())? {
        None => return Ok(None),
        Some(g) => decode("envelope", g.value())?,
    };
    let len = row.ciphertext.len() as u64;
    let (state, at) = mark(row.expires_at_ms);
    let mut expiry = txn.open_table(EXPIRY)?;
    expiry.remove(expiry_key(row.expires_at_ms, a, seq).as_slice())?;
    let mut mailboxes = txn.open_table(MAILBOXES)?;
    if let Some(mut meta) = get_row::<MailboxRow>(&mailboxes, a, "mailbox")? {
        meta.count = meta.count.saturating_sub(1);
        meta.bytes = meta.bytes.saturating_sub(len);
        mailboxes.insert(a.as_slice(), meta.encode_to_vec().as_slice())?;
    }
    let mut index = txn.open_table(ENVELOPE_INDEX)?;
    if let Some(mut idx) = get_row::<IndexRow>(&index, &row.envelope_id, "index")?
        && idx.state == STATE_STORED
        && idx.mailbox == a.as_slice()
        && idx.seq == seq
    {
        idx.state = state;
        idx.state_at_ms = at;
        index.insert(row.envelope_id.as_slice(), idx.encode_to_vec().as_slice())?;
    }
    Ok(Some((len, state)))
}

/// An owned key and value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// First key/value of `lo..=hi`, owned.
fn first_in_range(
    t: &Table<Bytes<'static>, Bytes<'static>>,
    lo: &[u8],
    hi: &[u8],
) -> Result<Option<KeyValue>, StorageError> {
    let mut r = t.range(lo..=hi)?;
    match r.next() {
        None => Ok(None),
        Some(item) => {
            let (k, v) = item?;
            Ok(Some((k.value().to_vec(), v.value().to_vec())))
        }
    }
}

/// Keys of `table` below `limit_exclusive`, at most `n`.
fn keys_below(
    t: &Table<Bytes<'static>, Bytes<'static>>,
    limit_exclusive: &[u8],
    n: usize,
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut out = Vec::new();
    for item in t.range(..limit_exclusive)? {
        let (k, _) = item?;
        out.push(k.value().to_vec());
        if out.len() >= n {
            break;
        }
    }
    Ok(out)
}

fn group_entry(seq: u64, row: GroupEntryRow) -> Result<GroupEntry, StorageError> {
    Ok(GroupEntry {
        seq,
        epoch: row.epoch,
        kind: GroupMessageKind::from_u8(row.kind as u8)
            .ok_or_else(|| StorageError::Corrupt("group entry kind".into()))?,
        stored_at_ms: row.stored_at_ms,
        message: row.message,
    })
}

impl Storage for RedbStorage {
    fn put_envelope(&self, env: NewEnvelope, quota: MailboxQuota) -> StorageFuture<'_, PutOutcome> {
        self.submit(move |txn| put_envelope_tx(txn, &env, quota))
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
            envelopes_from(txn, mailbox, cursor, limit, max_bytes, now_ms).map(|(envs, _)| envs)
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
        // One snapshot for the envelopes and the stock.
        self.read(move |txn| {
            let (envelopes, complete) =
                envelopes_from(txn, mailbox, cursor, limit, max_bytes, now_ms)?;
            Ok(MailboxPage {
                envelopes,
                stock: stock_rx(txn, &mailbox.0)?,
                complete,
            })
        })
    }

    fn ack_envelopes(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<u64>,
        now_ms: u64,
    ) -> StorageFuture<'_, u32> {
        self.submit(move |txn| {
            let mut n = 0u32;
            let unique: BTreeSet<u64> = seqs.into_iter().collect();
            for seq in unique {
                // Past its expiry an envelope stays expired, whenever the sweep runs.
                let removed = remove_envelope_tx(txn, &mailbox.0, seq, |expires| {
                    if expires <= now_ms {
                        (STATE_EXPIRED, expires)
                    } else {
                        (STATE_DELIVERED, now_ms)
                    }
                })?;
                if let Some((_, STATE_DELIVERED)) = removed {
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    fn envelope_status(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> StorageFuture<'_, Option<EnvelopeStatus>> {
        self.read(move |txn| {
            let index = txn.open_table(ENVELOPE_INDEX)?;
            let Some(row) = get_row::<IndexRow>(&index, id.as_bytes(), "index")? else {
                return Ok(None);
            };
            let state = match row.state {
                STATE_STORED if row.expires_at_ms <= now_ms => EnvelopeState::Expired {
                    at_ms: row.expires_at_ms,
                },
                STATE_STORED => EnvelopeState::Stored,
                STATE_DELIVERED => EnvelopeState::Delivered {
                    at_ms: row.state_at_ms,
                },
                STATE_EXPIRED => EnvelopeState::Expired {
                    at_ms: row.state_at_ms,
                },
                other => return Err(StorageError::Corrupt(format!("envelope state {other}"))),
            };
            Ok(Some(EnvelopeStatus {
                mailbox: MailboxAddress::from_slice(&row.mailbox)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                stored_at_ms: row.stored_at_ms,
                expires_at_ms: row.expires_at_ms,
                state,
            }))
        })
    }

    fn sweep(&self, now_ms: u64) -> StorageFuture<'_, SweepReport> {
        self.submit(move |txn| {
            let mut report = SweepReport::default();
            let bound = now_ms.saturating_add(1).to_be_bytes();
            let expired = {
                let t = txn.open_table(EXPIRY)?;
                keys_below(&t, &bound, SWEEP_LIMIT)?
            };
            for k in expired {
                let (a, seq) = parse_expiry_key(&k)?;
                let at = trailing_u64(&k[..8])?;
                if let Some((len, _)) = remove_envelope_tx(txn, &a, seq, |_| (STATE_EXPIRED, at))? {
                    report.envelopes_expired += 1;
                    report.bytes_expired += len;
                } else {
                    txn.open_table(EXPIRY)?.remove(k.as_slice())?;
                }
            }
            let forgotten = {
                let t = txn.open_table(FORGET)?;
                keys_below(&t, &bound, SWEEP_LIMIT)?
            };
            {
                let mut forget = txn.open_table(FORGET)?;
                let mut index = txn.open_table(ENVELOPE_INDEX)?;
                for k in forgotten {
                    let Some(id) = k.get(8..) else {
                        return Err(StorageError::Corrupt("forget key length".into()));
                    };
                    // Only forget ids whose envelope is gone (an ack or the sweep removed it);
                    // a still-stored one waits for its expiry.
                    match get_row::<IndexRow>(&index, id, "index")? {
                        Some(row) if row.state == STATE_STORED => {}
                        Some(_) => {
                            forget.remove(k.as_slice())?;
                            index.remove(id)?;
                            report.ids_forgotten += 1;
                        }
                        None => {
                            forget.remove(k.as_slice())?;
                        }
                    }
                }
            }
            let group_expired = {
                let t = txn.open_table(GROUP_EXPIRY)?;
                keys_below(&t, &bound, SWEEP_LIMIT)?
            };
            {
                let mut gexp = txn.open_table(GROUP_EXPIRY)?;
                let mut log = txn.open_table(GROUP_LOG)?;
                for k in group_expired {
                    let (g, seq) = parse_expiry_key(&k)?;
                    gexp.remove(k.as_slice())?;
                    if log.remove(key_prefix_u64(&g, seq).as_slice())?.is_some() {
                        report.group_entries_expired += 1;
                    }
                }
            }
            Ok(report)
        })
    }

    fn put_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| {
            directory::put_prekeys_tx(txn, mailbox, signed, one_time, max_stock, false)
        })
    }

    fn take_prekey_bundle(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<PrekeyBundle>> {
        self.submit(move |txn| {
            let a = mailbox.0;
            let signed = {
                let t = txn.open_table(SIGNED_PREKEYS)?;
                match get_row::<SignedPrekeyRow>(&t, &a, "signed prekey")? {
                    None => return Ok(None),
                    Some(r) => SignedPrekey {
                        id: r.id,
                        blob: r.blob,
                    },
                }
            };
            let mut otpk = txn.open_table(ONE_TIME_PREKEYS)?;
            let first =
                first_in_range(&otpk, &key_prefix_u64(&a, 0), &key_prefix_u64(&a, u64::MAX))?;
            let one_time = match first {
                None => None,
                Some((k, blob)) => {
                    otpk.remove(k.as_slice())?;
                    let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
                    let mut counts = directory_counts(&counts_t, &a)?;
                    counts.one_time_prekeys = counts.one_time_prekeys.saturating_sub(1);
                    set_directory_counts(&mut counts_t, &a, counts)?;
                    Some(OneTimePrekey {
                        id: trailing_u64(&k)?,
                        blob,
                    })
                }
            };
            Ok(Some(PrekeyBundle {
                signed_prekey: signed,
                one_time_prekey: one_time,
            }))
        })
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
        self.submit(move |txn| {
            let a = mailbox.0;
            let mut kps = txn.open_table(KEY_PACKAGES)?;
            if let Some((k, blob)) = first_in_range(
                &kps,
                &key_prefix_bytes(&a, &[0u8; 32]),
                &key_prefix_bytes(&a, &[0xffu8; 32]),
            )? {
                kps.remove(k.as_slice())?;
                let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
                let mut counts = directory_counts(&counts_t, &a)?;
                counts.key_packages = counts.key_packages.saturating_sub(1);
                set_directory_counts(&mut counts_t, &a, counts)?;
                return Ok(Some(KeyPackage {
                    blob,
                    last_resort: false,
                }));
            }
            let last = txn.open_table(LAST_RESORT)?;
            Ok(last.get(a.as_slice())?.map(|g| KeyPackage {
                blob: g.value().to_vec(),
                last_resort: true,
            }))
        })
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
        self.submit(move |txn| {
            let g = msg.group.digest();
            let mut row = {
                let groups = txn.open_table(GROUPS)?;
                get_row::<GroupRow>(&groups, &g, "group")?.unwrap_or_default()
            };
            let digest = sha256(&[&msg.message]);
            let is_commit = msg.kind == GroupMessageKind::Commit;
            if is_commit && msg.epoch == u64::MAX {
                return Err(StorageError::LastEpoch);
            }
            if is_commit
                && let Some(cur) = row.current_epoch
                && msg.epoch != cur
            {
                let retry =
                    msg.epoch.checked_add(1) == Some(cur) && row.last_commit_digest == digest;
                if !retry {
                    return Err(StorageError::EpochConflict { current: cur });
                }
                check_envelopes(txn, &welcomes, quota)?;
                let mut outs = Vec::with_capacity(welcomes.len());
                for w in &welcomes {
                    outs.push(put_envelope_tx(txn, w, quota)?);
                }
                return Ok(GroupAppendOutcome {
                    seq: row.last_commit_seq,
                    current_epoch: Some(cur),
                    duplicate: true,
                    welcomes: outs,
                });
            }
            check_envelopes(txn, &welcomes, quota)?;
            // Checks done: from here on only writes.
            let seq = row.next_seq;
            row.next_seq += 1;
            if is_commit {
                row.current_epoch = Some(msg.epoch + 1);
                row.last_commit_digest = digest.to_vec();
                row.last_commit_seq = seq;
            }
            txn.open_table(GROUPS)?
                .insert(g.as_slice(), row.encode_to_vec().as_slice())?;
            let entry = GroupEntryRow {
                epoch: msg.epoch,
                kind: msg.kind.to_u8() as u32,
                stored_at_ms: msg.now_ms,
                message: msg.message,
                expires_at_ms: msg.expires_at_ms,
            };
            txn.open_table(GROUP_LOG)?.insert(
                key_prefix_u64(&g, seq).as_slice(),
                entry.encode_to_vec().as_slice(),
            )?;
            txn.open_table(GROUP_EXPIRY)?.insert(
                expiry_key(msg.expires_at_ms, &g, seq).as_slice(),
                [].as_slice(),
            )?;
            let mut outs = Vec::with_capacity(welcomes.len());
            for w in &welcomes {
                outs.push(put_envelope_tx(txn, w, quota)?);
            }
            Ok(GroupAppendOutcome {
                seq,
                current_epoch: row.current_epoch,
                duplicate: false,
                welcomes: outs,
            })
        })
    }

    fn fetch_group(
        &self,
        group: GroupId,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, GroupPage> {
        self.read(move |txn| {
            let g = group.digest();
            let groups = txn.open_table(GROUPS)?;
            let current_epoch =
                get_row::<GroupRow>(&groups, &g, "group")?.and_then(|r| r.current_epoch);
            let log = txn.open_table(GROUP_LOG)?;
            let lo = key_prefix_u64(&g, cursor);
            let hi = key_prefix_u64(&g, u64::MAX);
            let mut entries = Vec::new();
            let mut bytes = 0usize;
            for item in log.range(lo.as_slice()..=hi.as_slice())? {
                let (k, v) = item?;
                let row: GroupEntryRow = decode("group entry", v.value())?;
                if row.expires_at_ms <= now_ms {
                    continue;
                }
                if !entries.is_empty() && bytes + row.message.len() > max_bytes {
                    break;
                }
                bytes += row.message.len();
                entries.push(group_entry(trailing_u64(k.value())?, row)?);
                if entries.len() >= limit {
                    break;
                }
            }
            Ok(GroupPage {
                entries,
                current_epoch,
            })
        })
    }

    fn backup(&self, dest: std::path::PathBuf) -> StorageFuture<'_, ()> {
        let open = self.sender.lock().map(|g| g.is_some()).unwrap_or(false);
        let db = self.db.clone();
        Box::pin(async move {
            if !open {
                return Err(StorageError::Closed);
            }
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

    fn replace_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.submit(move |txn| {
            directory::put_prekeys_tx(txn, mailbox, signed, one_time, max_stock, true)
        })
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
        let db = self.db.clone();
        Box::pin(async move {
            if !open {
                return Err(StorageError::Closed);
            }
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
mod tests {
    use super::*;
    use crate::types::{EnvelopeId, MailboxAddress};

    fn env(mb: u8, id: u64, len: usize, now: u64, ttl: u64) -> NewEnvelope {
        NewEnvelope {
            mailbox: MailboxAddress([mb; 32]),
            envelope_id: EnvelopeId::new(id.to_be_bytes().to_vec()).unwrap(),
            ciphertext: vec![mb; len],
            now_ms: now,
            expires_at_ms: now + ttl,
            forget_at_ms: now + 2 * ttl,
        }
    }

    const Q: MailboxQuota = MailboxQuota {
        max_count: 1000,
        max_bytes: 1 << 30,
    };

    fn open() -> (tempfile::TempDir, Arc<RedbStorage>) {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStorage::open(&dir.path().join("t.redb")).unwrap();
        (dir, Arc::new(s))
    }

    #[tokio::test]
    async fn a_page_knows_whether_it_reached_the_end() {
        let (_d, s) = open();
        let a = MailboxAddress([1; 32]);
        for i in 0..3 {
            s.put_envelope(env(1, i, 100, 10, 1000), Q).await.unwrap();
        }
        // The last envelope has expired: a page that stops before it is still complete.
        s.put_envelope(env(1, 9, 100, 10, 5), Q).await.unwrap();
        let page = |cursor, limit, bytes| s.fetch_page(a, cursor, limit, bytes, 20);
        let all = page(0, 100, usize::MAX).await.unwrap();
        assert_eq!(all.envelopes.len(), 3);
        assert!(all.complete);
        let by_count = page(0, 2, usize::MAX).await.unwrap();
        assert_eq!(by_count.envelopes.len(), 2);
        assert!(!by_count.complete);
        let by_bytes = page(0, 100, 150).await.unwrap();
        assert_eq!(by_bytes.envelopes.len(), 1);
        assert!(!by_bytes.complete);
        let last = page(2, 1, usize::MAX).await.unwrap();
        assert_eq!(last.envelopes.len(), 1);
        assert!(
            !last.complete,
            "a key follows, even if it turns out to be expired"
        );
        assert!(page(3, 1, usize::MAX).await.unwrap().complete);
        s.close().await.unwrap();
    }

    /// A database written before `directory_counts` existed: its counts are built once,
    /// when it is opened, and kept from then on.
    #[tokio::test]
    async fn directory_counts_are_built_for_an_older_database_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        let (a, b) = ([1u8; 32], [2u8; 32]);
        {
            // The tables as an older relay wrote them, without directory_counts.
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut otpk = txn.open_table(ONE_TIME_PREKEYS).unwrap();
                for id in 0..5u64 {
                    otpk.insert(key_prefix_u64(&a, id).as_slice(), [7u8; 33].as_slice())
                        .unwrap();
                }
                otpk.insert(key_prefix_u64(&b, 9).as_slice(), [7u8; 33].as_slice())
                    .unwrap();
                let mut kps = txn.open_table(KEY_PACKAGES).unwrap();
                for i in 0..3u8 {
                    let k = key_prefix_bytes(&a, &sha256(&[&[i]]));
                    kps.insert(k.as_slice(), [i].as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let s = RedbStorage::open(&path).unwrap();
        let stock = s.directory_stock(MailboxAddress(a)).await.unwrap();
        assert_eq!((stock.one_time_prekeys, stock.key_packages), (5, 3));
        let stock = s.directory_stock(MailboxAddress(b)).await.unwrap();
        assert_eq!((stock.one_time_prekeys, stock.key_packages), (1, 0));

        // Kept with every change: uploads (a repeated id or KeyPackage counts once) and takes.
        let otpk = |id| OneTimePrekey {
            id,
            blob: vec![1; 33],
        };
        let stock = s
            .put_prekeys(
                MailboxAddress(a),
                None,
                vec![otpk(4), otpk(5), otpk(5)],
                100,
            )
            .await
            .unwrap();
        assert_eq!(stock.one_time_prekeys, 6);
        let stock = s
            .put_key_packages(
                MailboxAddress(a),
                vec![vec![0], vec![9], vec![9]],
                None,
                100,
            )
            .await
            .unwrap();
        assert_eq!(stock.key_packages, 4);
        s.take_key_package(MailboxAddress(a))
            .await
            .unwrap()
            .unwrap();
        s.put_prekeys(
            MailboxAddress(b),
            Some(SignedPrekey {
                id: 1,
                blob: vec![1],
            }),
            vec![],
            100,
        )
        .await
        .unwrap();
        let bundle = s
            .take_prekey_bundle(MailboxAddress(b))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(bundle.one_time_prekey.map(|k| k.id), Some(9));
        s.close().await.unwrap();
        drop(s);

        assert_eq!(format_of(&path), Some(FORMAT_VERSION));
        // Reopened: the counts still match the tables.
        let s = RedbStorage::open(&path).unwrap();
        let stock = s.directory_stock(MailboxAddress(a)).await.unwrap();
        assert_eq!((stock.one_time_prekeys, stock.key_packages), (6, 3));
        let stock = s.directory_stock(MailboxAddress(b)).await.unwrap();
        assert_eq!((stock.one_time_prekeys, stock.key_packages), (0, 0));
        s.close().await.unwrap();
    }

    fn format_of(path: &Path) -> Option<u64> {
        let db = Database::create(path).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).ok()?;
        meta.get(FORMAT_KEY).unwrap().map(|v| v.value())
    }

    #[tokio::test]
    async fn the_file_records_its_format_and_a_newer_one_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let s = RedbStorage::open(&path).unwrap();
        s.put_envelope(env(1, 1, 10, 10, 1000), Q).await.unwrap();
        s.close().await.unwrap();
        drop(s);
        assert_eq!(format_of(&path), Some(FORMAT_VERSION));
        // Written by a future relay.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_KEY, FORMAT_VERSION + 1)
                .unwrap();
            txn.commit().unwrap();
        }
        let e = RedbStorage::open(&path)
            .err()
            .expect("a newer format is refused");
        assert!(e.to_string().contains("newer than this relay"), "{e}");
        assert_eq!(format_of(&path), Some(FORMAT_VERSION + 1));
        // Back to this format: everything is still there.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT_KEY, FORMAT_VERSION)
                .unwrap();
            txn.commit().unwrap();
        }
        let s = RedbStorage::open(&path).unwrap();
        let got = s
            .fetch_envelopes(MailboxAddress([1; 32]), 0, 10, usize::MAX, 11)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        s.close().await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_puts_get_distinct_sequence_numbers() {
        let (_d, s) = open();
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put_envelope(env(1, i, 64, 10, 1000), Q).await
            }));
        }
        let mut seqs = BTreeSet::new();
        for t in tasks {
            let out = t.await.unwrap().unwrap();
            assert!(!out.duplicate);
            assert!(seqs.insert(out.seq));
        }
        assert_eq!(seqs, (0..200).collect());
        let got = s
            .fetch_envelopes(MailboxAddress([1; 32]), 0, 1000, usize::MAX, 11)
            .await
            .unwrap();
        assert_eq!(got.len(), 200);
        let st = s.commit_stats();
        assert_eq!(st.operations, 200);
        assert!(
            st.commits < st.operations,
            "concurrent writes share commits (group commit): {st:?}"
        );
        s.close().await.unwrap();
        assert_eq!(
            s.put_envelope(env(1, 999, 1, 10, 10), Q).await,
            Err(StorageError::Closed)
        );
    }

    // The backend-independent behaviour (quotas, welcomes atomic with their commit, TTL sweeps,
    // ...) is checked for this backend and PostgreSQL alike in
    // `relay/tests/storage_conformance.rs`; only what is particular to redb stays here.
}
