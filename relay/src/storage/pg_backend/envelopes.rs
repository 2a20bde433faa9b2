//! Mailboxes and their envelopes: stores (one routine call each, and the wake-up of the
//! other nodes), pages, acks and the status of an envelope id.

use super::stock::{STOCK_COLUMNS, stock_from};
use super::*;

/// Stores one envelope: one call of the `hush_put_envelope_1` routine (see
/// [`pg_schema::ROUTINES`] and the module docs for the locking).
const PUT_ENVELOPE_SQL: &str =
    "SELECT * FROM hush_put_envelope_1($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// [`PUT_ENVELOPE_SQL`]'s parameters.
pub(super) struct PutArgs<'a> {
    pub(super) mailbox: &'a [u8],
    pub(super) envelope_id: &'a [u8],
    pub(super) digest: Vec<u8>,
    pub(super) now: i64,
    pub(super) expires: i64,
    pub(super) forget: i64,
    pub(super) ciphertext: &'a [u8],
    pub(super) max_count: i64,
    pub(super) max_bytes: i64,
}

impl<'a> PutArgs<'a> {
    pub(super) fn new(env: &'a NewEnvelope, quota: MailboxQuota) -> Self {
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
pub(super) async fn put_envelope_on<C: GenericClient>(
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

/// What [`PUT_ENVELOPE_SQL`]'s row says (or a row of the group commit's routine).
pub(super) fn put_outcome(
    r: &Row,
    env: &NewEnvelope,
    quota: MailboxQuota,
) -> Result<PutOutcome, Fail> {
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

impl Conns {
    /// Stores one envelope on its own: one routine call, a transaction of its own, and the
    /// wake-up of the other nodes pipelined behind it. The group commit (`batch.rs`) writes a
    /// batch of one this way, and any send a batch could not answer.
    pub(super) async fn put_one(
        &self,
        env: &NewEnvelope,
        quota: MailboxQuota,
    ) -> Result<PutOutcome, StorageError> {
        let args = PutArgs::new(env, quota);
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
            put_outcome(&row?, env, quota)
        })
    }

    /// Acknowledges envelopes of one mailbox on its own: one call of the
    /// `hush_ack_envelopes_2` routine (see [`pg_schema::ROUTINES`]). `seqs` sorted, distinct,
    /// not empty.
    pub(super) async fn ack_one(
        &self,
        mailbox: MailboxAddress,
        seqs: &[i64],
        now_ms: u64,
    ) -> Result<u32, StorageError> {
        let row = on_client!(self, "ack envelopes", |c| query_one(
            &c,
            "SELECT hush_ack_envelopes_2($1, $2, $3)",
            &[&mailbox.0.as_slice(), &seqs, &to_i(now_ms)]
        ))?;
        Ok(u32::try_from(row.get::<_, i64>(0)).unwrap_or(u32::MAX))
    }
}

// Storing an envelope (`put_envelope_pg`) goes through the group commit, in `batch.rs`.
impl PgStorage {
    pub(super) async fn fetch_envelopes_pg(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<Vec<StoredEnvelope>, StorageError> {
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
    }

    pub(super) async fn fetch_page_pg(
        &self,
        mailbox: MailboxAddress,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<MailboxPage, StorageError> {
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
            let Some(seq) = r.get::<_, Option<i64>>(STOCK_COLUMNS) else {
                continue; // no envelopes: the stock row alone
            };
            if !r.get::<_, bool>(STOCK_COLUMNS + 4) {
                complete = false; // over the limit or the bytes: more to read
                continue;
            }
            let (Some(id), Some(ciphertext)) = (
                r.get::<_, Option<Vec<u8>>>(STOCK_COLUMNS + 1),
                r.get::<_, Option<Vec<u8>>>(STOCK_COLUMNS + 5),
            ) else {
                return Err(StorageError::Corrupt(
                    "fetch page: envelope without bytes".into(),
                ));
            };
            envelopes.push(StoredEnvelope {
                seq: to_u(seq),
                envelope_id: EnvelopeId::new(id)
                    .map_err(|e| StorageError::Corrupt(e.to_string()))?,
                stored_at_ms: to_u(r.get(STOCK_COLUMNS + 2)),
                expires_at_ms: to_u(r.get(STOCK_COLUMNS + 3)),
                ciphertext,
            });
        }
        Ok(MailboxPage {
            envelopes,
            stock,
            complete,
        })
    }

    pub(super) async fn ack_envelopes_pg(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<u64>,
        now_ms: u64,
    ) -> Result<u32, StorageError> {
        let mut seqs: Vec<i64> = seqs
            .into_iter()
            .filter_map(|s| i64::try_from(s).ok())
            .collect();
        seqs.sort_unstable();
        seqs.dedup();
        if seqs.is_empty() {
            return Ok(0);
        }
        // In the next group commit (`batch.rs`), as one call of `hush_ack_envelopes_2`.
        self.ack_batched(mailbox, seqs, now_ms).await
    }

    pub(super) async fn envelope_status_pg(
        &self,
        id: EnvelopeId,
        now_ms: u64,
    ) -> Result<Option<EnvelopeStatus>, StorageError> {
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
    }
}
