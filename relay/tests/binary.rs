//! Tests that run the real `hush-relay` binary: crash safety (SIGKILL), graceful SIGTERM,
//! configuration sources.

mod common;

use common::*;
use hush_relay_client::{Client, EnvelopeId, MailboxAddress, RelayUrl, StoredReceipt};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");

/// Starts the binary and waits (bounded) for its `hush-relay listening on URL` line.
fn spawn(cmd: &mut Command) -> (Child, RelayUrl) {
    let mut child = cmd
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
    let line = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            let _ = child.kill();
            panic!("relay printed no listen line in 30 s");
        }
    };
    let url = line
        .trim()
        .strip_prefix("hush-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("listen line carries a hush:// URL");
    (child, url)
}

fn relay_cmd(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--listen", "127.0.0.1:0", "--data"]).arg(dir);
    c
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("relay did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn payload(n: u64) -> Vec<u8> {
    let mut v = format!("envelope-{n}-").into_bytes();
    v.resize(512, (n % 251) as u8);
    v
}

/// Sends a stream of envelopes from 8 concurrent tasks until `stop`, collecting receipts.
fn start_senders(
    client: Arc<Client>,
    addr: MailboxAddress,
    receipts: Arc<Mutex<Vec<StoredReceipt>>>,
    stop: Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..8u64)
        .map(|t| {
            let (client, receipts, stop) = (client.clone(), receipts.clone(), stop.clone());
            tokio::spawn(async move {
                for n in (t..20_000).step_by(8) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let id = EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap();
                    match client.send(&addr, &id, payload(n)).await {
                        Ok(r) => receipts.lock().unwrap().push(r),
                        Err(_) => break,
                    }
                }
            })
        })
        .collect()
}

async fn wait_for_receipts(receipts: &Mutex<Vec<StoredReceipt>>, n: usize) {
    let start = Instant::now();
    while receipts.lock().unwrap().len() < n && start.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        receipts.lock().unwrap().len() >= n,
        "senders made too little progress"
    );
}

/// Restarts the relay on `dir` and checks that every receipted envelope is stored.
async fn assert_all_present(dir: &Path, receipts: &[StoredReceipt], first_url: &RelayUrl) {
    let (mut child, url) = spawn(&mut relay_cmd(dir));
    assert_eq!(url.fingerprint, first_url.fingerprint);
    let alice = key(21);
    let client = Client::connect(&url).await.unwrap();
    let addr = client.authenticate(&alice).await.unwrap();
    let mut stored = std::collections::HashMap::new();
    let mut cursor = 0;
    for _ in 0..10_000 {
        let page = client.fetch(&addr, cursor, 1000).await.unwrap();
        if page.envelopes.is_empty() {
            break;
        }
        cursor = page.next_cursor;
        for e in page.envelopes {
            stored.insert(e.envelope_id.clone(), e.ciphertext);
        }
    }
    for r in receipts {
        r.verify(client.relay_public_key()).unwrap();
        let n = u64::from_be_bytes(r.envelope_id.as_bytes().try_into().unwrap());
        let ct = stored
            .get(&r.envelope_id)
            .unwrap_or_else(|| panic!("envelope {n} had a stored receipt but is gone"));
        assert_eq!(ct, &payload(n));
    }
    client.close().await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_sends_loses_no_receipted_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn(&mut relay_cmd(dir.path()));
    let client = Arc::new(Client::connect(&url).await.unwrap());
    let addr = client.authenticate(&key(21)).await.unwrap();
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_senders(client.clone(), addr, receipts.clone(), stop.clone());
    wait_for_receipts(&receipts, 300).await;

    child.kill().unwrap(); // SIGKILL, mid-stream
    let _ = child.wait();
    stop.store(true, Ordering::Relaxed);
    client.connection().close(0u32.into(), b"relay killed");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    let receipts = receipts.lock().unwrap().clone();
    assert!(receipts.len() >= 300);
    eprintln!(
        "{} envelopes had stored receipts when the relay was killed",
        receipts.len()
    );
    assert_all_present(dir.path(), &receipts, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_in_flight_sends_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = spawn(&mut relay_cmd(dir.path()));
    let client = Arc::new(Client::connect(&url).await.unwrap());
    let addr = client.authenticate(&key(21)).await.unwrap();
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_senders(client.clone(), addr, receipts.clone(), stop.clone());
    wait_for_receipts(&receipts, 100).await;

    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(
        status.success(),
        "relay exited with {status:?} after SIGTERM"
    );
    stop.store(true, Ordering::Relaxed);
    client.connection().close(0u32.into(), b"relay stopped");
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    let receipts = receipts.lock().unwrap().clone();
    assert_all_present(dir.path(), &receipts, &url).await;
}

/// SIGUSR1 writes an online backup while sends go on; a relay started on a copy of that
/// backup folder has the same address and every envelope receipted before the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_backup_under_load_restores_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut child, url) = spawn(&mut relay_cmd(&data));
    let client = Arc::new(Client::connect(&url).await.unwrap());
    let addr = client.authenticate(&key(21)).await.unwrap();
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = start_senders(client.clone(), addr, receipts.clone(), stop.clone());
    wait_for_receipts(&receipts, 200).await;

    let before: Vec<StoredReceipt> = receipts.lock().unwrap().clone();
    let st = Command::new("kill")
        .args(["-USR1", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let backups = data.join("backups");
    let start = Instant::now();
    let backup = loop {
        let done = std::fs::read_dir(&backups).ok().and_then(|mut d| {
            d.find_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("hush.redb").exists())
        });
        if let Some(p) = done {
            break p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no backup within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Sends went on during the backup; let some more land after it.
    let after_signal = receipts.lock().unwrap().len();
    wait_for_receipts(&receipts, after_signal + 50).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(10), t)
            .await
            .unwrap()
            .unwrap();
    }
    client.close().await;
    let _ = child.kill();
    let _ = child.wait();

    // Restore: the backup folder is a whole data folder.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    for f in std::fs::read_dir(&backup).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, restored.join(f.file_name().unwrap())).unwrap();
    }
    assert!(restored.join("receipt-key.bin").exists());
    assert_all_present(&restored, &before, &url).await;
}

#[test]
fn config_file_and_environment_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data_from_file = dir.path().join("from-file");
    let data_from_env = dir.path().join("from-env");
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata = {:?}\nttl_seconds = 60\nlog_format = \"json\"\n",
            data_from_file.display().to_string()
        ),
    )
    .unwrap();
    let (mut child, _) = spawn(Command::new(BIN).arg("--config").arg(&cfg));
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        data_from_file.join("hush.redb").exists(),
        "data folder from the config file"
    );

    // The environment overrides the file.
    let (mut child, _) = spawn(
        Command::new(BIN)
            .arg("--config")
            .arg(&cfg)
            .env("HUSH_RELAY_DATA", &data_from_env),
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        data_from_env.join("hush.redb").exists(),
        "data folder from the environment"
    );

    // A bad config is a one-line error and a non-zero exit.
    std::fs::write(&cfg, "no_such_setting = 1\n").unwrap();
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("hush-relay: invalid config file"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
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
async fn prometheus_metrics_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (mut child, url) = spawn(
        relay_cmd(dir.path())
            .arg("--metrics")
            .arg(metrics_addr.to_string()),
    );
    let client = Client::connect(&url).await.unwrap();
    let addr = client.authenticate(&key(30)).await.unwrap();
    let id = EnvelopeId::new(vec![1]).unwrap();
    client.send(&addr, &id, vec![0; 512]).await.unwrap();
    client.ack(&addr, &[0]).await.unwrap();
    let _ = client.fetch(&addr, 0, 0).await;
    let mut body = String::new();
    for _ in 0..100 {
        if let Some(b) = http_get(metrics_addr, "/metrics")
            && b.contains("hush_relay_envelopes_delivered_total")
        {
            body = b;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    for name in [
        "hush_relay_connections_total",
        "hush_relay_connections_active",
        "hush_relay_envelopes_stored_total 1",
        "hush_relay_envelope_bytes_stored_total 512",
        "hush_relay_envelopes_delivered_total 1",
        "hush_relay_request_duration_seconds_bucket",
        "request=\"send\"",
        "hush_relay_commit_batch_size",
    ] {
        assert!(body.contains(name), "metrics lack {name}:\n{body}");
    }
}
