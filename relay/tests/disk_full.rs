//! A full disk under the embedded store (issue 23; spec/relay-protocol.md §5 "Storage
//! failures"), on a real small tmpfs: a sender fills it with 60 KB envelopes for an offline
//! mailbox; the relay refuses writes with ERROR_CODE_STORAGE_UNAVAILABLE (and a retry time),
//! keeps serving reads, reports not ready; once space is freed it takes writes again without
//! a restart; every acknowledged envelope is there exactly once, also after a restart.

mod common;
mod filling;
mod tmpfs;

use common::*;
use filling::*;
use hush_relay::proto::ErrorCode;
use std::time::{Duration, Instant};
use tmpfs::Tmpfs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_resumes_without_a_restart() {
    let Some(fs) = Tmpfs::mount(
        "16m",
        "a_full_disk_refuses_writes_then_resumes_without_a_restart",
    ) else {
        return;
    };
    fs.ballast(6 << 20);
    let data = fs.path().join("data");
    let relay = start_in(&data, |c| {
        c.storage_usage_interval = Duration::from_secs(3600);
        // No reserve: the disk really fills up under the store.
        c.storage_reserve_bytes = Some(0);
    })
    .await;
    let test = async {
        let (owner, addr) = login(&relay, &key(1)).await;
        let sender = connect(&relay).await;
        let health = relay.health();
        assert_eq!(health.ready().await, Ok(()));

        // Fill the disk.
        let mut sends = Sends::default();
        let first_refusal = sends.fill(&sender, &addr).await;
        assert_eq!(
            first_refusal.relay_code(),
            Some(ErrorCode::StorageUnavailable),
            "{first_refusal}"
        );
        assert!(first_refusal.retry_after_ms().unwrap() > 0);
        assert!(
            sends.acked.len() > 10,
            "only {} envelopes fitted",
            sends.acked.len()
        );

        // While full: further sends are refused with the same code (or, should a small one
        // fit, acknowledged), reads answer, readiness fails.
        let mut not_ready = None;
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            if let Err(e) = sends
                .one(&sender, &addr, ErrorCode::StorageUnavailable)
                .await
            {
                let msg = e.to_string();
                assert_eq!(msg.matches("storage unavailable").count(), 1, "{msg}");
                assert!(msg.contains("nothing was stored"), "{msg}");
                let retry = e.retry_after_ms().unwrap();
                assert!((1..=5000).contains(&retry), "retry after {retry} ms");
            }
            if let Err(why) = health.ready().await {
                not_ready = Some(why);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(sends.refused.len() > 1, "no send refused after the first");
        let why = not_ready.expect("readiness failed while the disk was full");
        assert!(why.contains("storage"), "{why}");
        let mut read = None;
        for _ in 0..50 {
            match owner.fetch(&addr, 0, 10).await {
                Ok(p) => {
                    read = Some(p);
                    break;
                }
                Err(e) => {
                    assert_eq!(e.relay_code(), Some(ErrorCode::StorageUnavailable), "{e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        assert_eq!(read.expect("reads work while full").envelopes.len(), 10);
        let first = *sends.acked.first().unwrap();
        sender
            .status(&id(first))
            .await
            .expect("STATUS works while full");

        // Free space: the relay takes writes again by itself, within its backoff.
        fs.free_ballast();
        sends
            .until_stored(&sender, &addr, ErrorCode::StorageUnavailable)
            .await;
        assert_eq!(health.ready().await, Ok(()));
        // The refused ones, retried, are stored now (once); every acknowledged envelope is
        // there exactly once, nothing else is.
        sends.retry_refused(&sender, &addr).await;
        holds_exactly(&owner, &addr, &sends.acked).await;
        owner.close().await;
        sender.close().await;
        sends.acked
    };
    let acked = tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test took too long");
    relay.shutdown().await.unwrap();

    // And after a restart.
    let relay = start_in(&data, |c| c.storage_reserve_bytes = Some(0)).await;
    let (owner, addr) = login(&relay, &key(1)).await;
    holds_exactly(&owner, &addr, &acked).await;
    owner.close().await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reserve_refuses_new_envelopes_before_the_disk_fills_and_acks_keep_working() {
    let Some(fs) = Tmpfs::mount(
        "16m",
        "the_reserve_refuses_new_envelopes_before_the_disk_fills_and_acks_keep_working",
    ) else {
        return;
    };
    fs.ballast(6 << 20);
    let data = fs.path().join("data");
    let relay = start_in(&data, |c| {
        c.storage_usage_interval = Duration::from_secs(3600);
        c.storage_reserve_bytes = Some(4 << 20);
    })
    .await;
    let test = async {
        let (owner, addr) = login(&relay, &key(2)).await;
        let sender = connect(&relay).await;
        let health = relay.health();
        assert_eq!(health.ready().await, Ok(()));
        let mut sends = Sends::default();
        let refusal = sends.fill(&sender, &addr).await;
        let (acked, n) = (&mut sends.acked, sends.next - 1);
        assert_eq!(
            refusal.relay_code(),
            Some(ErrorCode::RelayFull),
            "after {} stored: {refusal}",
            acked.len()
        );
        assert!(refusal.to_string().contains("reserve"), "{refusal}");
        assert!(refusal.retry_after_ms().unwrap() > 0);
        assert!(acked.len() > 10, "only {} envelopes fitted", acked.len());
        let why = health
            .ready()
            .await
            .expect_err("not ready below the reserve");
        assert!(why.contains("reserve"), "{why}");
        // The disk kept its reserve: ACKs, STATUS and fetches work.
        let page = owner.fetch(&addr, 0, 20).await.unwrap();
        let seqs: Vec<u64> = page.envelopes.iter().map(|e| e.seq).collect();
        assert!(!seqs.is_empty());
        assert_eq!(owner.ack(&addr, &seqs).await.unwrap() as usize, seqs.len());
        for e in &page.envelopes {
            let k = u64::from_be_bytes(e.envelope_id.as_bytes().try_into().unwrap());
            acked.remove(&k);
        }
        sender.status(&id(n - 1)).await.expect("STATUS works");
        let e = sender.send(&addr, &id(n), payload(n)).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::RelayFull), "{e}");

        // Space freed on the file system: writes are accepted again, readiness is back.
        fs.free_ballast();
        sender
            .send(&addr, &id(n), payload(n))
            .await
            .expect("stored after freeing");
        acked.insert(n);
        assert_eq!(health.ready().await, Ok(()));
        holds_exactly(&owner, &addr, acked).await;
        owner.close().await;
        sender.close().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test took too long");
    relay.shutdown().await.unwrap();
}
