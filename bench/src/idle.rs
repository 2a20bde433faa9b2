//! `--idle-connections K`: hold K idle, authenticated connections and measure what the relay
//! pays for each.
//!
//! All connections share one QUIC endpoint (one UDP socket) in this process, so the tool
//! needs no file descriptor per connection; the relay serves all of them on its one socket
//! too. Each connection asks for a challenge and authenticates a mailbox of its own, then
//! stays silent except for QUIC keep-alives.

use crate::hush::mailbox_key;
use crate::relay_proc;
use anyhow::{Context, Result, bail};
use ed25519_dalek::Signer;
use hush_relay_client::RelayUrl;
use hush_relay_client::tls;
use hush_relay_client::wire::frame::{self, PROTOCOL_VERSION};
use hush_relay_client::wire::proto::{self, request, response};
use hush_relay_client::wire::quic::peer_fingerprint;
use hush_relay_client::wire::types::auth_message;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// What the idle run measured.
pub(crate) struct IdleOutcome {
    pub requested: usize,
    pub held: usize,
    pub failed: usize,
    pub first_error: Option<String>,
    pub setup_s: f64,
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub hwm_kib: u64,
}

impl IdleOutcome {
    /// Relay RSS growth per held connection, bytes.
    pub(crate) fn bytes_per_connection(&self) -> f64 {
        if self.held == 0 {
            return 0.0;
        }
        self.rss_after_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0 / self.held as f64
    }
}

async fn request(conn: &quinn::Connection, body: request::Body) -> Result<response::Body> {
    let (mut send, mut recv) = conn.open_bi().await?;
    let req = proto::Request {
        version: PROTOCOL_VERSION,
        body: Some(body),
    };
    frame::write_message(&mut send, &req, usize::MAX).await?;
    send.finish()?;
    let resp: proto::Response = frame::read_message(&mut recv, frame::DEFAULT_MAX_FRAME)
        .await?
        .context("no response")?;
    match resp.body {
        Some(response::Body::Error(e)) => bail!("relay refused: {}", e.message),
        Some(b) => Ok(b),
        None => bail!("empty response"),
    }
}

async fn open_one(
    endpoint: quinn::Endpoint,
    addr: SocketAddr,
    nonce: u64,
    i: u64,
) -> Result<quinn::Connection> {
    let conn = endpoint.connect(addr, "hush-relay")?.await?;
    let challenge =
        match request(&conn, request::Body::Challenge(proto::ChallengeRequest {})).await? {
            response::Body::Challenge(c) => c.challenge,
            _ => bail!("unexpected answer to CHALLENGE"),
        };
    let c: [u8; 32] = challenge
        .as_slice()
        .try_into()
        .context("challenge is not 32 bytes")?;
    let key = mailbox_key(nonce, i);
    // AUTH binds the relay's key fingerprint, which an old whole-certificate URL is not.
    let relay_fingerprint =
        peer_fingerprint(&conn).context("relay presented no parseable certificate")?;
    let sig = key.sign(&auth_message(&c, &relay_fingerprint));
    match request(
        &conn,
        request::Body::Auth(proto::AuthRequest {
            mailbox_public_key: key.verifying_key().to_bytes().to_vec(),
            challenge,
            signature: sig.to_bytes().to_vec(),
        }),
    )
    .await?
    {
        response::Body::Auth(_) => Ok(conn),
        _ => bail!("unexpected answer to AUTH"),
    }
}

/// Opens `k` connections, holds them for `hold`, and samples the relay's memory.
pub(crate) async fn run(url: RelayUrl, k: usize, pid: u32, hold: Duration) -> Result<IdleOutcome> {
    let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .with_context(|| format!("cannot resolve {}", url.host))?
        .next()
        .with_context(|| format!("cannot resolve {}", url.host))?;
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(bind).context("cannot open a UDP socket")?;
    let crypto = tls::client_crypto(url.fingerprint).context("TLS setup")?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(10)));
    transport.max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(60))?));
    cfg.transport_config(Arc::new(transport));
    endpoint.set_default_client_config(cfg);

    // Let the relay settle before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = relay_proc::sample(pid)?;
    let started = Instant::now();
    let nonce = {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).context("no randomness")?;
        u64::from_be_bytes(b)
    };
    let gate = Arc::new(Semaphore::new(100));
    let mut set = JoinSet::new();
    for i in 0..k as u64 {
        let (endpoint, gate) = (endpoint.clone(), gate.clone());
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            tokio::time::timeout(Duration::from_secs(30), open_one(endpoint, addr, nonce, i))
                .await
                .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")))
        });
    }
    let mut held = Vec::with_capacity(k);
    let mut failed = 0;
    let mut first_error = None;
    while let Some(r) = set.join_next().await {
        match r {
            Ok(Ok(c)) => held.push(c),
            Ok(Err(e)) => {
                failed += 1;
                first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let setup_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(hold).await;
    let after = relay_proc::sample(pid)?;
    let still_open = held.iter().filter(|c| c.close_reason().is_none()).count();
    for c in &held {
        c.close(0u32.into(), b"bye");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), endpoint.wait_idle()).await;
    Ok(IdleOutcome {
        requested: k,
        held: still_open,
        failed: failed + (held.len() - still_open),
        first_error,
        setup_s,
        rss_before_kib: before.rss_kib,
        rss_after_kib: after.rss_kib,
        hwm_kib: after.hwm_kib,
    })
}
