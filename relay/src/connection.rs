//! One QUIC connection: accepts request streams, keeps the per-connection state (challenges,
//! authenticated mailboxes, rate limiter) and runs one task per request stream.

use crate::admission::HalfOpen;
use crate::cmd::{self, CmdError, Context};
use crate::frame::{self, FrameError, PROTOCOL_VERSION};
use crate::limits::TokenBucket;
use crate::proto::{self, ErrorCode, response};
use crate::shared::Shared;
use crate::shutdown::Shutdown;
use crate::types::MailboxAddress;
use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How long a client may take to send its request frame after opening a stream.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a served request waits for the end of its request stream, if that end has not
/// come with the request.
const REQUEST_END_WAIT: Duration = Duration::from_millis(50);
/// Most outstanding challenges per connection.
const MAX_CHALLENGES: usize = 8;
/// Most mailboxes one connection may authenticate.
pub(crate) const MAX_MAILBOXES_PER_CONNECTION: usize = 64;
/// Streams a new connection may open at once; the limit doubles, up to the configured
/// maximum, whenever more than half of it is in use. quinn keeps state for every stream the
/// peer may open, so an idle connection costs less with a small limit.
pub(crate) const INITIAL_STREAMS_PER_CONNECTION: u32 = 8;

/// Per-connection state.
pub(crate) struct ConnState {
    challenges: Mutex<VecDeque<[u8; 32]>>,
    authed: Mutex<HashSet<MailboxAddress>>,
    bucket: Mutex<TokenBucket>,
    pub(crate) remote: SocketAddr,
}

impl ConnState {
    pub(crate) fn new(shared: &Shared, remote: SocketAddr) -> Self {
        ConnState {
            challenges: Mutex::new(VecDeque::new()),
            authed: Mutex::new(HashSet::new()),
            bucket: Mutex::new(TokenBucket::new(
                shared.config.rate_limit_per_sec,
                shared.config.rate_limit_burst,
            )),
            remote,
        }
    }

    /// Remembers a fresh challenge (dropping the oldest beyond the limit).
    pub(crate) fn add_challenge(&self, c: [u8; 32]) {
        if let Ok(mut q) = self.challenges.lock() {
            if q.len() >= MAX_CHALLENGES {
                q.pop_front();
            }
            q.push_back(c);
        }
    }

    /// Removes `c` if it is outstanding; true if it was. A challenge is good for one attempt.
    pub(crate) fn take_challenge(&self, c: &[u8]) -> bool {
        match self.challenges.lock() {
            Ok(mut q) => match q.iter().position(|x| x.as_slice() == c) {
                Some(i) => {
                    q.remove(i);
                    true
                }
                None => false,
            },
            Err(_) => false,
        }
    }

    /// Marks a mailbox as proven on this connection.
    pub(crate) fn authenticate(&self, a: MailboxAddress) -> Result<(), CmdError> {
        let mut set = self
            .authed
            .lock()
            .map_err(|_| CmdError::internal("connection state poisoned"))?;
        if set.len() >= MAX_MAILBOXES_PER_CONNECTION && !set.contains(&a) {
            return Err(CmdError::new(
                ErrorCode::QuotaExceeded,
                format!("at most {MAX_MAILBOXES_PER_CONNECTION} mailboxes per connection"),
            ));
        }
        set.insert(a);
        Ok(())
    }

    /// Fails unless this connection proved ownership of `a`.
    pub(crate) fn require_owner(&self, a: &MailboxAddress) -> Result<(), CmdError> {
        let ok = self.authed.lock().map(|s| s.contains(a)).unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(CmdError::new(
                ErrorCode::Unauthenticated,
                "this connection has not authenticated that mailbox",
            ))
        }
    }

    fn take_token(&self) -> Result<(), Duration> {
        match self.bucket.lock() {
            Ok(mut b) => b.take(),
            Err(_) => Err(Duration::from_secs(1)),
        }
    }
}

/// QUIC application error code of a connection closed right after its handshake because a
/// connection limit was reached meanwhile (spec/relay-protocol.md §1).
pub(crate) const CLOSE_REFUSED: u32 = 1;

/// Runs the handshake of an accepted Initial (at most `handshake_timeout`), then serves the
/// connection until it closes or the relay shuts down.
pub(crate) async fn handle(
    incoming: quinn::Incoming,
    slot: HalfOpen,
    shared: Arc<Shared>,
    mut shutdown: Shutdown,
    _done: mpsc::Sender<()>,
) {
    let remote = incoming.remote_address();
    let handshake = async {
        match incoming.accept() {
            Ok(connecting) => connecting.await,
            Err(e) => Err(e),
        }
    };
    // On timeout the handshake is dropped, which closes the connection and frees its state.
    let conn = match tokio::time::timeout(shared.config.handshake_timeout, handshake).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            tracing::debug!(%remote, error = %e, "handshake failed");
            metrics::counter!("hush_relay_errors_total", "kind" => "handshake").increment(1);
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, "handshake timed out");
            metrics::counter!("hush_relay_errors_total", "kind" => "handshake_timeout")
                .increment(1);
            return;
        }
    };
    let _established = match slot.establish() {
        Ok(e) => e,
        Err(why) => {
            why.record();
            tracing::debug!(%remote, reason = why.reason(), "connection refused after handshake");
            conn.close(CLOSE_REFUSED.into(), why.reason().as_bytes());
            return;
        }
    };
    metrics::counter!("hush_relay_connections_total").increment(1);
    tracing::debug!(%remote, "connection open");
    let state = Arc::new(ConnState::new(&shared, remote));
    let (streams_tx, mut streams_rx) = mpsc::channel::<()>(1);
    let max_streams = shared.config.max_streams_per_connection;
    let mut stream_limit = initial_stream_limit(max_streams);
    let open_streams = Arc::new(AtomicU32::new(0));
    let reason = loop {
        tokio::select! {
            s = conn.accept_bi() => match s {
                Ok((send, recv)) => {
                    let open = open_streams.fetch_add(1, Ordering::Relaxed) + 1;
                    if open.saturating_mul(2) > stream_limit && stream_limit < max_streams {
                        stream_limit = stream_limit.saturating_mul(2).min(max_streams);
                        conn.set_max_concurrent_bi_streams(stream_limit.into());
                    }
                    let slot = OpenStream(open_streams.clone());
                    let ctx = Context {
                        shared: shared.clone(),
                        conn: state.clone(),
                        shutdown: shutdown.clone(),
                    };
                    tokio::spawn(handle_stream(ctx, send, recv, (streams_tx.clone(), slot)));
                }
                Err(e) => break e.to_string(),
            },
            _ = shutdown.recv() => break "relay shutting down".to_string(),
        }
    };
    drop(streams_tx);
    // In-flight requests finish (and their writes commit) before the connection goes.
    let _ = streams_rx.recv().await;
    conn.close(0u32.into(), b"bye");
    tracing::debug!(%remote, %reason, "connection closed");
}

/// The stream limit a new connection starts with.
pub(crate) fn initial_stream_limit(max: u32) -> u32 {
    max.min(INITIAL_STREAMS_PER_CONNECTION)
}

/// Counts a request stream as open until its task ends.
struct OpenStream(Arc<AtomicU32>);

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

pub(crate) fn error_response(e: &CmdError) -> proto::Response {
    proto::Response {
        version: PROTOCOL_VERSION,
        body: Some(response::Body::Error(e.to_proto())),
    }
}

async fn handle_stream(
    ctx: Context,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    _done: (mpsc::Sender<()>, OpenStream),
) {
    let started = Instant::now();
    let max = ctx.shared.config.max_frame_bytes;
    let read = tokio::time::timeout(
        REQUEST_READ_TIMEOUT,
        frame::read_message::<proto::Request, _>(&mut recv, max),
    )
    .await;
    let mut kind = "invalid";
    // Whether the request stream's end has been read (see `hush_wire::quic::take_end`).
    let mut ended = false;
    let result: Result<Option<response::Body>, CmdError> = match read {
        Err(_) => Err(CmdError::new(
            ErrorCode::Malformed,
            "no complete request frame in time",
        )),
        Ok(Ok(None)) => {
            let _ = send.finish();
            return;
        }
        Ok(Err(e)) => {
            if matches!(e, FrameError::TooLarge { .. }) {
                let _ = recv.stop(0u32.into());
            }
            Err(frame_error(e))
        }
        Ok(Ok(Some(req))) => {
            if req
                .body
                .as_ref()
                .is_some_and(cmd::blob_transfer::is_transfer)
            {
                // Blob upload and download own their stream (spec §11).
                return cmd::blob_transfer::serve(ctx, req, send, recv).await;
            }
            ended = hush_wire::quic::take_end(&mut recv);
            if let Some(b) = &req.body {
                kind = cmd::kind(b);
            }
            serve(&ctx, req, &mut send).await
        }
    };
    let outcome = match result {
        Ok(body) => body.map(|b| proto::Response {
            version: PROTOCOL_VERSION,
            body: Some(b),
        }),
        Err(e) => {
            metrics::counter!("hush_relay_errors_total", "kind" => e.kind()).increment(1);
            if e.code == ErrorCode::Internal {
                tracing::error!(remote = %ctx.conn.remote, error = %e.message, "request failed");
            } else {
                tracing::debug!(remote = %ctx.conn.remote, error = %e.message, "request refused");
            }
            Some(error_response(&e))
        }
    };
    if let Some(resp) = outcome {
        match frame::write_message(&mut send, &resp, max).await {
            Ok(()) => {}
            Err(e) => tracing::debug!(error = %e, "could not write response"),
        }
    }
    let _ = send.finish();
    if !ended {
        // The end of the request came in a packet of its own (the client's QUIC driver sent
        // the request before the client marked its end). It follows right behind, so wait
        // for it briefly rather than drop the stream unread (see `hush_wire::quic::take_end`).
        let mut byte = [0u8; 1];
        let _ = tokio::time::timeout(REQUEST_END_WAIT, recv.read(&mut byte)).await;
    }
    metrics::histogram!("hush_relay_request_duration_seconds", "request" => kind)
        .record(started.elapsed().as_secs_f64());
}

/// The error answered for a request frame that could not be read.
pub(crate) fn frame_error(e: FrameError) -> CmdError {
    match e {
        FrameError::TooLarge { len, max } => CmdError::new(
            ErrorCode::FrameTooLarge,
            format!("frame of {len} bytes exceeds the maximum of {max}"),
        ),
        e => CmdError::new(ErrorCode::Malformed, e.to_string()),
    }
}

/// Checks version and rate limit, then runs the command.
pub(crate) async fn serve<S: cmd::Sink>(
    ctx: &Context,
    req: proto::Request,
    send: &mut S,
) -> Result<Option<response::Body>, CmdError> {
    let body = admit(ctx, req)?;
    // A stored envelope or log entry shows the store takes writes again (readiness).
    let adds = matches!(
        body,
        proto::request::Body::Send(_) | proto::request::Body::GroupAppend(_)
    );
    let r = cmd::dispatch(ctx, body, send).await;
    match &r {
        Err(e) if e.code == ErrorCode::StorageUnavailable => ctx.shared.refusals.note(&e.message),
        Ok(_) if adds => ctx.shared.refusals.clear(),
        _ => {}
    }
    r
}

/// The checks every request passes first: rate limit, version, shutdown, a body.
pub(crate) fn admit(ctx: &Context, req: proto::Request) -> Result<proto::request::Body, CmdError> {
    if let Err(wait) = ctx.conn.take_token() {
        let mut e = CmdError::new(ErrorCode::RateLimited, "rate limit exceeded");
        e.retry_after_ms = wait.as_millis().max(1) as u64;
        return Err(e);
    }
    if req.version != PROTOCOL_VERSION {
        return Err(CmdError::new(
            ErrorCode::UnsupportedVersion,
            format!(
                "protocol version {} is not supported; this relay speaks {PROTOCOL_VERSION}",
                req.version
            ),
        ));
    }
    if ctx.shutdown.is_shutdown() {
        return Err(CmdError::new(
            ErrorCode::ShuttingDown,
            "relay is shutting down",
        ));
    }
    req.body
        .ok_or_else(|| CmdError::new(ErrorCode::Malformed, "request has no body"))
}
