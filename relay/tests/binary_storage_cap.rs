//! The real `hush-relay` binary with a storage cap and a directory entry limit from its TOML
//! config file: refusals reach the client, and the storage gauges, the refusal counters and
//! their help texts are served on `/metrics` (spec/relay-protocol.md §5, §6, §10).

mod common;

use common::*;
use hush_relay::proto::ErrorCode;
use hush_relay::{Client, EnvelopeId, RelayUrl};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");

/// Kills the relay however the test ends.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and waits (bounded) for its `hush-relay listening on URL` line.
fn spawn(cmd: &mut Command) -> (Killed, RelayUrl) {
    let mut child = Killed(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts"),
    );
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("relay printed no listen line in 30 s");
    let url = line
        .trim()
        .strip_prefix("hush-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("listen line carries a hush:// URL");
    (child, url)
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_cap_from_the_config_file_with_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        "max_storage_bytes = 1000\nmax_directory_entry_bytes = 100\n",
    )
    .unwrap();
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (_relay, url) = spawn(
        Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&cfg)
            .args(["--storage-usage-interval-seconds", "1", "--metrics"])
            .arg(metrics_addr.to_string()),
    );
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
        if let Some(b) = http_get(metrics_addr, "/metrics")
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
