//! The metrics listener (`--metrics ADDR`): `/metrics`, `/healthz`, `/readyz`, in-process
//! (readiness before, during and after the relay's life) and through the binary (a scrape of
//! a running relay: health, readiness, a `# HELP` for every `# TYPE`, build info).

mod common;
mod opsbin;

use common::*;
use hush_relay::ops_http::{self, Readiness};
use hush_relay_client::{Client, EnvelopeId};
use opsbin::*;
use std::time::{Duration, Instant};

/// GETs `path` until `want(status, body)` holds (at most 10 s); the last answer.
fn poll(addr: std::net::SocketAddr, path: &str, want: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let start = Instant::now();
    loop {
        let got = http_get(addr, path);
        if let Some((status, body)) = &got
            && (want(*status, body) || start.elapsed() > Duration::from_secs(10))
        {
            return (*status, body.clone());
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no answer on {path}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http_get(addr, &path).expect("an HTTP answer"))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_relay() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let ready = Readiness::default();
    ops_http::serve(listener, recorder.handle(), ready.clone());

    assert_eq!(get(addr, "/healthz").await, (200, "ok\n".into()));
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not listening yet"), "{body}");

    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    assert!(ready.set(relay.health()).is_ok());
    assert_eq!(get(addr, "/readyz").await, (200, "ready\n".into()));
    relay.shutdown().await.unwrap();
    let (status, body) = get(addr, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.starts_with("not ready: shutting down"), "{body}");
    assert_eq!(
        get(addr, "/healthz").await.0,
        200,
        "alive while the process is"
    );

    assert_eq!(get(addr, "/nothing").await.0, 404);
    assert_eq!(get(addr, "/metrics?x=1").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_relay_is_healthy_ready_and_describes_its_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = free_tcp_addr();
    let data = dir.path().join("data");
    let relay = start(
        relay(&[
            "--listen",
            "127.0.0.1:0",
            "--metrics",
            &metrics.to_string(),
            "--data",
        ])
        .arg(&data),
        &dir.path().join("stderr"),
    );
    let client = Client::connect(&relay.url).await.unwrap();
    let addr = client.authenticate(&key(40)).await.unwrap();
    client
        .send(&addr, &EnvelopeId::new(vec![1]).unwrap(), vec![0; 100])
        .await
        .unwrap();
    client.ack(&addr, &[0]).await.unwrap();

    let addr = metrics;
    let ((healthz, _), (readyz, ready_body)) = tokio::task::spawn_blocking(move || {
        (
            poll(addr, "/healthz", |s, _| s == 200),
            poll(addr, "/readyz", |s, _| s == 200),
        )
    })
    .await
    .unwrap();
    assert_eq!(healthz, 200);
    assert_eq!(readyz, 200, "{ready_body}");

    let (status, body) = tokio::task::spawn_blocking(move || {
        poll(addr, "/metrics", |s, b| {
            s == 200 && b.contains("hush_relay_envelopes_delivered_total")
        })
    })
    .await
    .unwrap();
    assert_eq!(status, 200);
    let types: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .collect();
    assert!(types.len() >= 8, "{body}");
    for t in &types {
        let name = t.split(' ').next().unwrap();
        assert!(
            body.lines()
                .any(|l| l.starts_with(&format!("# HELP {name} "))),
            "no HELP for {name}:\n{body}"
        );
    }
    assert!(
        body.contains(&format!(
            "hush_relay_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{body}"
    );
    assert!(
        types.contains(&"hush_relay_commit_batch_size histogram"),
        "{body}"
    );
    assert!(
        types.contains(&"hush_relay_request_duration_seconds histogram"),
        "{body}"
    );
    assert!(
        body.contains("hush_relay_commit_batch_size_bucket{le=\"1\"}"),
        "{body}"
    );
    client.close().await;

    let (post, head) = tokio::task::spawn_blocking(move || {
        (
            http(addr, "POST", "/metrics"),
            http(addr, "HEAD", "/healthz"),
        )
    })
    .await
    .unwrap();
    assert_eq!(post.map(|(s, _)| s), Some(405));
    assert_eq!(head, Some((200, String::new())), "HEAD: no body");
}
