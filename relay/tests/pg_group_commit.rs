//! The PostgreSQL backend's group commit: sends and acks that arrive together are written in
//! one transaction, and each gets the answer it would get alone.
//!
//! Needs `HUSH_TEST_POSTGRES` (see `tests/common/pg.rs`).

#[path = "common/pg.rs"]
mod pg;

use hush_relay::storage::*;
use hush_relay::{EnvelopeId, MailboxAddress};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn mb(n: u16) -> MailboxAddress {
    let mut a = [0u8; 32];
    a[..2].copy_from_slice(&n.to_be_bytes());
    MailboxAddress(a)
}

fn env(m: u16, id: u64, bytes: &[u8]) -> NewEnvelope {
    NewEnvelope {
        mailbox: mb(m),
        envelope_id: EnvelopeId::new(id.to_be_bytes().to_vec()).unwrap(),
        ciphertext: bytes.to_vec(),
        now_ms: 10,
        expires_at_ms: 1_000_000,
        forget_at_ms: 2_000_000,
    }
}

const Q: MailboxQuota = MailboxQuota {
    max_count: 10_000,
    max_bytes: 1 << 30,
};

/// The bytes of send `id`.
fn body(id: u64) -> Vec<u8> {
    format!("envelope {id}").into_bytes()
}

type Answer = Result<PutOutcome, StorageError>;

/// Runs every send at once (each in a task of its own) and returns the answers in order.
async fn send_all(s: &Arc<PgStorage>, sends: Vec<(NewEnvelope, MailboxQuota)>) -> Vec<Answer> {
    let tasks: Vec<_> = sends
        .into_iter()
        .map(|(e, q)| {
            let s = s.clone();
            tokio::spawn(async move { s.put_envelope(e, q).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sends_and_acks_answer_as_if_alone() {
    let Some(db) = pg::TestDb::create("pg_group_commit").await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let s = Arc::new(PgStorage::connect(&db.url, 8).await.unwrap());
        // A second node, listening for the first one's wake-ups.
        let other = PgStorage::connect(&db.url, 2).await.unwrap();
        let (tx, mut wakes) = tokio::sync::mpsc::unbounded_channel();
        other.set_wake_sink(Arc::new(move |w| {
            let _ = tx.send(w);
        }));
        assert_eq!(wakes.recv().await, Some(Wake::All));
        // Round 1, all at once: 20 sends into each of 10 mailboxes; in each mailbox one id
        // sent three times with the same bytes; ids sent to two mailboxes (one must be
        // refused); and 20 sends into a mailbox with room for 5.
        let tight = MailboxQuota {
            max_count: 5,
            max_bytes: 1 << 20,
        };
        let mut sends = Vec::new();
        for m in 1..=10u16 {
            for i in 0..20u64 {
                let id = u64::from(m) * 1000 + i;
                sends.push((env(m, id, &body(id)), Q));
            }
            let id = u64::from(m) * 1000 + 500;
            for _ in 0..3 {
                sends.push((env(m, id, &body(id)), Q));
            }
            let id = u64::from(m) * 1000 + 900;
            sends.push((env(m, id, &body(id)), Q));
            sends.push((env(m + 100, id, &body(id)), Q));
        }
        for i in 0..20u64 {
            sends.push((env(200, 200_000 + i, &[7; 16]), tight));
        }
        let answers = send_all(&s, sends.clone()).await;

        let mut seqs: BTreeMap<u16, BTreeSet<u64>> = BTreeMap::new();
        let mut by_id: BTreeMap<u64, Vec<(u16, &Answer)>> = BTreeMap::new();
        for ((e, _), a) in sends.iter().zip(&answers) {
            let m = u16::from_be_bytes([e.mailbox.0[0], e.mailbox.0[1]]);
            let id = u64::from_be_bytes(e.envelope_id.as_bytes().try_into().unwrap());
            by_id.entry(id).or_default().push((m, a));
            if let Ok(o) = a {
                assert_eq!(o.mailbox, e.mailbox);
                if !o.duplicate {
                    assert!(
                        seqs.entry(m).or_default().insert(o.seq),
                        "seq {} twice in {m}",
                        o.seq
                    );
                }
            }
        }
        for (id, got) in &by_id {
            match id % 1000 {
                // The same id three times: stored once, the others are duplicates of it.
                500 => {
                    let outs: Vec<&PutOutcome> =
                        got.iter().map(|(_, a)| a.as_ref().unwrap()).collect();
                    assert_eq!(outs.iter().filter(|o| !o.duplicate).count(), 1, "{id}");
                    assert!(outs.iter().all(|o| o.seq == outs[0].seq), "{id}");
                }
                // One id, two mailboxes: exactly one stored, the other refused.
                900 => {
                    assert_eq!(got.len(), 2);
                    let ok = got.iter().filter(|(_, a)| a.is_ok()).count();
                    assert_eq!(ok, 1, "{id}: {got:?}");
                    assert!(
                        got.iter()
                            .any(|(_, a)| **a == Err(StorageError::EnvelopeIdConflict)),
                        "{id}: {got:?}"
                    );
                }
                _ if *id >= 200_000 => {}
                _ => assert!(matches!(got[..], [(_, Ok(_))]), "{id}: {got:?}"),
            }
        }
        // The tight mailbox: exactly five stored; the others refused with its count.
        let tight_answers = &answers[answers.len() - 20..];
        assert_eq!(tight_answers.iter().filter(|a| a.is_ok()).count(), 5);
        for a in tight_answers.iter().filter(|a| a.is_err()) {
            assert_eq!(
                *a,
                Err(StorageError::QuotaExceeded {
                    count: 5,
                    bytes: 80,
                    max_count: 5,
                    max_bytes: 1 << 20
                })
            );
        }
        // Every mailbox numbers its envelopes 0, 1, 2... and holds exactly what was stored.
        for (m, got) in &seqs {
            let n = got.len() as u64;
            assert_eq!(*got, (0..n).collect::<BTreeSet<_>>(), "mailbox {m}");
            let page = s
                .fetch_envelopes(mb(*m), 0, 1000, usize::MAX, 11)
                .await
                .unwrap();
            assert_eq!(page.len() as u64, n, "mailbox {m}");
            for e in page.iter().filter(|_| *m != 200) {
                let id = u64::from_be_bytes(e.envelope_id.as_bytes().try_into().unwrap());
                assert_eq!(e.ciphertext, body(id));
            }
        }
        for m in 1..=10u16 {
            let won = by_id[&(u64::from(m) * 1000 + 900)]
                .iter()
                .any(|(to, a)| *to == m && a.is_ok());
            assert_eq!(seqs[&m].len(), 21 + usize::from(won), "mailbox {m}");
        }

        // The other node is woken for every mailbox that got an envelope, and for no other.
        let mut woken = BTreeSet::new();
        while woken.len() < seqs.len() {
            match wakes.recv().await {
                Some(Wake::Mailbox(a)) => {
                    woken.insert(u16::from_be_bytes([a.0[0], a.0[1]]));
                }
                other => panic!("unexpected wake-up {other:?}"),
            }
        }
        assert_eq!(woken, seqs.keys().copied().collect::<BTreeSet<_>>());
        tokio::time::sleep(Duration::from_millis(300)).await;
        while let Ok(w) = wakes.try_recv() {
            let Wake::Mailbox(a) = w else {
                panic!("unexpected wake-up {w:?}")
            };
            let m = u16::from_be_bytes([a.0[0], a.0[1]]);
            assert!(
                seqs.contains_key(&m),
                "mailbox {m} woken without an envelope"
            );
        }

        // Round 2, all at once: two acks per mailbox (seqs 0..5 and the same again, so one
        // of them removes what the other did not), new sends into the same mailboxes, and an
        // ack of a mailbox that does not exist.
        let mut acks = Vec::new();
        for m in 1..=10u16 {
            for _ in 0..2 {
                let s = s.clone();
                acks.push((
                    m,
                    tokio::spawn(async move { s.ack_envelopes(mb(m), (0..5).collect(), 20).await }),
                ));
            }
        }
        let nobody = {
            let s = s.clone();
            tokio::spawn(async move { s.ack_envelopes(mb(999), vec![0, 1], 20).await })
        };
        let more: Vec<_> = (1..=10u16)
            .map(|m| {
                let id = u64::from(m) * 1000 + 600;
                (env(m, id, &body(id)), Q)
            })
            .collect();
        let more = send_all(&s, more).await;
        let mut removed: BTreeMap<u16, u32> = BTreeMap::new();
        for (m, t) in acks {
            *removed.entry(m).or_default() += t.await.unwrap().unwrap();
        }
        assert_eq!(nobody.await.unwrap(), Ok(0));
        for m in 1..=10u16 {
            assert_eq!(
                removed[&m], 5,
                "mailbox {m}: the two acks removed 5 together"
            );
            let stored = seqs[&m].len() as u64;
            let new = more[usize::from(m) - 1].as_ref().unwrap();
            assert_eq!(new.seq, stored, "mailbox {m}: numbering goes on");
            let page = s
                .fetch_envelopes(mb(m), 0, 1000, usize::MAX, 21)
                .await
                .unwrap();
            let left: Vec<u64> = page.iter().map(|e| e.seq).collect();
            assert_eq!(left, (5..=stored).collect::<Vec<_>>(), "mailbox {m}");
        }
        // The counters agree with the rows.
        let c = db.client().await;
        let off: i64 = c
            .query_one(
                "SELECT count(*) FROM hush_mailboxes m WHERE m.envelope_count <>
                   (SELECT count(*) FROM hush_envelopes e WHERE e.address = m.address)
                 OR m.envelope_bytes <> (SELECT coalesce(sum(octet_length(e.ciphertext)), 0)
                   FROM hush_envelopes e WHERE e.address = m.address)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(off, 0);
        let delivered: i64 = c
            .query_one(
                "SELECT count(*) FROM hush_envelope_ids WHERE state = 2",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(delivered, 50);

        // This ran in batches: sends and acks shared transactions.
        let (batches, ops) = s.group_commits();
        assert!(
            batches >= 1 && ops >= 2 * batches,
            "{batches} batches, {ops} ops"
        );

        other.close().await.unwrap();
        s.close().await.unwrap();
        assert_eq!(
            s.put_envelope(env(1, 77, b"late"), Q).await,
            Err(StorageError::Closed)
        );
    })
    .await
    .expect("test took too long");
}
