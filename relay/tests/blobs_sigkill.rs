//! The blob store survives a SIGKILL of the real `hush-relay` binary (spec/relay-protocol.md
//! §11.3, §11.5): during an upload (it resumes from the durable offset the restarted relay
//! reports) and during a download (it resumes at the bytes the client has); the content comes
//! back byte-identical.

#[path = "common/blob_io.rs"]
mod blob_io;
mod common;

use blob_io::{Collect, Stalling, wait_durable};
use common::key;
use hush_relay_client::{Client, RelayUrl};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");
const MIB: usize = 1024 * 1024;

/// Starts the binary on `dir` and waits (bounded) for its listen line.
fn spawn(dir: &Path) -> (Child, RelayUrl) {
    let mut child = Command::new(BIN)
        .args(["--listen", "127.0.0.1:0", "--data"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let Ok(line) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!("relay printed no listen line in 30 s");
    };
    let url = line
        .trim()
        .strip_prefix("hush-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("a hush:// URL");
    (child, url)
}

async fn login(url: &RelayUrl) -> (Client, hush_relay_client::MailboxAddress) {
    let c = Client::connect(url).await.expect("connects");
    let a = c.authenticate(&key(40)).await.expect("authenticates");
    (c, a)
}

fn blob(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 253) as u8 ^ (i >> 16) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_upload_then_resume_from_the_durable_offset() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn(dir.path());
    let data = blob(20 * MIB + 4321);
    let (c, me) = login(&url).await;
    let (id, _) = c.create_blob(&me, data.len() as u64, 0).await.unwrap();
    // 12 MiB go out, then the uploader stalls; the relay syncs every 8 MiB (its default).
    let c = Arc::new(c);
    let task = {
        let (c, first) = (c.clone(), data[..12 * MIB].to_vec());
        tokio::spawn(async move { c.upload_blob(&id, 0, Stalling(first, 0)).await })
    };
    let (observer, _) = login(&url).await;
    wait_durable(&observer, &id, 8 * MIB as u64).await;
    child.kill().unwrap(); // SIGKILL mid-upload
    let _ = child.wait();
    task.abort();
    let _ = task.await;
    c.connection().close(0u32.into(), b"relay killed");
    observer.connection().close(0u32.into(), b"relay killed");

    let (mut child, url) = spawn(dir.path());
    let (c, _) = login(&url).await;
    let s = c.blob_status(&id).await.unwrap();
    assert!(!s.complete);
    assert!(
        s.durable_offset >= 8 * MIB as u64 && s.durable_offset <= 12 * MIB as u64,
        "{s:?}"
    );
    let d = s.durable_offset as usize;
    let done = c.upload_blob(&id, d as u64, &data[d..]).await.unwrap();
    assert!(done.complete);
    let mut out = Vec::new();
    c.download_blob(&id, 0, &mut out).await.unwrap();
    assert!(out == data, "blob differs after resume");
    c.close().await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_download_then_resume_at_the_bytes_held() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn(dir.path());
    let data = blob(6 * MIB + 99);
    let (c, me) = login(&url).await;
    let (id, _) = c.create_blob(&me, data.len() as u64, 0).await.unwrap();
    assert!(c.upload_blob(&id, 0, &data[..]).await.unwrap().complete);
    let got = Arc::new(Mutex::new(Vec::new()));
    let c = Arc::new(c);
    let task = {
        let (c, got) = (c.clone(), got.clone());
        tokio::spawn(async move { c.download_blob(&id, 0, Collect(got, 2 * MIB)).await })
    };
    for _ in 0..500 {
        if got.lock().unwrap().len() >= 2 * MIB {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().unwrap(); // SIGKILL mid-download
    let _ = child.wait();
    task.abort();
    let _ = task.await;
    c.connection().close(0u32.into(), b"relay killed");
    let mut have = got.lock().unwrap().clone();
    assert!(have.len() >= 2 * MIB && have.len() < data.len());

    let (mut child, url) = spawn(dir.path());
    let (c, _) = login(&url).await;
    c.download_blob(&id, have.len() as u64, &mut have)
        .await
        .unwrap();
    assert!(have == data, "blob differs after resumed download");
    c.close().await;
    let _ = child.kill();
    let _ = child.wait();
}
