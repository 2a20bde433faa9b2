//! Group commit: the sends and acks that arrive while earlier ones are being written go to
//! the database together, in one call of the `hush_write_batch_1` routine (see
//! [`pg_schema::ROUTINES`]): one statement, so one transaction, one WAL flush and one round
//! trip for all of them, as the embedded store's single writer does.
//!
//! A queue takes the operations; one task takes the first waiting, waits for one of
//! [`IN_FLIGHT`] slots, then takes everything else waiting (up to [`MAX_OPS`] operations and
//! [`MAX_BYTES`] of ciphertext) and writes it on a pooled connection of its own. The busier
//! the database, the longer the wait for a slot and the larger the next batch. A batch of one
//! is written as before batching (`Conns::put_one`, `Conns::ack_one`).
//!
//! Every operation gets exactly the answer it would get alone:
//!
//! * the operations are sorted by mailbox address, so that batches lock mailbox rows in one
//!   order (the lock order of every write: group row, mailbox rows by address, envelope
//!   rows) and do not deadlock each other;
//! * the routine answers each operation as `hush_put_envelope_1` and `hush_ack_envelopes_2`
//!   would; a later send in the batch sees the earlier ones (same transaction), so a quota or
//!   a repeated id is judged as if they had come one after the other;
//! * a batch that fails as a whole is retried like any operation (every operation in it is
//!   safe to repeat); if it still fails for a reason that could be one operation's (a
//!   database error that is not about reaching the database), each operation is written on
//!   its own, so that one cannot fail the others; a send that lost a race for its id three
//!   times in the routine is also written again on its own.
//!
//! An answer is sent only after the batch's statement has returned, so after its commit: a
//! receipt still means durable. The wake-up of the other nodes for the batch's stored
//! envelopes is one statement, sent on the batch's connection once the answers are out. (A
//! statement pipelined behind the batch would have to look the batch's ids up to know which
//! were stored; the generic plan PostgreSQL caches for such a join of an array with the id
//! table scans the whole table, a cost that grows with every id the relay remembers.)

use super::envelopes::{PutArgs, put_outcome};
use super::*;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// Batches being written at once, each on a pooled connection of its own.
const IN_FLIGHT: usize = 4;
/// Most operations in one batch.
const MAX_OPS: usize = 256;
/// Most ciphertext bytes in one batch (a batch always takes its first operation).
const MAX_BYTES: usize = 4 << 20;
/// Operations waiting for a batch; beyond this, senders wait for room.
const QUEUE: usize = 4096;

/// The group commit's routine: one row per operation, in order.
const BATCH_SQL: &str = "SELECT * FROM hush_write_batch_1($1, $2, $3, $4, $5, $6, $7, $8, $9, \
     $10, $11, $12) WITH ORDINALITY AS r ORDER BY r.ordinality";

/// The queue of a running group commit.
pub(super) type Queue = mpsc::Sender<Op>;

/// One operation waiting for its batch, with where its answer goes.
pub(super) enum Op {
    Put {
        env: NewEnvelope,
        quota: MailboxQuota,
        reply: oneshot::Sender<Result<PutOutcome, StorageError>>,
    },
    Ack {
        mailbox: MailboxAddress,
        /// Sorted, distinct, not empty.
        seqs: Vec<i64>,
        now_ms: u64,
        reply: oneshot::Sender<Result<u32, StorageError>>,
    },
}

impl Op {
    fn mailbox(&self) -> &[u8; 32] {
        match self {
            Op::Put { env, .. } => &env.mailbox.0,
            Op::Ack { mailbox, .. } => &mailbox.0,
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Op::Put { env, .. } => env.ciphertext.len(),
            Op::Ack { seqs, .. } => seqs.len() * 8,
        }
    }

    /// Writes the operation on its own and answers it.
    async fn alone(self, conns: &Conns) {
        match self {
            Op::Put { env, quota, reply } => {
                let _ = reply.send(conns.put_one(&env, quota).await);
            }
            Op::Ack {
                mailbox,
                seqs,
                now_ms,
                reply,
            } => {
                let _ = reply.send(conns.ack_one(mailbox, &seqs, now_ms).await);
            }
        }
    }

    /// Answers the operation with `e`.
    fn fail(self, e: StorageError) {
        match self {
            Op::Put { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            Op::Ack { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

impl PgStorage {
    /// The running group commit's queue, started on the caller's runtime if there is none
    /// (or if the runtime it ran on has ended); `None` outside a Tokio runtime.
    fn queue(&self) -> Option<Queue> {
        if self.conns.closed.load(Ordering::Acquire) {
            return None; // the direct path answers "closed"
        }
        let mut g = self.batcher.lock().ok()?;
        if let Some(q) = g.as_ref().filter(|q| !q.is_closed()) {
            return Some(q.clone());
        }
        let rt = tokio::runtime::Handle::try_current().ok()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        rt.spawn(run(rx, self.conns.clone(), self.stopping()));
        *g = Some(tx.clone());
        Some(tx)
    }

    /// Stores `env` in the next batch.
    pub(super) async fn put_envelope_pg(
        &self,
        env: NewEnvelope,
        quota: MailboxQuota,
    ) -> Result<PutOutcome, StorageError> {
        let Some(q) = self.queue() else {
            return self.conns.put_one(&env, quota).await;
        };
        let (reply, answer) = oneshot::channel();
        submit(q, Op::Put { env, quota, reply }, answer).await
    }

    /// Acknowledges `seqs` (sorted, distinct, not empty) of `mailbox` in the next batch.
    pub(super) async fn ack_batched(
        &self,
        mailbox: MailboxAddress,
        seqs: Vec<i64>,
        now_ms: u64,
    ) -> Result<u32, StorageError> {
        let Some(q) = self.queue() else {
            return self.conns.ack_one(mailbox, &seqs, now_ms).await;
        };
        let (reply, answer) = oneshot::channel();
        let op = Op::Ack {
            mailbox,
            seqs,
            now_ms,
            reply,
        };
        submit(q, op, answer).await
    }
}

/// Queues `op` and waits for its `answer`: "closed" if the group commit has ended (the
/// storage is closing, or the runtime it ran on has ended) or drops the operation.
async fn submit<T>(
    q: Queue,
    op: Op,
    answer: oneshot::Receiver<Result<T, StorageError>>,
) -> Result<T, StorageError> {
    if let Err(mpsc::error::SendError(op)) = q.send(op).await {
        op.fail(StorageError::Closed);
    }
    answer.await.unwrap_or(Err(StorageError::Closed))
}

/// The group commit's task: gathers batches and starts their writes, until the storage
/// closes. Operations still queued then are dropped, and their callers answered "closed".
async fn run(mut rx: mpsc::Receiver<Op>, conns: Conns, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        let first = tokio::select! {
            op = rx.recv() => match op {
                Some(op) => op,
                None => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => match s {
                Ok(s) => s,
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut ops = vec![first];
        let mut bytes = ops[0].bytes();
        while ops.len() < MAX_OPS && bytes < MAX_BYTES {
            match rx.try_recv() {
                Ok(op) => {
                    bytes = bytes.saturating_add(op.bytes());
                    ops.push(op);
                }
                Err(_) => break,
            }
        }
        tokio::spawn(write(conns.clone(), ops, slot));
    }
}

/// The routine's arguments for a batch (in the order of `hush_write_batch_1`'s parameters).
struct BatchArgs<'a> {
    kind: Vec<i16>,
    address: Vec<&'a [u8]>,
    envelope_id: Vec<&'a [u8]>,
    digest: Vec<Vec<u8>>,
    now: Vec<i64>,
    expires: Vec<i64>,
    forget: Vec<i64>,
    ciphertext: Vec<&'a [u8]>,
    max_count: Vec<i64>,
    max_bytes: Vec<i64>,
    ack_len: Vec<i32>,
    ack_seqs: Vec<i64>,
}

impl<'a> BatchArgs<'a> {
    fn new(ops: &'a [Op]) -> Self {
        let n = ops.len();
        let mut a = BatchArgs {
            kind: Vec::with_capacity(n),
            address: Vec::with_capacity(n),
            envelope_id: Vec::with_capacity(n),
            digest: Vec::with_capacity(n),
            now: Vec::with_capacity(n),
            expires: Vec::with_capacity(n),
            forget: Vec::with_capacity(n),
            ciphertext: Vec::with_capacity(n),
            max_count: Vec::with_capacity(n),
            max_bytes: Vec::with_capacity(n),
            ack_len: Vec::with_capacity(n),
            ack_seqs: Vec::new(),
        };
        for op in ops {
            match op {
                Op::Put { env, quota, .. } => {
                    let p = PutArgs::new(env, *quota);
                    a.kind.push(0);
                    a.address.push(p.mailbox);
                    a.envelope_id.push(p.envelope_id);
                    a.digest.push(p.digest);
                    a.now.push(p.now);
                    a.expires.push(p.expires);
                    a.forget.push(p.forget);
                    a.ciphertext.push(p.ciphertext);
                    a.max_count.push(p.max_count);
                    a.max_bytes.push(p.max_bytes);
                    a.ack_len.push(0);
                }
                Op::Ack {
                    mailbox,
                    seqs,
                    now_ms,
                    ..
                } => {
                    a.kind.push(1);
                    a.address.push(mailbox.0.as_slice());
                    a.envelope_id.push(&[]);
                    a.digest.push(Vec::new());
                    a.now.push(to_i(*now_ms));
                    a.expires.push(0);
                    a.forget.push(0);
                    a.ciphertext.push(&[]);
                    a.max_count.push(0);
                    a.max_bytes.push(0);
                    a.ack_len
                        .push(i32::try_from(seqs.len()).unwrap_or(i32::MAX));
                    a.ack_seqs.extend_from_slice(seqs);
                }
            }
        }
        a
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 12] {
        [
            &self.kind,
            &self.address,
            &self.envelope_id,
            &self.digest,
            &self.now,
            &self.expires,
            &self.forget,
            &self.ciphertext,
            &self.max_count,
            &self.max_bytes,
            &self.ack_len,
            &self.ack_seqs,
        ]
    }
}

/// Writes one batch and answers its operations; `_slot` is released when it is done.
async fn write(conns: Conns, mut ops: Vec<Op>, _slot: OwnedSemaphorePermit) {
    metrics::histogram!("hush_relay_commit_batch_size").record(ops.len() as f64);
    if ops.len() == 1 {
        if let Some(op) = ops.pop() {
            op.alone(&conns).await;
        }
        return;
    }
    ops.sort_by(|a, b| a.mailbox().cmp(b.mailbox()));
    let written = {
        let args = BatchArgs::new(&ops);
        retrying!("write batch", async {
            let c = conns.client().await?;
            let rows = query(&c, BATCH_SQL, &args.params()).await?;
            Ok((c, rows))
        })
    };
    let (c, rows) = match written {
        Ok((c, rows)) if rows.len() == ops.len() => (c, rows),
        Ok((_, rows)) => {
            tracing::error!(
                ops = ops.len(),
                rows = rows.len(),
                "the batch routine answered a wrong number of rows; writing one by one"
            );
            return one_by_one(&conns, ops).await;
        }
        // Not the database's reachability or room: perhaps one operation's fault.
        Err(StorageError::Backend(e)) => {
            tracing::warn!(error = %e, ops = ops.len(), "a batch failed; writing one by one");
            return one_by_one(&conns, ops).await;
        }
        Err(e) => {
            for op in ops {
                op.fail(e.clone());
            }
            return;
        }
    };
    let (batches, batched) = &*conns.batches;
    batches.fetch_add(1, Ordering::Relaxed);
    batched.fetch_add(ops.len() as u64, Ordering::Relaxed);
    let mut again = Vec::new();
    let mut wakes = Vec::new();
    for (op, row) in ops.into_iter().zip(rows) {
        match op {
            Op::Put { env, quota, reply } => match put_outcome(&row, &env, quota) {
                Ok(out) => {
                    // Stored, or stored before (whose first wake-up may have been lost).
                    let wake = pg_listen::mailbox_payload(&env.mailbox.0);
                    if wakes.last() != Some(&wake) {
                        wakes.push(wake);
                    }
                    let _ = reply.send(Ok(out));
                }
                Err(Fail::Storage(e)) => {
                    let _ = reply.send(Err(e));
                }
                // Lost its id to concurrent sends three times (or a database error, which
                // the row cannot hold): write it again on its own.
                Err(Fail::Race | Fail::Db(_)) => again.push(Op::Put { env, quota, reply }),
            },
            Op::Ack { reply, .. } => {
                let removed = row.get::<_, Option<i64>>(1).unwrap_or(0);
                let _ = reply.send(Ok(u32::try_from(removed).unwrap_or(u32::MAX)));
            }
        }
    }
    // The answers are out; now the other nodes' wake-up, one statement for the batch.
    notify_committed(&c, wakes).await;
    drop(c);
    one_by_one(&conns, again).await;
}

/// Writes each operation on its own, one after the other.
async fn one_by_one(conns: &Conns, ops: Vec<Op>) {
    for op in ops {
        op.alone(conns).await;
    }
}
