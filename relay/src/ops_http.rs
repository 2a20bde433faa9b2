//! The metrics listener (`--metrics ADDR`): a small HTTP/1.1 server for operators.
//!
//! * `GET /metrics`: Prometheus text format ([`crate::telemetry`]);
//! * `GET /healthz`: `200 ok` while the process runs (liveness);
//! * `GET /readyz`: `200 ready` once the relay listens and while its storage answers a probe
//!   and it is not shutting down ([`crate::health::Health::ready`]); else `503` with the reason.
//!
//! One request per connection (`Connection: close`), a request head of at most 8 KiB read
//! within 5 s, at most 32 connections served at once (more are closed unanswered). `HEAD` is
//! answered like `GET` without the body; other methods get `405`, other paths `404`. Bind it
//! to a private address: it is not authenticated.

use crate::health::Health;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Longest wait for a request head.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections served at once.
const MAX_CONNECTIONS: usize = 32;
/// How often the recorder's upkeep runs (histogram maintenance).
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Where `/readyz` finds the relay: empty until the relay listens.
pub type Readiness = Arc<OnceLock<Health>>;

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the runtime ends, and runs
/// the recorder's upkeep.
pub fn serve(listener: TcpListener, prometheus: PrometheusHandle, ready: Readiness) {
    let upkeep = prometheus.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "metrics listener: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                continue; // too many at once: dropping the stream closes it
            };
            let (prometheus, ready) = (prometheus.clone(), ready.clone());
            tokio::spawn(async move {
                let _slot = slot;
                if let Err(e) = handle(stream, &prometheus, &ready).await {
                    tracing::debug!(error = %e, "metrics listener: request failed");
                }
            });
        }
    });
}

async fn handle(
    mut stream: TcpStream,
    prometheus: &PrometheusHandle,
    ready: &OnceLock<Health>,
) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return respond(&mut stream, 400, "bad request\n", false).await,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let head_only = method == "HEAD";
    if !matches!(path, "/metrics" | "/healthz" | "/readyz") {
        return respond(&mut stream, 404, "not found\n", head_only).await;
    }
    if method != "GET" && !head_only {
        return respond(&mut stream, 405, "method not allowed\n", false).await;
    }
    match path {
        "/metrics" => {
            let body = prometheus.render();
            write(&mut stream, 200, METRICS_TYPE, &body, head_only).await
        }
        "/healthz" => respond(&mut stream, 200, "ok\n", head_only).await,
        _ => {
            let verdict = match ready.get() {
                None => Err("not listening yet".to_string()),
                Some(h) => h.ready().await,
            };
            match verdict {
                Ok(()) => respond(&mut stream, 200, "ready\n", head_only).await,
                Err(why) => {
                    tracing::warn!(reason = %why, "readiness check failed");
                    let body = format!("not ready: {why}\n");
                    respond(&mut stream, 503, &body, head_only).await
                }
            }
        }
    }
}

/// Reads up to the end of the request head; `None` when it is too long or not UTF-8.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(String::from_utf8(buf[..end].to_vec()).ok());
        }
        if buf.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

const TEXT_TYPE: &str = "text/plain; charset=utf-8";
const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    write(stream, status, TEXT_TYPE, body, head_only).await
}

async fn write(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    stream.write_all(&out).await?;
    stream.shutdown().await
}
