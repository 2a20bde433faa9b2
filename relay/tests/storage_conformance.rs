//! One storage conformance suite, run against both backends: the embedded redb store and
//! PostgreSQL. Each check is a generic async fn over a [`Fixture`]; the `conformance!` macro
//! instantiates every one of them in `mod redb` and in `mod postgres`.
//!
//! The PostgreSQL instances need `HUSH_TEST_POSTGRES` (see `tests/common/pg.rs`); each test
//! gets its own database. A few checks at the end only make sense for a store shared by
//! several nodes (two `PgStorage` instances on one database).

#[path = "storage_conformance/blind_directory.rs"]
mod blind_directory;
#[path = "storage_conformance/capacity.rs"]
mod capacity;
#[path = "storage_conformance/kem_prekeys.rs"]
mod kem_prekeys;
#[path = "common/pg.rs"]
mod pg;
use blind_directory::*;
use capacity::*;
use kem_prekeys::*;

use hush_relay::storage::*;
use hush_relay::{EnvelopeId, GroupId, MailboxAddress};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Every test finishes in bounded time.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

/// Where a backend keeps its data, so that it can be opened again ("restart").
enum Fixture {
    Redb(tempfile::TempDir),
    Pg(pg::TestDb),
}

impl Fixture {
    fn redb() -> Fixture {
        Fixture::Redb(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Fixture> {
        pg::TestDb::create(test).await.map(Fixture::Pg)
    }

    /// Opens (another instance of) the store.
    async fn open(&self) -> Arc<dyn Storage> {
        match self {
            Fixture::Redb(dir) => {
                let path = dir.path().join("t.redb");
                Arc::new(
                    tokio::task::spawn_blocking(move || RedbStorage::open(&path))
                        .await
                        .unwrap()
                        .unwrap(),
                )
            }
            Fixture::Pg(db) => Arc::new(PgStorage::connect(&db.url, 8).await.unwrap()),
        }
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod redb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let f = super::Fixture::redb();
                    super::within(60, super::$name(&f)).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(f) = super::Fixture::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::within(60, super::$name(&f)).await;
                }
            )*
        }
    };
}

conformance!(
    receipts_and_delivery_status,
    idempotent_sends,
    concurrent_sends_get_distinct_sequence_numbers,
    quotas_are_checked_atomically,
    fetch_respects_cursor_limit_and_bytes,
    fetch_page_matches_fetch_and_stock,
    ttl_sweep_expires_then_forgets,
    one_time_prekeys_are_handed_out_once_under_concurrency,
    kem_prekeys_once_then_last_resort_under_concurrency,
    kem_prekey_uploads_are_atomic_replaced_and_durable,
    key_packages_once_then_last_resort,
    directory_stock_limits,
    one_commit_per_epoch,
    group_welcomes_are_atomic_with_their_commit,
    restart_keeps_everything,
    an_ack_after_expiry_leaves_the_envelope_expired,
    a_commit_at_the_last_epoch_is_refused,
    generation_compare_and_set,
    generation_cas_is_atomic_under_concurrency,
    fetch_verifiers_are_kept_per_mailbox_and_replaced,
    replacing_uploads_remove_the_old_stock_atomically,
    usage_counts_envelopes_group_log_and_directory,
    the_storage_cap_refuses_and_acks_make_room,
    concurrent_sends_never_exceed_the_cap,
);

const Q: MailboxQuota = MailboxQuota {
    max_count: 1000,
    max_bytes: 1 << 30,
};

fn mb(n: u8) -> MailboxAddress {
    MailboxAddress([n; 32])
}

fn eid(n: u64) -> EnvelopeId {
    EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap()
}

fn env(m: u8, id: u64, bytes: &[u8], now: u64, ttl: u64) -> NewEnvelope {
    NewEnvelope {
        mailbox: mb(m),
        envelope_id: eid(id),
        ciphertext: bytes.to_vec(),
        now_ms: now,
        expires_at_ms: now + ttl,
        forget_at_ms: now + 2 * ttl,
    }
}

fn gmsg(g: &GroupId, epoch: u64, kind: GroupMessageKind, body: &[u8]) -> NewGroupMessage {
    NewGroupMessage {
        group: g.clone(),
        epoch,
        kind,
        message: body.to_vec(),
        now_ms: 10,
        expires_at_ms: 1_000_000,
    }
}

async fn receipts_and_delivery_status(f: &Fixture) {
    let s = f.open().await;
    assert_eq!(s.envelope_status(eid(1), 10).await.unwrap(), None);
    let out = s
        .put_envelope(env(1, 1, b"hello", 100, 1000), Q)
        .await
        .unwrap();
    assert_eq!(
        out,
        PutOutcome {
            mailbox: mb(1),
            seq: 0,
            stored_at_ms: 100,
            duplicate: false
        }
    );
    let st = s.envelope_status(eid(1), 101).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Stored);
    assert_eq!(
        (st.mailbox, st.stored_at_ms, st.expires_at_ms),
        (mb(1), 100, 1100)
    );
    // Past its expiry but not yet swept: reported expired at the expiry time.
    let st = s.envelope_status(eid(1), 1100).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Expired { at_ms: 1100 });
    let got = s
        .fetch_envelopes(mb(1), 0, 10, usize::MAX, 101)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].ciphertext, b"hello");
    assert_eq!(got[0].envelope_id, eid(1));
    // Acking someone else's mailbox or a wrong seq removes nothing.
    assert_eq!(s.ack_envelopes(mb(2), vec![0], 150).await.unwrap(), 0);
    assert_eq!(s.ack_envelopes(mb(1), vec![7], 150).await.unwrap(), 0);
    assert_eq!(s.ack_envelopes(mb(1), vec![0, 0], 150).await.unwrap(), 1);
    assert_eq!(s.ack_envelopes(mb(1), vec![0], 160).await.unwrap(), 0);
    let st = s.envelope_status(eid(1), 200).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Delivered { at_ms: 150 });
    assert!(
        s.fetch_envelopes(mb(1), 0, 10, usize::MAX, 201)
            .await
            .unwrap()
            .is_empty()
    );
    // A delivered id is still idempotent for its sender.
    let again = s
        .put_envelope(env(1, 1, b"hello", 300, 1000), Q)
        .await
        .unwrap();
    assert!(again.duplicate);
    assert_eq!((again.seq, again.stored_at_ms), (0, 100));
    s.close().await.unwrap();
}

async fn idempotent_sends(f: &Fixture) {
    let s = f.open().await;
    let first = s
        .put_envelope(env(1, 5, b"abc", 10, 1000), Q)
        .await
        .unwrap();
    let dup = s
        .put_envelope(env(1, 5, b"abc", 20, 1000), Q)
        .await
        .unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.seq, dup.stored_at_ms), (first.seq, first.stored_at_ms));
    assert_eq!(
        s.put_envelope(env(1, 5, b"abd", 20, 1000), Q).await,
        Err(StorageError::EnvelopeIdConflict)
    );
    assert_eq!(
        s.put_envelope(env(2, 5, b"abc", 20, 1000), Q).await,
        Err(StorageError::EnvelopeIdConflict)
    );
    // The same id sent 20 times at once: stored once, every answer names the same seq.
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_envelope(env(3, 6, b"racy", 30, 1000), Q).await
        }));
    }
    let mut fresh = 0;
    let mut seqs = HashSet::new();
    for t in tasks {
        let o = t.await.unwrap().unwrap();
        if !o.duplicate {
            fresh += 1;
        }
        seqs.insert(o.seq);
    }
    assert_eq!(fresh, 1, "exactly one send stored it");
    assert_eq!(seqs.len(), 1);
    let got = s
        .fetch_envelopes(mb(3), 0, 100, usize::MAX, 31)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    s.close().await.unwrap();
}

async fn concurrent_sends_get_distinct_sequence_numbers(f: &Fixture) {
    let s = f.open().await;
    let mut tasks = Vec::new();
    for i in 0..100u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_envelope(env(1, i, &[i as u8; 16], 10, 1000), Q).await
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        let o = t.await.unwrap().unwrap();
        assert!(!o.duplicate);
        assert!(seqs.insert(o.seq));
    }
    assert_eq!(seqs, (0..100).collect());
    let got = s
        .fetch_envelopes(mb(1), 0, 1000, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(got.len(), 100);
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    s.close().await.unwrap();
}

async fn quotas_are_checked_atomically(f: &Fixture) {
    let s = f.open().await;
    let q = MailboxQuota {
        max_count: 3,
        max_bytes: 100,
    };
    for i in 0..3 {
        s.put_envelope(env(1, i, &[1; 10], 10, 1000), q)
            .await
            .unwrap();
    }
    let e = s.put_envelope(env(1, 3, &[1; 10], 10, 1000), q).await;
    assert_eq!(
        e,
        Err(StorageError::QuotaExceeded {
            count: 3,
            bytes: 30,
            max_count: 3,
            max_bytes: 100
        })
    );
    // A retry of a stored id is still answered when the mailbox is full.
    assert!(
        s.put_envelope(env(1, 2, &[1; 10], 10, 1000), q)
            .await
            .unwrap()
            .duplicate
    );
    // Bytes: 30 stored, 71 more would exceed 100.
    let big = MailboxQuota {
        max_count: 10,
        max_bytes: 100,
    };
    assert!(matches!(
        s.put_envelope(env(1, 4, &[1; 71], 10, 1000), big).await,
        Err(StorageError::QuotaExceeded { bytes: 30, .. })
    ));
    s.put_envelope(env(1, 4, &[1; 70], 10, 1000), big)
        .await
        .unwrap();
    // Acks make room again.
    assert_eq!(
        s.ack_envelopes(mb(1), vec![0, 1, 2, 3], 20).await.unwrap(),
        4
    );
    s.put_envelope(env(1, 5, &[1; 100], 30, 1000), big)
        .await
        .unwrap();
    // A mailbox never written to refuses an envelope over its byte quota, or any envelope
    // under a zero count quota, and stays empty.
    assert_eq!(
        s.put_envelope(env(7, 50, &[1; 101], 10, 1000), big).await,
        Err(StorageError::QuotaExceeded {
            count: 0,
            bytes: 0,
            max_count: 10,
            max_bytes: 100
        })
    );
    let none = MailboxQuota {
        max_count: 0,
        max_bytes: 100,
    };
    assert!(matches!(
        s.put_envelope(env(7, 51, b"x", 10, 1000), none).await,
        Err(StorageError::QuotaExceeded { count: 0, .. })
    ));
    assert!(
        s.fetch_envelopes(mb(7), 0, 10, usize::MAX, 11)
            .await
            .unwrap()
            .is_empty()
    );
    // Concurrent sends into a mailbox with room for 5: exactly 5 land.
    let tight = MailboxQuota {
        max_count: 5,
        max_bytes: 1 << 20,
    };
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_envelope(env(9, 100 + i, b"x", 10, 1000), tight).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StorageError::QuotaExceeded { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 5);
    s.close().await.unwrap();
}

async fn fetch_respects_cursor_limit_and_bytes(f: &Fixture) {
    let s = f.open().await;
    for i in 0..10u64 {
        s.put_envelope(env(1, i, &[i as u8; 100], 10, 1000), Q)
            .await
            .unwrap();
    }
    let page = s
        .fetch_envelopes(mb(1), 4, 3, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![4, 5, 6]
    );
    let page = s.fetch_envelopes(mb(1), 0, 100, 250, 11).await.unwrap();
    assert_eq!(page.len(), 2, "about max_bytes of ciphertext");
    let page = s.fetch_envelopes(mb(1), 9, 100, 1, 11).await.unwrap();
    assert_eq!(page.len(), 1, "always at least one");
    assert!(
        s.fetch_envelopes(mb(1), 10, 100, 1, 11)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.fetch_envelopes(mb(2), 0, 100, 1, 11)
            .await
            .unwrap()
            .is_empty()
    );
    // Expired envelopes are not served even before the sweep removes them.
    assert!(
        s.fetch_envelopes(mb(1), 0, 100, usize::MAX, 1010)
            .await
            .unwrap()
            .is_empty()
    );
    s.close().await.unwrap();
}

async fn fetch_page_matches_fetch_and_stock(f: &Fixture) {
    let s = f.open().await;
    for i in 0..5u64 {
        s.put_envelope(env(1, i, &[i as u8; 100], 10, 1000), Q)
            .await
            .unwrap();
    }
    s.put_prekeys(
        mb(1),
        Some(SignedPrekey {
            id: 1,
            blob: b"spk".to_vec(),
        }),
        vec![OneTimePrekey {
            id: 7,
            blob: b"otpk".to_vec(),
        }],
        1000,
    )
    .await
    .unwrap();
    let stock = s.directory_stock(mb(1)).await.unwrap();
    assert_eq!(stock.one_time_prekeys, 1);
    for (cursor, limit, max_bytes) in [
        (0, 100, usize::MAX),
        (1, 2, usize::MAX),
        (0, 100, 250),
        (3, 2, usize::MAX),
        (3, 2, 200),
    ] {
        let page = s
            .fetch_page(mb(1), cursor, limit, max_bytes, 11)
            .await
            .unwrap();
        let envs = s
            .fetch_envelopes(mb(1), cursor, limit, max_bytes, 11)
            .await
            .unwrap();
        assert_eq!(page.envelopes, envs);
        assert_eq!(page.stock, stock);
        // Complete means nothing is left beyond the page; a backend may also say "don't know",
        // but not for a page that holds the rest of the mailbox within its limits.
        let rest = 5 - cursor as usize; // envelopes of 100 bytes from the cursor on
        if limit >= rest && max_bytes >= 100 * rest {
            assert!(page.complete, "{cursor} {limit} {max_bytes}");
        }
        if page.complete {
            let next = envs.last().map(|e| e.seq + 1).unwrap_or(cursor);
            assert!(
                s.fetch_envelopes(mb(1), next, 100, usize::MAX, 11)
                    .await
                    .unwrap()
                    .is_empty()
            );
        }
    }
    let empty = s.fetch_page(mb(1), 5, 100, usize::MAX, 11).await.unwrap();
    assert!(empty.envelopes.is_empty() && empty.complete);
    assert_eq!(empty.stock, stock);
    s.close().await.unwrap();
}

async fn ttl_sweep_expires_then_forgets(f: &Fixture) {
    let s = f.open().await;
    s.put_envelope(env(4, 7, &[0; 8], 100, 50), Q)
        .await
        .unwrap();
    s.put_envelope(env(4, 8, &[0; 8], 100, 10_000), Q)
        .await
        .unwrap();
    s.put_envelope(env(5, 9, &[0; 3], 100, 50), Q)
        .await
        .unwrap();
    let g = GroupId::new(b"ttl-group".to_vec()).unwrap();
    let mut m = gmsg(&g, 0, GroupMessageKind::Application, b"app");
    m.expires_at_ms = 150;
    s.append_group(m, vec![], Q).await.unwrap();
    assert_eq!(s.sweep(149).await.unwrap(), SweepReport::default());
    let r = s.sweep(150).await.unwrap();
    assert_eq!(
        (
            r.envelopes_expired,
            r.bytes_expired,
            r.group_entries_expired
        ),
        (2, 11, 1)
    );
    assert_eq!(r.ids_forgotten, 0);
    let st = s.envelope_status(eid(7), 151).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Expired { at_ms: 150 });
    assert_eq!(
        s.fetch_envelopes(mb(4), 0, 10, usize::MAX, 151)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        s.fetch_group(g, 0, 10, usize::MAX, 100)
            .await
            .unwrap()
            .entries
            .is_empty()
    );
    // The expired envelope no longer counts against the quota.
    let one = MailboxQuota {
        max_count: 2,
        max_bytes: 1 << 20,
    };
    s.put_envelope(env(4, 10, &[0; 8], 160, 10_000), one)
        .await
        .unwrap();
    // forget_at = 100 + 2 * 50; a still-stored id is never forgotten.
    let r = s.sweep(200).await.unwrap();
    assert_eq!((r.ids_forgotten, r.envelopes_expired), (2, 0));
    assert_eq!(s.envelope_status(eid(7), 201).await.unwrap(), None);
    assert!(s.envelope_status(eid(8), 201).await.unwrap().is_some());
    assert_eq!(s.sweep(201).await.unwrap(), SweepReport::default());
    s.close().await.unwrap();
}

/// An envelope acked after its expiry but before the sweep removed it is removed as expired
/// (at its expiry time), not delivered, and not counted by the ack.
async fn an_ack_after_expiry_leaves_the_envelope_expired(f: &Fixture) {
    let s = f.open().await;
    let a = s
        .put_envelope(env(6, 1, &[1; 8], 100, 50), Q)
        .await
        .unwrap();
    let b = s
        .put_envelope(env(6, 2, &[2; 8], 100, 500), Q)
        .await
        .unwrap();
    // At 150 the first has expired (expires_at 150), the second has not; no sweep ran.
    assert_eq!(
        s.ack_envelopes(mb(6), vec![a.seq, b.seq], 150)
            .await
            .unwrap(),
        1
    );
    let st = s.envelope_status(eid(1), 160).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Expired { at_ms: 150 });
    let st = s.envelope_status(eid(2), 160).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Delivered { at_ms: 150 });
    // Both are gone, the mailbox counts nothing, and the sweep finds nothing left to expire.
    assert!(
        s.fetch_envelopes(mb(6), 0, 10, usize::MAX, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let one = MailboxQuota {
        max_count: 1,
        max_bytes: 8,
    };
    s.put_envelope(env(6, 3, &[3; 8], 160, 500), one)
        .await
        .unwrap();
    assert_eq!(s.sweep(160).await.unwrap().envelopes_expired, 0);
    let st = s.envelope_status(eid(1), 170).await.unwrap().unwrap();
    assert_eq!(st.state, EnvelopeState::Expired { at_ms: 150 });
    s.close().await.unwrap();
}

/// A commit for epoch 2^64 - 1 could not move the group to a next epoch: it is refused as
/// invalid, with or without commits before it, and stores nothing.
async fn a_commit_at_the_last_epoch_is_refused(f: &Fixture) {
    let s = f.open().await;
    let g = GroupId::new(b"last-epoch".to_vec()).unwrap();
    assert_eq!(
        s.append_group(
            gmsg(&g, u64::MAX, GroupMessageKind::Commit, b"c"),
            vec![],
            Q
        )
        .await,
        Err(StorageError::LastEpoch)
    );
    let page = s
        .fetch_group(g.clone(), 0, 10, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!((page.entries.len(), page.current_epoch), (0, None));
    // After a commit at 2^64 - 2 the group is at the last epoch; its commit is refused too.
    let c = s
        .append_group(
            gmsg(&g, u64::MAX - 1, GroupMessageKind::Commit, b"c1"),
            vec![],
            Q,
        )
        .await
        .unwrap();
    assert_eq!(c.current_epoch, Some(u64::MAX));
    assert_eq!(
        s.append_group(
            gmsg(&g, u64::MAX, GroupMessageKind::Commit, b"c2"),
            vec![],
            Q
        )
        .await,
        Err(StorageError::LastEpoch)
    );
    // Other messages at that epoch are still appended.
    s.append_group(
        gmsg(&g, u64::MAX, GroupMessageKind::Application, b"a"),
        vec![],
        Q,
    )
    .await
    .unwrap();
    s.close().await.unwrap();
}

async fn one_time_prekeys_are_handed_out_once_under_concurrency(f: &Fixture) {
    let s = f.open().await;
    assert_eq!(s.take_prekey_bundle(mb(7)).await.unwrap(), None);
    let keys: Vec<_> = (0..20u64)
        .map(|i| OneTimePrekey {
            id: 1000 + i,
            blob: format!("otpk-{i}").into_bytes(),
        })
        .collect();
    // One-time prekeys without a signed prekey are stocked but not handed out.
    s.put_prekeys(mb(7), None, keys, 100).await.unwrap();
    assert_eq!(s.take_prekey_bundle(mb(7)).await.unwrap(), None);
    let signed = SignedPrekey {
        id: 1,
        blob: b"signed".to_vec(),
    };
    let stock = s
        .put_prekeys(mb(7), Some(signed.clone()), vec![], 100)
        .await
        .unwrap();
    assert_eq!(stock.one_time_prekeys, 20);
    assert!(stock.has_signed_prekey);
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.take_prekey_bundle(mb(7)).await },
        ));
    }
    let mut ids = HashSet::new();
    let mut without = 0;
    for t in tasks {
        let b = t.await.unwrap().unwrap().unwrap();
        assert_eq!(b.signed_prekey, signed);
        match b.one_time_prekey {
            Some(k) => {
                assert_eq!(k.blob, format!("otpk-{}", k.id - 1000).into_bytes());
                assert!(
                    ids.insert(k.id),
                    "one-time prekey {} handed out twice",
                    k.id
                );
            }
            None => without += 1,
        }
    }
    assert_eq!((ids.len(), without), (20, 30));
    assert_eq!(s.directory_stock(mb(7)).await.unwrap().one_time_prekeys, 0);
    // Lowest id first, over the whole u64 range.
    let ks = [u64::MAX, 5, 1 << 63]
        .iter()
        .map(|&id| OneTimePrekey {
            id,
            blob: id.to_be_bytes().to_vec(),
        })
        .collect();
    s.put_prekeys(mb(7), None, ks, 100).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        order.push(
            s.take_prekey_bundle(mb(7))
                .await
                .unwrap()
                .unwrap()
                .one_time_prekey
                .unwrap()
                .id,
        );
    }
    assert_eq!(order, vec![5, 1 << 63, u64::MAX]);
    s.close().await.unwrap();
}

async fn key_packages_once_then_last_resort(f: &Fixture) {
    let s = f.open().await;
    assert_eq!(s.take_key_package(mb(3)).await.unwrap(), None);
    let kps: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 40]).collect();
    let stock = s
        .put_key_packages(mb(3), kps.clone(), Some(b"last".to_vec()), 100)
        .await
        .unwrap();
    assert_eq!((stock.key_packages, stock.has_last_resort), (10, true));
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.take_key_package(mb(3)).await }));
    }
    let mut seen = HashSet::new();
    let mut last = 0;
    for t in tasks {
        let kp = t.await.unwrap().unwrap().unwrap();
        if kp.last_resort {
            assert_eq!(kp.blob, b"last");
            last += 1;
        } else {
            assert!(kps.contains(&kp.blob));
            assert!(seen.insert(kp.blob), "KeyPackage handed out twice");
        }
    }
    assert_eq!((seen.len(), last), (10, 15));
    let stock = s.directory_stock(mb(3)).await.unwrap();
    assert_eq!((stock.key_packages, stock.has_last_resort), (0, true));
    s.close().await.unwrap();
}

async fn directory_stock_limits(f: &Fixture) {
    let s = f.open().await;
    let keys = |r: std::ops::Range<u64>| {
        r.map(|id| OneTimePrekey { id, blob: vec![1] })
            .collect::<Vec<_>>()
    };
    s.put_prekeys(mb(1), None, keys(0..8), 10).await.unwrap();
    // Re-uploading known ids does not count twice.
    assert_eq!(
        s.put_prekeys(mb(1), None, keys(5..10), 10)
            .await
            .unwrap()
            .one_time_prekeys,
        10
    );
    assert!(matches!(
        s.put_prekeys(mb(1), None, keys(10..11), 10).await,
        Err(StorageError::DirectoryFull(_))
    ));
    assert_eq!(s.directory_stock(mb(1)).await.unwrap().one_time_prekeys, 10);
    let kps: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 8]).collect();
    s.put_key_packages(mb(1), kps.clone(), None, 3)
        .await
        .unwrap();
    assert!(matches!(
        s.put_key_packages(mb(1), vec![vec![9; 8]], None, 3).await,
        Err(StorageError::DirectoryFull(_))
    ));
    assert_eq!(
        s.put_key_packages(mb(1), kps, None, 3)
            .await
            .unwrap()
            .key_packages,
        3
    );
    let stock = s.directory_stock(mb(2)).await.unwrap();
    assert_eq!(stock, DirectoryStock::default());
    s.close().await.unwrap();
}

async fn one_commit_per_epoch(f: &Fixture) {
    let s = f.open().await;
    let g = GroupId::new(b"epochs".to_vec()).unwrap();
    let page = s
        .fetch_group(g.clone(), 0, 10, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!((page.entries.len(), page.current_epoch), (0, None));
    // A group without commits takes a commit at any epoch.
    let c0 = s
        .append_group(gmsg(&g, 3, GroupMessageKind::Commit, b"c3"), vec![], Q)
        .await
        .unwrap();
    assert_eq!(
        (c0.seq, c0.current_epoch, c0.duplicate),
        (0, Some(4), false)
    );
    assert_eq!(
        s.append_group(gmsg(&g, 3, GroupMessageKind::Commit, b"other"), vec![], Q)
            .await,
        Err(StorageError::EpochConflict { current: 4 })
    );
    assert_eq!(
        s.append_group(gmsg(&g, 9, GroupMessageKind::Commit, b"future"), vec![], Q)
            .await,
        Err(StorageError::EpochConflict { current: 4 })
    );
    // The same commit again is a retry.
    let again = s
        .append_group(gmsg(&g, 3, GroupMessageKind::Commit, b"c3"), vec![], Q)
        .await
        .unwrap();
    assert_eq!(
        (again.seq, again.current_epoch, again.duplicate),
        (0, Some(4), true)
    );
    // Application messages and proposals do not move the epoch.
    let a = s
        .append_group(
            gmsg(&g, 4, GroupMessageKind::Application, b"app"),
            vec![],
            Q,
        )
        .await
        .unwrap();
    assert_eq!((a.seq, a.current_epoch), (1, Some(4)));
    // Ten different commits for epoch 4 at once: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..10u8 {
        let s = s.clone();
        let g = g.clone();
        tasks.push(tokio::spawn(async move {
            s.append_group(gmsg(&g, 4, GroupMessageKind::Commit, &[b'c', i]), vec![], Q)
                .await
        }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(o) => {
                assert_eq!(o.current_epoch, Some(5));
                won += 1;
            }
            Err(StorageError::EpochConflict { current: 5 }) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(won, 1);
    let page = s
        .fetch_group(g.clone(), 0, 10, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(page.current_epoch, Some(5));
    let kinds: Vec<_> = page
        .entries
        .iter()
        .map(|e| (e.seq, e.epoch, e.kind))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (0, 3, GroupMessageKind::Commit),
            (1, 4, GroupMessageKind::Application),
            (2, 4, GroupMessageKind::Commit)
        ]
    );
    let page = s
        .fetch_group(g.clone(), 1, 1, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].message, b"app");
    // Epochs near the top of u64 work, and u64::MAX itself cannot be committed.
    let h = GroupId::new(b"high".to_vec()).unwrap();
    let hi = s
        .append_group(
            gmsg(&h, u64::MAX - 1, GroupMessageKind::Commit, b"h"),
            vec![],
            Q,
        )
        .await
        .unwrap();
    assert_eq!(hi.current_epoch, Some(u64::MAX));
    assert_eq!(
        s.append_group(
            gmsg(&h, u64::MAX, GroupMessageKind::Commit, b"h2"),
            vec![],
            Q
        )
        .await,
        Err(StorageError::LastEpoch)
    );
    s.close().await.unwrap();
}

async fn group_welcomes_are_atomic_with_their_commit(f: &Fixture) {
    let s = f.open().await;
    let tight = MailboxQuota {
        max_count: 1,
        max_bytes: 1 << 20,
    };
    s.put_envelope(env(2, 1, b"full", 10, 1000), tight)
        .await
        .unwrap();
    let g = GroupId::new(b"welcomes".to_vec()).unwrap();
    let commit = gmsg(&g, 0, GroupMessageKind::Commit, b"commit");
    let r = s
        .append_group(
            commit.clone(),
            vec![env(3, 2, b"w3", 10, 1000), env(2, 3, b"w2", 10, 1000)],
            tight,
        )
        .await;
    assert!(
        matches!(r, Err(StorageError::QuotaExceeded { .. })),
        "{r:?}"
    );
    let page = s
        .fetch_group(g.clone(), 0, 10, usize::MAX, 11)
        .await
        .unwrap();
    assert!(page.entries.is_empty());
    assert_eq!(page.current_epoch, None);
    assert!(
        s.fetch_envelopes(mb(3), 0, 10, usize::MAX, 11)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.envelope_status(eid(2), 11).await.unwrap(), None);
    // With room, commit and welcome land together.
    let out = s
        .append_group(commit.clone(), vec![env(3, 2, b"w3", 10, 1000)], tight)
        .await
        .unwrap();
    assert_eq!(out.current_epoch, Some(1));
    assert_eq!(out.welcomes.len(), 1);
    assert!(!out.welcomes[0].duplicate);
    assert_eq!(
        s.fetch_envelopes(mb(3), 0, 10, usize::MAX, 11)
            .await
            .unwrap()
            .len(),
        1
    );
    // A rejected commit stores none of its welcomes.
    let r = s
        .append_group(
            gmsg(&g, 0, GroupMessageKind::Commit, b"late"),
            vec![env(4, 4, b"w4", 10, 1000)],
            Q,
        )
        .await;
    assert_eq!(r, Err(StorageError::EpochConflict { current: 1 }));
    assert!(
        s.fetch_envelopes(mb(4), 0, 10, usize::MAX, 11)
            .await
            .unwrap()
            .is_empty()
    );
    // A retried commit re-answers its welcomes as duplicates.
    let again = s
        .append_group(commit, vec![env(3, 2, b"w3", 10, 1000)], tight)
        .await
        .unwrap();
    assert!(again.duplicate && again.welcomes[0].duplicate);
    s.close().await.unwrap();
}

async fn restart_keeps_everything(f: &Fixture) {
    let g = GroupId::new(b"restart".to_vec()).unwrap();
    {
        let s = f.open().await;
        for i in 0..3 {
            s.put_envelope(env(1, i, b"kept", 10, 1000), Q)
                .await
                .unwrap();
        }
        s.ack_envelopes(mb(1), vec![0], 20).await.unwrap();
        s.put_prekeys(
            mb(1),
            Some(SignedPrekey {
                id: 9,
                blob: b"spk".to_vec(),
            }),
            vec![OneTimePrekey {
                id: 1,
                blob: b"otpk".to_vec(),
            }],
            10,
        )
        .await
        .unwrap();
        s.append_group(gmsg(&g, 0, GroupMessageKind::Commit, b"c0"), vec![], Q)
            .await
            .unwrap();
        s.close().await.unwrap();
        assert_eq!(
            s.put_envelope(env(1, 99, b"late", 10, 1000), Q).await,
            Err(StorageError::Closed)
        );
    }
    let s = f.open().await;
    let got = s
        .fetch_envelopes(mb(1), 0, 10, usize::MAX, 30)
        .await
        .unwrap();
    assert_eq!(got.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(
        s.envelope_status(eid(0), 30).await.unwrap().unwrap().state,
        EnvelopeState::Delivered { at_ms: 20 }
    );
    // Sequence numbers continue; the id index survived.
    let o = s
        .put_envelope(env(1, 3, b"new", 40, 1000), Q)
        .await
        .unwrap();
    assert_eq!(o.seq, 3);
    assert!(
        s.put_envelope(env(1, 1, b"kept", 50, 1000), Q)
            .await
            .unwrap()
            .duplicate
    );
    let b = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
    assert_eq!(
        (b.signed_prekey.id, b.one_time_prekey.map(|k| k.id)),
        (9, Some(1))
    );
    let page = s
        .fetch_group(g.clone(), 0, 10, usize::MAX, 30)
        .await
        .unwrap();
    assert_eq!((page.entries.len(), page.current_epoch), (1, Some(1)));
    assert_eq!(
        s.append_group(gmsg(&g, 0, GroupMessageKind::Commit, b"x"), vec![], Q)
            .await,
        Err(StorageError::EpochConflict { current: 1 })
    );
    s.close().await.unwrap();
}

// ---- Checks only a shared store can have: two instances ("nodes") on one database. ----

async fn pg_pair(test: &str) -> Option<(pg::TestDb, Arc<PgStorage>, Arc<PgStorage>)> {
    let db = pg::TestDb::create(test).await?;
    let a = Arc::new(PgStorage::connect(&db.url, 4).await.unwrap());
    let b = Arc::new(PgStorage::connect(&db.url, 4).await.unwrap());
    Some((db, a, b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_nodes_hand_out_each_prekey_once() {
    let Some((_db, a, b)) = pg_pair("pg_nodes_prekeys").await else {
        return;
    };
    within(60, async {
        let keys = (0..30u64)
            .map(|id| OneTimePrekey {
                id,
                blob: vec![id as u8],
            })
            .collect();
        let spk = SignedPrekey {
            id: 1,
            blob: b"s".to_vec(),
        };
        let upload = PrekeyUpload {
            signed_prekey: Some(spk),
            one_time_prekeys: keys,
            one_time_kem_prekeys: (0..30u64)
                .map(|id| KemPrekey {
                    id,
                    blob: vec![id as u8],
                })
                .collect(),
            last_resort_kem_prekey: Some(KemPrekey {
                id: 99,
                blob: b"lr".to_vec(),
            }),
            replace_one_time: false,
        };
        a.upload_prekeys(mb(1), upload, 100).await.unwrap();
        let kps = (0..30u8).map(|i| vec![i; 16]).collect();
        b.put_key_packages(mb(1), kps, None, 100).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..80 {
            let s: Arc<dyn Storage> = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let p = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
                let k = s.take_key_package(mb(1)).await.unwrap();
                let kem = p.kem_prekey.expect("a KEM prekey in every bundle");
                (
                    p.one_time_prekey.map(|k| k.id),
                    k.map(|k| k.blob),
                    (!p.kem_prekey_last_resort).then_some(kem.id),
                )
            }));
        }
        let (mut ids, mut blobs, mut kem_ids) = (HashSet::new(), HashSet::new(), HashSet::new());
        for t in tasks {
            let (p, k, kem) = t.await.unwrap();
            if let Some(p) = p {
                assert!(ids.insert(p), "prekey {p} handed out twice");
            }
            if let Some(k) = k {
                assert!(blobs.insert(k), "KeyPackage handed out twice");
            }
            if let Some(id) = kem {
                assert!(kem_ids.insert(id), "KEM prekey {id} handed out twice");
            }
        }
        assert_eq!((ids.len(), blobs.len(), kem_ids.len()), (30, 30, 30));
    })
    .await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_nodes_sweep_each_row_once() {
    let Some((_db, a, b)) = pg_pair("pg_nodes_sweep").await else {
        return;
    };
    within(60, async {
        for m in 0..20u8 {
            for i in 0..5u64 {
                a.put_envelope(env(m, u64::from(m) * 100 + i, &[m; 10], 100, 50), Q)
                    .await
                    .unwrap();
            }
        }
        // Both nodes sweep at once, repeatedly; the counts add up to what was due, once.
        let mut total = SweepReport::default();
        for _ in 0..3 {
            let (ra, rb) = tokio::join!(a.sweep(150), b.sweep(150));
            for r in [ra.unwrap(), rb.unwrap()] {
                total.envelopes_expired += r.envelopes_expired;
                total.bytes_expired += r.bytes_expired;
            }
        }
        assert_eq!((total.envelopes_expired, total.bytes_expired), (100, 1000));
        // And the quota counters agree: every mailbox takes max_count again.
        let five = MailboxQuota {
            max_count: 5,
            max_bytes: 50,
        };
        for m in 0..20u8 {
            for i in 0..5u64 {
                b.put_envelope(
                    env(m, 10_000 + u64::from(m) * 100 + i, &[m; 10], 200, 50),
                    five,
                )
                .await
                .unwrap();
            }
        }
    })
    .await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_nodes_one_commit_per_epoch() {
    let Some((_db, a, b)) = pg_pair("pg_nodes_epoch").await else {
        return;
    };
    within(60, async {
        let g = GroupId::new(b"shared".to_vec()).unwrap();
        for epoch in 0..5u64 {
            let mut tasks = Vec::new();
            for i in 0..6u8 {
                let s: Arc<dyn Storage> = if i % 2 == 0 { a.clone() } else { b.clone() };
                let g = g.clone();
                tasks.push(tokio::spawn(async move {
                    s.append_group(
                        gmsg(&g, epoch, GroupMessageKind::Commit, &[epoch as u8, i]),
                        vec![],
                        Q,
                    )
                    .await
                }));
            }
            let mut won = 0;
            for t in tasks {
                match t.await.unwrap() {
                    Ok(_) => won += 1,
                    Err(StorageError::EpochConflict { current }) => assert_eq!(current, epoch + 1),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            assert_eq!(won, 1, "epoch {epoch}");
        }
        let page = a.fetch_group(g, 0, 100, usize::MAX, 11).await.unwrap();
        assert_eq!(page.current_epoch, Some(5));
        assert_eq!(page.entries.len(), 5);
    })
    .await;
    a.close().await.unwrap();
    b.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_wakes_reach_other_nodes_and_resume_after_connection_loss() {
    let Some(db) = pg::TestDb::create("pg_wakes").await else {
        return;
    };
    within(60, async {
        let a = PgStorage::connect(&db.url, 4).await.unwrap();
        let b = PgStorage::connect(&db.url_as("hush-wake-b"), 4)
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        b.set_wake_sink(Arc::new(move |w| {
            let _ = tx.send(w);
        }));
        assert_eq!(
            rx.recv().await,
            Some(Wake::All),
            "a fresh LISTEN wakes everyone"
        );
        a.put_envelope(env(1, 1, b"x", 10, 1000), Q).await.unwrap();
        assert_eq!(rx.recv().await, Some(Wake::Mailbox(mb(1))));
        let g = GroupId::new(b"w".to_vec()).unwrap();
        a.append_group(
            gmsg(&g, 0, GroupMessageKind::Commit, b"c"),
            vec![env(2, 2, b"w", 10, 1000)],
            Q,
        )
        .await
        .unwrap();
        let mut got = HashSet::new();
        got.insert(rx.recv().await.unwrap());
        got.insert(rx.recv().await.unwrap());
        assert_eq!(
            got,
            HashSet::from([Wake::Mailbox(mb(2)), Wake::Group(g.digest())])
        );
        // A rejected write notifies nobody.
        assert!(
            a.put_envelope(env(3, 2, b"conflict", 10, 1000), Q)
                .await
                .is_err()
        );
        // Kill b's sessions (pool and listener): b reconnects, says "re-read everything",
        // and hears later writes again.
        assert!(db.terminate_sessions(Some("hush-wake-b")).await >= 1);
        loop {
            match rx.recv().await {
                Some(Wake::All) => break,
                Some(Wake::Mailbox(m)) if m == mb(3) => panic!("rejected write notified"),
                Some(_) => {}
                None => panic!("sink dropped"),
            }
        }
        a.put_envelope(env(4, 4, b"y", 10, 1000), Q).await.unwrap();
        assert_eq!(rx.recv().await, Some(Wake::Mailbox(mb(4))));
        // b's own pool recovers too.
        assert_eq!(
            b.fetch_envelopes(mb(4), 0, 10, usize::MAX, 11)
                .await
                .unwrap()
                .len(),
            1
        );
        a.close().await.unwrap();
        b.close().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_migrations_are_safe_when_nodes_start_at_once() {
    let Some(db) = pg::TestDb::create("pg_migrations").await else {
        return;
    };
    within(60, async {
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let url = db.url.clone();
            tasks.push(tokio::spawn(
                async move { PgStorage::connect(&url, 2).await },
            ));
        }
        for t in tasks {
            t.await.unwrap().unwrap().close().await.unwrap();
        }
        let c = db.client().await;
        let versions: Vec<i32> = c
            .query(
                "SELECT version FROM hush_schema_version ORDER BY version",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Each migration applied once, in order (the numbering may have gaps).
        assert_eq!(versions.first(), Some(&1));
        assert_eq!(versions.last(), Some(&SCHEMA_VERSION));
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        // A database from a newer relay is refused, not mangled.
        c.execute(
            "INSERT INTO hush_schema_version (version) VALUES (9999)",
            &[],
        )
        .await
        .unwrap();
        let e = PgStorage::connect(&db.url, 2).await.unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_routines_do_what_the_transactions_did() {
    let Some(db) = pg::TestDb::create("pg_routines").await else {
        return;
    };
    within(60, async {
        let s = PgStorage::connect(&db.url, 2).await.unwrap();
        // A refused send into a new mailbox leaves no row behind.
        let q = MailboxQuota {
            max_count: 10,
            max_bytes: 4,
        };
        assert!(matches!(
            s.put_envelope(env(4, 1, b"12345", 10, 1000), q).await,
            Err(StorageError::QuotaExceeded { count: 0, .. })
        ));
        let c = db.client().await;
        let rows = |sql: &'static str| {
            let c = &c;
            async move { c.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
        };
        assert_eq!(rows("SELECT count(*) FROM hush_mailboxes").await, 0);
        assert_eq!(rows("SELECT count(*) FROM hush_envelope_ids").await, 0);
        // A stored one moves the counters; its ack moves them back and marks the id.
        s.put_envelope(env(4, 2, b"1234", 10, 1000), q)
            .await
            .unwrap();
        assert_eq!(
            rows("SELECT envelope_count * 1000 + envelope_bytes FROM hush_mailboxes").await,
            1004
        );
        assert_eq!(s.ack_envelopes(mb(4), vec![0, 7], 20).await.unwrap(), 1);
        assert_eq!(s.ack_envelopes(mb(4), vec![0], 21).await.unwrap(), 0);
        assert_eq!(s.ack_envelopes(mb(5), vec![0], 21).await.unwrap(), 0);
        assert_eq!(
            rows("SELECT envelope_count * 1000 + envelope_bytes FROM hush_mailboxes").await,
            0
        );
        assert_eq!(
            rows("SELECT state * 1000 + state_at_ms FROM hush_envelope_ids").await,
            2020
        );
        // A commit whose epoch cannot grow is refused without creating the group.
        let g = GroupId::new(b"g-max".to_vec()).unwrap();
        assert_eq!(
            s.append_group(
                gmsg(&g, u64::MAX, GroupMessageKind::Commit, b"c"),
                vec![],
                q
            )
            .await,
            Err(StorageError::LastEpoch)
        );
        assert_eq!(rows("SELECT count(*) FROM hush_groups").await, 0);
        // Every start installs the routines again; the schema version does not move.
        s.close().await.unwrap();
        for _ in 0..2 {
            PgStorage::connect(&db.url, 1)
                .await
                .unwrap()
                .close()
                .await
                .unwrap();
        }
        assert_eq!(
            rows("SELECT count(*) FROM pg_proc WHERE proname LIKE 'hush\\_%'").await,
            7 // the five routines and the two functions of the directory counters
        );
        assert_eq!(
            rows("SELECT max(version)::bigint FROM hush_schema_version").await,
            i64::from(SCHEMA_VERSION)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_unreachable_database_is_a_clean_error() {
    if pg::admin_url("pg_unreachable").is_none() {
        return;
    }
    // A closed port on 127.0.0.1.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("postgres://postgres@127.0.0.1:{port}/nothing?connect_timeout=2");
    let e = within(30, PgStorage::connect(&url, 2)).await.unwrap_err();
    assert!(matches!(e, StorageError::Backend(_)), "{e:?}");
    let e = within(5, PgStorage::connect("postgres://[::1", 2))
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Backend(_)), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_connection_pool_is_bounded() {
    let Some(db) = pg::TestDb::create("pg_pool").await else {
        return;
    };
    within(60, async {
        let s = Arc::new(
            PgStorage::connect(&db.url_as("hush-pool"), 3)
                .await
                .unwrap(),
        );
        let mut tasks = Vec::new();
        for i in 0..60u64 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.put_envelope(env((i % 6) as u8, i, b"p", 10, 1000), Q)
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let (open, max) = s.pool_status();
        assert_eq!(max, 3);
        assert!(open <= 3, "{open} connections open");
        let c = db.client().await;
        let n: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'hush-pool'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert!(n <= 3, "{n} sessions on the server");
        s.close().await.unwrap();
    })
    .await;
}

// --- State generation (rollback detection) ---

async fn generation_compare_and_set(f: &Fixture) {
    let s = f.open().await;
    // Every mailbox starts at 0.
    assert_eq!(s.generation(mb(1)).await.unwrap(), 0);
    // A wrong expectation changes nothing and answers the current value.
    let out = s.advance_generation(mb(1), 5, 6).await.unwrap();
    assert_eq!(
        out,
        GenerationOutcome {
            current: 0,
            advanced: false
        }
    );
    assert_eq!(s.generation(mb(1)).await.unwrap(), 0);
    // The right one sets it, by any step.
    let out = s.advance_generation(mb(1), 0, 1).await.unwrap();
    assert_eq!(
        out,
        GenerationOutcome {
            current: 1,
            advanced: true
        }
    );
    let out = s.advance_generation(mb(1), 1, 7).await.unwrap();
    assert_eq!(
        out,
        GenerationOutcome {
            current: 7,
            advanced: true
        }
    );
    // A stale expectation (a rolled-back client) sees the newer value and changes nothing.
    let out = s.advance_generation(mb(1), 1, 2).await.unwrap();
    assert_eq!(
        out,
        GenerationOutcome {
            current: 7,
            advanced: false
        }
    );
    let out = s.advance_generation(mb(1), 0, 1).await.unwrap();
    assert_eq!(
        out,
        GenerationOutcome {
            current: 7,
            advanced: false
        }
    );
    // Mailboxes are independent, and values use the whole u64 range.
    assert_eq!(s.generation(mb(2)).await.unwrap(), 0);
    let out = s.advance_generation(mb(2), 0, u64::MAX).await.unwrap();
    assert!(out.advanced);
    assert_eq!(s.generation(mb(2)).await.unwrap(), u64::MAX);
    assert_eq!(s.generation(mb(1)).await.unwrap(), 7);
    // Durable: a reopened store has the values.
    s.close().await.unwrap();
    drop(s);
    let s = f.open().await;
    assert_eq!(s.generation(mb(1)).await.unwrap(), 7);
    assert_eq!(s.generation(mb(2)).await.unwrap(), u64::MAX);
    let out = s.advance_generation(mb(1), 7, 8).await.unwrap();
    assert!(out.advanced);
    s.close().await.unwrap();
}

async fn generation_cas_is_atomic_under_concurrency(f: &Fixture) {
    let s = f.open().await;
    // Rounds of racing writers with the same expectation: exactly one wins each round, and
    // every loser is told the winner's value.
    let mut expected = 0u64;
    for round in 0..5u64 {
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let s = s.clone();
            let next = expected + 1 + round * 100 + w;
            tasks.push(tokio::spawn(async move {
                (
                    next,
                    s.advance_generation(mb(3), expected, next).await.unwrap(),
                )
            }));
        }
        let mut winners = Vec::new();
        let mut seen = Vec::new();
        for t in tasks {
            let (next, out) = t.await.unwrap();
            if out.advanced {
                assert_eq!(out.current, next);
                winners.push(next);
            } else {
                seen.push(out.current);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {winners:?}");
        let won = winners[0];
        assert_eq!(s.generation(mb(3)).await.unwrap(), won);
        // A loser read the value at its own turn: the winner's (it cannot be older, since
        // the expected value was the only one before).
        assert!(seen.iter().all(|v| *v == won), "{seen:?} vs {won}");
        expected = won;
    }
    s.close().await.unwrap();
}
