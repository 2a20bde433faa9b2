//! A full disk under the PostgreSQL backend (issue 23; spec/relay-protocol.md §5 "Storage
//! failures"), for real: the test database lives in a tablespace on a small tmpfs, so the
//! server itself runs out of space (SQLSTATE 53100 `disk_full`) while a sender fills an
//! offline mailbox with 60 KB envelopes. The relay refuses writes with
//! ERROR_CODE_STORAGE_UNAVAILABLE and a retry time, keeps serving reads, reports not ready,
//! takes writes again once space is freed (no restart) and is ready again, and every
//! acknowledged envelope is there exactly once.
//!
//! Needs root (the tmpfs) and a PostgreSQL server on this machine (`scripts/pg-test-cluster`,
//! as `scripts/test` runs it); skipped loudly without either outside CI, fatal in CI.

mod common;
#[path = "common/pg.rs"]
mod pg;
mod tmpfs;

use common::*;
use hush_relay::proto::ErrorCode;
use hush_relay::server::Relay;
use hush_relay::storage::PgStorage;
use hush_relay_client::{Client, EnvelopeId, MailboxAddress};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tmpfs::Tmpfs;

const PAYLOAD: usize = 60_000;
/// More sends than the tablespace can hold (16 MiB less the ballast, at 60 KB each).
const MAX_SENDS: u64 = 400;

fn payload(n: u64) -> Vec<u8> {
    // Pseudo-random bytes: PostgreSQL cannot compress them away.
    toy_encrypt(&[9; 32], n, &[0u8; PAYLOAD])
}

fn id(n: u64) -> EnvelopeId {
    EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap()
}

/// Every envelope of the mailbox: id number → how often it is there, with its bytes checked.
async fn all_envelopes(owner: &Client, addr: &MailboxAddress) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    let mut cursor = 0;
    for _ in 0..1000 {
        let page = owner.fetch(addr, cursor, 50).await.expect("fetch works");
        if page.envelopes.is_empty() {
            return seen;
        }
        for e in &page.envelopes {
            let n = u64::from_be_bytes(e.envelope_id.as_bytes().try_into().unwrap());
            assert_eq!(e.ciphertext, payload(n), "envelope {n} has other bytes");
            *seen.entry(n).or_insert(0) += 1;
        }
        cursor = page.next_cursor;
    }
    panic!("mailbox never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_postgres_tablespace_refuses_writes_then_resumes_without_a_restart() {
    const TEST: &str = "a_full_postgres_tablespace_refuses_writes_then_resumes_without_a_restart";
    let Some(db) = pg::TestDb::create("pg_disk_full").await else {
        return;
    };
    let admin = db.admin_client().await;
    // The server's files belong to the user it runs as: the tablespace must too.
    let data_dir: String = admin
        .query_one("SHOW data_directory", &[])
        .await
        .expect("the test server's data folder (a superuser connection)")
        .get(0);
    let meta = std::fs::metadata(&data_dir).expect("the test server runs on this machine");
    let Some(fs) = Tmpfs::mount_as("16m", TEST, Some((meta.uid(), meta.gid()))) else {
        return;
    };
    let space = format!("{}_space", db.name);
    admin
        .batch_execute(&format!(
            "CREATE TABLESPACE {space} LOCATION '{}'",
            fs.path().display()
        ))
        .await
        .expect("tablespace on the tmpfs");
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} SET TABLESPACE {space}",
            db.name
        ))
        .await
        .expect("database moved onto the tmpfs");
    fs.ballast(6 << 20);

    let storage = Arc::new(PgStorage::connect(&db.url, 4).await.expect("storage"));
    let relay_dir = tempfile::tempdir().unwrap();
    let mut config = config(relay_dir.path());
    config.storage_usage_interval = Duration::from_secs(3600);
    config.storage_reserve_bytes = Some(0);
    let relay = Relay::start_with_storage(config, storage)
        .await
        .expect("relay starts");

    let test = async {
        let (owner, addr) = login(&relay, &key(3)).await;
        let sender = connect(&relay).await;

        // Fill the tablespace.
        let mut acked = BTreeSet::new();
        let mut refused = BTreeSet::new();
        let mut n = 0;
        let first_refusal = loop {
            assert!(
                n < MAX_SENDS,
                "{MAX_SENDS} sends of {PAYLOAD} bytes all fitted"
            );
            match sender.send(&addr, &id(n), payload(n)).await {
                Ok(_) => acked.insert(n),
                Err(e) => break e,
            };
            n += 1;
        };
        refused.insert(n);
        assert_eq!(
            first_refusal.relay_code(),
            Some(ErrorCode::StorageUnavailable),
            "{first_refusal}"
        );
        let msg = first_refusal.to_string();
        assert!(msg.contains("nothing was stored"), "{msg}");
        assert!(msg.contains("disk_full"), "the server's own refusal: {msg}");
        assert!(first_refusal.retry_after_ms().unwrap() > 0);
        assert!(acked.len() > 10, "only {} envelopes fitted", acked.len());

        // While full: sends refused with the same code (or stored, should one fit), reads
        // and STATUS answer.
        for _ in 0..5 {
            n += 1;
            match sender.send(&addr, &id(n), payload(n)).await {
                Ok(_) => {
                    acked.insert(n);
                }
                Err(e) => {
                    assert_eq!(e.relay_code(), Some(ErrorCode::StorageUnavailable), "{e}");
                    refused.insert(n);
                }
            }
        }
        let why = relay
            .health()
            .ready()
            .await
            .expect_err("not ready while writes are refused");
        assert!(why.contains("disk_full"), "{why}");
        let page = owner
            .fetch(&addr, 0, 10)
            .await
            .expect("reads work while full");
        assert_eq!(page.envelopes.len(), 10);
        let first = *acked.first().unwrap();
        sender
            .status(&id(first))
            .await
            .expect("STATUS works while full");

        // Free space: writes are taken again, without a restart.
        fs.free_ballast();
        let resumed = Instant::now();
        let mut back = false;
        while resumed.elapsed() < Duration::from_secs(30) {
            n += 1;
            match sender.send(&addr, &id(n), payload(n)).await {
                Ok(_) => {
                    acked.insert(n);
                    back = true;
                    break;
                }
                Err(e) => {
                    assert_eq!(e.relay_code(), Some(ErrorCode::StorageUnavailable), "{e}");
                    refused.insert(n);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        assert!(back, "writes still refused 30 s after space was freed");
        // Ready again: the store took a write.
        assert_eq!(relay.health().ready().await, Ok(()));
        // The refused ones, retried, are stored now (once).
        for &r in &refused {
            sender
                .send(&addr, &id(r), payload(r))
                .await
                .expect("retry stored");
            acked.insert(r);
        }
        let seen = all_envelopes(&owner, &addr).await;
        assert!(seen.values().all(|&c| c == 1), "duplicates: {seen:?}");
        assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), acked);
        owner.close().await;
        sender.close().await;
    };
    tokio::time::timeout(Duration::from_secs(240), test)
        .await
        .expect("test took too long");
    relay.shutdown().await.unwrap();

    // The database goes before its tablespace, the tablespace before the tmpfs.
    drop(db);
    admin
        .batch_execute(&format!("DROP TABLESPACE IF EXISTS {space}"))
        .await
        .expect("tablespace dropped");
    drop(fs);
}
