//! Several real `hush-relay` processes on one PostgreSQL database: live push across nodes
//! (with its latency measured), one-time prekeys handed out once across nodes, one commit
//! per epoch across nodes, and a node that loses its database sessions catching up.
//!
//! Needs `HUSH_TEST_POSTGRES` (see `tests/common/pg.rs`); each test has its own database.

mod common;
#[path = "common/pg.rs"]
mod pg;

use common::key;
use hush_relay_client::{Client, EnvelopeId, GroupId, RelayUrl};
use hush_relay_client::{GroupMessageKind, OneTimePrekey, SignedPrekey};
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

fn id(n: u64) -> EnvelopeId {
    EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap()
}

/// A relay process; killed when dropped.
struct Node {
    child: Child,
    url: RelayUrl,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `hush-relay --storage URL` as node `name` and waits (bounded) for its listen line.
fn node(db: &pg::TestDb, name: &str) -> Node {
    node_with(name, |c, _| {
        c.arg("--storage")
            .arg(db.url_as(name))
            .args(["--storage-pool-size", "4"]);
    })
}

/// Starts the binary with `setup` adding the storage setting (given the node's temp folder).
fn node_with(name: &str, setup: impl FnOnce(&mut Command, &std::path::Path)) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("relay.log")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data"))
        .args(["--log", "hush_relay=info"]);
    setup(&mut cmd, dir.path());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            panic!("{name} printed no listen line in 30 s");
        }
    };
    let url = match line.trim().strip_prefix("hush-relay listening on ") {
        Some(u) => u.parse().expect("a hush:// URL"),
        None => {
            let _ = child.kill();
            let log = std::fs::read_to_string(dir.path().join("relay.log")).unwrap_or_default();
            panic!("{name} did not start: {line:?}\n{log}");
        }
    };
    Node {
        child,
        url,
        _dir: dir,
    }
}

async fn connect(n: &Node) -> Client {
    Client::connect(&n.url).await.expect("client connects")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_sent_via_one_node_is_pushed_by_another_under_50ms() {
    let Some(db) = pg::TestDb::create("mn_push").await else {
        return;
    };
    let (n1, n2) = (node(&db, "node1"), node(&db, "node2"));
    within(120, async {
        let owner = connect(&n2).await;
        let addr = owner.authenticate(&key(1)).await.unwrap();
        let sender = connect(&n1).await;
        sender.send(&addr, &id(0), b"before".to_vec()).await.unwrap();
        let mut sub = owner.subscribe(&addr, 0).await.unwrap();
        let backlog = sub.next().await.unwrap().unwrap();
        assert_eq!(backlog.envelopes.len(), 1);
        // Warm up both nodes' pools and statement caches.
        for n in 1..=5u64 {
            sender.send(&addr, &id(n), b"warm".to_vec()).await.unwrap();
            let mut got = 0;
            while got < 1 {
                got += sub.next().await.unwrap().unwrap().envelopes.len();
            }
        }
        let mut lat = Vec::new();
        for n in 100..140u64 {
            let body = format!("live-{n}").into_bytes();
            let t0 = Instant::now();
            sender.send(&addr, &id(n), body.clone()).await.unwrap();
            let b = sub.next().await.unwrap().expect("subscription open");
            lat.push(t0.elapsed());
            assert_eq!(b.envelopes.len(), 1);
            assert_eq!(b.envelopes[0].ciphertext, body);
        }
        lat.sort();
        let median = lat[lat.len() / 2];
        let p90 = lat[lat.len() * 9 / 10];
        eprintln!(
            "cross-node push (send on node 1 -> push on node 2), {} samples: median {:?}, p90 {:?}, max {:?}",
            lat.len(),
            median,
            p90,
            lat[lat.len() - 1]
        );
        assert!(
            median < Duration::from_millis(50),
            "median cross-node push latency {median:?}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prekeys_are_handed_out_once_across_nodes() {
    let Some(db) = pg::TestDb::create("mn_prekeys").await else {
        return;
    };
    let nodes = [node(&db, "node1"), node(&db, "node2"), node(&db, "node3")];
    within(120, async {
        let owner = connect(&nodes[0]).await;
        let addr = owner.authenticate(&key(2)).await.unwrap();
        let keys = (0..30u64)
            .map(|i| OneTimePrekey {
                id: i,
                blob: format!("otpk-{i}").into_bytes(),
            })
            .collect();
        let spk = SignedPrekey {
            id: 1,
            blob: b"spk".to_vec(),
        };
        owner.upload_prekeys(&addr, Some(spk), keys).await.unwrap();
        let mut clients = Vec::new();
        for n in &nodes {
            for _ in 0..2 {
                clients.push(Arc::new(connect(n).await));
            }
        }
        let mut tasks = Vec::new();
        for i in 0..90 {
            let c = clients[i % clients.len()].clone();
            tasks.push(tokio::spawn(
                async move { c.fetch_prekey_bundle(&addr).await },
            ));
        }
        let mut ids = HashSet::new();
        let mut without = 0;
        for t in tasks {
            let b = t.await.unwrap().unwrap();
            match b.one_time_prekey {
                Some(k) => assert!(ids.insert(k.id), "prekey {} handed out twice", k.id),
                None => without += 1,
            }
        }
        assert_eq!((ids.len(), without), (30, 60));
        assert_eq!(
            owner.directory_stock(&addr).await.unwrap().one_time_prekeys,
            0
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_commit_per_epoch_across_nodes() {
    let Some(db) = pg::TestDb::create("mn_epochs").await else {
        return;
    };
    let nodes = [node(&db, "node1"), node(&db, "node2"), node(&db, "node3")];
    within(120, async {
        let group = GroupId::new(b"cross-node".to_vec()).unwrap();
        let mut clients = Vec::new();
        for n in &nodes {
            clients.push(Arc::new(connect(n).await));
        }
        // A member listening on node 3 sees every accepted commit, whichever node took it.
        let watcher = connect(&nodes[2]).await;
        let mut live = watcher.group_subscribe(&group, 0).await.unwrap();
        assert!(live.next().await.unwrap().unwrap().entries.is_empty());
        let mut winners = Vec::new();
        for epoch in 0..6u64 {
            let mut tasks = Vec::new();
            for (i, c) in clients.iter().enumerate() {
                let c = c.clone();
                let g = group.clone();
                tasks.push(tokio::spawn(async move {
                    let body = format!("commit-{epoch}-{i}").into_bytes();
                    (
                        body.clone(),
                        c.group_append(&g, epoch, GroupMessageKind::Commit, body, vec![])
                            .await,
                    )
                }));
            }
            let mut won = Vec::new();
            for t in tasks {
                let (body, r) = t.await.unwrap();
                match r {
                    Ok(r) => {
                        assert_eq!(r.current_epoch, epoch + 1);
                        won.push(body);
                    }
                    Err(e) => assert_eq!(e.epoch_conflict(), Some(epoch + 1), "{e}"),
                }
            }
            assert_eq!(won.len(), 1, "epoch {epoch}: exactly one commit wins");
            winners.extend(won);
        }
        let mut seen = Vec::new();
        while seen.len() < winners.len() {
            let page = live.next().await.unwrap().expect("open");
            seen.extend(page.entries.into_iter().map(|e| e.message));
        }
        assert_eq!(seen, winners);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_that_loses_its_database_sessions_recovers_and_misses_nothing() {
    let Some(db) = pg::TestDb::create("mn_loss").await else {
        return;
    };
    let (n1, n2) = (node(&db, "node1"), node(&db, "node2"));
    within(120, async {
        let owner = connect(&n2).await;
        let addr = owner.authenticate(&key(3)).await.unwrap();
        let sender = connect(&n1).await;
        let mut sub = owner.subscribe(&addr, 0).await.unwrap();
        assert!(sub.next().await.unwrap().unwrap().envelopes.is_empty());
        sender.send(&addr, &id(1), b"one".to_vec()).await.unwrap();
        let mut got: Vec<Vec<u8>> = Vec::new();
        while got.is_empty() {
            got.extend(
                sub.next()
                    .await
                    .unwrap()
                    .unwrap()
                    .envelopes
                    .into_iter()
                    .map(|e| e.ciphertext),
            );
        }
        // Cut every database session of node 2 (its pool and its LISTEN connection), then
        // send through node 1 while node 2 is deaf.
        let killed = db.terminate_sessions(Some("node2")).await;
        assert!(
            killed >= 2,
            "node 2 had a pool and a listener session: {killed}"
        );
        for n in 2..=6u64 {
            sender
                .send(&addr, &id(n), format!("during-{n}").into_bytes())
                .await
                .unwrap();
        }
        // Node 2 reconnects, wakes its subscribers, and they catch up from their cursor
        // well before the 30 s safety poll.
        let t0 = Instant::now();
        while got.len() < 6 {
            let b = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("caught up within 10 s")
                .unwrap()
                .expect("subscription survives");
            got.extend(b.envelopes.into_iter().map(|e| e.ciphertext));
        }
        eprintln!("node 2 caught up {:?} after the sends", t0.elapsed());
        let want: Vec<Vec<u8>> = std::iter::once(b"one".to_vec())
            .chain((2..=6).map(|n| format!("during-{n}").into_bytes()))
            .collect();
        assert_eq!(got, want);
        // Live push keeps working, and node 2's own requests too.
        sender.send(&addr, &id(7), b"after".to_vec()).await.unwrap();
        let b = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("pushed")
            .unwrap()
            .unwrap();
        assert_eq!(b.envelopes[0].ciphertext, b"after");
        assert_eq!(owner.fetch(&addr, 0, 100).await.unwrap().envelopes.len(), 7);
        // The sending node losing its sessions is also survived: the send is retried on a
        // fresh connection (and would be answered with a clean error frame if it could not).
        assert!(db.terminate_sessions(Some("node1")).await >= 1);
        sender
            .send(&addr, &id(8), b"resent".to_vec())
            .await
            .unwrap();
        let mut last = Vec::new();
        while last.is_empty() {
            last = tokio::time::timeout(Duration::from_secs(10), sub.next())
                .await
                .expect("pushed")
                .unwrap()
                .unwrap()
                .envelopes;
        }
        assert_eq!(last[0].ciphertext, b"resent");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_gives_clean_errors_not_panics() {
    let Some(db) = pg::TestDb::create("mn_down").await else {
        return;
    };
    let n1 = node(&db, "node1");
    within(120, async {
        let c = connect(&n1).await;
        let addr = c.authenticate(&key(4)).await.unwrap();
        c.send(&addr, &id(1), b"ok".to_vec()).await.unwrap();
        // Make node 1's role unable to connect, then cut its sessions: requests now fail
        // with an error frame, and the node serves again once the database is back.
        let admin = db.admin_client().await;
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS false",
                db.name
            ))
            .await
            .unwrap();
        db.terminate_sessions(Some("node1")).await;
        // STORAGE_UNAVAILABLE with a retry time, and a message that does not promise that
        // nothing was stored (an attempt cut during its commit may have landed).
        let e = c.send(&addr, &id(2), b"down".to_vec()).await.unwrap_err();
        assert_eq!(
            e.relay_code(),
            Some(hush_relay::proto::ErrorCode::StorageUnavailable),
            "{e}"
        );
        assert_eq!(e.retry_after_ms(), Some(500), "{e}");
        assert!(e.to_string().contains("could not be reached"), "{e}");
        assert!(e.to_string().contains("repeat it"), "{e}");
        admin
            .batch_execute(&format!(
                "ALTER DATABASE {} WITH ALLOW_CONNECTIONS true",
                db.name
            ))
            .await
            .unwrap();
        c.send(&addr, &id(2), b"back".to_vec()).await.unwrap();
        assert_eq!(c.fetch(&addr, 0, 10).await.unwrap().envelopes.len(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_setting_comes_from_flag_env_or_config_file() {
    let Some(db) = pg::TestDb::create("mn_settings").await else {
        return;
    };
    // One node configured through the environment, one through the TOML file.
    let url = db.url_as("node-env");
    let by_env = node_with("node-env", |c, _| {
        c.env("HUSH_RELAY_STORAGE", &url);
    });
    let file_url = db.url_as("node-file");
    let by_file = node_with("node-file", |c, dir| {
        let cfg = dir.join("relay.toml");
        std::fs::write(
            &cfg,
            format!("storage = \"{file_url}\"\nstorage_pool_size = 2\n"),
        )
        .unwrap();
        c.arg("--config").arg(cfg);
    });
    within(60, async {
        let a = connect(&by_env).await;
        let addr = a.authenticate(&key(5)).await.unwrap();
        let b = connect(&by_file).await;
        b.send(&addr, &id(1), b"shared".to_vec()).await.unwrap();
        let got = a.fetch(&addr, 0, 10).await.unwrap();
        assert_eq!(got.envelopes.len(), 1, "both nodes use the one database");
        // Both nodes hold sessions named as configured (pool and listener).
        let c = db.client().await;
        let apps: Vec<String> = c
            .query(
                "SELECT DISTINCT application_name FROM pg_stat_activity
                 WHERE datname = $1 AND application_name LIKE 'node-%' ORDER BY 1",
                &[&db.name],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(apps, vec!["node-env".to_string(), "node-file".to_string()]);
    })
    .await;
    // An unknown storage is refused with one line that does not echo the value's secrets.
    let out = Command::new(BIN)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--storage",
            "mysql://user:hunter2@h/db",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown storage"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    // An unreachable database is a clean start-up failure.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .arg("--storage")
        .arg(format!(
            "postgres://postgres@127.0.0.1:{port}/x?connect_timeout=2"
        ))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot open PostgreSQL storage"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
