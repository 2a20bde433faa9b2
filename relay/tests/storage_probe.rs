//! `Storage::probe` (the metrics listener's `/readyz`) on both backends: it succeeds on a
//! working store, really writes (embedded) or is refused by a read-only server (PostgreSQL),
//! leaves nothing behind, and fails once the store is closed.

#[path = "common/pg.rs"]
mod pg;

use hush_relay::storage::{
    MailboxQuota, NewEnvelope, PgStorage, RedbStorage, Storage, StorageError,
};
use hush_relay::{EnvelopeId, MailboxAddress};
use redb::{ReadableDatabase, TableDefinition};
use std::time::Duration;

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("test took too long")
}

#[tokio::test]
async fn redb_probe_commits_a_write_and_fails_when_closed() {
    within(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = RedbStorage::open(&path).unwrap();
        let before = hush_relay::types::now_ms();
        let commits = store.commit_stats().commits;
        store.probe().await.expect("probe on a working store");
        assert_eq!(store.commit_stats().commits, commits + 1, "one commit");
        store.close().await.unwrap();
        assert!(matches!(store.probe().await, Err(StorageError::Closed)));
        drop(store);

        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_read().unwrap();
        let t = txn
            .open_table(TableDefinition::<&[u8], &[u8]>::new("health"))
            .unwrap();
        let at = t
            .get(b"probe".as_slice())
            .unwrap()
            .expect("probe time recorded");
        let at = u64::from_be_bytes(at.value().try_into().expect("8 bytes"));
        assert!(at >= before, "recorded at the probe");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_probe_is_refused_by_a_read_only_server_and_leaves_nothing() {
    let Some(db) = pg::TestDb::create("postgres_probe").await else {
        return;
    };
    within(async {
        let store = PgStorage::connect(&db.url, 2).await.unwrap();
        store.probe().await.expect("probe on a working database");

        let (client, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        let row = client
            .query_one(
                "SELECT count(*) FROM hush_schema_version WHERE version < 0",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, i64>(0), 0, "the probe's row is rolled back");

        // Every new session read-only, the pool's sessions gone: the probe must fail.
        client
            .batch_execute(&format!(
                "ALTER DATABASE {} SET default_transaction_read_only = on",
                db.name
            ))
            .await
            .unwrap();
        drop(client);
        db.terminate_sessions(None).await;
        let err = store.probe().await.expect_err("read-only database");
        assert!(err.to_string().contains("read-only"), "{err}");

        store.close().await.unwrap();
        assert!(matches!(store.probe().await, Err(StorageError::Closed)));
    })
    .await;
}

/// A read-only database (a standby, or `default_transaction_read_only`) refuses writes with
/// `Unavailable` (SQLSTATE 25006, spec §5 "Storage failures"), not retried; reads keep
/// working; writes resume once the database takes them again, with no new store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_refuses_writes_as_unavailable_and_resumes() {
    let Some(db) = pg::TestDb::create("postgres_read_only").await else {
        return;
    };
    within(async {
        let store = PgStorage::connect(&db.url, 2).await.unwrap();
        let q = MailboxQuota {
            max_count: 100,
            max_bytes: 1 << 20,
        };
        let env = |n: u8| NewEnvelope {
            mailbox: MailboxAddress([1; 32]),
            envelope_id: EnvelopeId::new(vec![n; 16]).unwrap(),
            ciphertext: vec![n; 100],
            now_ms: 10,
            expires_at_ms: u64::MAX / 4,
            forget_at_ms: u64::MAX / 2,
        };
        store.put_envelope(env(1), q).await.unwrap();
        let admin = db.admin_client().await;
        let set = |on: &str| {
            format!(
                "ALTER DATABASE {} SET default_transaction_read_only = {on}",
                db.name
            )
        };
        admin.batch_execute(&set("on")).await.unwrap();
        db.terminate_sessions(None).await;

        match store.put_envelope(env(2), q).await {
            Err(StorageError::Unavailable {
                reason,
                retry_after_ms,
            }) => {
                assert!(reason.contains("read_only"), "{reason}");
                assert!(retry_after_ms > 0);
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(matches!(
            store.probe().await,
            Err(StorageError::Unavailable { .. })
        ));
        let page = store
            .fetch_envelopes(MailboxAddress([1; 32]), 0, 10, 1 << 20, 20)
            .await
            .expect("reads work on a read-only database");
        assert_eq!(page.len(), 1);

        admin.batch_execute(&set("off")).await.unwrap();
        db.terminate_sessions(None).await;
        store.put_envelope(env(2), q).await.expect("writes resume");
        store.probe().await.unwrap();
        store.close().await.unwrap();
    })
    .await;
}
