//! `hush-bench --blob-bytes N`: one large blob through the relay's blob store
//! (spec/relay-protocol.md §11) against a plain quinn stream of the same size, on the same
//! machine, in the same run.
//!
//! The plain stream's server is this binary again (`--quinn-sink DIR`, a process of its own
//! as the relay is), with quinn's default transport settings (or, `--plain-relay-acks`, the
//! ACK frequency the relay and its client ask of each other) and the relay's TLS setup. It
//! takes an upload either into nothing (the network floor) or into a file with an fsync every
//! 8 MiB and at the end (the relay's durability, with none of its protocol), and serves the
//! file back as a download. Each round runs every transfer once (plain and Hush take turns
//! going first); the report gives the medians, the ratios of the medians, the CPU time and
//! peak resident memory of the server (relay or sink) and of this client during each transfer
//! (the kernel's peak is reset before each one), and one interrupted upload: the connection is
//! cut halfway, and the time to reconnect, authenticate and learn the durable offset is the
//! time to resume.
//!
//! Every download is checked byte for byte (SHA-256) against the source, outside the timing.

use crate::relay_proc::{Sample, sample};
use anyhow::{Context, Result, bail};
use hush_relay_client::wire::quic::key_fingerprint;
use hush_relay_client::{Client, ClientOptions, RelayUrl};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

/// What the sink prints first, followed by its `hush://` address.
const SINK_READY: &str = "hush-bench quinn sink on ";
/// Bytes moved per read or write, as the relay client and the relay move them.
const BUF: usize = 64 * 1024;
/// The sink's fsync interval: the relay's default (`BlobConfig::sync_every_bytes`).
const SYNC_EVERY: u64 = 8 << 20;
/// Largest blob the tool moves: the relay's default largest blob.
pub(crate) const MAX_BLOB_BYTES: u64 = (1 << 31) + (1 << 26);
/// Most rounds.
pub(crate) const MAX_ROUNDS: usize = 20;

const OP_DISCARD: u8 = b'D';
const OP_FILE: u8 = b'F';
const OP_GET: u8 = b'G';

/// The plain quinn server: `hush-bench --quinn-sink DIR`. Prints its address, serves until
/// its standard input closes (its parent is gone).
pub(crate) async fn sink_main(dir: PathBuf, relay_acks: bool) -> Result<()> {
    let ck = rcgen::generate_simple_self_signed(vec!["hush-relay".to_string()])
        .context("generating the sink's certificate")?;
    let cert = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    tls.alpn_protocols = vec![hush_relay_client::wire::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(tls)
        .map_err(|e| anyhow::anyhow!("sink TLS: {e}"))?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(plain_transport(relay_acks));
    let endpoint = quinn::Endpoint::server(config, "127.0.0.1:0".parse()?)?;
    let fpr = key_fingerprint(&cert).map_err(|e| anyhow::anyhow!("sink certificate: {e:?}"))?;
    println!("{SINK_READY}hush://{fpr}@{}", endpoint.local_addr()?);
    tokio::spawn(async {
        let mut b = [0u8; 1];
        let _ = tokio::io::stdin().read(&mut b).await;
        std::process::exit(0);
    });
    let dir = Arc::new(dir);
    while let Some(incoming) = endpoint.accept().await {
        let dir = dir.clone();
        tokio::spawn(async move {
            let Ok(conn) = incoming.await else { return };
            while let Ok((send, recv)) = conn.accept_bi().await {
                let dir = dir.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve(&dir, send, recv).await {
                        eprintln!("hush-bench quinn sink: {e:#}");
                    }
                });
            }
        });
    }
    Ok(())
}

/// The plain stream's transport: quinn's defaults, or with `relay_acks` the ACK frequency the
/// relay and its client ask of each other (one ACK per five packets,
/// `hush_wire::quic::ack_frequency`), which suits many small messages more than bulk data.
fn plain_transport(relay_acks: bool) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    if relay_acks {
        t.ack_frequency_config(Some(hush_relay_client::wire::quic::ack_frequency()));
    }
    Arc::new(t)
}

/// One sink stream: an op byte, then the op.
async fn serve(dir: &Path, mut send: quinn::SendStream, mut recv: quinn::RecvStream) -> Result<()> {
    let mut op = [0u8; 1];
    recv.read_exact(&mut op).await?;
    let path = dir.join("sink.bin");
    let mut buf = vec![0u8; BUF];
    match op[0] {
        OP_DISCARD | OP_FILE => {
            let mut file = if op[0] == OP_FILE {
                Some(tokio::fs::File::create(&path).await?)
            } else {
                None
            };
            let (mut total, mut unsynced) = (0u64, 0u64);
            while let Some(n) = recv.read(&mut buf).await? {
                if let Some(f) = file.as_mut() {
                    f.write_all(&buf[..n]).await?;
                    unsynced += n as u64;
                    if unsynced >= SYNC_EVERY {
                        f.sync_data().await?;
                        unsynced = 0;
                    }
                }
                total += n as u64;
            }
            if let Some(f) = file.as_mut() {
                f.sync_data().await?;
            }
            send.write_all(&total.to_be_bytes()).await?;
            send.finish()?;
        }
        OP_GET => {
            let mut file = tokio::fs::File::open(&path).await?;
            let len = file.metadata().await?.len();
            send.write_all(&len.to_be_bytes()).await?;
            copy_out(&mut file, &mut send).await?;
        }
        other => bail!("unknown op {other}"),
    }
    // Keep the stream until the peer has read everything.
    let _ = send.stopped().await;
    Ok(())
}

/// Sends `file` from its position to its end on `send` in [`BUF`] pieces (as the relay and
/// its client move blob bytes), then finishes the stream.
async fn copy_out(file: &mut tokio::fs::File, send: &mut quinn::SendStream) -> Result<()> {
    let mut buf = vec![0u8; BUF];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        send.write_all(&buf[..n]).await?;
    }
    send.finish()?;
    Ok(())
}

/// The sink process and a connection to it.
struct Sink {
    child: Child,
    _endpoint: quinn::Endpoint,
    conn: quinn::Connection,
}

impl Sink {
    async fn start(dir: &Path, relay_acks: bool) -> Result<Self> {
        let exe = std::env::current_exe().context("finding this program for the sink")?;
        let mut cmd = Command::new(exe);
        cmd.arg("--quinn-sink").arg(dir);
        if relay_acks {
            cmd.arg("--plain-relay-acks");
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting the quinn sink")?;
        let out = child.stdout.take().context("sink stdout")?;
        let mut line = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            BufReader::new(out).read_line(&mut line),
        )
        .await
        .context("the quinn sink did not start in 20 s")??;
        let url: RelayUrl = line
            .trim()
            .strip_prefix(SINK_READY)
            .context("the quinn sink printed no address")?
            .parse()
            .map_err(|e| anyhow::anyhow!("sink address: {e}"))?;
        let crypto = hush_relay_client::tls::client_crypto(url.fingerprint)?;
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse()?)?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(plain_transport(relay_acks));
        endpoint.set_default_client_config(config);
        let addr = format!("{}:{}", url.host, url.port).parse()?;
        let conn = endpoint.connect(addr, "hush-relay")?.await?;
        Ok(Sink {
            child,
            _endpoint: endpoint,
            conn,
        })
    }

    fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// A plain upload of `src` (op [`OP_DISCARD`] or [`OP_FILE`]); returns the seconds.
    async fn upload(&self, op: u8, src: &Path, len: u64) -> Result<f64> {
        let mut file = tokio::fs::File::open(src).await?;
        let start = Instant::now();
        let (mut send, mut recv) = self.conn.open_bi().await?;
        send.write_all(&[op]).await?;
        copy_out(&mut file, &mut send).await?;
        let mut got = [0u8; 8];
        recv.read_exact(&mut got).await?;
        let secs = start.elapsed().as_secs_f64();
        if u64::from_be_bytes(got) != len {
            bail!(
                "the sink received {} of {len} bytes",
                u64::from_be_bytes(got)
            );
        }
        Ok(secs)
    }

    /// A plain download of the sink's file into `dst`; returns the seconds.
    async fn download(&self, dst: &Path, len: u64) -> Result<f64> {
        let mut out = tokio::fs::File::create(dst).await?;
        let start = Instant::now();
        let (mut send, mut recv) = self.conn.open_bi().await?;
        send.write_all(&[OP_GET]).await?;
        send.finish()?;
        let mut head = [0u8; 8];
        recv.read_exact(&mut head).await?;
        if u64::from_be_bytes(head) != len {
            bail!(
                "the sink holds {} bytes, not {len}",
                u64::from_be_bytes(head)
            );
        }
        let mut buf = vec![0u8; BUF];
        while let Some(n) = recv.read(&mut buf).await? {
            out.write_all(&buf[..n]).await?;
        }
        out.flush().await?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// Writes `len` random bytes to `path`; returns their SHA-256.
async fn make_source(path: &Path, len: u64) -> Result<[u8; 32]> {
    let mut f = tokio::fs::File::create(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = (left as usize).min(buf.len());
        getrandom::fill(&mut buf[..n]).map_err(|e| anyhow::anyhow!("random source: {e}"))?;
        h.update(&buf[..n]);
        f.write_all(&buf[..n]).await?;
        left -= n as u64;
    }
    f.flush().await?;
    Ok(h.finalize().into())
}

/// Checks that `path` holds exactly the source's bytes.
async fn check_copy(path: &Path, len: u64, digest: &[u8; 32], what: &str) -> Result<()> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        total += n as u64;
    }
    let got: [u8; 32] = h.finalize().into();
    if total != len || &got != digest {
        bail!("{what}: the copy differs from the source ({total} of {len} bytes)");
    }
    Ok(())
}

/// Resets the kernel's peak-RSS mark of `pid` (`/proc/PID/clear_refs`, value 5).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// What one transfer cost the server process (the relay or the plain sink) and this client.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    secs: f64,
    server_cpu_s: Option<f64>,
    client_cpu_s: Option<f64>,
    server_peak_mib: Option<f64>,
    client_peak_mib: Option<f64>,
    /// Both peak marks were reset before the transfer.
    peaks_reset: bool,
}

/// Runs `f` (which returns its own timed seconds) and reads the CPU time and peak RSS of the
/// server and of this process around it.
async fn measure(
    server: Option<u32>,
    f: impl std::future::Future<Output = Result<f64>>,
) -> Result<Usage> {
    let me = std::process::id();
    let peaks_reset = reset_peak(me) & server.is_none_or(reset_peak);
    let before = (server.and_then(|p| sample(p).ok()), sample(me).ok());
    let secs = f.await?;
    let after = (server.and_then(|p| sample(p).ok()), sample(me).ok());
    let cpu = |a: Option<Sample>, b: Option<Sample>| {
        a.zip(b)
            .map(|(a, b)| Sample::cpu_s(b.cpu_ticks.saturating_sub(a.cpu_ticks)))
    };
    let peak = |s: Option<Sample>| s.map(|s| s.hwm_kib as f64 / 1024.0);
    Ok(Usage {
        secs,
        server_cpu_s: cpu(before.0, after.0),
        client_cpu_s: cpu(before.1, after.1),
        server_peak_mib: peak(after.0),
        client_peak_mib: peak(after.1),
        peaks_reset,
    })
}

/// Medians of a series of transfers, as JSON.
fn summary(runs: &[Usage], len: u64) -> serde_json::Value {
    let med = |f: &dyn Fn(&Usage) -> Option<f64>| {
        let mut v: Vec<f64> = runs.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| median(&mut v))
    };
    let max = |f: &dyn Fn(&Usage) -> Option<f64>| runs.iter().filter_map(f).reduce(f64::max);
    let secs = med(&|u| Some(u.secs)).unwrap_or(f64::NAN);
    let gib = len as f64 / (1u64 << 30) as f64;
    json!({
        "secs": secs,
        "mib_s": len as f64 / (1u64 << 20) as f64 / secs,
        "server_cpu_s_per_gib": med(&|u| u.server_cpu_s).map(|c| c / gib),
        "client_cpu_s_per_gib": med(&|u| u.client_cpu_s).map(|c| c / gib),
        "server_peak_rss_mib": max(&|u| u.server_peak_mib),
        "client_peak_rss_mib": max(&|u| u.client_peak_mib),
        "peaks_reset": runs.iter().all(|u| u.peaks_reset),
    })
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

async fn hush_client(
    url: &RelayUrl,
    key_index: u64,
) -> Result<(Client, hush_relay_client::MailboxAddress)> {
    let options = ClientOptions {
        request_timeout: Duration::from_secs(600),
        ..ClientOptions::default()
    };
    let c = Client::connect_with(url, options)
        .await
        .context("connecting to the relay")?;
    let nonce = std::process::id() as u64 ^ 0xb10b;
    let mailbox = c
        .authenticate(&crate::hush::mailbox_key(nonce, key_index))
        .await
        .context("authenticating a mailbox")?;
    Ok((c, mailbox))
}

/// The durable prefix the cut upload waits for before the cut: the relay's default sync
/// interval (`sync_every_bytes`).
const RESUME_PREFIX: u64 = 8 << 20;

/// A reader that gives the first `cut` bytes of a file, tells `reached`, then never ends:
/// an upload that is cut off rather than finished.
struct CutReader {
    inner: tokio::io::Take<tokio::fs::File>,
    reached: Option<tokio::sync::oneshot::Sender<()>>,
}

impl tokio::io::AsyncRead for CutReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(Ok(())) if buf.filled().len() == before => {
                if let Some(tx) = self.reached.take() {
                    let _ = tx.send(());
                }
                std::task::Poll::Pending
            }
            other => other,
        }
    }
}

/// One Hush upload and download of `src` (a fresh mailbox each time: every blob counts
/// toward its uploader's quota); the download lands in `dst`.
async fn hush_round(
    url: &RelayUrl,
    relay_pid: Option<u32>,
    key_index: u64,
    src: &Path,
    dst: &Path,
    len: u64,
) -> Result<(Usage, Usage)> {
    let (client, mailbox) = hush_client(url, key_index).await?;
    let mut id = None;
    let up = measure(relay_pid, async {
        let file = tokio::fs::File::open(src).await?;
        let start = Instant::now();
        let (blob, _) = client.create_blob(&mailbox, len, 3600).await?;
        let info = client.upload_blob(&blob, 0, file).await?;
        let secs = start.elapsed().as_secs_f64();
        if !info.complete {
            bail!("the relay did not report the upload complete: {info:?}");
        }
        id = Some(blob);
        Ok(secs)
    })
    .await?;
    let id = id.context("no blob")?;
    let down = measure(relay_pid, async {
        let out = tokio::fs::File::create(dst).await?;
        let start = Instant::now();
        let got = client.download_blob(&id, 0, out).await?;
        let secs = start.elapsed().as_secs_f64();
        if got != len {
            bail!("the relay's blob is {got} bytes, not {len}");
        }
        Ok(secs)
    })
    .await?;
    client.connection().close(0u32.into(), b"round done");
    Ok((up, down))
}

/// Runs the comparison; returns the report.
pub(crate) async fn run(
    url: &RelayUrl,
    relay_pid: Option<u32>,
    len: u64,
    rounds: usize,
    dir: Option<PathBuf>,
    relay_acks: bool,
) -> Result<serde_json::Value> {
    let scratch = match &dir {
        Some(d) => tempfile::Builder::new()
            .prefix("hush-bench-blob")
            .tempdir_in(d)?,
        None => tempfile::Builder::new()
            .prefix("hush-bench-blob")
            .tempdir()?,
    };
    let src = scratch.path().join("source.bin");
    let dst = scratch.path().join("copy.bin");
    let sink_dir = scratch.path().join("sink");
    std::fs::create_dir_all(&sink_dir)?;
    eprintln!("hush-bench: writing a {len}-byte source file");
    let digest = make_source(&src, len).await?;
    let sink = Sink::start(&sink_dir, relay_acks).await?;

    let (mut discard, mut to_file, mut plain_down) = (vec![], vec![], vec![]);
    let (mut up, mut down) = (vec![], vec![]);
    for round in 0..rounds {
        eprintln!("hush-bench: round {} of {rounds}", round + 1);
        // Plain and Hush take turns going first: each leaves dirty pages that the other's
        // writes may have to wait for.
        for step in [round % 2, 1 - round % 2] {
            if step == 0 {
                discard.push(measure(sink.pid(), sink.upload(OP_DISCARD, &src, len)).await?);
                to_file.push(measure(sink.pid(), sink.upload(OP_FILE, &src, len)).await?);
                plain_down.push(measure(sink.pid(), sink.download(&dst, len)).await?);
                check_copy(&dst, len, &digest, "plain quinn download").await?;
            } else {
                let (u, d) = hush_round(url, relay_pid, round as u64, &src, &dst, len).await?;
                up.push(u);
                down.push(d);
                check_copy(&dst, len, &digest, "Hush download").await?;
            }
        }
    }

    // One interrupted upload.
    eprintln!("hush-bench: an upload cut off halfway, then resumed");
    let cut = len / 2;
    let (client, mailbox) = hush_client(url, rounds as u64).await?;
    let (id, _) = client.create_blob(&mailbox, len, 3600).await?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let reader = CutReader {
        inner: tokio::fs::File::open(&src).await?.take(cut),
        reached: Some(tx),
    };
    let client = Arc::new(client);
    let task = {
        let client = client.clone();
        tokio::spawn(async move { client.upload_blob(&id, 0, reader).await })
    };
    tokio::time::timeout(Duration::from_secs(600), rx)
        .await
        .context("the cut upload did not reach its cut in 600 s")?
        .context("the cut upload stopped early")?;
    // The reader has handed over its last byte, but the relay may still be receiving (and
    // syncing) what is in flight: wait, on the same connection, until it holds a durable
    // prefix (it syncs every 8 MiB by default) or 10 s pass, so the cut leaves the resume
    // something to resume from however loaded the machine is.
    if cut >= RESUME_PREFIX {
        let deadline = Instant::now() + Duration::from_secs(10);
        while client.blob_status(&id).await?.durable_offset < RESUME_PREFIX
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The upload waits on its reader forever: cut the connection and drop the task.
    client.connection().close(0u32.into(), b"cut off");
    task.abort();
    let _ = task.await;
    drop(client);
    let resume_start = Instant::now();
    let (client, _) = hush_client(url, rounds as u64).await?;
    let status = client.blob_status(&id).await?;
    let resume_s = resume_start.elapsed().as_secs_f64();
    let mut file = tokio::fs::File::open(&src).await?;
    file.seek(std::io::SeekFrom::Start(status.durable_offset))
        .await?;
    let rest_start = Instant::now();
    let info = client.upload_blob(&id, status.durable_offset, file).await?;
    let rest_s = rest_start.elapsed().as_secs_f64();
    if !info.complete {
        bail!("the resumed upload did not complete: {info:?}");
    }
    let out = tokio::fs::File::create(&dst).await?;
    client.download_blob(&id, 0, out).await?;
    check_copy(&dst, len, &digest, "resumed upload").await?;
    client.connection().close(0u32.into(), b"done");
    drop(sink);

    let ratio = |a: &[Usage], b: &[Usage]| {
        let m = |v: &[Usage]| median(&mut v.iter().map(|u| u.secs).collect::<Vec<_>>());
        m(a) / m(b)
    };
    Ok(json!({
        "blob_bytes": len,
        "rounds": rounds,
        "plain_relay_acks": relay_acks,
        "plain_upload_discard": summary(&discard, len),
        "plain_upload_file": summary(&to_file, len),
        "plain_download": summary(&plain_down, len),
        "hush_upload": summary(&up, len),
        "hush_download": summary(&down, len),
        "upload_vs_plain_discard": ratio(&discard, &up),
        "upload_vs_plain_file": ratio(&to_file, &up),
        "download_vs_plain": ratio(&plain_down, &down),
        "resume_cut_at": cut,
        "resume_durable_offset": status.durable_offset,
        "resume_s": resume_s,
        "resume_rest_s": rest_s,
        "resume_resent_bytes": cut.saturating_sub(status.durable_offset),
    }))
}

/// The report as text.
pub(crate) fn print_text(v: &serde_json::Value) {
    let f = |k: &str| v.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
    let u = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    println!(
        "blob of {} bytes, {} rounds (medians; CPU seconds per GiB; peak RSS over the rounds); plain stream: {}",
        u("blob_bytes"),
        u("rounds"),
        if v["plain_relay_acks"] == json!(true) {
            "the relay's ACK frequency"
        } else {
            "quinn's defaults"
        }
    );
    println!(
        "  {:<42} {:>8} {:>6} {:>11} {:>11} {:>10} {:>10}",
        "transfer", "MiB/s", "ratio", "server CPU", "client CPU", "server MiB", "client MiB"
    );
    let rows = [
        ("Hush upload", "hush_upload", ""),
        (
            "plain quinn upload into nothing",
            "plain_upload_discard",
            "upload_vs_plain_discard",
        ),
        (
            "plain quinn upload into a file, same fsyncs",
            "plain_upload_file",
            "upload_vs_plain_file",
        ),
        ("Hush download", "hush_download", ""),
        (
            "plain quinn download from a file",
            "plain_download",
            "download_vs_plain",
        ),
    ];
    for (name, key, ratio) in rows {
        let r = &v[key];
        let g = |k: &str| r.get(k).and_then(|x| x.as_f64()).unwrap_or(f64::NAN);
        let ratio = if ratio.is_empty() {
            String::new()
        } else {
            format!("{:.2}x", f(ratio))
        };
        println!(
            "  {name:<42} {:>8.0} {ratio:>6} {:>11.2} {:>11.2} {:>10.1} {:>10.1}",
            g("mib_s"),
            g("server_cpu_s_per_gib"),
            g("client_cpu_s_per_gib"),
            g("server_peak_rss_mib"),
            g("client_peak_rss_mib"),
        );
    }
    println!("  (ratio: Hush's throughput over the plain transfer's, in this run)");
    if v["hush_upload"]["peaks_reset"] != json!(true) {
        println!("  [peak RSS could not be reset per transfer: peaks since each process started]");
    }
    println!(
        "  resume: cut at {} bytes, durable {} bytes; reconnect + authenticate + status {:.1} ms; the rest ({} bytes re-sent) {:.2} s",
        u("resume_cut_at"),
        u("resume_durable_offset"),
        f("resume_s") * 1000.0,
        u("resume_resent_bytes"),
        f("resume_rest_s"),
    );
}
