//! The PostgreSQL schema: migrations embedded in the binary, applied at start.
//!
//! Several nodes may start at once against one database. Each takes a session-level advisory
//! lock (scoped to the current schema) before it looks at `hush_schema_version`, so exactly one
//! of them applies a missing migration (each in its own transaction, together with its version
//! row) while the others wait and then find nothing left to do.
//!
//! Under the same lock, each start also installs the server-side routines this binary calls
//! ([`ROUTINES`], `CREATE OR REPLACE`). They are code, not data: they change nothing stored
//! and need no schema version. Each name carries a number of its own (`hush_put_envelope_1`);
//! a change of signature or meaning takes a new name, so that nodes of the previous release,
//! still running against the same database during a rolling upgrade, keep calling theirs.
//!
//! Column conventions: unsigned 64-bit values that are only counted up from zero (sequence
//! numbers, counters) and Unix-ms times are stored as `bigint` (times clamp at `i64::MAX`,
//! some 292 million years out). Client-chosen 64-bit values (one-time prekey ids, MLS epochs)
//! are stored with their top bit flipped, an order-preserving map of `u64` onto `bigint`.

use super::StorageError;
use tokio_postgres::Client;

mod routines;
pub(crate) use routines::ROUTINES;

/// The schema version this binary writes and understands.
pub const SCHEMA_VERSION: i32 = 6;

/// `(version, SQL)`, applied in order.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1), (2, V2), (3, V3), (4, V4), (5, V5), (6, V6)];

/// Migration 2: the blind directory's fetch verifiers (spec/relay-protocol.md §6.1), one per
/// mailbox that registered one: `SHA-256("Hush-v1-Directory-Verifier" ‖ fetch token)`.
const V2: &str = r#"
CREATE TABLE hush_directory_verifiers (
    address  bytea PRIMARY KEY,
    verifier bytea NOT NULL CHECK (octet_length(verifier) = 32)
);
"#;

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

/// Migration 3: the state generation of each mailbox (rollback detection). A mailbox without
/// a row is at generation 0. `generation` is stored flipped (a client-chosen `u64`).
const V3: &str = r#"
CREATE TABLE hush_generations (
    address    bytea  PRIMARY KEY,
    generation bigint NOT NULL
);
"#;

/// Migration 4: the KEM prekeys of PQXDH (spec/pqxdh.md), opaque blobs like the prekeys:
/// one-time KEM prekeys (taken once, ids flipped like one-time prekey ids) and one
/// last-resort KEM prekey per mailbox (kept when handed out).
const V4: &str = r#"
CREATE TABLE hush_one_time_kem_prekeys (
    address bytea  NOT NULL,
    id      bigint NOT NULL,
    blob    bytea  NOT NULL,
    PRIMARY KEY (address, id)
);
CREATE TABLE hush_last_resort_kem_prekeys (
    address bytea  PRIMARY KEY,
    id      bigint NOT NULL,
    blob    bytea  NOT NULL
);
"#;

/// Migration 5: the blob store (spec/relay-protocol.md §11.5), so that any node serves any
/// blob. `hush_blobs` holds each blob's metadata: the mailbox whose quota it counts toward,
/// its declared length, expiry, durable offset (bytes committed in `hush_blob_chunks`),
/// completeness and the generation of its newest upload (an upload's commit is conditional on
/// it, so a newer upload through any node supersedes an older one). `hush_blob_chunks` holds
/// the bytes, contiguous rows of at most 1 MiB keyed by their offset, deleted with their blob.
/// `hush_blob_owners` has one row per mailbox that created a blob: BLOB_CREATE locks it, so
/// two creates for one mailbox cannot both pass its quota.
const V5: &str = r#"
CREATE TABLE hush_blobs (
    blob_id       bytea   PRIMARY KEY CHECK (octet_length(blob_id) = 32),
    owner         bytea   NOT NULL,
    length        bigint  NOT NULL CHECK (length > 0),
    expires_at_ms bigint  NOT NULL,
    durable       bigint  NOT NULL CHECK (durable >= 0 AND durable <= length),
    complete      boolean NOT NULL,
    generation    bigint  NOT NULL
);
CREATE INDEX hush_blobs_owner ON hush_blobs (owner);
CREATE INDEX hush_blobs_expiry ON hush_blobs (expires_at_ms);
CREATE TABLE hush_blob_chunks (
    blob_id      bytea  NOT NULL REFERENCES hush_blobs (blob_id) ON DELETE CASCADE,
    offset_bytes bigint NOT NULL,
    data         bytea  NOT NULL,
    PRIMARY KEY (blob_id, offset_bytes)
);
-- Ciphertext does not compress: keep chunks out of line without trying.
ALTER TABLE hush_blob_chunks ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE TABLE hush_blob_owners (
    owner bytea PRIMARY KEY
);
"#;

/// Migration 6: the directory stock as counters, read from one row instead of counted on
/// every pushed page. `hush_directories` gets one counter per directory table, kept by
/// statement-level triggers on those tables: after each insert and each delete,
/// `hush_count_directory_1` reads the statement's transition table and adds, per mailbox it
/// touched, the rows added (or subtracts those removed) with `hush_add_to_directory_1`. The
/// counters therefore move in the transaction that moves the rows, whatever writes them,
/// nodes of the previous release during a rolling upgrade included. The migration first locks
/// the six tables against writes, so no row is written between the count and the triggers;
/// it then makes a directory row for every mailbox with entries and sets its counters from
/// the rows. The flags of the stock (a signed prekey, a last-resort KeyPackage or KEM prekey)
/// are counters that are 0 or 1 (those tables hold one row per mailbox at most).
///
/// The relay's takes lock the counter row before they delete a key, as its uploads do, so the
/// triggers add no lock-order inversion (a take of the previous release, which deletes first,
/// can deadlock with an upload that replaces the keys; PostgreSQL aborts one, the relay runs
/// it again).
const V6: &str = r#"
LOCK TABLE hush_signed_prekeys, hush_one_time_prekeys, hush_key_packages,
    hush_last_resort_key_packages, hush_one_time_kem_prekeys, hush_last_resort_kem_prekeys
    IN SHARE ROW EXCLUSIVE MODE;
ALTER TABLE hush_directories
    ADD COLUMN signed_prekeys           bigint NOT NULL DEFAULT 0,
    ADD COLUMN one_time_prekeys         bigint NOT NULL DEFAULT 0,
    ADD COLUMN key_packages             bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_resort_key_packages bigint NOT NULL DEFAULT 0,
    ADD COLUMN one_time_kem_prekeys     bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_resort_kem_prekeys  bigint NOT NULL DEFAULT 0;
INSERT INTO hush_directories (address)
    SELECT address FROM hush_signed_prekeys
    UNION SELECT address FROM hush_one_time_prekeys
    UNION SELECT address FROM hush_key_packages
    UNION SELECT address FROM hush_last_resort_key_packages
    UNION SELECT address FROM hush_one_time_kem_prekeys
    UNION SELECT address FROM hush_last_resort_kem_prekeys
    ON CONFLICT (address) DO NOTHING;
UPDATE hush_directories d SET
    signed_prekeys = (SELECT count(*) FROM hush_signed_prekeys t WHERE t.address = d.address),
    one_time_prekeys = (SELECT count(*) FROM hush_one_time_prekeys t WHERE t.address = d.address),
    key_packages = (SELECT count(*) FROM hush_key_packages t WHERE t.address = d.address),
    last_resort_key_packages =
        (SELECT count(*) FROM hush_last_resort_key_packages t WHERE t.address = d.address),
    one_time_kem_prekeys =
        (SELECT count(*) FROM hush_one_time_kem_prekeys t WHERE t.address = d.address),
    last_resort_kem_prekeys =
        (SELECT count(*) FROM hush_last_resort_kem_prekeys t WHERE t.address = d.address);
CREATE FUNCTION hush_add_to_directory_1(p_table text, p_address bytea, p_n bigint)
RETURNS void LANGUAGE sql AS $fn$
    INSERT INTO hush_directories AS d (address, signed_prekeys, one_time_prekeys, key_packages,
            last_resort_key_packages, one_time_kem_prekeys, last_resort_kem_prekeys)
        VALUES (p_address,
            CASE WHEN p_table = 'hush_signed_prekeys' THEN p_n ELSE 0 END,
            CASE WHEN p_table = 'hush_one_time_prekeys' THEN p_n ELSE 0 END,
            CASE WHEN p_table = 'hush_key_packages' THEN p_n ELSE 0 END,
            CASE WHEN p_table = 'hush_last_resort_key_packages' THEN p_n ELSE 0 END,
            CASE WHEN p_table = 'hush_one_time_kem_prekeys' THEN p_n ELSE 0 END,
            CASE WHEN p_table = 'hush_last_resort_kem_prekeys' THEN p_n ELSE 0 END)
        ON CONFLICT (address) DO UPDATE SET
            signed_prekeys = d.signed_prekeys + EXCLUDED.signed_prekeys,
            one_time_prekeys = d.one_time_prekeys + EXCLUDED.one_time_prekeys,
            key_packages = d.key_packages + EXCLUDED.key_packages,
            last_resort_key_packages =
                d.last_resort_key_packages + EXCLUDED.last_resort_key_packages,
            one_time_kem_prekeys = d.one_time_kem_prekeys + EXCLUDED.one_time_kem_prekeys,
            last_resort_kem_prekeys = d.last_resort_kem_prekeys + EXCLUDED.last_resort_kem_prekeys;
$fn$;
-- Statement-level: one call per mailbox the statement touched, whatever the row count.
CREATE FUNCTION hush_count_directory_1() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM hush_add_to_directory_1(TG_TABLE_NAME, address, count(*))
            FROM hush_added GROUP BY address;
    ELSE
        PERFORM hush_add_to_directory_1(TG_TABLE_NAME, address, -count(*))
            FROM hush_removed GROUP BY address;
    END IF;
    RETURN NULL;
END
$fn$;
-- The two triggers of each directory table: hush_<table>_added and hush_<table>_removed.
DO $do$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['hush_signed_prekeys', 'hush_one_time_prekeys', 'hush_key_packages',
            'hush_last_resort_key_packages', 'hush_one_time_kem_prekeys',
            'hush_last_resort_kem_prekeys'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS hush_added
            FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1()', t || '_added', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS hush_removed
            FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1()', t || '_removed', t);
    END LOOP;
END
$do$;
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
    let result = match apply(client, SCHEMA_VERSION).await {
        Ok(version) => client
            .batch_execute(ROUTINES)
            .await
            .map(|()| version)
            .map_err(|e| backend("routines", e)),
        Err(e) => Err(e),
    };
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

/// Applies the migrations up to `version` and no further, without the routines: a database as
/// an older relay left it, for the tests that open old data. Not for operators.
#[doc(hidden)]
pub async fn migrate_up_to(client: &mut Client, version: i32) -> Result<i32, StorageError> {
    apply(client, version).await
}

async fn apply(client: &mut Client, up_to: i32) -> Result<i32, StorageError> {
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
        if *version <= current || *version > up_to {
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
