//! Relay behaviour over real QUIC on 127.0.0.1 (in-process relays on ephemeral ports).

mod common;

use common::*;
use ed25519_dalek::Signer;
use hush_relay::proto::{self, ErrorCode};
use hush_relay::types::auth_message;
use hush_relay::{EnvelopeId, GroupId, MailboxAddress};
use hush_relay_client::{GroupMessageKind, OneTimePrekey, SignedPrekey, Status, WelcomeDelivery};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// Every test finishes in bounded time.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

fn id(n: u64) -> EnvelopeId {
    EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_can_fetch_or_ack() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let alice = key(1);
        let mallory = key(2);
        let (owner, addr) = login(&relay, &alice).await;
        assert_eq!(
            addr,
            MailboxAddress::from_public_key(&alice.verifying_key())
        );

        let sender = connect(&relay).await;
        sender
            .send(&addr, &id(1), b"ciphertext".to_vec())
            .await
            .unwrap();

        // Another connection, authenticated for another mailbox, cannot read or ack.
        let (other, _) = login(&relay, &mallory).await;
        let e = other.fetch(&addr, 0, 0).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        let e = other.ack(&addr, &[0]).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        let e = other
            .subscribe(&addr, 0)
            .await
            .unwrap()
            .next()
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));

        // A wrong signature: Mallory claims Alice's key but signs with her own.
        let c = other.challenge().await.unwrap();
        let sig = mallory.sign(&auth_message(&c, &relay.fingerprint()));
        let e = other
            .authenticate_with(&alice.verifying_key(), c, sig.to_bytes())
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));
        // The challenge was consumed by the failed attempt.
        let sig = alice.sign(&auth_message(&c, &relay.fingerprint()));
        let e = other
            .authenticate_with(&alice.verifying_key(), c, sig.to_bytes())
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));
        // A signature bound to another relay's fingerprint fails.
        let c = other.challenge().await.unwrap();
        let sig = alice.sign(&auth_message(&c, &hush_relay::Fingerprint([0; 32])));
        let e = other
            .authenticate_with(&alice.verifying_key(), c, sig.to_bytes())
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));

        // Replays: a valid (key, challenge, signature) used once works, then never again,
        // neither on the same connection nor on another.
        let fresh = connect(&relay).await;
        let c = fresh.challenge().await.unwrap();
        let sig = alice
            .sign(&auth_message(&c, &relay.fingerprint()))
            .to_bytes();
        fresh
            .authenticate_with(&alice.verifying_key(), c, sig)
            .await
            .unwrap();
        let e = fresh
            .authenticate_with(&alice.verifying_key(), c, sig)
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));
        let e = other
            .authenticate_with(&alice.verifying_key(), c, sig)
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));
        assert_eq!(
            other.fetch(&addr, 0, 0).await.unwrap_err().relay_code(),
            Some(ErrorCode::Unauthenticated)
        );

        // The owner reads and acks.
        let page = owner.fetch(&addr, 0, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 1);
        assert_eq!(page.envelopes[0].ciphertext, b"ciphertext");
        assert_eq!(owner.ack(&addr, &[page.envelopes[0].seq]).await.unwrap(), 1);
        assert!(owner.fetch(&addr, 0, 0).await.unwrap().envelopes.is_empty());
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_verify_and_status_moves_to_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let relay_key = relay.receipt_public_key();
        let (owner, addr) = login(&relay, &key(3)).await;
        let sender = connect(&relay).await;
        assert_eq!(sender.relay_public_key(), &relay_key);

        let eid = EnvelopeId::random().unwrap();
        let receipt = sender.send(&addr, &eid, vec![7u8; 256]).await.unwrap();
        receipt.verify(&relay_key).unwrap();
        assert_eq!(receipt.mailbox, addr);
        assert_eq!(receipt.envelope_id, eid);
        // A forged receipt does not verify.
        let mut forged = receipt.clone();
        forged.stored_at_ms += 1;
        assert!(forged.verify(&relay_key).is_err());

        // Idempotent retry: same receipt, no second copy.
        let again = sender.send(&addr, &eid, vec![7u8; 256]).await.unwrap();
        assert_eq!(again, receipt);
        // Same id, other bytes: refused.
        let e = sender.send(&addr, &eid, vec![8u8; 256]).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::EnvelopeIdConflict));

        let st = sender.status(&eid).await.unwrap();
        assert_eq!(st.status, Status::Stored);
        assert_eq!(st.stored, receipt);

        let page = owner.fetch(&addr, 0, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 1, "the retry did not duplicate");
        let seq = page.envelopes[0].seq;
        assert_eq!(page.next_cursor, seq + 1);
        assert_eq!(owner.ack(&addr, &[seq]).await.unwrap(), 1);
        assert_eq!(owner.ack(&addr, &[seq]).await.unwrap(), 0);

        let st = sender.status(&eid).await.unwrap();
        let Status::Delivered(d) = st.status else {
            panic!("expected delivered, got {:?}", st.status)
        };
        d.verify(&relay_key).unwrap();
        assert_eq!(d.envelope_id, eid);
        assert_eq!(d.mailbox, addr);
        assert!(d.delivered_at_ms >= receipt.stored_at_ms);

        let e = sender.status(&id(999)).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::NotFound));
    })
    .await;
    relay.shutdown().await.unwrap();
}

/// A request and its response each end their stream cleanly: neither side sends the other a
/// STOP_SENDING for a stream whose end it simply never read (quinn does that for a receive
/// stream dropped before its end), which cost one more frame, often one more packet, each way
/// per request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_end_their_streams_without_stop_sending() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(4)).await;
        let sender = connect(&relay).await;
        let rounds = 60u64;
        for n in 0..rounds {
            sender.send(&addr, &id(n), vec![1u8; 300]).await.unwrap();
            sender.status(&id(n)).await.unwrap();
            let page = owner.fetch(&addr, 0, 0).await.unwrap();
            let seqs: Vec<u64> = page.envelopes.iter().map(|e| e.seq).collect();
            assert_eq!(owner.ack(&addr, &seqs).await.unwrap(), 1);
        }
        for c in [&sender, &owner] {
            let s = c.connection().stats();
            // Each end asked the other for fewer ACKs (QUIC ACK frequency extension).
            assert!(
                s.frame_tx.ack_frequency >= 1 && s.frame_rx.ack_frequency >= 1,
                "ACK_FREQUENCY frames sent {} received {}",
                s.frame_tx.ack_frequency,
                s.frame_rx.ack_frequency
            );
            // Before: at least one per request (120 and 180 here, 2 * rounds requests per
            // connection). The end of a stream can still arrive in a packet of its own now and
            // then, more often on a loaded machine (8 to 15 of 120 seen with other builds and
            // the whole suite running); allow up to half the requests, which still tells the
            // two apart.
            assert!(
                s.frame_tx.stop_sending <= rounds && s.frame_rx.stop_sending <= rounds,
                "STOP_SENDING frames sent {} received {} over {} requests",
                s.frame_tx.stop_sending,
                s.frame_rx.stop_sending,
                2 * rounds
            );
        }
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_removes_envelopes_and_reports_expired() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| {
        c.ttl = Duration::from_millis(600);
        c.sweep_interval = Duration::from_millis(100);
    })
    .await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(4)).await;
        let eid = id(42);
        let receipt = owner
            .send(&addr, &eid, b"short-lived".to_vec())
            .await
            .unwrap();
        assert_eq!(owner.fetch(&addr, 0, 0).await.unwrap().envelopes.len(), 1);
        let mut expired = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Status::Expired { at_ms } = owner.status(&eid).await.unwrap().status {
                expired = Some(at_ms);
                break;
            }
        }
        let at = expired.expect("envelope expired within 10 s");
        assert!(at >= receipt.stored_at_ms + 600);
        assert!(owner.fetch(&addr, 0, 0).await.unwrap().envelopes.is_empty());
        // The sweep freed the quota too: the mailbox accepts a new envelope.
        owner.send(&addr, &id(43), b"next".to_vec()).await.unwrap();
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_mailbox_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| {
        c.mailbox_max_envelopes = 3;
        c.mailbox_max_bytes = 1000;
        c.max_envelope_bytes = 600;
        c.max_frame_bytes = 600 + 64 * 1024;
    })
    .await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(5)).await;
        for n in 0..3 {
            owner.send(&addr, &id(n), vec![1; 10]).await.unwrap();
        }
        let e = owner.send(&addr, &id(3), vec![1; 10]).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::QuotaExceeded));
        assert!(e.to_string().contains("mailbox full"), "{e}");
        let e = owner.send(&addr, &id(4), vec![1; 601]).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::EnvelopeTooLarge));
        let page = owner.fetch(&addr, 0, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 3);
        owner.ack(&addr, &[page.envelopes[0].seq]).await.unwrap();
        owner.send(&addr, &id(3), vec![1; 10]).await.unwrap();
        // Byte quota.
        let (o2, a2) = login(&relay, &key(6)).await;
        o2.send(&a2, &id(10), vec![1; 600]).await.unwrap();
        let e = o2.send(&a2, &id(11), vec![1; 500]).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::QuotaExceeded));
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_prekeys_are_handed_out_once_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(60, async {
        let (owner, addr) = login(&relay, &key(7)).await;
        let e = owner.fetch_prekey_bundle(&addr).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::NotFound));
        let keys: Vec<_> = (0..20u64)
            .map(|i| OneTimePrekey {
                id: 1000 + i,
                blob: format!("otpk-{i}").into_bytes(),
            })
            .collect();
        let stock = owner
            .upload_prekeys(
                &addr,
                Some(SignedPrekey {
                    id: 1,
                    blob: b"signed-prekey".to_vec(),
                }),
                keys,
            )
            .await
            .unwrap();
        assert_eq!(stock.one_time_prekeys, 20);
        assert!(!stock.low);

        // 50 concurrent fetches from 5 connections.
        let mut clients = Vec::new();
        for _ in 0..5 {
            clients.push(Arc::new(connect(&relay).await));
        }
        let mut tasks = Vec::new();
        for i in 0..50 {
            let c = clients[i % 5].clone();
            tasks.push(tokio::spawn(
                async move { c.fetch_prekey_bundle(&addr).await },
            ));
        }
        let mut ids = HashSet::new();
        let mut without = 0;
        for t in tasks {
            let b = t.await.unwrap().unwrap();
            assert_eq!(b.signed_prekey.blob, b"signed-prekey");
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
        assert_eq!(ids.len(), 20);
        assert_eq!(without, 30);
        let stock = owner.directory_stock(&addr).await.unwrap();
        assert_eq!(stock.one_time_prekeys, 0);
        assert!(stock.low, "the owner is told its stock is low");
        assert!(owner.fetch(&addr, 0, 0).await.unwrap().stock.low);
        // Uploading needs ownership.
        let stranger = connect(&relay).await;
        let e = stranger
            .upload_prekeys(&addr, None, vec![])
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_packages_fall_back_to_last_resort() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(8)).await;
        let kps: Vec<Vec<u8>> = (0..3).map(|i| format!("kp-{i}").into_bytes()).collect();
        let stock = owner
            .upload_key_packages(&addr, kps.clone(), Some(b"last-resort".to_vec()))
            .await
            .unwrap();
        assert_eq!(stock.key_packages, 3);
        assert!(stock.has_last_resort);
        let other = connect(&relay).await;
        let mut seen = HashSet::new();
        for _ in 0..3 {
            let kp = other.fetch_key_package(&addr).await.unwrap();
            assert!(!kp.last_resort);
            assert!(kps.contains(&kp.blob));
            assert!(seen.insert(kp.blob));
        }
        for _ in 0..2 {
            let kp = other.fetch_key_package(&addr).await.unwrap();
            assert!(kp.last_resort);
            assert_eq!(kp.blob, b"last-resort");
        }
        assert!(owner.directory_stock(&addr).await.unwrap().low);
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_per_epoch_wins() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let group = GroupId::new(b"group-1".to_vec()).unwrap();
        let a = Arc::new(connect(&relay).await);
        let b = Arc::new(connect(&relay).await);
        let mut live = b.group_subscribe(&group, 0).await.unwrap();
        let first = live.next().await.unwrap().unwrap();
        assert!(first.entries.is_empty());
        assert_eq!(first.current_epoch, None);

        let r = a
            .group_append(
                &group,
                0,
                GroupMessageKind::Commit,
                b"commit-0".to_vec(),
                vec![],
            )
            .await
            .unwrap();
        assert_eq!((r.seq, r.current_epoch), (0, 1));

        // Two commits race for epoch 1.
        let (ga, gb) = (group.clone(), group.clone());
        let (ca, cb) = (a.clone(), b.clone());
        let ta = tokio::spawn(async move {
            ca.group_append(
                &ga,
                1,
                GroupMessageKind::Commit,
                b"commit-1a".to_vec(),
                vec![],
            )
            .await
        });
        let tb = tokio::spawn(async move {
            cb.group_append(
                &gb,
                1,
                GroupMessageKind::Commit,
                b"commit-1b".to_vec(),
                vec![],
            )
            .await
        });
        let results = [ta.await.unwrap(), tb.await.unwrap()];
        let ok: Vec<_> = results.iter().filter(|r| r.is_ok()).collect();
        let err: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        assert_eq!(ok.len(), 1, "exactly one commit for epoch 1 is accepted");
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].epoch_conflict(), Some(2));
        assert!(
            err[0]
                .to_string()
                .contains("epoch conflict, current epoch is 2"),
            "{}",
            err[0]
        );

        // A later commit for an old epoch is rejected too; a retry of the winner is idempotent.
        let e = a
            .group_append(
                &group,
                0,
                GroupMessageKind::Commit,
                b"late".to_vec(),
                vec![],
            )
            .await
            .unwrap_err();
        assert_eq!(e.epoch_conflict(), Some(2));
        let winner = if results[0].is_ok() {
            b"commit-1a".to_vec()
        } else {
            b"commit-1b".to_vec()
        };
        let again = a
            .group_append(&group, 1, GroupMessageKind::Commit, winner.clone(), vec![])
            .await
            .unwrap();
        assert!(again.duplicate);

        // Application messages and a commit carrying a Welcome to a new member's mailbox.
        a.group_append(
            &group,
            2,
            GroupMessageKind::Application,
            b"app".to_vec(),
            vec![],
        )
        .await
        .unwrap();
        let newbie = key(9);
        let (nc, naddr) = login(&relay, &newbie).await;
        let welcome_id = EnvelopeId::random().unwrap();
        let r = a
            .group_append(
                &group,
                2,
                GroupMessageKind::Commit,
                b"commit-2-add".to_vec(),
                vec![WelcomeDelivery {
                    mailbox: naddr,
                    envelope_id: welcome_id.clone(),
                    ciphertext: b"welcome".to_vec(),
                }],
            )
            .await
            .unwrap();
        assert_eq!(r.current_epoch, 3);
        assert_eq!(r.welcome_receipts.len(), 1);
        r.welcome_receipts[0]
            .verify(&relay.receipt_public_key())
            .unwrap();
        let inbox = nc.fetch(&naddr, 0, 0).await.unwrap();
        assert_eq!(inbox.envelopes.len(), 1);
        assert_eq!(inbox.envelopes[0].envelope_id, welcome_id);

        // The log is ordered and complete; the subscriber saw it live.
        let log = b.group_fetch(&group, 0, 0).await.unwrap();
        let msgs: Vec<_> = log.entries.iter().map(|e| e.message.clone()).collect();
        assert_eq!(
            msgs,
            vec![
                b"commit-0".to_vec(),
                winner,
                b"app".to_vec(),
                b"commit-2-add".to_vec()
            ]
        );
        assert_eq!(
            log.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![0, 1, 2, 3]
        );
        assert_eq!(log.current_epoch, Some(3));
        let mut got = Vec::new();
        while got.len() < 4 {
            let batch = live.next().await.unwrap().expect("subscription open");
            got.extend(batch.entries);
        }
        assert_eq!(got, log.entries);
        let tail = b.group_fetch(&group, 3, 0).await.unwrap();
        assert_eq!(tail.entries.len(), 1);
        assert_eq!(tail.next_cursor, 4);
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_push_while_connected() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(10)).await;
        let sender = connect(&relay).await;
        sender
            .send(&addr, &id(1), b"before".to_vec())
            .await
            .unwrap();
        let mut sub = owner.subscribe(&addr, 0).await.unwrap();
        let backlog = sub.next().await.unwrap().unwrap();
        assert_eq!(backlog.envelopes.len(), 1);
        assert_eq!(backlog.envelopes[0].ciphertext, b"before");
        for n in 2..5u64 {
            sender
                .send(&addr, &id(n), format!("live-{n}").into_bytes())
                .await
                .unwrap();
        }
        let mut got = Vec::new();
        while got.len() < 3 {
            let b = sub.next().await.unwrap().expect("open");
            got.extend(b.envelopes.into_iter().map(|e| e.ciphertext));
        }
        assert_eq!(
            got,
            vec![b"live-2".to_vec(), b"live-3".to_vec(), b"live-4".to_vec()]
        );
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_live_subscriptions_on_one_connection() {
    // A connection starts with a few streams; the limit grows as they are used.
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(12)).await;
        let mut subs = Vec::new();
        for _ in 0..40 {
            let mut sub = owner.subscribe(&addr, 0).await.unwrap();
            assert!(sub.next().await.unwrap().unwrap().envelopes.is_empty());
            subs.push(sub);
        }
        // Requests still get through next to 40 live subscriptions.
        owner.send(&addr, &id(1), b"to all".to_vec()).await.unwrap();
        for sub in &mut subs {
            let page = sub.next().await.unwrap().expect("open");
            assert_eq!(page.envelopes[0].ciphertext, b"to all");
        }
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_envelopes_receipts_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let alice = key(11);
    let group = GroupId::new(b"g-restart".to_vec()).unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let (url, relay_key) = (relay.url(), relay.receipt_public_key());
    let (receipts, delivered_id) = within(30, async {
        let (owner, addr) = login(&relay, &alice).await;
        let mut receipts = Vec::new();
        for n in 0..10 {
            receipts.push(owner.send(&addr, &id(n), vec![n as u8; 100]).await.unwrap());
        }
        owner.ack(&addr, &[0]).await.unwrap();
        owner
            .upload_prekeys(
                &addr,
                Some(SignedPrekey {
                    id: 5,
                    blob: b"spk".to_vec(),
                }),
                vec![OneTimePrekey {
                    id: 1,
                    blob: b"otpk-1".to_vec(),
                }],
            )
            .await
            .unwrap();
        owner
            .upload_key_packages(&addr, vec![b"kp".to_vec()], Some(b"lr".to_vec()))
            .await
            .unwrap();
        owner
            .group_append(&group, 7, GroupMessageKind::Commit, b"c7".to_vec(), vec![])
            .await
            .unwrap();
        owner.close().await;
        (receipts, id(0))
    })
    .await;
    relay.shutdown().await.unwrap();

    let relay = start_in(dir.path(), |_| {}).await;
    assert_eq!(
        relay.fingerprint(),
        url.fingerprint,
        "same certificate after restart"
    );
    assert_eq!(
        relay.receipt_public_key(),
        relay_key,
        "same receipt key after restart"
    );
    within(30, async {
        let (owner, addr) = login(&relay, &alice).await;
        let page = owner.fetch(&addr, 0, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 9);
        for (e, r) in page.envelopes.iter().zip(&receipts[1..]) {
            assert_eq!(e.envelope_id, r.envelope_id);
        }
        for r in &receipts[1..] {
            let st = owner.status(&r.envelope_id).await.unwrap();
            assert_eq!(&st.stored, r);
            assert_eq!(st.status, Status::Stored);
        }
        match owner.status(&delivered_id).await.unwrap().status {
            Status::Delivered(d) => d.verify(&relay_key).unwrap(),
            other => panic!("expected delivered, got {other:?}"),
        }
        let b = owner.fetch_prekey_bundle(&addr).await.unwrap();
        assert_eq!(b.signed_prekey.blob, b"spk");
        assert_eq!(b.one_time_prekey.unwrap().blob, b"otpk-1");
        assert!(
            owner
                .fetch_prekey_bundle(&addr)
                .await
                .unwrap()
                .one_time_prekey
                .is_none()
        );
        assert_eq!(owner.fetch_key_package(&addr).await.unwrap().blob, b"kp");
        assert!(owner.fetch_key_package(&addr).await.unwrap().last_resort);
        let log = owner.group_fetch(&group, 0, 0).await.unwrap();
        assert_eq!(log.current_epoch, Some(8));
        let e = owner
            .group_append(
                &group,
                7,
                GroupMessageKind::Commit,
                b"other".to_vec(),
                vec![],
            )
            .await
            .unwrap_err();
        assert_eq!(e.epoch_conflict(), Some(8));
        // New sends continue the sequence after the old ones.
        owner
            .send(&addr, &id(100), b"after".to_vec())
            .await
            .unwrap();
        let page = owner.fetch(&addr, page.next_cursor, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 1);
        assert_eq!(page.envelopes[0].seq, 10);
    })
    .await;
    relay.shutdown().await.unwrap();
}

/// Writes raw bytes on a fresh stream and reads the relay's answer.
async fn raw_exchange(conn: &quinn::Connection, bytes: &[u8]) -> Option<proto::Response> {
    let (mut send, mut recv) = conn.open_bi().await.unwrap();
    let _ = send.write_all(bytes).await;
    let _ = send.finish();
    hush_relay::frame::read_message::<proto::Response, _>(&mut recv, 1 << 20)
        .await
        .ok()
        .flatten()
}

fn error_code(r: &Option<proto::Response>) -> Option<ErrorCode> {
    match r.as_ref()?.body.as_ref()? {
        proto::response::Body::Error(e) => ErrorCode::try_from(e.code).ok(),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_get_error_frames_and_harm_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (bystander, addr) = login(&relay, &key(12)).await;
        let attacker = connect(&relay).await;
        let conn = attacker.connection();

        // Garbage protobuf.
        let r = raw_exchange(conn, &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]).await;
        assert_eq!(error_code(&r), Some(ErrorCode::Malformed));
        // A length prefix beyond the maximum frame.
        let r = raw_exchange(conn, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3]).await;
        assert_eq!(error_code(&r), Some(ErrorCode::FrameTooLarge));
        // A frame cut short.
        let r = raw_exchange(conn, &[0, 0, 1, 0, 1, 2]).await;
        assert_eq!(error_code(&r), Some(ErrorCode::Malformed));
        // An unknown version, and a request without a body.
        let req = proto::Request {
            version: 99,
            body: Some(proto::request::Body::Hello(proto::HelloRequest {})),
        };
        let resp = attacker.raw_request(&req).await.unwrap();
        assert_eq!(error_code(&Some(resp)), Some(ErrorCode::UnsupportedVersion));
        let req = proto::Request {
            version: 1,
            body: None,
        };
        let resp = attacker.raw_request(&req).await.unwrap();
        assert_eq!(error_code(&Some(resp)), Some(ErrorCode::Malformed));
        // Wrong field lengths.
        let req = proto::Request {
            version: 1,
            body: Some(proto::request::Body::Send(proto::SendRequest {
                mailbox_address: vec![1, 2, 3],
                envelope_id: vec![1],
                ciphertext: vec![],
            })),
        };
        let resp = attacker.raw_request(&req).await.unwrap();
        assert_eq!(error_code(&Some(resp)), Some(ErrorCode::Malformed));
        let req = proto::Request {
            version: 1,
            body: Some(proto::request::Body::GroupAppend(
                proto::GroupAppendRequest {
                    group_id: vec![1],
                    epoch: 0,
                    kind: 77,
                    message: vec![],
                    welcomes: vec![],
                },
            )),
        };
        let resp = attacker.raw_request(&req).await.unwrap();
        assert_eq!(error_code(&Some(resp)), Some(ErrorCode::Malformed));

        // The attacker's connection and everyone else's still work.
        attacker
            .send(&addr, &id(1), b"still fine".to_vec())
            .await
            .unwrap();
        let page = bystander.fetch(&addr, 0, 0).await.unwrap();
        assert_eq!(page.envelopes.len(), 1);
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_connection_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| {
        c.rate_limit_per_sec = 2.0;
        c.rate_limit_burst = 5.0;
    })
    .await;
    within(30, async {
        // HELLO took one token.
        let c = connect(&relay).await;
        let mut limited = 0;
        for _ in 0..10 {
            match c.challenge().await {
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.relay_code(), Some(ErrorCode::RateLimited));
                    limited += 1;
                }
            }
        }
        assert!(limited >= 4, "only {limited} of 10 requests were limited");
        // Another connection has its own bucket.
        let d = connect(&relay).await;
        d.challenge().await.unwrap();
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_fingerprint_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let mut url = relay.url();
    url.fingerprint.0[0] ^= 1;
    let r = within(30, hush_relay_client::Client::connect(&url)).await;
    assert!(
        r.is_err(),
        "a client must not talk to an unpinned certificate"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_canary_reaches_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let secret = [0x5au8; 32];
    let canaries: Vec<Vec<u8>> = (0..8)
        .map(|i| format!("CANARY-{i}-7f3e9a-plaintext").into_bytes())
        .collect();
    let kept_ciphertext = within(30, async {
        let (owner, addr) = login(&relay, &key(13)).await;
        let sender = connect(&relay).await;
        let mut kept = Vec::new();
        for (n, c) in canaries.iter().enumerate() {
            let mut plaintext = b"hello from a friend: ".to_vec();
            plaintext.extend_from_slice(c);
            let ct = toy_encrypt(&secret, n as u64, &plaintext);
            sender.send(&addr, &id(n as u64), ct.clone()).await.unwrap();
            kept.push(ct);
        }
        // Some are read and acked, some stay.
        owner.ack(&addr, &[0, 1, 2]).await.unwrap();
        let group = GroupId::new(b"canary-group".to_vec()).unwrap();
        for (n, c) in canaries.iter().enumerate() {
            let ct = toy_encrypt(&secret, 1000 + n as u64, c);
            sender
                .group_append(&group, 0, GroupMessageKind::Application, ct, vec![])
                .await
                .unwrap();
        }
        owner.close().await;
        sender.close().await;
        kept.split_off(3)
    })
    .await;
    relay.shutdown().await.unwrap();

    let files = read_tree(dir.path());
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        for c in &canaries {
            assert!(!contains(bytes, c), "{} contains a canary", path.display());
        }
    }
    // The scan is real: the stored ciphertext is found in the database file.
    let db: Vec<u8> = files.iter().flat_map(|(_, b)| b.clone()).collect();
    assert!(kept_ciphertext.iter().all(|ct| contains(&db, ct)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| c.max_connections = 1).await;
    within(30, async {
        let first = connect(&relay).await;
        assert!(
            hush_relay_client::Client::connect(&relay.url())
                .await
                .is_err()
        );
        first.close().await;
        let mut ok = false;
        for _ in 0..50 {
            if hush_relay_client::Client::connect(&relay.url())
                .await
                .is_ok()
            {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ok, "a slot frees up when a connection closes");
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_pem_certificate_is_served_and_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["relay.example".to_string()]).unwrap();
    let cert = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key_file, ck.signing_key.serialize_pem()).unwrap();
    let relay = start_in(&dir.path().join("data"), |c| {
        c.cert = hush_relay::tls::CertSource::Pem {
            cert: cert.clone(),
            key: key_file.clone(),
        };
    })
    .await;
    // The address pins the key (spec §1): SHA-256 of the SubjectPublicKeyInfo.
    assert_eq!(
        relay.fingerprint(),
        hush_relay::Fingerprint::of_public_key(&rcgen::PublicKeyData::subject_public_key_info(
            &ck.signing_key
        ))
    );
    within(30, async {
        let (c, addr) = login(&relay, &key(14)).await;
        c.send(&addr, &id(1), b"x".to_vec()).await.unwrap();
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| c.idle_timeout = Duration::from_millis(300)).await;
    within(30, async {
        let c = connect(&relay).await;
        c.challenge().await.unwrap();
        // The client's keep-alive (15 s) is slower than the relay's idle timeout.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(c.challenge().await.is_err(), "idle connection was closed");
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frames_never_break_the_relay() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(60, async {
        let c = connect(&relay).await;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200 {
            let len = (next() % 300) as usize;
            let mut frame = (len as u32).to_be_bytes().to_vec();
            // Start some frames like a real request so the decoder gets further.
            if round % 2 == 0 && len >= 2 {
                frame.extend_from_slice(&[0x08, 0x01]);
            }
            while frame.len() < 4 + len {
                frame.push(next() as u8);
            }
            // Any answer (or none) is fine; the relay must stay up.
            let _ = raw_exchange(c.connection(), &frame).await;
        }
        let (owner, addr) = login(&relay, &key(15)).await;
        owner.send(&addr, &id(1), b"alive".to_vec()).await.unwrap();
        assert_eq!(owner.fetch(&addr, 0, 0).await.unwrap().envelopes.len(), 1);
    })
    .await;
    relay.shutdown().await.unwrap();
}
