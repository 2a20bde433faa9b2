//! The relay's envelope storage semantics against a reference model: random sequences of
//! send (put), fetch, ack, status, clock advances and expiry sweeps run on the real redb
//! backend and on a plain in-memory model (`BTreeMap`s), and every answer must be the same.
//!
//! The model is the storage contract of `relay/src/storage/mod.rs` written out directly:
//! per-mailbox sequence numbers from 0; a repeated id with the same mailbox and bytes is a
//! duplicate with the first outcome, otherwise a conflict (even after delivery, until the id is
//! forgotten); quotas count what is stored (expired envelopes too, until swept); fetch skips
//! expired envelopes and stops at `limit` or about `max_bytes`; ack deletes and marks
//! delivered (or expired, at its expiry time and uncounted, once past it); status reports an unswept expired envelope as expired; a sweep removes expired
//! envelopes and forgets ids past their retention unless still stored.

use hush_relay::storage::{
    EnvelopeState, EnvelopeStatus, MailboxQuota, NewEnvelope, PutOutcome, RedbStorage, Storage,
    StorageError, StoredEnvelope, SweepReport,
};
use hush_relay::types::{EnvelopeId, MailboxAddress};
use proptest::collection::vec;
use proptest::prelude::*;
use std::collections::BTreeMap;

const QUOTA: MailboxQuota = MailboxQuota {
    max_count: 4,
    max_bytes: 60,
};
/// How long an id is remembered after its envelope's expiry.
const KEEP: u64 = 10;

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Put {
        mailbox: u8,
        id: u8,
        body: u8,
        len: usize,
        ttl: u64,
    },
    Fetch {
        mailbox: u8,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
    },
    Ack {
        mailbox: u8,
        seqs: Vec<u64>,
    },
    Status {
        id: u8,
    },
    Sweep,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0u64..30).prop_map(Op::Advance),
        5 => (0u8..3, 0u8..6, 0u8..2, 0usize..30, 1u64..40).prop_map(
            |(mailbox, id, body, len, ttl)| Op::Put { mailbox, id, body, len, ttl }
        ),
        3 => (0u8..3, 0u64..8, 0usize..5, 0usize..80).prop_map(
            |(mailbox, cursor, limit, max_bytes)| Op::Fetch { mailbox, cursor, limit, max_bytes }
        ),
        2 => (0u8..3, vec(0u64..8, 0..4)).prop_map(|(mailbox, seqs)| Op::Ack { mailbox, seqs }),
        2 => (0u8..6).prop_map(|id| Op::Status { id }),
        1 => Just(Op::Sweep),
    ]
}

fn mailbox(i: u8) -> MailboxAddress {
    MailboxAddress([i + 1; 32])
}

fn envelope_id(i: u8) -> EnvelopeId {
    EnvelopeId::new(vec![i + 1; 16]).expect("valid id")
}

fn ciphertext(body: u8, len: usize) -> Vec<u8> {
    vec![body; len]
}

#[derive(Debug, Clone)]
struct Env {
    id: u8,
    stored_at: u64,
    expires_at: u64,
    ct: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Remembered {
    mailbox: u8,
    seq: u64,
    ct: Vec<u8>,
    stored_at: u64,
    expires_at: u64,
    forget_at: u64,
    state: EnvelopeState,
}

#[derive(Default)]
struct Model {
    next_seq: BTreeMap<u8, u64>,
    envs: BTreeMap<(u8, u64), Env>,
    index: BTreeMap<u8, Remembered>,
}

impl Model {
    fn put(
        &mut self,
        m: u8,
        id: u8,
        ct: Vec<u8>,
        now: u64,
        ttl: u64,
    ) -> Result<PutOutcome, StorageError> {
        if let Some(r) = self.index.get(&id) {
            if r.mailbox != m || r.ct != ct {
                return Err(StorageError::EnvelopeIdConflict);
            }
            return Ok(PutOutcome {
                mailbox: mailbox(m),
                seq: r.seq,
                stored_at_ms: r.stored_at,
                duplicate: true,
            });
        }
        let stored: Vec<&Env> = self
            .envs
            .range((m, 0)..=(m, u64::MAX))
            .map(|(_, e)| e)
            .collect();
        let count = stored.len() as u64;
        let bytes: u64 = stored.iter().map(|e| e.ct.len() as u64).sum();
        if count + 1 > QUOTA.max_count || bytes + ct.len() as u64 > QUOTA.max_bytes {
            return Err(StorageError::QuotaExceeded {
                count,
                bytes,
                max_count: QUOTA.max_count,
                max_bytes: QUOTA.max_bytes,
            });
        }
        let next = self.next_seq.entry(m).or_insert(0);
        let seq = *next;
        *next += 1;
        let expires_at = now + ttl;
        self.envs.insert(
            (m, seq),
            Env {
                id,
                stored_at: now,
                expires_at,
                ct: ct.clone(),
            },
        );
        self.index.insert(
            id,
            Remembered {
                mailbox: m,
                seq,
                ct,
                stored_at: now,
                expires_at,
                forget_at: expires_at + KEEP,
                state: EnvelopeState::Stored,
            },
        );
        Ok(PutOutcome {
            mailbox: mailbox(m),
            seq,
            stored_at_ms: now,
            duplicate: false,
        })
    }

    fn fetch(
        &self,
        m: u8,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now: u64,
    ) -> Vec<StoredEnvelope> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for (&(_, seq), e) in self.envs.range((m, cursor)..=(m, u64::MAX)) {
            if e.expires_at <= now {
                continue;
            }
            if !out.is_empty() && bytes + e.ct.len() > max_bytes {
                break;
            }
            bytes += e.ct.len();
            out.push(StoredEnvelope {
                seq,
                envelope_id: envelope_id(e.id),
                stored_at_ms: e.stored_at,
                expires_at_ms: e.expires_at,
                ciphertext: e.ct.clone(),
            });
            if out.len() >= limit {
                break;
            }
        }
        out
    }

    /// Removes an envelope, marking its id `state` if the id still names it.
    fn remove(&mut self, m: u8, seq: u64, state: EnvelopeState) -> Option<u64> {
        let e = self.envs.remove(&(m, seq))?;
        if let Some(r) = self.index.get_mut(&e.id)
            && r.state == EnvelopeState::Stored
            && r.mailbox == m
            && r.seq == seq
        {
            r.state = state;
        }
        Some(e.ct.len() as u64)
    }

    fn ack(&mut self, m: u8, mut seqs: Vec<u64>, now: u64) -> u32 {
        seqs.sort_unstable();
        seqs.dedup();
        let mut n = 0;
        for s in seqs {
            let Some(expires_at) = self.envs.get(&(m, s)).map(|e| e.expires_at) else {
                continue;
            };
            // An acked envelope past its expiry is removed as expired (at its expiry time),
            // and not counted.
            if expires_at <= now {
                self.remove(m, s, EnvelopeState::Expired { at_ms: expires_at });
            } else if self
                .remove(m, s, EnvelopeState::Delivered { at_ms: now })
                .is_some()
            {
                n += 1;
            }
        }
        n
    }

    fn status(&self, id: u8, now: u64) -> Option<EnvelopeStatus> {
        let r = self.index.get(&id)?;
        let state = match r.state {
            EnvelopeState::Stored if r.expires_at <= now => EnvelopeState::Expired {
                at_ms: r.expires_at,
            },
            s => s,
        };
        Some(EnvelopeStatus {
            mailbox: mailbox(r.mailbox),
            stored_at_ms: r.stored_at,
            expires_at_ms: r.expires_at,
            state,
        })
    }

    fn sweep(&mut self, now: u64) -> SweepReport {
        let mut report = SweepReport::default();
        let expired: Vec<(u8, u64, u64)> = self
            .envs
            .iter()
            .filter(|(_, e)| e.expires_at <= now)
            .map(|(&(m, s), e)| (m, s, e.expires_at))
            .collect();
        for (m, s, at) in expired {
            if let Some(len) = self.remove(m, s, EnvelopeState::Expired { at_ms: at }) {
                report.envelopes_expired += 1;
                report.bytes_expired += len;
            }
        }
        let before = self.index.len();
        self.index
            .retain(|_, r| r.forget_at > now || r.state == EnvelopeState::Stored);
        report.ids_forgotten = (before - self.index.len()) as u64;
        report
    }
}

fn run(ops: &[Op]) -> Result<(), TestCaseError> {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm")
    } else {
        tempfile::tempdir()
    }
    .expect("temporary folder");
    let store = RedbStorage::open(&dir.path().join("model.redb")).expect("store");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let mut model = Model::default();
    let mut now = 1_000u64;
    for (i, op) in ops.iter().enumerate() {
        match op.clone() {
            Op::Advance(dt) => now += dt,
            Op::Put {
                mailbox: m,
                id,
                body,
                len,
                ttl,
            } => {
                let ct = ciphertext(body, len);
                let env = NewEnvelope {
                    mailbox: mailbox(m),
                    envelope_id: envelope_id(id),
                    ciphertext: ct.clone(),
                    now_ms: now,
                    expires_at_ms: now + ttl,
                    forget_at_ms: now + ttl + KEEP,
                };
                let real = rt.block_on(store.put_envelope(env, QUOTA));
                let want = model.put(m, id, ct, now, ttl);
                prop_assert_eq!(real, want, "op {}: {:?}", i, op);
            }
            Op::Fetch {
                mailbox: m,
                cursor,
                limit,
                max_bytes,
            } => {
                let real = rt
                    .block_on(store.fetch_envelopes(mailbox(m), cursor, limit, max_bytes, now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(
                    real,
                    model.fetch(m, cursor, limit, max_bytes, now),
                    "op {}: {:?}",
                    i,
                    op
                );
            }
            Op::Ack { mailbox: m, seqs } => {
                let real = rt
                    .block_on(store.ack_envelopes(mailbox(m), seqs.clone(), now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(real, model.ack(m, seqs, now), "op {}: {:?}", i, op);
            }
            Op::Status { id } => {
                let real = rt
                    .block_on(store.envelope_status(envelope_id(id), now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(real, model.status(id, now), "op {}: {:?}", i, op);
            }
            Op::Sweep => {
                let real = rt
                    .block_on(store.sweep(now))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(real, model.sweep(now), "op {}: {:?}", i, op);
            }
        }
    }
    // Whatever happened, the store and the model hold the same envelopes at the end.
    for m in 0..3 {
        let real = rt
            .block_on(store.fetch_envelopes(mailbox(m), 0, usize::MAX, usize::MAX, now))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(real, model.fetch(m, 0, usize::MAX, usize::MAX, now));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn redb_matches_the_model(ops in vec(op(), 1..60)) {
        run(&ops)?;
    }
}

/// The cases the random runs must reach, spelled out: a duplicate after delivery, a conflict,
/// a full mailbox, an unswept expired envelope, forgetting after retention.
#[test]
fn scripted_sequence_matches_the_model() {
    let ops = [
        Op::Put {
            mailbox: 0,
            id: 0,
            body: 0,
            len: 10,
            ttl: 5,
        },
        Op::Put {
            mailbox: 0,
            id: 0,
            body: 0,
            len: 10,
            ttl: 5,
        },
        Op::Put {
            mailbox: 1,
            id: 0,
            body: 0,
            len: 10,
            ttl: 5,
        },
        Op::Put {
            mailbox: 0,
            id: 1,
            body: 1,
            len: 29,
            ttl: 30,
        },
        Op::Put {
            mailbox: 0,
            id: 2,
            body: 1,
            len: 29,
            ttl: 30,
        },
        Op::Ack {
            mailbox: 0,
            seqs: vec![1, 1, 7],
        },
        Op::Put {
            mailbox: 0,
            id: 1,
            body: 1,
            len: 29,
            ttl: 30,
        },
        Op::Status { id: 1 },
        Op::Advance(6),
        Op::Status { id: 0 },
        Op::Fetch {
            mailbox: 0,
            cursor: 0,
            limit: 0,
            max_bytes: 0,
        },
        Op::Put {
            mailbox: 0,
            id: 3,
            body: 0,
            len: 29,
            ttl: 1,
        },
        Op::Sweep,
        Op::Advance(40),
        Op::Sweep,
        Op::Status { id: 0 },
        Op::Put {
            mailbox: 1,
            id: 0,
            body: 1,
            len: 3,
            ttl: 5,
        },
        Op::Fetch {
            mailbox: 1,
            cursor: 0,
            limit: 4,
            max_bytes: 80,
        },
    ];
    run(&ops).unwrap();
}
