//! Running an operation: on a pooled connection or in a transaction, retried a few times
//! on a fresh connection when the failure is transient, and followed by the wake-ups of the
//! other nodes once its writes are committed. Also the statement helpers every operation
//! uses.

use super::*;

/// Attempts per operation when connections break.
pub(super) const ATTEMPTS: u32 = 5;

/// Why an attempt failed.
pub(super) enum Fail {
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
pub(super) fn transient(e: &tokio_postgres::Error) -> bool {
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

/// How long a client is asked to wait after the database refused a write for want of space
/// or for being read-only (spec §5 "Storage failures").
pub(super) const UNAVAILABLE_RETRY_MS: u64 = 1000;

/// A database error that means the database takes no writes now: its disk is full
/// (SQLSTATE 53100 `disk_full`), it failed an I/O (58030 `io_error`), or it is read-only
/// (25006 `read_only_sql_transaction`: a standby, or `default_transaction_read_only`).
/// Not retried: the relay answers `STORAGE_UNAVAILABLE` at once, the client retries later.
pub(super) fn unavailable(e: &tokio_postgres::Error) -> Option<StorageError> {
    let label = match e.code()? {
        c if *c == SqlState::DISK_FULL => "disk_full",
        c if *c == SqlState::IO_ERROR => "io_error",
        c if *c == SqlState::READ_ONLY_SQL_TRANSACTION => "read_only",
        _ => return None,
    };
    metrics::counter!("hush_relay_writes_refused_total", "reason" => label).increment(1);
    tracing::warn!(error = %describe(e), reason = label, "the database refused a write");
    Some(StorageError::Unavailable {
        reason: format!("database refused the write ({label}): {}", describe(e)),
        retry_after_ms: UNAVAILABLE_RETRY_MS,
    })
}

/// How long a client is asked to wait when the database could not be reached.
pub(super) const UNREACHABLE_RETRY_MS: u64 = 500;

/// The answer when every attempt found the database unreachable (`why` in one line).
pub(super) fn db_unreachable(why: &str) -> StorageError {
    metrics::counter!("hush_relay_errors_total", "kind" => "database_unreachable").increment(1);
    tracing::warn!(error = %why, "the database could not be reached");
    StorageError::Unreachable {
        reason: format!("the database could not be reached ({why})"),
        retry_after_ms: UNREACHABLE_RETRY_MS,
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
                Err(Fail::Race) => {
                    break Err(StorageError::Backend(format!(
                        "{}: too much contention",
                        $what
                    )));
                }
                Err(Fail::Db(e)) => {
                    if let Some(u) = unavailable(&e) {
                        break Err(u);
                    }
                    if attempt < ATTEMPTS && transient(&e) {
                        tracing::debug!(error = %describe(&e), attempt, op = $what, "retrying");
                        tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                        continue;
                    }
                    if transient(&e) {
                        break Err(db_unreachable(&format!("{}: {}", $what, describe(&e))));
                    }
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
pub(super) async fn notify_committed(client: &deadpool_postgres::Object, wakes: Vec<String>) {
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
pub(super) const NOTIFY_SQL: &str = "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p";

/// Wakes the other nodes for a stored envelope: `$1` the channel, `$2` the payload, if the
/// envelope id `$3` is stored for mailbox `$4` with ciphertext digest `$5`.
pub(super) const NOTIFY_STORED_SQL: &str = "SELECT pg_notify($1, $2) FROM hush_envelope_ids
     WHERE envelope_id = $3 AND address = $4 AND digest = $5";

pub(super) fn notify_failed(e: &tokio_postgres::Error) {
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

pub(super) type Tx<'a> = deadpool_postgres::Transaction<'a>;
pub(super) type Params<'a> = &'a [&'a (dyn tokio_postgres::types::ToSql + Sync)];

/// `sql` (prepared once per connection) on a connection or in a transaction.
pub(super) async fn query<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Vec<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query(&st, params).await?)
}

/// Like [`query`], for exactly one row.
pub(super) async fn query_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Row, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_one(&st, params).await?)
}

/// Like [`query`], for at most one row.
pub(super) async fn query_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<Option<Row>, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.query_opt(&st, params).await?)
}

/// Like [`query`], for the number of rows changed.
pub(super) async fn execute<C: GenericClient>(
    c: &C,
    sql: &str,
    params: Params<'_>,
) -> Result<u64, Fail> {
    let st = c.prepare_cached(sql).await?;
    Ok(c.execute(&st, params).await?)
}

pub(super) fn corrupt(what: impl Into<String>) -> Fail {
    Fail::Storage(StorageError::Corrupt(what.into()))
}
