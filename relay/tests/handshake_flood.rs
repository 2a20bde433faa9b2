//! A flood of QUIC Initial packets that never complete a handshake, sent from many source
//! ports as a sender forging its source addresses would, must neither lock real clients out
//! nor leave the relay holding the memory of the half-open connections
//! (spec/relay-protocol.md §8, "Handshakes").
//!
//! Runs the real `hush-relay` binary so that its resident memory can be read from
//! `/proc/PID/status`.

mod common;

use common::key;
use hush_relay_client::{Client, EnvelopeId, Fingerprint, MailboxAddress, RelayUrl, tls};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");
/// Initial packets in the flood.
const FLOOD: usize = 10_000;
/// Initial packets in the warm-up flood, before the memory baseline.
const WARM_UP: usize = 1_000;
/// Source ports they come from.
const SOCKETS: usize = 200;
/// The relay's handshake timeout in this test, seconds.
const HANDSHAKE_TIMEOUT_S: u64 = 2;

/// Kills the relay when the test ends, whatever happens.
struct RelayProc(Child);

impl Drop for RelayProc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary and waits (bounded) for its listen line.
fn spawn(cmd: &mut Command) -> (RelayProc, RelayUrl) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let child = RelayProc(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("relay prints its listen line within 30 s");
    let url = line
        .trim()
        .strip_prefix("hush-relay listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("listen line carries a hush:// URL");
    (child, url)
}

/// Resident set of a process, KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("relay runs");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The value of an unlabelled metric on the relay's Prometheus endpoint.
fn metric(addr: SocketAddr, name: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        if n == name {
            v.trim().parse().ok()
        } else {
            None
        }
    })
}

/// `n` genuine client Initial packets for `relay`, each of another connection (its own
/// connection ids and TLS ClientHello), built with quinn-proto without sending them.
fn initials(relay: SocketAddr, fingerprint: Fingerprint, n: usize) -> Vec<Vec<u8>> {
    let crypto = Arc::new(tls::client_crypto(fingerprint).expect("client TLS config"));
    let config = quinn::ClientConfig::new(crypto);
    let mut out = Vec::with_capacity(n);
    let now = Instant::now();
    while out.len() < n {
        // A fresh endpoint now and then, so that its connection table stays small.
        let mut endpoint = quinn_proto::Endpoint::new(
            Arc::new(quinn::EndpointConfig::default()),
            None,
            false,
            None,
        );
        for _ in 0..1000.min(n - out.len()) {
            let (_, mut conn) = endpoint
                .connect(now, config.clone(), relay, "hush-relay")
                .expect("connect");
            let mut buf = Vec::with_capacity(1500);
            let t = conn
                .poll_transmit(now, 1, &mut buf)
                .expect("a new connection sends its Initial");
            buf.truncate(t.size);
            out.push(buf);
        }
    }
    out
}

/// Sends every packet once, round robin over `SOCKETS` sockets on 127.0.0.1, paced (about
/// 20,000 packets per second) so that most reach the relay rather than overflow its socket
/// buffer. Signals `quarter_out` once a quarter is out.
async fn flood(
    relay: SocketAddr,
    packets: Vec<Vec<u8>>,
    quarter_out: tokio::sync::oneshot::Sender<()>,
) {
    let sockets: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.set_nonblocking(true).expect("non-blocking");
            s
        })
        .collect();
    let mut quarter_out = Some(quarter_out);
    for (i, p) in packets.iter().enumerate() {
        // A full send buffer drops the packet, as the network would.
        let _ = sockets[i % SOCKETS].send_to(p, relay);
        if i % 40 == 39 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if i == packets.len() / 4
            && let Some(h) = quarter_out.take()
        {
            let _ = h.send(());
        }
    }
}

/// Waits (bounded) until no connection is half-open; false if some still are.
async fn wait_half_open_zero(metrics_addr: SocketAddr) -> bool {
    let deadline = Instant::now() + Duration::from_secs(HANDSHAKE_TIMEOUT_S + 13);
    while Instant::now() < deadline {
        if metric(metrics_addr, "hush_relay_connections_half_open") == Some(0.0) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_initials_neither_locks_clients_out_nor_keeps_memory() {
    let dir = tempfile::tempdir().unwrap();
    let metrics_addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (relay, url) = spawn(
        Command::new(BIN)
            .args(["--listen", "127.0.0.1:0", "--data"])
            .arg(dir.path())
            .args(["--max-connections", "1000", "--handshake-timeout-seconds"])
            .arg(HANDSHAKE_TIMEOUT_S.to_string())
            .arg("--metrics")
            .arg(metrics_addr.to_string()),
    );
    let pid = relay.0.id();
    let relay_addr: SocketAddr = format!("{}:{}", url.host, url.port).parse().unwrap();
    let to = MailboxAddress::from_public_key(&key(7).verifying_key());

    let fpr = url.fingerprint;
    let mut packets =
        tokio::task::spawn_blocking(move || initials(relay_addr, fpr, WARM_UP + FLOOD))
            .await
            .unwrap();
    let flood_packets = packets.split_off(WARM_UP);
    assert_eq!(flood_packets.len(), FLOOD);

    // Warm up: a connection and a SEND, and a small flood whose half-open connections time
    // out, bring the relay's allocator and tables to the size that serving and a flood of
    // any length need. The baseline is taken after that: what the big flood must not grow
    // is memory that scales with the number of Initials.
    let c = Client::connect(&url).await.expect("client connects");
    c.send(&to, &EnvelopeId::new(vec![0]).unwrap(), vec![0xAB; 512])
        .await
        .expect("warm-up SEND");
    c.close().await;
    let (tx, _rx) = tokio::sync::oneshot::channel();
    flood(relay_addr, packets, tx).await;
    // (Checked after the big flood.)
    let _ = wait_half_open_zero(metrics_addr).await;
    let baseline = rss_kib(pid);

    let (tx, rx) = tokio::sync::oneshot::channel();
    let flooding = tokio::spawn(flood(relay_addr, flood_packets, tx));
    rx.await.expect("flood under way");

    // A real client, in the middle of the flood, connects and stores an envelope.
    let started = Instant::now();
    let sent = tokio::time::timeout(Duration::from_secs(2), async {
        let c = Client::connect(&url).await?;
        let r = c
            .send(&to, &EnvelopeId::new(vec![1]).unwrap(), vec![0xCD; 512])
            .await;
        c.close().await;
        r
    })
    .await;
    match sent {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("the client was refused during the flood: {e}"),
        Err(_) => panic!("the client's SEND did not complete within 2 s during the flood"),
    }
    eprintln!("SEND during the flood took {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(30), flooding)
        .await
        .expect("flood ends")
        .unwrap();

    let retries = metric(metrics_addr, "hush_relay_retries_total").unwrap_or(0.0);
    assert!(retries > 0.0, "the flood made the relay send Retries");

    // Half-open connections are dropped after the handshake timeout and their state freed.
    let deadline = Instant::now() + Duration::from_secs(HANDSHAKE_TIMEOUT_S + 13);
    let (mut half_open, mut rss) = (f64::NAN, u64::MAX);
    while Instant::now() < deadline {
        half_open = metric(metrics_addr, "hush_relay_connections_half_open").unwrap_or(f64::NAN);
        rss = rss_kib(pid);
        if half_open == 0.0 && rss * 5 <= baseline * 6 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("relay RSS: {baseline} KiB before the flood, {rss} KiB after; {retries} retries");
    assert_eq!(half_open, 0.0, "half-open connections remain");
    assert!(
        rss * 5 <= baseline * 6,
        "relay RSS {rss} KiB is not within 20 % of {baseline} KiB after the flood"
    );

    // And the relay still serves.
    let c = Client::connect(&url)
        .await
        .expect("client connects after the flood");
    c.send(&to, &EnvelopeId::new(vec![2]).unwrap(), vec![0xEF; 512])
        .await
        .expect("SEND after the flood");
    c.close().await;
    drop(relay);
}

#[test]
fn handshake_settings_come_from_the_config_file_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata = {:?}\nmax_connections_per_ip = 5\nmax_half_open = 7\n\
             max_half_open_per_ip = 3\nhalf_open_retry_threshold = 0\nhandshake_timeout_seconds = 4\n",
            dir.path().join("data").display().to_string()
        ),
    )
    .unwrap();
    let (relay, _) = spawn(Command::new(BIN).arg("--config").arg(&cfg));
    drop(relay);
    // The environment overrides the file, and a limit of zero is refused in one line.
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .env("HUSH_RELAY_MAX_HALF_OPEN", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max half-open must be at least 1"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}
