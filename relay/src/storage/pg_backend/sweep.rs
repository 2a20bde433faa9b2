//! The expiry sweep: one node at a time (a session advisory lock), each mailbox's expired
//! envelopes in a transaction of its own, then forgotten ids and expired group log entries.

use super::*;

/// Most mailboxes (and most forgotten ids, group entries) one sweep handles.
const SWEEP_LIMIT: i64 = 10_000;
/// Advisory lock namespace of the sweep (second key: hash of the current schema).
const SWEEP_LOCK: i32 = 0x4855_5302;

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

    pub(super) async fn sweep_pg(&self, now_ms: u64) -> Result<SweepReport, StorageError> {
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
    }
}
