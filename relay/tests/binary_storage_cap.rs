//! The real `hush-relay` binary with a storage cap and a directory entry limit from its TOML
//! config file: refusals reach the client, and the storage gauges, the refusal counters and
//! their help texts are served on `/metrics` (spec/relay-protocol.md §5, §6, §10).

mod common;
mod opsbin;

use common::*;
use hush_relay::proto::ErrorCode;
use hush_relay_client::{Client, EnvelopeId};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cap_from_the_config_file_with_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        "max_storage_bytes = 1000\nmax_directory_entry_bytes = 100\n",
    )
    .unwrap();
    let metrics_addr = opsbin::free_tcp_addr();
    let relay = opsbin::start(
        opsbin::relay(&["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&cfg)
            .args(["--storage-usage-interval-seconds", "1", "--metrics"])
            .arg(metrics_addr.to_string()),
        &dir.path().join("stderr.log"),
    );
    let url = relay.url.clone();
    let client = tokio::time::timeout(Duration::from_secs(10), Client::connect(&url))
        .await
        .expect("connect in time")
        .unwrap();
    let addr = client.authenticate(&key(40)).await.unwrap();
    let id = |n: u8| EnvelopeId::new(vec![n]).unwrap();
    client.send(&addr, &id(1), vec![1; 600]).await.unwrap();
    let e = client.send(&addr, &id(2), vec![2; 600]).await.unwrap_err();
    assert_eq!(e.relay_code(), Some(ErrorCode::RelayFull), "{e}");
    let e = client
        .upload_key_packages(&addr, vec![vec![3; 101]], None)
        .await
        .unwrap_err();
    assert_eq!(
        e.relay_code(),
        Some(ErrorCode::DirectoryEntryTooLarge),
        "{e}"
    );

    // The gauges follow within a measurement interval (1 s here).
    let mut body = String::new();
    for _ in 0..100 {
        if let Some((200, b)) = opsbin::http_get(metrics_addr, "/metrics")
            && b.contains("hush_relay_stored_bytes 600")
        {
            body = b;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.close().await;
    for line in [
        "hush_relay_stored_bytes 600",
        "hush_relay_stored_envelopes 1",
        "hush_relay_stored_envelope_bytes 600",
        "hush_relay_directory_entries 0",
        "hush_relay_max_storage_bytes 1000",
        "hush_relay_relay_full_total 1",
        "hush_relay_directory_entries_too_large_total 1",
        "# HELP hush_relay_stored_bytes ",
        "# HELP hush_relay_relay_full_total ",
    ] {
        assert!(body.contains(line), "metrics lack {line:?}:\n{body}");
    }
}
