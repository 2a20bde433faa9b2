//! Storage trait figures for both backends in one run: the embedded redb store and
//! PostgreSQL (when `HUSH_BENCH_POSTGRES` or `HUSH_TEST_POSTGRES` names a server; the bench
//! creates and drops its own database there).
//!
//! ```sh
//! scripts/pg-test-cluster cargo bench -p hush-relay --bench storage
//! ```
//!
//! Each scenario runs a fixed number of operations, from 1 or N concurrent tasks, and reports
//! operations per second and the per-operation latency (p50, p99). Ciphertexts are 1 KiB.

use hush_relay::storage::*;
use hush_relay::{EnvelopeId, GroupId, MailboxAddress};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PAYLOAD: usize = 1024;
const Q: MailboxQuota = MailboxQuota {
    max_count: 1_000_000,
    max_bytes: 1 << 40,
};

static IDS: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    IDS.fetch_add(1, Ordering::Relaxed)
}

fn env(mailbox: u64, id: u64) -> NewEnvelope {
    let mut a = [0u8; 32];
    a[..8].copy_from_slice(&mailbox.to_be_bytes());
    NewEnvelope {
        mailbox: MailboxAddress(a),
        envelope_id: EnvelopeId::new(id.to_be_bytes().to_vec()).unwrap_or_else(|_| unreachable!()),
        ciphertext: vec![(id % 251) as u8; PAYLOAD],
        now_ms: 1_000,
        expires_at_ms: 1_000_000_000,
        forget_at_ms: 2_000_000_000,
    }
}

fn mailbox(n: u64) -> MailboxAddress {
    let mut a = [0u8; 32];
    a[..8].copy_from_slice(&n.to_be_bytes());
    MailboxAddress(a)
}

/// One result line.
struct Figure {
    ops: usize,
    elapsed: Duration,
    lat: Vec<Duration>,
}

impl Figure {
    fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> Duration {
        let mut l = self.lat.clone();
        l.sort();
        l[((l.len() as f64 - 1.0) * p).round() as usize]
    }
}

/// Runs `ops` operations from `tasks` concurrent tasks; `op(i)` is the i-th operation.
async fn run<F, Fut>(tasks: usize, ops: usize, op: F) -> Figure
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let op = op.clone();
        let next = next.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= ops {
                    break;
                }
                let t = Instant::now();
                op(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut lat = Vec::with_capacity(ops);
    for h in handles {
        lat.extend(h.await.unwrap_or_default());
    }
    Figure {
        ops,
        elapsed: start.elapsed(),
        lat,
    }
}

async fn bench(name: &str, s: Arc<dyn Storage>) -> Vec<(String, Figure)> {
    let mut out = Vec::new();
    // Single writer: the latency of one durable send.
    let st = s.clone();
    out.push((
        "put_envelope, 1 task".to_string(),
        run(1, 300, move |i| {
            let st = st.clone();
            async move {
                st.put_envelope(env(i as u64 % 50, next_id()), Q)
                    .await
                    .expect("put");
            }
        })
        .await,
    ));
    // Many writers: throughput.
    let st = s.clone();
    out.push((
        "put_envelope, 64 tasks".to_string(),
        run(64, 5000, move |i| {
            let st = st.clone();
            async move {
                st.put_envelope(env(1000 + i as u64 % 500, next_id()), Q)
                    .await
                    .expect("put");
            }
        })
        .await,
    ));
    // Reads: a page of up to 20 envelopes (1 KiB each) from mailboxes filled above, with the
    // directory stock, as FETCH and SUBSCRIBE read it.
    let st = s.clone();
    out.push((
        "fetch_page 20 envelopes, 16 tasks".to_string(),
        run(16, 5000, move |i| {
            let st = st.clone();
            async move {
                let page = st
                    .fetch_page(mailbox(1000 + i as u64 % 500), 0, 20, 1 << 20, 2_000)
                    .await
                    .expect("fetch");
                assert!(!page.envelopes.is_empty());
            }
        })
        .await,
    ));
    // Fetch then ack one envelope (the delivery path), 16 mailboxes in parallel.
    let st = s.clone();
    out.push((
        "fetch + ack 1 envelope, 16 tasks".to_string(),
        run(16, 2000, move |i| {
            let st = st.clone();
            async move {
                let m = mailbox(1000 + i as u64 % 500);
                let page = st.fetch_page(m, 0, 1, 1 << 20, 2_000).await.expect("fetch");
                let seqs = page.envelopes.iter().map(|e| e.seq).collect();
                st.ack_envelopes(m, seqs, 3_000).await.expect("ack");
            }
        })
        .await,
    ));
    // One-time prekeys taken concurrently from one mailbox.
    let keys: Vec<OneTimePrekey> = (0..3000u64)
        .map(|id| OneTimePrekey {
            id,
            blob: vec![7; 64],
        })
        .collect();
    for chunk in keys.chunks(1000) {
        s.put_prekeys(
            mailbox(9),
            Some(SignedPrekey {
                id: 1,
                blob: vec![1; 96],
            }),
            chunk.to_vec(),
            10_000,
        )
        .await
        .expect("prekeys");
    }
    let st = s.clone();
    out.push((
        "take_prekey_bundle, 32 tasks".to_string(),
        run(32, 3000, move |_| {
            let st = st.clone();
            async move {
                let b = st.take_prekey_bundle(mailbox(9)).await.expect("take");
                assert!(b.and_then(|b| b.one_time_prekey).is_some());
            }
        })
        .await,
    ));
    // Group commits, one group per task, each task committing epoch after epoch.
    let st = s.clone();
    let epochs: Arc<Vec<AtomicU64>> = Arc::new((0..16).map(|_| AtomicU64::new(0)).collect());
    out.push((
        "append_group commit, 16 groups".to_string(),
        run(16, 2000, move |i| {
            let st = st.clone();
            let epochs = epochs.clone();
            async move {
                let g = i % 16;
                let group = GroupId::new(format!("bench-group-{g}").into_bytes())
                    .unwrap_or_else(|_| unreachable!());
                let e = epochs[g].fetch_add(1, Ordering::Relaxed);
                let r = st
                    .append_group(
                        NewGroupMessage {
                            group,
                            epoch: e,
                            kind: GroupMessageKind::Commit,
                            message: vec![3; PAYLOAD],
                            now_ms: 1_000,
                            expires_at_ms: 1_000_000_000,
                        },
                        vec![],
                        Q,
                    )
                    .await;
                // Two tasks may race for one group's epoch; the loser's conflict is an answer.
                match r {
                    Ok(_) | Err(StorageError::EpochConflict { .. }) => {}
                    Err(e) => panic!("append: {e}"),
                }
            }
        })
        .await,
    ));
    s.close().await.expect("close");
    for (what, f) in &out {
        println!(
            "{name:>10} | {what:<34} | {:>9.0} ops/s | p50 {:>8.2} ms | p99 {:>8.2} ms",
            f.per_sec(),
            f.pct(0.5).as_secs_f64() * 1e3,
            f.pct(0.99).as_secs_f64() * 1e3
        );
    }
    out
}

async fn pg_database(admin_url: &str) -> (tokio_postgres::Client, String, String) {
    let (client, conn) = tokio_postgres::connect(admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    let name = format!("hush_bench_{}", std::process::id());
    for sql in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&sql)
            .await
            .expect("create bench database");
    }
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let root = base.rsplit_once('/').map(|(r, _)| r).unwrap_or(base);
    (client, name.clone(), format!("{root}/{name}{query}"))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        let redb = Arc::new(RedbStorage::open(&dir.path().join("bench.redb")).expect("redb"));
        let r = bench("redb", redb).await;
        let pg_url = std::env::var("HUSH_BENCH_POSTGRES")
            .or_else(|_| std::env::var("HUSH_TEST_POSTGRES"))
            .ok();
        let Some(admin) = pg_url else {
            println!("PostgreSQL skipped: set HUSH_BENCH_POSTGRES (or run through scripts/pg-test-cluster)");
            return;
        };
        let (client, name, url) = pg_database(&admin).await;
        let pg = Arc::new(PgStorage::connect(&url, 32).await.expect("PostgreSQL storage"));
        let p = bench("postgres", pg).await;
        println!();
        println!("{:<34} | redb/postgres throughput | postgres/redb p50", "scenario");
        for ((what, fr), (_, fp)) in r.iter().zip(p.iter()) {
            println!(
                "{what:<34} | {:>24.2} | {:>17.2}",
                fr.per_sec() / fp.per_sec(),
                fp.pct(0.5).as_secs_f64() / fr.pct(0.5).as_secs_f64()
            );
        }
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    });
}
