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
CREATE TRIGGER hush_signed_prekeys_added AFTER INSERT ON hush_signed_prekeys
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_signed_prekeys_removed AFTER DELETE ON hush_signed_prekeys
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_one_time_prekeys_added AFTER INSERT ON hush_one_time_prekeys
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_one_time_prekeys_removed AFTER DELETE ON hush_one_time_prekeys
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_key_packages_added AFTER INSERT ON hush_key_packages
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_key_packages_removed AFTER DELETE ON hush_key_packages
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_last_resort_key_packages_added AFTER INSERT ON hush_last_resort_key_packages
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_last_resort_key_packages_removed AFTER DELETE ON hush_last_resort_key_packages
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_one_time_kem_prekeys_added AFTER INSERT ON hush_one_time_kem_prekeys
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_one_time_kem_prekeys_removed AFTER DELETE ON hush_one_time_kem_prekeys
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_last_resort_kem_prekeys_added AFTER INSERT ON hush_last_resort_kem_prekeys
    REFERENCING NEW TABLE AS hush_added FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
CREATE TRIGGER hush_last_resort_kem_prekeys_removed AFTER DELETE ON hush_last_resort_kem_prekeys
    REFERENCING OLD TABLE AS hush_removed FOR EACH STATEMENT EXECUTE FUNCTION hush_count_directory_1();
"#;

/// The server-side routines (PL/pgSQL). Each turns what would be several statements, and as
/// many round trips between relay and database, into one call: a send or an ack on a pooled
/// connection is then one statement, committed on its own, plus the wake-up of the other
/// nodes after it.
///
/// `hush_put_envelope_1` stores one envelope, exactly as the transaction it replaces did (see
/// `pg_backend`): look the id up (same mailbox and bytes: duplicate; anything else: conflict),
/// lock the mailbox row, check the quota under the lock, claim the id with `ON CONFLICT DO
/// NOTHING`, insert. Losing the claim to a concurrent send of the same id means that send has
/// committed (the insert waited for it), so the routine looks the id up again, with a fresh
/// snapshot (READ COMMITTED takes one per statement); after three such rounds it gives up and
/// the caller runs it again. A quota refusal leaves nothing behind, not even an empty mailbox
/// row. Outcome: 0 stored, 1 duplicate, 2 id conflict, 3 over quota (with the mailbox's
/// count and bytes), 4 lost the race three times.
///
/// `hush_append_group_1` appends one message to a group log: lock the group row (creating
/// it), and for a commit compare its epoch with the group's (`p_epoch` and `p_next_epoch` come
/// flipped, as stored; `p_next_epoch` is NULL when the epoch cannot grow), then move the epoch
/// and insert the entry. Outcome: 0 appended, 1 a repeat of the group's last commit (its
/// sequence number), 2 epoch conflict (with the group's current epoch); with the group's
/// current epoch after the call in every case. Welcomes are stored by the caller, in the same
/// transaction, with `hush_put_envelope_1`.
///
/// `hush_ack_envelopes_1` locks the mailbox row (the lock order of every write: mailbox row,
/// then envelope rows), deletes the acknowledged envelopes, lowers the mailbox's count and
/// bytes, and marks their ids delivered; it returns how many envelopes it removed. Kept for
/// nodes of the previous release.
///
/// `hush_ack_envelopes_2` does the same, except that an envelope past its expiry
/// (`expires_at_ms <= p_now`) is marked expired at its expiry time instead of delivered and is
/// not counted: an expired envelope stays expired whenever the sweep runs.
///
/// `hush_write_batch_1` is the relay's group commit: the sends and acks that arrived together,
/// in one statement and so one transaction and one WAL flush. Operation `i` is a send when
/// `p_kind[i] = 0` (a call of `hush_put_envelope_1` with the `i`-th element of each array) and
/// an ack when it is 1 (a call of `hush_ack_envelopes_2` on `p_address[i]` with the next
/// `p_ack_len[i]` sequence numbers of `p_ack_seqs`, at `p_now[i]`; its other arrays' elements
/// are unused). The caller sorts the operations by mailbox address, so that two batches lock
/// mailbox rows in the same order. One row per operation, in order: a send's outcome as
/// `hush_put_envelope_1` gives it, an ack's count of envelopes removed in `r_seq` (outcome 0).
pub(crate) const ROUTINES: &str = r#"
CREATE OR REPLACE FUNCTION hush_put_envelope_1(
    p_address bytea, p_envelope_id bytea, p_digest bytea, p_now bigint, p_expires bigint,
    p_forget bigint, p_ciphertext bytea, p_max_count bigint, p_max_bytes bigint,
    OUT o_outcome smallint, OUT o_seq bigint, OUT o_stored_at_ms bigint,
    OUT o_count bigint, OUT o_bytes bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_len bigint := octet_length(p_ciphertext);
    v_address bytea;
    v_digest bytea;
    v_round int := 0;
BEGIN
    LOOP
        SELECT i.address, i.seq, i.digest, i.stored_at_ms
          INTO v_address, o_seq, v_digest, o_stored_at_ms
          FROM hush_envelope_ids i WHERE i.envelope_id = p_envelope_id;
        IF FOUND THEN
            IF v_address = p_address AND v_digest = p_digest THEN
                o_outcome := 1;
            ELSE
                o_outcome := 2;
            END IF;
            RETURN;
        END IF;
        SELECT m.next_seq, m.envelope_count, m.envelope_bytes
          INTO o_seq, o_count, o_bytes
          FROM hush_mailboxes m WHERE m.address = p_address FOR UPDATE;
        IF NOT FOUND THEN
            IF p_max_count < 1 OR v_len > p_max_bytes THEN
                o_outcome := 3; o_seq := 0; o_count := 0; o_bytes := 0;
                RETURN;
            END IF;
            INSERT INTO hush_mailboxes AS m (address, next_seq, envelope_count, envelope_bytes)
                VALUES (p_address, 0, 0, 0)
                ON CONFLICT (address) DO UPDATE SET next_seq = m.next_seq
                RETURNING m.next_seq, m.envelope_count, m.envelope_bytes
                INTO o_seq, o_count, o_bytes;
        END IF;
        IF o_count >= p_max_count OR o_bytes > p_max_bytes - v_len THEN
            o_outcome := 3;
            RETURN;
        END IF;
        INSERT INTO hush_envelope_ids AS i
            (envelope_id, address, seq, state, stored_at_ms, expires_at_ms, state_at_ms, digest,
             forget_at_ms)
            VALUES (p_envelope_id, p_address, o_seq, 1, p_now, p_expires, p_now, p_digest,
                    p_forget)
            ON CONFLICT (envelope_id) DO NOTHING;
        IF FOUND THEN
            UPDATE hush_mailboxes AS m SET next_seq = m.next_seq + 1,
                envelope_count = m.envelope_count + 1, envelope_bytes = m.envelope_bytes + v_len
              WHERE m.address = p_address;
            INSERT INTO hush_envelopes AS e
                (address, seq, envelope_id, stored_at_ms, expires_at_ms, ciphertext)
                VALUES (p_address, o_seq, p_envelope_id, p_now, p_expires, p_ciphertext);
            o_outcome := 0;
            o_stored_at_ms := p_now;
            RETURN;
        END IF;
        v_round := v_round + 1;
        IF v_round >= 3 THEN
            o_outcome := 4;
            RETURN;
        END IF;
    END LOOP;
END
$fn$;

CREATE OR REPLACE FUNCTION hush_append_group_1(
    p_group bytea, p_epoch bigint, p_next_epoch bigint, p_is_commit boolean, p_kind smallint,
    p_digest bytea, p_now bigint, p_expires bigint, p_message bytea,
    OUT o_outcome smallint, OUT o_seq bigint, OUT o_current_epoch bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_last_digest bytea;
    v_last_seq bigint;
BEGIN
    IF p_is_commit AND p_next_epoch IS NULL THEN
        SELECT g.current_epoch INTO o_current_epoch
          FROM hush_groups g WHERE g.group_digest = p_group;
        o_outcome := 2;
        o_current_epoch := coalesce(o_current_epoch, p_epoch);
        RETURN;
    END IF;
    INSERT INTO hush_groups AS g
        (group_digest, next_seq, current_epoch, last_commit_digest, last_commit_seq)
        VALUES (p_group, 0, NULL, '\x', 0)
        ON CONFLICT (group_digest) DO UPDATE SET next_seq = g.next_seq
        RETURNING g.next_seq, g.current_epoch, g.last_commit_digest, g.last_commit_seq
        INTO o_seq, o_current_epoch, v_last_digest, v_last_seq;
    IF p_is_commit THEN
        IF o_current_epoch IS NOT NULL AND o_current_epoch <> p_epoch THEN
            IF o_current_epoch = p_next_epoch AND v_last_digest = p_digest THEN
                o_outcome := 1;
                o_seq := v_last_seq;
            ELSE
                o_outcome := 2;
            END IF;
            RETURN;
        END IF;
        UPDATE hush_groups AS g SET next_seq = g.next_seq + 1, current_epoch = p_next_epoch,
            last_commit_digest = p_digest, last_commit_seq = o_seq
          WHERE g.group_digest = p_group;
        o_current_epoch := p_next_epoch;
    ELSE
        UPDATE hush_groups AS g SET next_seq = g.next_seq + 1 WHERE g.group_digest = p_group;
    END IF;
    INSERT INTO hush_group_log AS l
        (group_digest, seq, epoch, kind, stored_at_ms, expires_at_ms, message)
        VALUES (p_group, o_seq, p_epoch, p_kind, p_now, p_expires, p_message);
    o_outcome := 0;
END
$fn$;

CREATE OR REPLACE FUNCTION hush_ack_envelopes_1(p_address bytea, p_seqs bigint[], p_now bigint)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_acked bigint;
BEGIN
    PERFORM 1 FROM hush_mailboxes m WHERE m.address = p_address FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH d AS (
        DELETE FROM hush_envelopes e WHERE e.address = p_address AND e.seq = ANY(p_seqs)
        RETURNING e.envelope_id, e.seq, octet_length(e.ciphertext)::bigint AS len
    ), m AS (
        UPDATE hush_mailboxes m SET
            envelope_count = greatest(m.envelope_count - (SELECT count(*) FROM d), 0),
            envelope_bytes = greatest(m.envelope_bytes - (SELECT coalesce(sum(len), 0) FROM d), 0)
        WHERE m.address = p_address
    ), i AS (
        UPDATE hush_envelope_ids x SET state = 2, state_at_ms = p_now
        FROM d
        WHERE x.envelope_id = d.envelope_id AND x.state = 1 AND x.address = p_address
            AND x.seq = d.seq
    )
    SELECT count(*) INTO v_acked FROM d;
    RETURN v_acked;
END
$fn$;

CREATE OR REPLACE FUNCTION hush_ack_envelopes_2(p_address bytea, p_seqs bigint[], p_now bigint)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    v_acked bigint;
BEGIN
    PERFORM 1 FROM hush_mailboxes m WHERE m.address = p_address FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH d AS (
        DELETE FROM hush_envelopes e WHERE e.address = p_address AND e.seq = ANY(p_seqs)
        RETURNING e.envelope_id, e.seq, e.expires_at_ms,
            octet_length(e.ciphertext)::bigint AS len
    ), m AS (
        UPDATE hush_mailboxes m SET
            envelope_count = greatest(m.envelope_count - (SELECT count(*) FROM d), 0),
            envelope_bytes = greatest(m.envelope_bytes - (SELECT coalesce(sum(len), 0) FROM d), 0)
        WHERE m.address = p_address
    ), i AS (
        UPDATE hush_envelope_ids x SET
            state = CASE WHEN d.expires_at_ms <= p_now THEN 3 ELSE 2 END,
            state_at_ms = CASE WHEN d.expires_at_ms <= p_now THEN d.expires_at_ms ELSE p_now END
        FROM d
        WHERE x.envelope_id = d.envelope_id AND x.state = 1 AND x.address = p_address
            AND x.seq = d.seq
    )
    SELECT count(*) INTO v_acked FROM d WHERE d.expires_at_ms > p_now;
    RETURN v_acked;
END
$fn$;

CREATE OR REPLACE FUNCTION hush_write_batch_1(
    p_kind smallint[], p_address bytea[], p_envelope_id bytea[], p_digest bytea[],
    p_now bigint[], p_expires bigint[], p_forget bigint[], p_ciphertext bytea[],
    p_max_count bigint[], p_max_bytes bigint[], p_ack_len int[], p_ack_seqs bigint[])
RETURNS TABLE (r_outcome smallint, r_seq bigint, r_stored_at_ms bigint, r_count bigint,
               r_bytes bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_at int := 1;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_kind, 1), 0) LOOP
        IF p_kind[i] = 0 THEN
            SELECT p.o_outcome, p.o_seq, p.o_stored_at_ms, p.o_count, p.o_bytes
              INTO r_outcome, r_seq, r_stored_at_ms, r_count, r_bytes
              FROM hush_put_envelope_1(p_address[i], p_envelope_id[i], p_digest[i], p_now[i],
                  p_expires[i], p_forget[i], p_ciphertext[i], p_max_count[i], p_max_bytes[i]) p;
        ELSE
            r_outcome := 0; r_stored_at_ms := 0; r_count := 0; r_bytes := 0;
            r_seq := hush_ack_envelopes_2(p_address[i],
                p_ack_seqs[v_at : v_at + p_ack_len[i] - 1], p_now[i]);
            v_at := v_at + p_ack_len[i];
        END IF;
        RETURN NEXT;
    END LOOP;
END
$fn$;
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
