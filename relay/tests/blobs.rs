//! The blob store over real QUIC on 127.0.0.1 (spec/relay-protocol.md §11): round trips at
//! buffer and size edges, resume after a dropped connection mid-upload and mid-download and
//! across a relay restart, quota, size and TTL edges, and no plaintext on disk.
#![cfg(feature = "redb")]

#[path = "common/blob_io.rs"]
mod blob_io;
mod common;

use blob_io::{Collect, Stalling, wait_durable};
use common::{contains, key, login, read_tree, start_in, toy_encrypt};
use hush_relay::clock::Clock;
use hush_relay_client::{Client, ClientError, ErrorCode};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 13) as u8)
        .collect()
}

fn code(r: Result<impl std::fmt::Debug, ClientError>) -> ErrorCode {
    match r {
        Err(e) => e
            .relay_code()
            .unwrap_or_else(|| panic!("not a refusal: {e}")),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

async fn round_trip(c: &Client, mailbox: &hush_relay_client::MailboxAddress, bytes: &[u8]) {
    let (id, _) = c
        .create_blob(mailbox, bytes.len() as u64, 0)
        .await
        .expect("create");
    let info = c.upload_blob(&id, 0, bytes).await.expect("upload");
    assert!(info.complete, "{} bytes: {info:?}", bytes.len());
    assert_eq!(info.durable_offset, bytes.len() as u64);
    let mut out = Vec::new();
    let len = c.download_blob(&id, 0, &mut out).await.expect("download");
    assert_eq!(len, bytes.len() as u64);
    assert!(out == bytes, "{} bytes differ", bytes.len());
    // A download from the middle gets the tail.
    let mid = bytes.len() / 2;
    let mut tail = Vec::new();
    c.download_blob(&id, mid as u64, &mut tail)
        .await
        .expect("tail");
    assert!(tail == bytes[mid..]);
}

#[tokio::test]
async fn round_trips_at_edges() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let (c, me) = login(&relay, &key(1)).await;
    for n in [1, 65_535, 65_536, 65_537, 67_584, 3 * 1024 * 1024 + 4097] {
        round_trip(&c, &me, &data(n, n as u8)).await;
    }
    // A zero-length blob does not exist (an empty attachment is a 64 KiB blob).
    assert_eq!(
        code(c.create_blob(&me, 0, 0).await),
        ErrorCode::BlobTooLarge
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn upload_resumes_after_a_dropped_connection_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tweak = |c: &mut hush_relay::RelayConfig| c.blobs.sync_every_bytes = 256 * 1024;
    let relay = start_in(dir.path(), tweak).await;
    let blob = data(5 * 1024 * 1024 + 333, 7);
    let (c1, me) = login(&relay, &key(2)).await;
    let (id, _) = c1.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    // First attempt: 2 MiB arrive, then the uploader stalls and its connection drops.
    let first = blob[..2 * 1024 * 1024].to_vec();
    let up = {
        let c1 = Arc::new(c1);
        let c = c1.clone();
        let task = tokio::spawn(async move { c.upload_blob(&id, 0, Stalling(first, 0)).await });
        let (observer, _) = login(&relay, &key(2)).await;
        wait_durable(&observer, &id, 1024 * 1024).await;
        c1.close().await;
        task
    };
    // The uploader waits on its stalled source; it is gone with its connection.
    up.abort();
    let _ = up.await;
    // Download of the incomplete blob is refused.
    let (c2, _) = login(&relay, &key(2)).await;
    assert_eq!(
        code(c2.download_blob(&id, 0, Vec::new()).await),
        ErrorCode::BlobIncomplete
    );
    let s = c2.blob_status(&id).await.unwrap();
    assert!(!s.complete && s.durable_offset <= 2 * 1024 * 1024, "{s:?}");
    // Starting past the durable offset is refused (and ends the dropped upload for good).
    assert_eq!(
        code(c2.upload_blob(&id, blob.len() as u64, &blob[..0]).await),
        ErrorCode::BlobOffset
    );
    // Second attempt: another megabyte, then the relay restarts.
    let d = s.durable_offset as usize;
    let part = c2
        .upload_blob(&id, d as u64, &blob[d..d + 1024 * 1024])
        .await
        .unwrap();
    assert!(!part.complete);
    assert_eq!(part.durable_offset as usize, d + 1024 * 1024);
    c2.close().await;
    relay.shutdown().await.unwrap();
    let relay = start_in(dir.path(), tweak).await;
    let (c3, _) = login(&relay, &key(2)).await;
    let s = c3.blob_status(&id).await.unwrap();
    assert_eq!(s.durable_offset as usize, d + 1024 * 1024);
    let d = s.durable_offset as usize;
    let done = c3.upload_blob(&id, d as u64, &blob[d..]).await.unwrap();
    assert!(done.complete);
    let mut out = Vec::new();
    c3.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(out == blob, "resumed upload differs");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn download_resumes_after_a_dropped_connection() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let blob = data(4 * 1024 * 1024 + 17, 9);
    let (c, me) = login(&relay, &key(3)).await;
    let (id, _) = c.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    assert!(c.upload_blob(&id, 0, &blob[..]).await.unwrap().complete);
    let got = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::new(c);
    let task = {
        let (c, got) = (c.clone(), got.clone());
        tokio::spawn(async move { c.download_blob(&id, 0, Collect(got, 1024 * 1024)).await })
    };
    for _ in 0..400 {
        if got.lock().unwrap().len() >= 1024 * 1024 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c.close().await;
    task.abort();
    let _ = task.await;
    let mut have = got.lock().unwrap().clone();
    assert!(have.len() >= 1024 * 1024 && have.len() < blob.len());
    let (c2, _) = login(&relay, &key(3)).await;
    c2.download_blob(&id, have.len() as u64, &mut have)
        .await
        .unwrap();
    assert!(have == blob, "resumed download differs");
    // Past the end is refused; exactly at the end gets nothing.
    let n = blob.len() as u64;
    assert_eq!(
        code(c2.download_blob(&id, n + 1, Vec::new()).await),
        ErrorCode::BlobOffset
    );
    let mut none = Vec::new();
    c2.download_blob(&id, n, &mut none).await.unwrap();
    assert!(none.is_empty());
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn quota_size_and_ownership_edges() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| {
        c.blobs.mailbox_quota_bytes = 1_000_000;
        c.blobs.mailbox_max_blobs = 3;
        c.blobs.max_blob_bytes = 800_000;
    })
    .await;
    let (c, me) = login(&relay, &key(4)).await;
    assert_eq!(
        code(c.create_blob(&me, 800_001, 0).await),
        ErrorCode::BlobTooLarge
    );
    let (a, _) = c.create_blob(&me, 800_000, 0).await.unwrap();
    assert_eq!(
        code(c.create_blob(&me, 200_001, 0).await),
        ErrorCode::QuotaExceeded
    );
    // Exactly up to the quota is fine; then the count limit bites.
    c.create_blob(&me, 199_999, 0).await.unwrap();
    c.create_blob(&me, 1, 0).await.unwrap();
    assert_eq!(
        code(c.create_blob(&me, 1, 0).await),
        ErrorCode::QuotaExceeded
    );
    // Another mailbox has its own quota; a mailbox not authenticated here has none.
    let (other_c, other) = login(&relay, &key(5)).await;
    other_c.create_blob(&other, 800_000, 0).await.unwrap();
    assert_eq!(
        code(c.create_blob(&other, 1, 0).await),
        ErrorCode::Unauthenticated
    );
    // More bytes than the blob's length are refused; the valid prefix stays.
    let too_much = vec![1u8; 800_001];
    assert_eq!(
        code(c.upload_blob(&a, 0, &too_much[..]).await),
        ErrorCode::BlobTooLarge
    );
    let s = c.blob_status(&a).await.unwrap();
    assert!(!s.complete);
    // Unknown and malformed ids.
    assert_eq!(code(c.blob_status(&[0u8; 32]).await), ErrorCode::NotFound);
    assert_eq!(
        code(c.download_blob(&[0u8; 32], 0, Vec::new()).await),
        ErrorCode::NotFound
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn ttl_edges_and_expired_blobs_leave_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(1_000_000);
    let relay = start_in(dir.path(), |c| {
        c.clock = clock.clone();
        c.blobs.max_ttl = Duration::from_secs(3600);
        c.blobs.mailbox_quota_bytes = 100_000;
    })
    .await;
    let (c, me) = login(&relay, &key(6)).await;
    let (id, expires) = c.create_blob(&me, 70_000, 60).await.unwrap();
    assert_eq!(expires, 1_000_000 + 60_000);
    let (_, capped) = c.create_blob(&me, 10, 10 * 3600).await.unwrap();
    assert_eq!(capped, 1_000_000 + 3_600_000, "TTL capped at the maximum");
    let (_, default) = c.create_blob(&me, 10, 0).await.unwrap();
    assert_eq!(
        default,
        1_000_000 + 3_600_000,
        "the default TTL (7 days) capped at the maximum too"
    );
    let blob = data(70_000, 1);
    assert!(c.upload_blob(&id, 0, &blob[..]).await.unwrap().complete);
    clock.set(expires - 1);
    let mut out = Vec::new();
    c.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(out == blob);
    // The quota still counts it.
    assert_eq!(
        code(c.create_blob(&me, 30_000, 0).await),
        ErrorCode::QuotaExceeded
    );
    clock.set(expires);
    assert_eq!(
        code(c.download_blob(&id, 0, Vec::new()).await),
        ErrorCode::BlobExpired
    );
    assert_eq!(code(c.blob_status(&id).await), ErrorCode::NotFound);
    // Its bytes no longer count, and its files are gone.
    c.create_blob(&me, 30_000, 0).await.unwrap();
    let name = hex::encode(id);
    assert!(
        read_tree(dir.path())
            .iter()
            .all(|(p, _)| !p.to_string_lossy().contains(&name)),
        "expired blob files remain"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn expiry_reported_when_touched_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(5_000_000);
    let relay = start_in(dir.path(), |c| c.clock = clock.clone()).await;
    let (c, me) = login(&relay, &key(7)).await;
    let (id, expires) = c.create_blob(&me, 100, 1).await.unwrap();
    clock.set(expires);
    // The first touch after the deadline says why; afterwards the blob is gone.
    assert_eq!(code(c.blob_status(&id).await), ErrorCode::BlobExpired);
    assert_eq!(code(c.blob_status(&id).await), ErrorCode::NotFound);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_canary_in_an_encrypted_file_never_reaches_the_disk_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let (c, me) = login(&relay, &key(8)).await;
    let canary = b"CANARY-attachment-7f3a9c-plaintext";
    let mut plain = data(300_000, 3);
    plain[123_456..123_456 + canary.len()].copy_from_slice(canary);
    let sealed = toy_encrypt(&[0x5a; 32], 1, &plain);
    assert!(!contains(&sealed, canary));
    let (id, _) = c.create_blob(&me, sealed.len() as u64, 0).await.unwrap();
    assert!(c.upload_blob(&id, 0, &sealed[..]).await.unwrap().complete);
    relay.shutdown().await.unwrap();
    let tree = read_tree(dir.path());
    for (p, bytes) in &tree {
        assert!(!contains(bytes, canary), "canary in {}", p.display());
    }
    // The blob is a file of its own in the data folder, byte for byte the ciphertext.
    let file = dir
        .path()
        .join("blobs")
        .join(format!("{}.blob", hex::encode(id)));
    assert_eq!(std::fs::read(file).unwrap(), sealed);
}

#[tokio::test]
async fn blobs_count_toward_the_relay_storage_cap_and_expiry_gives_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(2_000_000);
    let relay = start_in(dir.path(), |c| {
        c.clock = clock.clone();
        c.max_storage_bytes = Some(100_000);
        c.storage_reserve_bytes = Some(0);
    })
    .await;
    let (c, me) = login(&relay, &key(9)).await;
    let (first, expires) = c.create_blob(&me, 70_000, 60).await.unwrap();
    // 70 000 + 40 000 would pass the cap: refused, clearly, and nothing reserved.
    let e = c.create_blob(&me, 40_000, 0).await.unwrap_err();
    assert_eq!(e.relay_code(), Some(ErrorCode::RelayFull), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("blob not created") && msg.contains("100000"),
        "{msg}"
    );
    // Exactly up to the cap is fine (so the refused create reserved nothing); then full.
    let (second, _) = c.create_blob(&me, 30_000, 3600).await.unwrap();
    assert_eq!(code(c.create_blob(&me, 1, 0).await), ErrorCode::RelayFull);
    // Envelopes share the cap with blobs.
    let id = hush_relay_client::EnvelopeId::new(vec![1]).unwrap();
    assert_eq!(
        code(c.send(&me, &id, vec![0; 10]).await),
        ErrorCode::RelayFull
    );
    // The first blob expires: its 70 000 bytes are free again.
    clock.set(expires);
    tokio::time::sleep(Duration::from_millis(150)).await;
    c.create_blob(&me, 40_000, 0).await.unwrap();
    assert_eq!(
        code(c.create_blob(&me, 30_001, 0).await),
        ErrorCode::RelayFull
    );
    assert_eq!(code(c.blob_status(&first).await), ErrorCode::NotFound);
    assert!(c.blob_status(&second).await.is_ok());
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_sweep_deletes_expired_blobs_without_any_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(3_000_000);
    let relay = start_in(dir.path(), |c| {
        c.clock = clock.clone();
        c.blobs.sweep_interval = Duration::from_millis(50);
    })
    .await;
    let (c, me) = login(&relay, &key(10)).await;
    let (id, expires) = c.create_blob(&me, 70_000, 60).await.unwrap();
    let (partial, _) = c.create_blob(&me, 70_000, 60).await.unwrap();
    assert!(
        c.upload_blob(&id, 0, &data(70_000, 2)[..])
            .await
            .unwrap()
            .complete
    );
    let part = c
        .upload_blob(&partial, 0, &data(1000, 3)[..])
        .await
        .unwrap();
    assert!(!part.complete);
    c.close().await;
    let files = |name: &str| {
        std::fs::read_dir(dir.path().join("blobs"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with(name))
            .count()
    };
    let (a, b) = (hex::encode(id), hex::encode(partial));
    assert_eq!((files(&a), files(&b)), (2, 2), "data and metadata of each");
    // Nothing happens before the deadline, however many sweeps run.
    clock.set(expires - 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!((files(&a), files(&b)), (2, 2));
    // No request after this point: only the periodic sweep can delete them.
    clock.set(expires);
    let mut gone = false;
    for _ in 0..200 {
        if files(&a) == 0 && files(&b) == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "expired blobs still on disk");
    relay.shutdown().await.unwrap();
}
