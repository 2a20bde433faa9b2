//! PostgreSQL for tests: one throwaway database per test on the server named by
//! `HUSH_TEST_POSTGRES` (`scripts/pg-test-cluster` starts one and sets it).
//!
//! Without that variable the PostgreSQL tests fail when `CI` is set (CI must run them) and
//! are skipped otherwise, with a message on standard error that the test harness does not
//! capture (so `cargo test` shows it even though the test counts as passed).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The environment variable naming the test server.
pub const ENV: &str = "HUSH_TEST_POSTGRES";

/// A database created for one test, dropped (with its connections) when this is dropped.
pub struct TestDb {
    admin_url: String,
    /// The database name.
    pub name: String,
    /// URL of the database.
    pub url: String,
}

/// The admin URL, or `None` (after a loud message) when PostgreSQL tests are skipped.
/// Panics when `CI` is set and the variable is not.
pub fn admin_url(test: &str) -> Option<String> {
    match std::env::var(ENV) {
        Ok(u) if !u.trim().is_empty() => {
            let u = u.trim().to_owned();
            let host_ok = ["@127.0.0.1:", "@127.0.0.1/", "@localhost:", "@localhost/"]
                .iter()
                .any(|h| u.contains(h));
            assert!(
                host_ok,
                "{ENV} must point at 127.0.0.1 (got a different host)"
            );
            Some(u)
        }
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{ENV} is not set but CI is: the PostgreSQL tests must run in CI \
                     (run them through scripts/pg-test-cluster, as scripts/test does)"
                );
            }
            skipped(&format!(
                "SKIPPED PostgreSQL test `{test}`: {ENV} is not set. \
                 Run `scripts/test` with PostgreSQL installed, or \
                 `scripts/pg-test-cluster cargo test -p hush-relay`"
            ));
            None
        }
    }
}

/// Says loudly that a test is skipped, on the process's standard error itself: the test
/// harness captures `eprintln!` of a passing test, which would hide the message.
fn skipped(message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "\n!!!!!!!! {message} !!!!!!!!\n");
}

/// The environment variable naming the PEM CA file of the test server's TLS certificate
/// (`scripts/pg-test-cluster` makes one and sets it).
pub const TLS_CA_ENV: &str = "HUSH_TEST_POSTGRES_TLS_CA";

/// The CA file of the test server's certificate, or `None` (after a loud message) when the TLS
/// tests are skipped. Panics when `CI` is set and the variable is not.
pub fn tls_ca(test: &str) -> Option<std::path::PathBuf> {
    match std::env::var(TLS_CA_ENV) {
        Ok(p) if !p.trim().is_empty() => Some(std::path::PathBuf::from(p.trim())),
        _ => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{TLS_CA_ENV} is not set but CI is: the PostgreSQL TLS tests must run in CI \
                     (scripts/pg-test-cluster makes the certificates and sets it)"
                );
            }
            skipped(&format!(
                "SKIPPED PostgreSQL TLS test `{test}`: {TLS_CA_ENV} is not set. \
                 Run it through `scripts/pg-test-cluster`"
            ));
            None
        }
    }
}

/// `url` with its database name replaced by `db`.
fn with_db(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let root = match base.rsplit_once('/') {
        Some((r, _))
            if r.contains("://") && r.split("://").nth(1).is_some_and(|h| !h.is_empty()) =>
        {
            r
        }
        _ => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestDb {
    /// Creates a fresh database for `test`; `None` when PostgreSQL tests are skipped.
    pub async fn create(test: &str) -> Option<TestDb> {
        let admin_url = admin_url(test)?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tag: String = test
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(30)
            .collect::<String>()
            .to_ascii_lowercase();
        let name = format!("hush_t_{tag}_{}_{n}", std::process::id());
        let client = connect(&admin_url).await;
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop old test database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = with_db(&admin_url, &name);
        Some(TestDb {
            admin_url,
            name,
            url,
        })
    }

    /// This database's URL with an `application_name`, so a test can single out one node's
    /// sessions.
    pub fn url_as(&self, application_name: &str) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}application_name={application_name}", self.url)
    }

    /// Terminates every session on this database whose application name is `app` (every
    /// session but the caller's when `None`). Returns how many were terminated.
    pub async fn terminate_sessions(&self, app: Option<&str>) -> i64 {
        let client = connect(&self.admin_url).await;
        let row = client
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()
                   AND ($2::text IS NULL OR application_name = $2)",
                &[&self.name, &app],
            )
            .await
            .expect("terminate sessions");
        row.get(0)
    }

    /// A connection to the server's admin database (not this one).
    pub async fn admin_client(&self) -> tokio_postgres::Client {
        connect(&self.admin_url).await
    }

    /// A plain connection to this database, for direct checks.
    pub async fn client(&self) -> tokio_postgres::Client {
        connect(&self.url).await
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        // Runs on its own thread and runtime: Drop may run inside (or outside) a runtime.
        let t = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(Ok((client, conn))) = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio_postgres::connect(&admin, tokio_postgres::NoTls),
                )
                .await
                else {
                    return;
                };
                tokio::spawn(conn);
                let _ = tokio::time::timeout(
                    Duration::from_secs(20),
                    client.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")),
                )
                .await;
            });
        });
        let _ = t.join();
    }
}

/// Connects (bounded in time) and drives the connection in the background.
pub async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_postgres::connect(url, tokio_postgres::NoTls),
    )
    .await
    .expect("PostgreSQL answers within 10 s")
    .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}
