//! TLS to PostgreSQL: `sslmode=require` encrypts, `verify-full` with the right CA connects,
//! a wrong CA or a host name the certificate does not hold is refused, a server without TLS
//! is refused under `require`, and a relay process serves a SEND over a verified TLS
//! connection to its database.
//!
//! Needs `HUSH_TEST_POSTGRES` and `HUSH_TEST_POSTGRES_TLS_CA` (both set by
//! `scripts/pg-test-cluster`, whose server has `ssl=on` with a certificate for 127.0.0.1 and
//! localhost); see `tests/common/pg.rs`.

mod common;
mod opsbin;
#[path = "common/pg.rs"]
mod pg;

use common::key;
use hush_relay::storage::{PgStorage, StorageError};
use hush_relay_client::{Client, EnvelopeId};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

/// The test database and the CA file of the server's certificate; `None` when skipped.
async fn setup(test: &str) -> Option<(pg::TestDb, PathBuf)> {
    let db = pg::TestDb::create(test).await?;
    let ca = pg::tls_ca(test)?;
    Some((db, ca))
}

/// `db`'s URL as application `app`, with `extra` query parameters.
fn url(db: &pg::TestDb, app: &str, extra: &str) -> String {
    format!("{}&{extra}", db.url_as(app))
}

/// Whether every session of application `app` on `db` uses TLS, and how many there are.
async fn tls_sessions(db: &pg::TestDb, app: &str) -> (bool, i64) {
    let client = db.admin_client().await;
    let row = client
        .query_one(
            "SELECT coalesce(bool_and(s.ssl), false), count(*)
             FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
             WHERE a.datname = $1 AND a.application_name = $2",
            &[&db.name, &app],
        )
        .await
        .expect("pg_stat_ssl");
    (row.get(0), row.get(1))
}

/// Connecting fails; the cause, on one line.
async fn refused(url: &str, ca: Option<&Path>) -> String {
    let e = within(30, PgStorage::connect_with_ca(url, 2, ca))
        .await
        .expect_err("connection refused");
    assert!(matches!(e, StorageError::Backend(_)), "{e:?}");
    let text = e.to_string();
    assert!(!text.contains('\n'), "one line: {text}");
    eprintln!("refused as expected: {text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_encrypts_the_connection() {
    let Some((db, _ca)) = setup("tls_require").await else {
        return;
    };
    let s = within(
        30,
        PgStorage::connect(&url(&db, "tls-req", "sslmode=require"), 2),
    )
    .await
    .expect("sslmode=require connects");
    assert_eq!(tls_sessions(&db, "tls-req").await, (true, 1));
    drop(s);
    // The same server still takes plain connections (the rest of the suite uses them).
    let plain = within(
        30,
        PgStorage::connect(&url(&db, "tls-off", "sslmode=disable"), 2),
    )
    .await
    .expect("sslmode=disable connects");
    assert_eq!(tls_sessions(&db, "tls-off").await, (false, 1));
    drop(plain);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_full_with_the_right_ca_connects() {
    let Some((db, ca)) = setup("tls_verify_full").await else {
        return;
    };
    // The CA in the URL.
    let in_url = url(
        &db,
        "tls-full-url",
        &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
    );
    let a = within(30, PgStorage::connect(&in_url, 2))
        .await
        .expect("verify-full with the CA in the URL connects");
    assert_eq!(tls_sessions(&db, "tls-full-url").await, (true, 1));
    // The CA from the relay's setting, no sslmode: verify-full; by the name "localhost".
    let by_name = url(&db, "tls-full-setting", "").replace("@127.0.0.1:", "@localhost:");
    let b = within(30, PgStorage::connect_with_ca(&by_name, 2, Some(&ca)))
        .await
        .expect("verify-full with the CA setting connects");
    assert_eq!(tls_sessions(&db, "tls-full-setting").await, (true, 1));
    // require + a CA file is verify-ca, as in libpq.
    let c = within(
        30,
        PgStorage::connect_with_ca(&url(&db, "tls-req-ca", "sslmode=require"), 2, Some(&ca)),
    )
    .await
    .expect("require with the right CA connects");
    assert_eq!(tls_sessions(&db, "tls-req-ca").await, (true, 1));
    drop((a, b, c));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_ca_is_refused() {
    let Some((db, _ca)) = setup("tls_wrong_ca").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let other =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, other.cert.pem()).unwrap();
    for mode in ["verify-full", "verify-ca", "require"] {
        let e = refused(
            &url(&db, "tls-wrong", &format!("sslmode={mode}")),
            Some(&wrong),
        )
        .await;
        assert!(e.contains("invalid peer certificate"), "{mode}: {e}");
    }
    assert_eq!(tls_sessions(&db, "tls-wrong").await.1, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_name_not_in_the_certificate_is_refused_under_verify_full() {
    let Some((db, ca)) = setup("tls_wrong_host").await else {
        return;
    };
    // The server at 127.0.0.1 reached under a name its certificate does not hold.
    let misnamed = url(&db, "tls-name", "hostaddr=127.0.0.1")
        .replace("@127.0.0.1:", "@db.wrong-name.invalid:");
    let e = refused(&format!("{misnamed}&sslmode=verify-full"), Some(&ca)).await;
    assert!(e.contains("not valid for name"), "{e}");
    assert_eq!(tls_sessions(&db, "tls-name").await.1, 0);
    // verify-ca checks the chain only: the same connection is accepted.
    let s = within(
        30,
        PgStorage::connect_with_ca(&format!("{misnamed}&sslmode=verify-ca"), 2, Some(&ca)),
    )
    .await
    .expect("verify-ca ignores the host name");
    assert_eq!(tls_sessions(&db, "tls-name").await, (true, 1));
    drop(s);
}

/// A server with `ssl=off` on 127.0.0.1: it answers the client's SSLRequest with `N`, as
/// PostgreSQL does then, and closes. Serves at most `n` connections, each bounded in time.
async fn server_without_tls(n: usize) -> (u16, tokio::task::JoinHandle<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut asked = 0;
        for _ in 0..n {
            let Ok(Ok((mut sock, _))) =
                tokio::time::timeout(Duration::from_secs(30), listener.accept()).await
            else {
                break;
            };
            let mut req = [0u8; 8];
            if tokio::time::timeout(Duration::from_secs(5), sock.read_exact(&mut req))
                .await
                .is_ok_and(|r| r.is_ok())
                // Length 8, code 80877103: SSLRequest.
                && req == [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]
            {
                asked += 1;
                let _ = sock.write_all(b"N").await;
            }
        }
        asked
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_tls_is_refused_under_require() {
    // Needs no PostgreSQL: the server side is the few bytes PostgreSQL sends with ssl=off.
    let (port, server) = server_without_tls(1).await;
    let e = refused(
        &format!("postgres://postgres@127.0.0.1:{port}/db?sslmode=require&connect_timeout=5"),
        None,
    )
    .await;
    assert!(e.contains("server does not support TLS"), "{e}");
    assert_eq!(
        within(10, server).await.unwrap(),
        1,
        "the client asked for TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_serves_a_send_over_a_verified_tls_database_connection() {
    let Some((db, ca)) = setup("tls_relay").await else {
        return;
    };
    // verify-full by default: the CA comes from --storage-ca and the URL names no sslmode.
    let storage = db.url_as("tls-node").replace("@127.0.0.1:", "@localhost:");
    let dir = tempfile::tempdir().unwrap();
    let ca = ca.to_str().expect("a UTF-8 path");
    let n = opsbin::start(
        opsbin::relay(&["--listen", "127.0.0.1:0", "--log", "hush_relay=info"])
            .arg("--data")
            .arg(dir.path().join("data"))
            .args([
                "--storage",
                &storage,
                "--storage-pool-size",
                "2",
                "--storage-ca",
                ca,
            ]),
        &dir.path().join("relay.log"),
    );
    within(60, async {
        let owner = Client::connect(&n.url).await.expect("client connects");
        let addr = owner.authenticate(&key(1)).await.unwrap();
        let sender = Client::connect(&n.url).await.expect("client connects");
        let id = EnvelopeId::new(7u64.to_be_bytes().to_vec()).unwrap();
        sender
            .send(&addr, &id, b"over tls".to_vec())
            .await
            .expect("SEND stored in PostgreSQL");
        let mut sub = owner.subscribe(&addr, 0).await.unwrap();
        let batch = sub.next().await.unwrap().expect("the envelope");
        assert_eq!(batch.envelopes.len(), 1);
        assert_eq!(batch.envelopes[0].ciphertext, b"over tls");
    })
    .await;
    let (all_tls, sessions) = tls_sessions(&db, "tls-node").await;
    assert!(sessions >= 1, "the node has database sessions");
    assert!(all_tls, "every session of the node uses TLS");
    // The envelope is in the database the node reached over TLS.
    let stored: i64 = db
        .client()
        .await
        .query_one("SELECT count(*) FROM hush_envelopes", &[])
        .await
        .expect("count envelopes")
        .get(0);
    assert_eq!(stored, 1);
}
