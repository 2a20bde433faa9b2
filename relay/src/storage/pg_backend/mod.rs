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
//! Locks are always taken in the order group row, then mailbox rows, then envelope rows.
//! A commit returns only after PostgreSQL reports it durable (`synchronous_commit` as the
//! server is configured; its default `on` waits for the WAL flush).
//!
//! Operations that fail because a connection broke (or on a serialization failure or a
//! deadlock) are retried a few times on a fresh connection. Every operation is safe to repeat
//! even if its first commit did in fact land: sends and commits are idempotent, acks of an
//! already acked envelope do nothing, a repeated take hands out a *different* key (one may be
//! lost, none is handed out twice).

use super::pg_listen::{self, CHANNEL};
use super::pg_schema;
use super::records::{STATE_DELIVERED, STATE_EXPIRED, STATE_STORED};
use super::*;
use crate::types::sha256;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};

/// Connections in the pool unless configured otherwise.
pub const DEFAULT_POOL_SIZE: usize = 16;

/// Attempts per operation when connections break.
const ATTEMPTS: u32 = 5;
/// Longest wait for a pooled connection (or a new one).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Connect timeout when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Most mailboxes (and most forgotten ids, group entries) one sweep handles.
const SWEEP_LIMIT: i64 = 10_000;
/// Most rows one fetch asks for.
const FETCH_LIMIT: usize = 10_000;
/// Advisory lock namespace of the sweep (second key: hash of the current schema).
const SWEEP_LOCK: i32 = 0x4855_5302;

/// One line for a database error, with the server's message when there is one.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Why an attempt failed.
enum Fail {
    /// A definite answer: return it.
    Storage(StorageError),
    /// A database error: retried when it is transient.
    Db(tokio_postgres::Error),
    /// Lost a race with a concurrent transaction that committed the same key: run again.
    Race,
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Db(e)
    }
}

impl From<StorageError> for Fail {
    fn from(e: StorageError) -> Self {
        Fail::Storage(e)
    }
}

/// Whether a database error may go away on a fresh connection or a second try.
fn transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // No server error: I/O, a closed or broken connection.
        None => true,
        Some(c) => {
            *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || c.code().starts_with("08")
        }
    }
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
    pool: Pool,
    config: tokio_postgres::Config,
    closed: AtomicBool,
    stop: watch::Sender<bool>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for PgStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStorage")
            .field("pool", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl PgStorage {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or any
    /// libpq-style form `tokio-postgres` accepts; TLS to the database is not supported),
    /// applies missing schema migrations and keeps at most `pool_size` connections (plus one
    /// for notifications, once [`Storage::set_wake_sink`] is called).
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StorageError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hush-relay");
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::Backend(format!("connection pool: {e}")))?;
        let mut client = pool
            .get()
            .await
            .map_err(|e| StorageError::Backend(format!("cannot connect to PostgreSQL: {e}")))?;
        let version = pg_schema::migrate(&mut client).await?;
        drop(client);
        tracing::info!(
            schema_version = version,
            pool_size,
            "PostgreSQL storage ready"
        );
        let (stop, _) = watch::channel(false);
        Ok(PgStorage {
            pool,
            config,
            closed: AtomicBool::new(false),
            stop,
            listener: Mutex::new(None),
        })
    }

    /// Connections open now and the pool's bound.
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.max_size)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Fail> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Fail::Storage(StorageError::Closed));
        }
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(db) => Fail::Db(db),
            deadpool_postgres::PoolError::Closed => Fail::Storage(StorageError::Closed),
            other => Fail::Storage(StorageError::Backend(format!(
                "no database connection: {other}"
            ))),
        })
    }
}

/// Runs `$attempt` (an `async` block giving `Result<_, Fail>`, evaluated afresh for each try)
/// until it gives an answer: runs it again after a lost race, and after a transient database
/// failure with a growing pause, up to [`ATTEMPTS`] times.
macro_rules! retrying {
    ($what:literal, $attempt:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r: Result<_, Fail> = $attempt.await;
            match r {
                Ok(v) => break Ok(v),
                Err(Fail::Storage(e)) => break Err(e),
                Err(Fail::Race) if attempt < ATTEMPTS => continue,
                Err(Fail::Db(e)) if attempt < ATTEMPTS && transient(&e) => {
                    tracing::debug!(error = %describe(&e), attempt, op = $what, "retrying");
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
                Err(Fail::Race) => {
                    break Err(StorageError::Backend(format!(
                        "{}: too much contention",
                        $what
                    )));
                }
                Err(Fail::Db(e)) => {
                    metrics::counter!("hush_relay_errors_total", "kind" => "database").increment(1);
                    break Err(StorageError::Backend(format!("{}: {}", $what, describe(&e))));
                }
            }
        }
    }};
}

/// Runs `$body` (an expression using the transaction `$tx`) in a transaction, commits, and
/// retries on transient failures. With `|$tx, $wakes|`, `$body` may push `pg_notify`
/// payloads onto `$wakes` (a `Vec<String>`); they are sent once the commit has returned.
macro_rules! in_tx {
    ($self:ident, $what:literal, |$tx:ident| $body:expr) => {
        in_tx!($self, $what, |$tx, _wakes| $body)
    };
    ($self:ident, $what:literal, |$tx:ident, $wakes:ident| $body:expr) => {
        retrying!($what, async {
            let mut client = $self.client().await?;
            #[allow(unused_mut)]
            let mut $wakes: Vec<String> = Vec::new();
            let $tx = client.transaction().await?;
            let v = $body.await?;
            $tx.commit().await?;
            notify_committed(&client, $wakes).await;
            Ok(v)
        })
    };
}

/// Sends the wake-ups of a committed transaction to the other nodes, in one statement of its
/// own. Sending them after the commit, rather than inside the transaction, keeps
/// PostgreSQL's notification queue lock out of the commit: a transaction that notifies holds
/// that database-wide lock until its commit is flushed, which would serialize every write.
/// The write is durable already, so a failure here is only logged: the other nodes'
/// subscribers still find the envelope at their next read (their periodic poll at the latest).
async fn notify_committed(client: &deadpool_postgres::Object, wakes: Vec<String>) {
    if wakes.is_empty() {
        return;
    }
    let r = async {
        let st = client.prepare_cached(NOTIFY_SQL).await?;
        client.execute(&st, &[&CHANNEL, &wakes]).await
    }
    .await;
    if let Err(e) = r {
        notify_failed(&e);
    }
}

/// Wakes the other nodes: `$1` the channel, `$2` the payloads.
const NOTIFY_SQL: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";

/// Wakes the other nodes for a stored envelope: `$1` the channel, `$2` the payload, if the
/// envelope id `$3` is stored for mailbox `$4` with ciphertext digest `$5`.
const NOTIFY_STORED_SQL: &str = "SELECT pg_notify($1, $2) FROM hush_envelope_ids
     WHERE envelope_id = $3 AND address = $4 AND digest = $5";

fn notify_failed(e: &tokio_postgres::Error) {
    metrics::counter!("hush_relay_errors_total", "kind" => "notify").increment(1);
    tracing::warn!(error = %describe(e), "cannot notify the other relay nodes");
}

/// Like [`in_tx`] for one statement on a pooled connection, without an explicit transaction
/// (a write is then a transaction of its own). With `|$c, $wakes|`, as for [`in_tx`].
macro_rules! on_client {
    ($self:ident, $what:literal, |$c:ident| $body:expr) => {
        on_client!($self, $what, |$c, _wakes| $body)
    };
    ($self:ident, $what:literal, |$c:ident, $wakes:ident| $body:expr) => {
        retrying!($what, async {
            let $c = $self.client().await?;
            #[allow(unused_mut)]
            let mut $wakes: Vec<String> = Vec::new();
            let v = $body.await?;
            notify_committed(&$c, $wakes).await;
            Ok(v)
        })
    };
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;
type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// `sql` (prepared once per connection) on a connection or in a transaction.
async fn query<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<Vec<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, params).await?)
}

/// Like [`query`], for exactly one row.
async fn query_one<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<Row, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, params).await?)
}

/// Like [`query`], for at most one row.
async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, params).await?)
}

/// Like [`query`], for the number of rows changed.
async fn execute<C: GenericClient>(c: &C, sql: &str, params: Params<'_>) -> Result<u64, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, params).await?)
}

fn corrupt(what: impl Into<String>) -> Fail {
    Fail::Storage(StorageError::Corrupt(what.into()))
}

/// Stores one envelope: one call of the `hush_put_envelope_1` routine (see
/// [`pg_schema::ROUTINES`] and the module docs for the locking).
const PUT_ENVELOPE_SQL: &str =
    "SELECT * FROM hush_put_envelope_1($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// [`PUT_ENVELOPE_SQL`]'s parameters.
struct PutArgs<'a> {
    mailbox: &'a [u8],
    envelope_id: &'a [u8],
    digest: Vec<u8>,
    now: i64,
    expires: i64,
    forget: i64,
    ciphertext: &'a [u8],
    max_count: i64,
    max_bytes: i64,
}

impl<'a> PutArgs<'a> {
    fn new(env: &'a NewEnvelope, quota: MailboxQuota) -> Self {
        PutArgs {
            mailbox: env.mailbox.0.as_slice(),
            envelope_id: env.envelope_id.as_bytes(),
            digest: sha256(&[&env.ciphertext]).to_vec(),
            now: to_i(env.now_ms),
            expires: to_i(env.expires_at_ms),
            forget: to_i(env.forget_at_ms),
            ciphertext: &env.ciphertext,
            max_count: to_i(quota.max_count),
            max_bytes: to_i(quota.max_bytes),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 9] {
        [
            &self.mailbox,
            &self.envelope_id,
            &self.digest,
            &self.now,
            &self.expires,
            &self.forget,
            &self.ciphertext,
            &self.max_count,
            &self.max_bytes,
        ]
    }
}

/// Stores one envelope inside the caller's transaction (see [`PUT_ENVELOPE_SQL`]).
async fn put_envelope_on<C: GenericClient>(
    c: &C,
    env: &NewEnvelope,
    quota: MailboxQuota,
    wakes: &mut Vec<String>,
) -> Result<PutOutcome, Fail> {
    let args = PutArgs::new(env, quota);
    let r = query_one(c, PUT_ENVELOPE_SQL, &args.params()).await?;
    let out = put_outcome(&r, env, quota)?;
    // A retry may follow a first attempt whose commit landed but whose wake-up was never sent
    // (the connection broke at the commit): a duplicate wakes the mailbox again too, which
    // costs the subscribers one read.
    wakes.push(pg_listen::mailbox_payload(&env.mailbox.0));
    Ok(out)
}

/// What [`PUT_ENVELOPE_SQL`]'s row says.
fn put_outcome(r: &Row, env: &NewEnvelope, quota: MailboxQuota) -> Result<PutOutcome, Fail> {
    let outcome: i16 = r.get(0);
    match outcome {
        // Stored, or stored before (a retry).
        0 | 1 => Ok(PutOutcome {
            mailbox: env.mailbox,
            seq: to_u(r.get(1)),
            stored_at_ms: to_u(r.get(2)),
            duplicate: outcome == 1,
        }),
        2 => Err(Fail::Storage(StorageError::EnvelopeIdConflict)),
        3 => Err(Fail::Storage(StorageError::QuotaExceeded {
            count: to_u(r.get(3)),
            bytes: to_u(r.get(4)),
            max_count: quota.max_count,
            max_bytes: quota.max_bytes,
        })),
        // Lost the id to concurrent sends three times: run again.
        4 => Err(Fail::Race),
        other => Err(corrupt(format!("put envelope: unknown outcome {other}"))),
    }
}

/// Appends one message to a group log with one call of the `hush_append_group_1` routine
/// (see [`pg_schema::ROUTINES`]; the group row is locked, so appends to one group are serial
/// across all nodes and the epoch check and move are one compare-and-set), then stores the
/// welcomes, all in `c`'s transaction when it has one. A repeat of the group's last commit
/// stores its welcomes again (each answers "duplicate" if it was stored) and wakes again, as a
/// repeated send does: the first attempt's wake-up may be lost.
async fn append_group_on<C: GenericClient>(
    c: &C,
    msg: &NewGroupMessage,
    welcomes: &[NewEnvelope],
    quota: MailboxQuota,
    wakes: &mut Vec<String>,
) -> Result<GroupAppendOutcome, Fail> {
    if msg.kind == GroupMessageKind::Commit && msg.epoch == u64::MAX {
        return Err(Fail::Storage(StorageError::LastEpoch));
    }
    let g = msg.group.digest();
    let digest = sha256(&[&msg.message]);
    let r = query_one(
        c,
        "SELECT * FROM hush_append_group_1($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &g.as_slice(),
            &flip(msg.epoch),
            &msg.epoch.checked_add(1).map(flip),
            &(msg.kind == GroupMessageKind::Commit),
            &i16::from(msg.kind.to_u8()),
            &digest.as_slice(),
            &to_i(msg.now_ms),
            &to_i(msg.expires_at_ms),
            &msg.message,
        ],
    )
    .await?;
    let outcome: i16 = r.get(0);
    let current_epoch = r.get::<_, Option<i64>>(2).map(unflip);
    match outcome {
        0 | 1 => {
            let mut outs = Vec::with_capacity(welcomes.len());
            for w in welcomes {
                outs.push(put_envelope_on(c, w, quota, wakes).await?);
            }
            wakes.push(pg_listen::group_payload(&g));
            Ok(GroupAppendOutcome {
                seq: to_u(r.get(1)),
                current_epoch,
                duplicate: outcome == 1,
                welcomes: outs,
            })
        }
        2 => Err(Fail::Storage(StorageError::EpochConflict {
            current: current_epoch.unwrap_or(msg.epoch),
        })),
        other => Err(corrupt(format!("append group: unknown outcome {other}"))),
    }
}

/// The directory stock of a mailbox, as SQL that a larger query can embed (`$1` is the
/// mailbox address): one row of four columns.
macro_rules! stock_sql {
    () => {
        "SELECT (SELECT count(*) FROM hush_one_time_prekeys WHERE address = $1),
            (SELECT count(*) FROM hush_key_packages WHERE address = $1),
            EXISTS (SELECT 1 FROM hush_signed_prekeys WHERE address = $1),
            EXISTS (SELECT 1 FROM hush_last_resort_key_packages WHERE address = $1)"
    };
}

const STOCK_SQL: &str = stock_sql!();

/// Reads [`STOCK_SQL`]'s four columns from `r`, starting at column `at`.
fn stock_from(r: &Row, at: usize) -> DirectoryStock {
    DirectoryStock {
        one_time_prekeys: to_u(r.get(at)),
        key_packages: to_u(r.get(at + 1)),
        has_signed_prekey: r.get(at + 2),
        has_last_resort: r.get(at + 3),
    }
}

async fn stock_on<C: GenericClient>(c: &C, a: &[u8]) -> Result<DirectoryStock, Fail> {
    Ok(stock_from(&query_one(c, STOCK_SQL, &[&a]).await?, 0))
}

/// A page of a mailbox and its directory stock in one statement (one snapshot, one round
/// trip). The inner query reads one envelope more than `$4`, the limit, to tell whether the
/// page reaches the end; a window sum of the ciphertext lengths (known without reading the
/// ciphertexts) marks the envelopes that fit in `$5` bytes (the first always does). Only
/// those carry their ciphertext. The stock is the left side of the join, so a page without
/// envelopes is one row with NULL envelope columns.
const PAGE_SQL: &str = concat!(
    "WITH e AS (
        SELECT seq, envelope_id, stored_at_ms, expires_at_ms, ciphertext
        FROM hush_envelopes
        WHERE address = $1 AND seq >= $2 AND expires_at_ms > $3
        ORDER BY seq LIMIT $4::bigint + 1
    ), p AS (
        SELECT seq, envelope_id, stored_at_ms, expires_at_ms, ciphertext,
               row_number() OVER w AS n,
               sum(octet_length(ciphertext)::bigint) OVER w AS upto
        FROM e WINDOW w AS (ORDER BY seq)
    ), k AS (
        SELECT seq, envelope_id, stored_at_ms, expires_at_ms, n <= $4 AND (n = 1 OR upto <= $5::bigint) AS kept,
               ciphertext
        FROM p
    )
    SELECT s.*, k.seq, k.envelope_id, k.stored_at_ms, k.expires_at_ms, k.kept,
           CASE WHEN k.kept THEN k.ciphertext END
    FROM (",
    stock_sql!(),
    ") s
    LEFT JOIN k ON true
    ORDER BY k.seq"
);

/// Locks the directory row of a mailbox for the rest of the transaction.
async fn lock_directory(tx: &Tx<'_>, a: &[u8]) -> Result<(), Fail> {
    query(
        tx,
        "INSERT INTO hush_directories (address) VALUES ($1)
         ON CONFLICT (address) DO UPDATE SET address = EXCLUDED.address RETURNING 1",
        &[&a],
    )
    .await?;
    Ok(())
}

/// Expires one mailbox's envelopes due at `now` inside `tx`: `(count, bytes)`.
async fn expire_mailbox_tx(tx: &Tx<'_>, a: &[u8], now: i64) -> Result<(u64, u64), Fail> {
    query(
        tx,
        "SELECT 1 FROM hush_mailboxes WHERE address = $1 FOR UPDATE",
        &[&a],
    )
    .await?;
    let r = query_one(
        tx,
        "WITH d AS (
             DELETE FROM hush_envelopes WHERE address = $1 AND expires_at_ms <= $2
             RETURNING envelope_id, seq, expires_at_ms, octet_length(ciphertext)::bigint AS len
         ), m AS (
             UPDATE hush_mailboxes SET
                 envelope_count = greatest(envelope_count - (SELECT count(*) FROM d), 0),
                 envelope_bytes = greatest(envelope_bytes - (SELECT coalesce(sum(len), 0) FROM d), 0)
             WHERE address = $1
         ), i AS (
             UPDATE hush_envelope_ids AS x SET state = $3, state_at_ms = d.expires_at_ms
             FROM d
             WHERE x.envelope_id = d.envelope_id AND x.state = $4 AND x.address = $1
                 AND x.seq = d.seq
         )
         SELECT count(*), coalesce(sum(len), 0)::bigint FROM d",
        &[&a, &now, &(STATE_EXPIRED as i16), &(STATE_STORED as i16)],
    )
    .await?;
    Ok((to_u(r.get(0)), to_u(r.get(1))))
}

impl PgStorage {
    async fn sweep_locked(
        client: &mut deadpool_postgres::Object,
        now_ms: u64,
    ) -> Result<SweepReport, Fail> {
        let now = to_i(now_ms);
        let mut report = SweepReport::default();
        let mailboxes: Vec<Vec<u8>> = client
            .query(
                "SELECT DISTINCT address FROM hush_envelopes WHERE expires_at_ms <= $1 LIMIT $2",
                &[&now, &SWEEP_LIMIT],
            )
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for a in mailboxes {
            let tx = client.transaction().await?;
            let (n, b) = expire_mailbox_tx(&tx, &a, now).await?;
            tx.commit().await?;
            report.envelopes_expired += n;
            report.bytes_expired += b;
        }
        // Forget ids whose envelope is gone (acked or expired); a stored one waits.
        report.ids_forgotten = client
            .execute(
                "DELETE FROM hush_envelope_ids WHERE envelope_id IN (
                     SELECT envelope_id FROM hush_envelope_ids
                     WHERE forget_at_ms <= $1 AND state <> $2
                     LIMIT $3 FOR UPDATE SKIP LOCKED)",
                &[&now, &(STATE_STORED as i16), &SWEEP_LIMIT],
            )
            .await?;
        report.group_entries_expired = client
            .execute(
                "DELETE FROM hush_group_log WHERE (group_digest, seq) IN (
                     SELECT group_digest, seq FROM hush_group_log
                     WHERE expires_at_ms <= $1
                     LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&now, &SWEEP_LIMIT],
            )
            .await?;
        Ok(report)
    }
}

impl Storage for PgStorage {
    fn put_envelope(&self, env: NewEnvelope, quota: MailboxQuota) -> StorageFuture<'_, PutOutcome> {
        Box::pin(async move {
            let args = PutArgs::new(&env, quota);
            let wake = pg_listen::mailbox_payload(&env.mailbox.0);
            retrying!("put envelope", async {
                let c = self.client().await?;
                // Both statements are prepared first, so that neither waits for a Parse below
                // and they go out in this order: the routine call, a transaction of its own
                // and durable when it answers, then the wake-up of the other nodes, pipelined
                // behind it on the same connection without waiting for its answer (each query
                // is sent when first polled, and `join!` polls in order). PostgreSQL runs them
                // in that order, so the wake-up sees the commit, and it fires only if the id
                // is stored for this mailbox and these bytes: a new send or a duplicate (whose
                // first wake-up may have been lost), not a refused or failed one.
                let put = c.prepare_cached(PUT_ENVELOPE_SQL).await?;
                let notify = c.prepare_cached(NOTIFY_STORED_SQL).await?;
                let params = args.params();
                let wake_params: [&(dyn ToSql + Sync); 5] = [
                    &CHANNEL,
                    &wake,
                    &args.envelope_id,
                    &args.mailbox,
                    &args.digest,
                ];
                let (row, woke) =
                    tokio::join!(c.query_one(&put, &params), c.execute(&notify, &wake_params));
                if let Err(e) = woke {
                    notify_failed(&e);
                }
                put_outcome(&row?, &env, quota)
            })
        })
    }

    fn fetch_envelopes(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> StorageFuture<'_, Vec<StoredEnvelope>> {
        Box::pin(async move {
            let n = to_i(limit.clamp(1, FETCH_LIMIT) as u64);
            let rows = on_client!(self, "fetch envelopes", |c| query(
                &c,
                "SELECT seq, envelope_id, stored_at_ms, expires_at_ms, ciphertext
                         FROM hush_envelopes
                         WHERE address = $1 AND seq >= $2 AND expires_at_ms > $3
                         ORDER BY seq LIMIT $4",
                &[&mailbox.0.as_slice(), &to_i(cursor), &to_i(now_ms), &n]
            ))?;
            let mut out = Vec::with_capacity(rows.len());
            let mut bytes = 0usize;
            for r in rows {
                let ciphertext: Vec<u8> = r.get(4);
                if !out.is_empty() && bytes.saturating_add(ciphertext.len()) > max_bytes {
                    break;
                }
                bytes = bytes.saturating_add(ciphertext.len());
                out.push(StoredEnvelope {
                    seq: to_u(r.get(0)),
                    envelope_id: EnvelopeId::new(r.get::<_, Vec<u8>>(1))
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                    stored_at_ms: to_u(r.get(2)),
                    expires_at_ms: to_u(r.get(3)),
                    ciphertext,
                });
            }
            Ok(out)
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
        Box::pin(async move {
            let n = to_i(limit.clamp(1, FETCH_LIMIT) as u64);
            let rows = on_client!(self, "fetch page", |c| query(
                &c,
                PAGE_SQL,
                &[
                    &mailbox.0.as_slice(),
                    &to_i(cursor),
                    &to_i(now_ms),
                    &n,
                    &to_i(max_bytes as u64),
                ]
            ))?;
            let Some(first) = rows.first() else {
                return Err(StorageError::Corrupt("fetch page: no stock row".into()));
            };
            let stock = stock_from(first, 0);
            let mut envelopes = Vec::with_capacity(rows.len());
            let mut complete = true;
            for r in &rows {
                let Some(seq) = r.get::<_, Option<i64>>(4) else {
                    continue; // no envelopes: the stock row alone
                };
                if !r.get::<_, bool>(8) {
                    complete = false; // over the limit or the bytes: more to read
                    continue;
                }
                let (Some(id), Some(ciphertext)) = (
                    r.get::<_, Option<Vec<u8>>>(5),
                    r.get::<_, Option<Vec<u8>>>(9),
                ) else {
                    return Err(StorageError::Corrupt(
                        "fetch page: envelope without bytes".into(),
                    ));
                };
                envelopes.push(StoredEnvelope {
                    seq: to_u(seq),
                    envelope_id: EnvelopeId::new(id)
                        .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                    stored_at_ms: to_u(r.get(6)),
                    expires_at_ms: to_u(r.get(7)),
                    ciphertext,
                });
            }
            Ok(MailboxPage {
                envelopes,
                stock,
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
        Box::pin(async move {
            let mut seqs: Vec<i64> = seqs
                .into_iter()
                .filter_map(|s| i64::try_from(s).ok())
                .collect();
            seqs.sort_unstable();
            seqs.dedup();
            if seqs.is_empty() {
                return Ok(0);
            }
            // One call of the `hush_ack_envelopes_2` routine (see [`pg_schema::ROUTINES`]).
            let row = on_client!(self, "ack envelopes", |c| query_one(
                &c,
                "SELECT hush_ack_envelopes_2($1, $2, $3)",
                &[&mailbox.0.as_slice(), &seqs, &to_i(now_ms)]
            ))?;
            Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
        })
    }

    fn envelope_status(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> StorageFuture<'_, Option<EnvelopeStatus>> {
        Box::pin(async move {
            let row = on_client!(self, "envelope status", |c| query_opt(
                &c,
                "SELECT address, state, stored_at_ms, expires_at_ms, state_at_ms
                         FROM hush_envelope_ids WHERE envelope_id = $1",
                &[&id.as_bytes()]
            ))?;
            let Some(r) = row else { return Ok(None) };
            let addr: Vec<u8> = r.get(0);
            let state: i16 = r.get(1);
            let expires_at_ms = to_u(r.get(3));
            let state_at_ms = to_u(r.get(4));
            let state = match u32::try_from(state).unwrap_or(0) {
                STATE_STORED if expires_at_ms <= now_ms => EnvelopeState::Expired {
                    at_ms: expires_at_ms,
                },
                STATE_STORED => EnvelopeState::Stored,
                STATE_DELIVERED => EnvelopeState::Delivered { at_ms: state_at_ms },
                STATE_EXPIRED => EnvelopeState::Expired { at_ms: state_at_ms },
                other => return Err(StorageError::Corrupt(format!("envelope state {other}"))),
            };
            Ok(Some(EnvelopeStatus {
                mailbox: MailboxAddress::from_slice(&addr)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                stored_at_ms: to_u(r.get(2)),
                expires_at_ms,
                state,
            }))
        })
    }

    fn sweep(&self, now_ms: u64) -> StorageFuture<'_, SweepReport> {
        Box::pin(async move {
            let r: Result<SweepReport, Fail> = async {
                let mut client = self.client().await?;
                let got: bool = client
                    .query_one(
                        "SELECT pg_try_advisory_lock($1, hashtext(current_schema()))",
                        &[&SWEEP_LOCK],
                    )
                    .await?
                    .get(0);
                if !got {
                    // Another node is sweeping right now; it removes what is due.
                    return Ok(SweepReport::default());
                }
                let report = Self::sweep_locked(&mut client, now_ms).await;
                let unlocked = client
                    .execute(
                        "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
                        &[&SWEEP_LOCK],
                    )
                    .await;
                if unlocked.is_err() {
                    // Never hand a connection that may still hold the lock back to the pool.
                    let _ = deadpool_postgres::Object::take(client);
                }
                let report = report?;
                unlocked?;
                Ok(report)
            }
            .await;
            r.map_err(|f| match f {
                Fail::Storage(e) => e,
                Fail::Db(e) => StorageError::Backend(format!("sweep: {}", describe(&e))),
                Fail::Race => StorageError::Backend("sweep: unexpected race".into()),
            })
        })
    }

    fn put_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.put_prekeys_replacing(mailbox, signed, one_time, max_stock, false)
    }

    fn take_prekey_bundle(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<PrekeyBundle>> {
        Box::pin(async move {
            let a = mailbox.0.as_slice();
            // One statement: the signed prekey, and a one-time prekey taken only if there is a
            // signed one (a data-modifying CTE runs once, whether or not the query reads it).
            let row = on_client!(self, "take prekey", |c| query_opt(
                &c,
                "WITH s AS (
                             SELECT id, blob FROM hush_signed_prekeys WHERE address = $1
                         ), o AS (
                             DELETE FROM hush_one_time_prekeys
                             WHERE address = $1 AND EXISTS (SELECT 1 FROM s) AND id = (
                                 SELECT id FROM hush_one_time_prekeys WHERE address = $1
                                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                             RETURNING id, blob
                         )
                         SELECT s.id, s.blob, o.id, o.blob FROM s LEFT JOIN o ON true",
                &[&a]
            ))?;
            let Some(r) = row else { return Ok(None) };
            let signed = SignedPrekey {
                id: u32::try_from(r.get::<_, i64>(0))
                    .map_err(|_| StorageError::Corrupt("signed prekey id".into()))?,
                blob: r.get(1),
            };
            let one_time = match (r.get::<_, Option<i64>>(2), r.get::<_, Option<Vec<u8>>>(3)) {
                (Some(id), Some(blob)) => Some(OneTimePrekey {
                    id: unflip(id),
                    blob,
                }),
                _ => None,
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
        self.put_key_packages_replacing(mailbox, key_packages, last_resort, max_stock, false)
    }

    fn take_key_package(&self, mailbox: MailboxAddress) -> StorageFuture<'_, Option<KeyPackage>> {
        Box::pin(async move {
            let a = mailbox.0.as_slice();
            // One statement: a KeyPackage taken, or else the last-resort one (kept).
            let row = on_client!(self, "take key package", |c| query_opt(
                &c,
                "WITH k AS (
                             DELETE FROM hush_key_packages
                             WHERE address = $1 AND digest = (
                                 SELECT digest FROM hush_key_packages WHERE address = $1
                                 ORDER BY digest LIMIT 1 FOR UPDATE SKIP LOCKED)
                             RETURNING blob
                         )
                         SELECT blob, false FROM k
                         UNION ALL
                         SELECT blob, true FROM hush_last_resort_key_packages
                         WHERE address = $1 AND NOT EXISTS (SELECT 1 FROM k)",
                &[&a]
            ))?;
            Ok(row.map(|r| KeyPackage {
                blob: r.get(0),
                last_resort: r.get(1),
            }))
        })
    }

    fn directory_stock(&self, mailbox: MailboxAddress) -> StorageFuture<'_, DirectoryStock> {
        Box::pin(async move {
            let a = mailbox.0.as_slice();
            on_client!(self, "directory stock", |c| stock_on(&c, a))
        })
    }

    fn append_group(
        &self,
        msg: NewGroupMessage,
        welcomes: Vec<NewEnvelope>,
        quota: MailboxQuota,
    ) -> StorageFuture<'_, GroupAppendOutcome> {
        Box::pin(async move {
            // Without welcomes, one routine call that commits on its own; with welcomes, the
            // call and the welcomes' stores in one transaction.
            if welcomes.is_empty() {
                on_client!(self, "append group", |c, wakes| append_group_on(
                    &c, &msg, &welcomes, quota, &mut wakes
                ))
            } else {
                in_tx!(self, "append group", |tx, wakes| append_group_on(
                    &tx, &msg, &welcomes, quota, &mut wakes
                ))
            }
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
        Box::pin(async move {
            let g = group.digest();
            let n = to_i(limit.clamp(1, FETCH_LIMIT) as u64);
            // One statement, so the epoch and the entries come from one snapshot.
            let rows = on_client!(self, "fetch group", |c| async {
                query(&c, "SELECT g.current_epoch, l.seq, l.epoch, l.kind, l.stored_at_ms, l.message
                         FROM hush_groups g LEFT JOIN LATERAL (
                             SELECT seq, epoch, kind, stored_at_ms, message FROM hush_group_log
                             WHERE group_digest = g.group_digest AND seq >= $2 AND expires_at_ms > $3
                             ORDER BY seq LIMIT $4) l ON true
                         WHERE g.group_digest = $1
                         ORDER BY l.seq", &[&g.as_slice(), &to_i(cursor), &to_i(now_ms), &n]).await
            })?;
            let mut page = GroupPage {
                entries: Vec::new(),
                current_epoch: None,
            };
            let mut bytes = 0usize;
            for r in rows {
                page.current_epoch = r.get::<_, Option<i64>>(0).map(unflip);
                let Some(seq) = r.get::<_, Option<i64>>(1) else {
                    continue;
                };
                let message: Vec<u8> = r.get(5);
                if !page.entries.is_empty() && bytes.saturating_add(message.len()) > max_bytes {
                    break;
                }
                bytes = bytes.saturating_add(message.len());
                let kind: i16 = r.get(3);
                page.entries.push(GroupEntry {
                    seq: to_u(seq),
                    epoch: unflip(r.get(2)),
                    kind: u8::try_from(kind)
                        .ok()
                        .and_then(GroupMessageKind::from_u8)
                        .ok_or_else(|| StorageError::Corrupt("group entry kind".into()))?,
                    stored_at_ms: to_u(r.get(4)),
                    message,
                });
            }
            Ok(page)
        })
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

    fn replace_prekeys(
        &self,
        mailbox: MailboxAddress,
        signed: Option<SignedPrekey>,
        one_time: Vec<OneTimePrekey>,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        self.put_prekeys_replacing(mailbox, signed, one_time, max_stock, true)
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
        Box::pin(async move {
            self.closed.store(true, Ordering::Release);
            let _ = self.stop.send(true);
            let listener = self.listener.lock().ok().and_then(|mut g| g.take());
            if let Some(l) = listener {
                let _ = tokio::time::timeout(Duration::from_secs(5), l).await;
            }
            self.pool.close();
            Ok(())
        })
    }

    fn set_wake_sink(&self, sink: WakeSink) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!("set_wake_sink needs a Tokio runtime; cross-node wake-ups are off");
            return;
        };
        let task = rt.spawn(pg_listen::listen_loop(
            self.config.clone(),
            sink,
            self.stop.subscribe(),
        ));
        if let Ok(mut g) = self.listener.lock()
            && let Some(old) = g.replace(task)
        {
            old.abort();
        }
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
