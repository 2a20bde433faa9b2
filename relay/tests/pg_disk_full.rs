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
mod filling;
#[path = "common/pg.rs"]
mod pg;
mod tmpfs;

use common::*;
use filling::*;
use hush_relay::proto::ErrorCode;
use hush_relay::server::Relay;
use hush_relay::storage::PgStorage;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;
use tmpfs::Tmpfs;

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
        let mut sends = Sends::default();
        let first_refusal = sends.fill(&sender, &addr).await;
        assert_eq!(
            first_refusal.relay_code(),
            Some(ErrorCode::StorageUnavailable),
            "{first_refusal}"
        );
        let msg = first_refusal.to_string();
        assert!(msg.contains("nothing was stored"), "{msg}");
        assert!(msg.contains("disk_full"), "the server's own refusal: {msg}");
        assert!(first_refusal.retry_after_ms().unwrap() > 0);
        assert!(
            sends.acked.len() > 10,
            "only {} envelopes fitted",
            sends.acked.len()
        );

        // While full: sends refused with the same code (or stored, should one fit), not
        // ready, reads and STATUS answer.
        for _ in 0..5 {
            let _ = sends
                .one(&sender, &addr, ErrorCode::StorageUnavailable)
                .await;
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
        let first = *sends.acked.first().unwrap();
        sender
            .status(&id(first))
            .await
            .expect("STATUS works while full");

        // Free space: writes are taken again, without a restart, and the relay is ready.
        fs.free_ballast();
        sends
            .until_stored(&sender, &addr, ErrorCode::StorageUnavailable)
            .await;
        assert_eq!(relay.health().ready().await, Ok(()));
        // The refused ones, retried, are stored now (once).
        sends.retry_refused(&sender, &addr).await;
        holds_exactly(&owner, &addr, &sends.acked).await;
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
