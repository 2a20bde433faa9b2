//! The server-side routines (PL/pgSQL) the PostgreSQL backend calls, installed at every start
//! under the migration lock (`CREATE OR REPLACE`, see the parent module): code, not data.

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
