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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_limits_from_the_config_file_environment_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        "blob_quota_count = 2\nblob_max_ttl_seconds = 60\nblob_sweep_interval_seconds = 1\n",
    )
    .unwrap();
    let metrics_addr = opsbin::free_tcp_addr();
    let relay = opsbin::start(
        opsbin::relay(&["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&cfg)
            .args(["--blob-quota-bytes", "8000"])
            .args(["--storage-usage-interval-seconds", "1", "--metrics"])
            .arg(metrics_addr.to_string())
            .env("HUSH_RELAY_MAX_BLOB_BYTES", "5000")
            .env("HUSH_RELAY_BLOB_DEFAULT_TTL_SECONDS", "30"),
        &dir.path().join("stderr.log"),
    );
    let client = tokio::time::timeout(Duration::from_secs(10), Client::connect(&relay.url))
        .await
        .expect("connect in time")
        .unwrap();
    let me = client.authenticate(&key(41)).await.unwrap();
    let code = |r: Result<_, hush_relay_client::ClientError>| r.unwrap_err().relay_code();
    assert_eq!(
        code(client.create_blob(&me, 5001, 0).await),
        Some(ErrorCode::BlobTooLarge)
    );
    let now = hush_relay::types::now_ms();
    let (_, default_expiry) = client.create_blob(&me, 5000, 0).await.unwrap();
    assert!(
        (now + 29_000..now + 40_000).contains(&default_expiry),
        "default TTL 30 s: {default_expiry} vs {now}"
    );
    assert_eq!(
        code(client.create_blob(&me, 3001, 0).await),
        Some(ErrorCode::QuotaExceeded)
    );
    let (_, capped) = client.create_blob(&me, 3000, 3600).await.unwrap();
    assert!(
        capped < now + 70_000,
        "TTL capped at 60 s: {capped} vs {now}"
    );
    // The byte quota is full; so is the count of two.
    assert_eq!(
        code(client.create_blob(&me, 1, 0).await),
        Some(ErrorCode::QuotaExceeded)
    );
    client.close().await;
    // The reserved lengths show in the gauges within a measurement interval (1 s here).
    let want = [
        "hush_relay_stored_blob_bytes 8000",
        "hush_relay_stored_bytes 8000",
    ];
    let mut body = String::new();
    for _ in 0..100 {
        if let Some((200, b)) = opsbin::http_get(metrics_addr, "/metrics") {
            body = b;
            if want.iter().all(|l| body.contains(l)) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for line in want.iter().chain(&["# HELP hush_relay_stored_blob_bytes "]) {
        assert!(body.contains(line), "metrics lack {line:?}:\n{body}");
    }
}

#[test]
fn help_lists_the_blob_settings() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hush-relay"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--max-blob-bytes",
        "--blob-quota-bytes",
        "--blob-quota-count",
        "--blob-default-ttl-seconds",
        "--blob-max-ttl-seconds",
        "--blob-sweep-interval-seconds",
        "HUSH_RELAY_BLOB_QUOTA_BYTES",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
}

#[test]
fn blob_settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    for (flags, says) in [
        (
            &["--blob-max-ttl-seconds", "0"][..],
            "blob default and maximum TTL must be positive",
        ),
        (
            &["--blob-sweep-interval-seconds", "0"][..],
            "blob sweep interval must be positive",
        ),
    ] {
        let out = opsbin::run(
            opsbin::relay(&["--listen", "127.0.0.1:0", "--data"])
                .arg(dir.path().join("data"))
                .args(flags),
        );
        assert!(!out.status.success(), "{flags:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{flags:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}
