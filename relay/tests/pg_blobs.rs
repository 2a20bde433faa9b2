//! The blob store of PostgreSQL nodes (spec/relay-protocol.md §11.5): two relay nodes on one
//! database. An upload broken on one node resumes on the other and the blob downloads from
//! either, byte for byte; a newer upload supersedes an older one across nodes; the mailbox
//! quota holds under concurrent creates through both; expiry deletes rows and chunks without
//! traffic; a 20 MiB blob travels in chunk rows of at most 1 MiB.
//!
//! Needs a PostgreSQL server (`scripts/pg-test-cluster`); skipped loudly without one outside
//! CI, fatal in CI.

#[path = "common/blob_io.rs"]
mod blob_io;
mod common;
#[path = "common/pg.rs"]
mod pg;

use blob_io::{Stalling, wait_durable};
use common::*;
use hush_relay::clock::Clock;
use hush_relay::proto::ErrorCode;
use hush_relay::server::{Relay, RelayConfig, RelayHandle};
use hush_relay::storage::PgStorage;
use std::sync::Arc;
use std::time::Duration;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// A relay node on `db` with its own data folder.
async fn node(
    db: &pg::TestDb,
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut RelayConfig),
) -> RelayHandle {
    let storage = Arc::new(PgStorage::connect(&db.url, 4).await.expect("storage"));
    let mut c = config(dir);
    c.storage_reserve_bytes = Some(0);
    tweak(&mut c);
    Relay::start_with_storage(c, storage)
        .await
        .expect("relay starts")
}

async fn count(db: &pg::TestDb, sql: &str) -> i64 {
    db.client().await.query_one(sql, &[]).await.unwrap().get(0)
}

/// No blob bytes in a node's data folder: they are in the database.
fn no_blob_files(dir: &std::path::Path) {
    let blobs = dir.join("blobs");
    let n = std::fs::read_dir(&blobs).map_or(0, |d| d.count());
    assert_eq!(n, 0, "files in {}", blobs.display());
}

fn refusal<T: std::fmt::Debug>(r: Result<T, hush_relay_client::ClientError>) -> ErrorCode {
    match r {
        Err(e) => e
            .relay_code()
            .unwrap_or_else(|| panic!("not a refusal: {e}")),
        Ok(v) => panic!("expected a refusal, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_upload_broken_on_one_node_resumes_on_another_and_supersedes_it() {
    let Some(db) = pg::TestDb::create("pg_blob_resume").await else {
        return;
    };
    let (da, dbdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&db, da.path(), |_| {}).await;
    let b = node(&db, dbdir.path(), |_| {}).await;
    let blob = data(5 * 1024 * 1024 + 333, 5);
    let (ca, me) = login(&a, &key(1)).await;
    let (id, _) = ca.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    // On node A: 2.5 MiB arrive, then the uploader stalls with its stream open.
    let first = blob[..5 * 512 * 1024].to_vec();
    let ca = Arc::new(ca);
    let stalled = {
        let c = ca.clone();
        tokio::spawn(async move { c.upload_blob(&id, 0, Stalling(first, 0)).await })
    };
    // Node B sees the committed chunks.
    let (cb, _) = login(&b, &key(1)).await;
    let d = wait_durable(&cb, &id, 2 * 1024 * 1024).await;
    assert_eq!(
        d,
        2 * 1024 * 1024,
        "durable at a chunk boundary while streaming"
    );
    assert_eq!(
        refusal(cb.download_blob(&id, 0, Vec::new()).await),
        ErrorCode::BlobIncomplete
    );
    // Past the durable offset is refused.
    assert_eq!(
        refusal(cb.upload_blob(&id, d + 1, &blob[..0]).await),
        ErrorCode::BlobOffset
    );
    // Resume on node B while A's upload still hangs: B's upload takes over and completes.
    let done = cb
        .upload_blob(&id, d, &blob[d as usize..])
        .await
        .expect("resumed upload");
    assert!(
        done.complete && done.durable_offset == blob.len() as u64,
        "{done:?}"
    );
    // A's uploader goes away now: the bytes it still held are refused, not written.
    ca.close().await;
    stalled.abort();
    let _ = stalled.await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Downloaded from node A (and B), byte for byte.
    let (ca2, _) = login(&a, &key(1)).await;
    let mut out = Vec::new();
    assert_eq!(
        ca2.download_blob(&id, 0, &mut out).await.unwrap(),
        blob.len() as u64
    );
    assert!(out == blob, "download from A differs");
    let mut tail = Vec::new();
    let mid = 3 * 1024 * 1024 + 7;
    cb.download_blob(&id, mid as u64, &mut tail).await.unwrap();
    assert!(tail == blob[mid..], "tail from B differs");
    no_blob_files(da.path());
    no_blob_files(dbdir.path());
    assert_eq!(
        count(
            &db,
            "SELECT coalesce(sum(octet_length(data)), 0)::bigint FROM hush_blob_chunks"
        )
        .await,
        blob.len() as i64
    );
    ca2.close().await;
    cb.close().await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_resume_from_an_earlier_offset_cuts_the_stored_bytes_back() {
    let Some(db) = pg::TestDb::create("pg_blob_cut").await else {
        return;
    };
    let (da, dbdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&db, da.path(), |_| {}).await;
    let b = node(&db, dbdir.path(), |_| {}).await;
    let blob = data(3 * 1024 * 1024 + 10, 6);
    let (ca, me) = login(&a, &key(2)).await;
    let (id, _) = ca.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    // 1.5 MiB in two rows (a full chunk, then the rest at the stream's end).
    let part = ca
        .upload_blob(&id, 0, &blob[..3 * 512 * 1024])
        .await
        .unwrap();
    assert_eq!(part.durable_offset, 3 * 512 * 1024);
    // Another writer had different bytes from 1 MiB + 5 on: it resumes there, through B.
    let (cb, _) = login(&b, &key(2)).await;
    let at = 1024 * 1024 + 5;
    let done = cb.upload_blob(&id, at as u64, &blob[at..]).await.unwrap();
    assert!(done.complete);
    let mut out = Vec::new();
    ca.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(out == blob);
    ca.close().await;
    cb.close().await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_quota_holds_under_concurrent_creates_through_two_nodes() {
    let Some(db) = pg::TestDb::create("pg_blob_quota").await else {
        return;
    };
    let (da, dbdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let quota = |c: &mut RelayConfig| {
        c.blobs.mailbox_quota_bytes = 1_000_000;
        c.blobs.mailbox_max_blobs = 5;
        c.blobs.max_blob_bytes = 800_000;
    };
    let a = node(&db, da.path(), quota).await;
    let b = node(&db, dbdir.path(), quota).await;
    let (ca, me) = login(&a, &key(3)).await;
    let (cb, _) = login(&b, &key(3)).await;
    assert_eq!(
        refusal(ca.create_blob(&me, 800_001, 0).await),
        ErrorCode::BlobTooLarge
    );
    // Ten creates of 300 000 bytes at once, through both nodes: exactly three fit.
    let (ca, cb) = (Arc::new(ca), Arc::new(cb));
    let mut tasks = Vec::new();
    for i in 0..10 {
        let c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        tasks.push(tokio::spawn(
            async move { c.create_blob(&me, 300_000, 0).await },
        ));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.relay_code(), Some(ErrorCode::QuotaExceeded), "{e}"),
        }
    }
    assert_eq!(ok, 3, "the quota let {ok} creates of 300 000 bytes through");
    // Up to the quota exactly; then the count limit bites.
    cb.create_blob(&me, 100_000, 0).await.unwrap();
    assert_eq!(
        refusal(ca.create_blob(&me, 1, 0).await),
        ErrorCode::QuotaExceeded
    );
    // Another mailbox has its own quota.
    let (cc, other) = login(&b, &key(4)).await;
    cc.create_blob(&other, 800_000, 0).await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_expired_blobs_leave_the_database_without_traffic_and_free_the_cap() {
    let Some(db) = pg::TestDb::create("pg_blob_expiry").await else {
        return;
    };
    let (da, dbdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let clock = Clock::pinned(9_000_000);
    let a = node(&db, da.path(), |c| {
        c.clock = clock.clone();
        c.max_storage_bytes = Some(3 * 1024 * 1024);
        c.storage_usage_interval = Duration::from_millis(100);
    })
    .await;
    // Only node B sweeps often.
    let b = node(&db, dbdir.path(), |c| {
        c.clock = clock.clone();
        c.blobs.sweep_interval = Duration::from_millis(50);
    })
    .await;
    let (ca, me) = login(&a, &key(5)).await;
    let blob = data(2 * 1024 * 1024 + 1, 8);
    let (id, expires) = ca.create_blob(&me, blob.len() as u64, 60).await.unwrap();
    assert!(ca.upload_blob(&id, 0, &blob[..]).await.unwrap().complete);
    // The cap (node A) counts the blob: another 2 MiB do not fit.
    assert_eq!(
        refusal(ca.create_blob(&me, 2 * 1024 * 1024, 0).await),
        ErrorCode::RelayFull
    );
    assert_eq!(count(&db, "SELECT count(*) FROM hush_blob_chunks").await, 3);
    clock.set(expires - 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(count(&db, "SELECT count(*) FROM hush_blobs").await, 1);
    // From the deadline on, node B's sweep deletes it, with no request anywhere.
    clock.set(expires);
    let mut gone = false;
    for _ in 0..200 {
        if count(&db, "SELECT count(*) FROM hush_blobs").await == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(gone, "expired blob still in the database");
    assert_eq!(count(&db, "SELECT count(*) FROM hush_blob_chunks").await, 0);
    assert_eq!(refusal(ca.blob_status(&id).await), ErrorCode::NotFound);
    // Node A's cap sees the space B's sweep freed at its next measurement (every 100 ms
    // here; another node's frees are not announced, spec §5).
    let mut created = false;
    for _ in 0..100 {
        match ca.create_blob(&me, 2 * 1024 * 1024, 0).await {
            Ok(_) => {
                created = true;
                break;
            }
            Err(e) => assert_eq!(e.relay_code(), Some(ErrorCode::RelayFull), "{e}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(created, "the freed space never came back to node A's cap");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_a_20_mib_blob_streams_through_chunk_rows() {
    let Some(db) = pg::TestDb::create("pg_blob_large").await else {
        return;
    };
    let (da, dbdir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = node(&db, da.path(), |_| {}).await;
    let b = node(&db, dbdir.path(), |_| {}).await;
    let blob = data(20 * 1024 * 1024, 11);
    let (ca, me) = login(&a, &key(6)).await;
    let (id, _) = ca.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    assert!(ca.upload_blob(&id, 0, &blob[..]).await.unwrap().complete);
    // Twenty rows of 1 MiB: the relay never held more than one chunk of it.
    assert_eq!(
        count(&db, "SELECT count(*) FROM hush_blob_chunks").await,
        20
    );
    assert_eq!(
        count(
            &db,
            "SELECT max(octet_length(data))::bigint FROM hush_blob_chunks"
        )
        .await,
        1024 * 1024
    );
    let (cb, _) = login(&b, &key(6)).await;
    let mut out = Vec::with_capacity(blob.len());
    cb.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(out == blob, "20 MiB download from B differs");
    no_blob_files(da.path());
    no_blob_files(dbdir.path());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pg_an_upload_survives_its_database_sessions_being_killed() {
    let Some(db) = pg::TestDb::create("pg_blob_sessions").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let storage = Arc::new(
        PgStorage::connect(&db.url_as("blob-node"), 4)
            .await
            .expect("storage"),
    );
    let relay = Relay::start_with_storage(config(dir.path()), storage)
        .await
        .expect("relay starts");
    let blob = data(16 * 1024 * 1024 + 99, 12);
    let (c, me) = login(&relay, &key(7)).await;
    let (id, _) = c.create_blob(&me, blob.len() as u64, 0).await.unwrap();
    let c = Arc::new(c);
    let up = {
        let (c, blob) = (c.clone(), blob.clone());
        tokio::spawn(async move { c.upload_blob(&id, 0, &blob[..]).await })
    };
    // Kill the node's database sessions three times while the upload runs.
    let mut killed = 0;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        if up.is_finished() {
            break;
        }
        killed += db.terminate_sessions(Some("blob-node")).await;
    }
    assert!(
        killed > 0,
        "no session was killed: the upload finished first"
    );
    let done = up
        .await
        .unwrap()
        .expect("the upload rides over lost sessions");
    assert!(done.complete, "{done:?}");
    let mut out = Vec::new();
    c.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(
        out == blob,
        "content differs after lost sessions ({killed} killed)"
    );
    relay.shutdown().await.unwrap();
}
