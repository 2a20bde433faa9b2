//! The PostgreSQL schema: migrations embedded in the binary, applied at start.
//!
//! Several nodes may start at once against one database. Each takes a session-level advisory
//! lock (scoped to the current schema) before it looks at `hush_schema_version`, so exactly one
//! of them applies a missing migration (each in its own transaction, together with its version
//! row) while the others wait and then find nothing left to do.
//!
//! Column conventions: unsigned 64-bit values that are only counted up from zero (sequence
//! numbers, counters) and Unix-ms times are stored as `bigint` (times clamp at `i64::MAX`,
//! some 292 million years out). Client-chosen 64-bit values (one-time prekey ids, MLS epochs)
//! are stored with their top bit flipped, an order-preserving map of `u64` onto `bigint`.

use super::StorageError;
use tokio_postgres::Client;

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: i32 = 1;

/// `(version, SQL)`, applied in order.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1)];

const V1: &str = r#"
CREATE TABLE hush_mailboxes (
    address        bytea  PRIMARY KEY,
    next_seq       bigint NOT NULL,
    envelope_count bigint NOT NULL,
    envelope_bytes bigint NOT NULL
);
CREATE TABLE hush_envelopes (
    address       bytea  NOT NULL,
    seq           bigint NOT NULL,
    envelope_id   bytea  NOT NULL,
    stored_at_ms  bigint NOT NULL,
    expires_at_ms bigint NOT NULL,
    ciphertext    bytea  NOT NULL,
    PRIMARY KEY (address, seq)
);
CREATE INDEX hush_envelopes_expiry ON hush_envelopes (expires_at_ms);
-- What the relay remembers per envelope id: state 1 stored, 2 delivered, 3 expired.
CREATE TABLE hush_envelope_ids (
    envelope_id   bytea    PRIMARY KEY,
    address       bytea    NOT NULL,
    seq           bigint   NOT NULL,
    state         smallint NOT NULL,
    stored_at_ms  bigint   NOT NULL,
    expires_at_ms bigint   NOT NULL,
    state_at_ms   bigint   NOT NULL,
    digest        bytea    NOT NULL,
    forget_at_ms  bigint   NOT NULL
);
CREATE INDEX hush_envelope_ids_forget ON hush_envelope_ids (forget_at_ms);
-- One row per mailbox with a directory: locked by uploads so stock limits hold.
CREATE TABLE hush_directories (
    address bytea PRIMARY KEY
);
CREATE TABLE hush_signed_prekeys (
    address bytea  PRIMARY KEY,
    id      bigint NOT NULL,
    blob    bytea  NOT NULL
);
CREATE TABLE hush_one_time_prekeys (
    address bytea  NOT NULL,
    id      bigint NOT NULL,
    blob    bytea  NOT NULL,
    PRIMARY KEY (address, id)
);
CREATE TABLE hush_key_packages (
    address bytea NOT NULL,
    digest  bytea NOT NULL,
    blob    bytea NOT NULL,
    PRIMARY KEY (address, digest)
);
CREATE TABLE hush_last_resort_key_packages (
    address bytea PRIMARY KEY,
    blob    bytea NOT NULL
);
CREATE TABLE hush_groups (
    group_digest       bytea  PRIMARY KEY,
    next_seq           bigint NOT NULL,
    current_epoch      bigint,
    last_commit_digest bytea  NOT NULL,
    last_commit_seq    bigint NOT NULL
);
CREATE TABLE hush_group_log (
    group_digest  bytea    NOT NULL,
    seq           bigint   NOT NULL,
    epoch         bigint   NOT NULL,
    kind          smallint NOT NULL,
    stored_at_ms  bigint   NOT NULL,
    expires_at_ms bigint   NOT NULL,
    message       bytea    NOT NULL,
    PRIMARY KEY (group_digest, seq)
);
-- One commit per epoch, whatever node accepted it (kind 1 = commit).
CREATE UNIQUE INDEX hush_group_log_one_commit_per_epoch
    ON hush_group_log (group_digest, epoch) WHERE kind = 1;
CREATE INDEX hush_group_log_expiry ON hush_group_log (expires_at_ms);
"#;

/// Advisory lock namespace (first key) of the migration lock; the second key is the hash of
/// the current schema.
const MIGRATION_LOCK: i32 = 0x4855_5301;

fn backend(what: &str, e: tokio_postgres::Error) -> StorageError {
    StorageError::Backend(format!("{what}: {}", super::pg_backend::describe(&e)))
}

/// Brings the database to [`SCHEMA_VERSION`]. Safe to run from several nodes at once.
pub(crate) async fn migrate(client: &mut Client) -> Result<i32, StorageError> {
    client
        .execute(
            "SELECT pg_advisory_lock($1, hashtext(current_schema()))",
            &[&MIGRATION_LOCK],
        )
        .await
        .map_err(|e| backend("migration lock", e))?;
    let result = apply(client).await;
    let unlock = client
        .execute(
            "SELECT pg_advisory_unlock($1, hashtext(current_schema()))",
            &[&MIGRATION_LOCK],
        )
        .await
        .map_err(|e| backend("migration unlock", e));
    let version = result?;
    unlock?;
    Ok(version)
}

async fn apply(client: &mut Client) -> Result<i32, StorageError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hush_schema_version (
                version       integer PRIMARY KEY,
                applied_at    timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
        .map_err(|e| backend("schema version table", e))?;
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM hush_schema_version",
            &[],
        )
        .await
        .map_err(|e| backend("schema version", e))?;
    let mut current: i32 = row.get(0);
    if current > SCHEMA_VERSION {
        return Err(StorageError::Backend(format!(
            "database schema version {current} is newer than this relay's ({SCHEMA_VERSION}); upgrade the relay"
        )));
    }
    for (version, sql) in MIGRATIONS {
        if *version <= current {
            continue;
        }
        let tx = client
            .transaction()
            .await
            .map_err(|e| backend("migration", e))?;
        tx.batch_execute(sql)
            .await
            .map_err(|e| backend(&format!("migration {version}"), e))?;
        tx.execute(
            "INSERT INTO hush_schema_version (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(|e| backend("schema version", e))?;
        tx.commit()
            .await
            .map_err(|e| backend(&format!("migration {version}"), e))?;
        tracing::info!(version, "applied database migration");
        current = *version;
    }
    Ok(current)
}
