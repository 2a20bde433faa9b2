//! Socket-free request handling, for tests and fuzzing.
//!
//! A [`Dispatcher`] is one simulated connection to a relay over a given [`Storage`]: it reads
//! a request frame from bytes, runs it through the same checks and handlers as a QUIC request
//! stream (rate limit, version, shutdown, then the command) and returns the frames the relay
//! would write back. No endpoint, TLS or socket is involved.
//!
//! Authentication normally needs a signature over a random challenge, which a fuzzer cannot
//! produce; [`Dispatcher::authenticate`] marks a mailbox as proven on the simulated connection
//! so the owner-only requests can be reached.

use crate::cmd::{Context, Sink};
use crate::config::RelayConfig;
use crate::connection::{self, ConnState};
use crate::frame::{self, PROTOCOL_VERSION};
use crate::proto;
use crate::shared::Shared;
use crate::shutdown::Shutdown;
use crate::storage::Storage;
use crate::types::{Fingerprint, MailboxAddress};
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use tokio::io::AsyncWrite;
use tokio::sync::watch;

/// One simulated connection to a relay over `storage`.
pub struct Dispatcher {
    ctx: Context,
    _shutdown_tx: watch::Sender<bool>,
}

impl Dispatcher {
    /// A connection to a relay configured by `config` (its network and TLS settings are
    /// unused), signing receipts with the key derived from `receipt_seed` and presenting
    /// `fingerprint` as its certificate fingerprint.
    pub fn new(
        config: RelayConfig,
        storage: Arc<dyn Storage>,
        receipt_seed: [u8; 32],
        fingerprint: Fingerprint,
    ) -> Self {
        // A blob store in the database of a PostgreSQL store, or next to an embedded
        // store's files (fuzzing keeps those in memory-backed folders); never in the
        // working directory.
        #[cfg(feature = "postgres")]
        let pg_blobs = storage.blob_pool().map(|pool| {
            Arc::new(crate::blobs::Blobs::Pg(Arc::new(
                crate::blobs::PgBlobStore::new(pool, config.blobs.clone()),
            )))
        });
        #[cfg(not(feature = "postgres"))]
        let pg_blobs = None;
        let blobs = pg_blobs.or_else(|| {
            storage.data_dir().and_then(|d| {
                let now = config.clock.now_ms();
                crate::blobs::BlobStore::open(
                    &d.join(crate::blobs::BLOBS_DIR),
                    config.blobs.clone(),
                    now,
                )
                .ok()
                .map(|s| Arc::new(crate::blobs::Blobs::Files(Arc::new(s))))
            })
        });
        let shared = Arc::new(Shared {
            refusals: Arc::new(crate::refusals::Refusals::new()),
            blobs: blobs.clone(),
            capacity: crate::capacity::Capacity::new(
                config.max_storage_bytes,
                crate::reserve::Reserve::new(storage.data_dir(), config.storage_reserve_bytes),
                blobs,
            ),
            config,
            storage,
            notifier: Default::default(),
            receipt_key: SigningKey::from_bytes(&receipt_seed),
            fingerprint,
            certificate_fingerprint: fingerprint,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let conn = Arc::new(ConnState::new(
            &shared,
            SocketAddr::from(([127, 0, 0, 1], 0)),
        ));
        Dispatcher {
            ctx: Context {
                shared,
                conn,
                shutdown: Shutdown::new(shutdown_rx),
            },
            _shutdown_tx: shutdown_tx,
        }
    }

    /// The key the relay's receipts verify with.
    pub fn receipt_public_key(&self) -> VerifyingKey {
        self.ctx.shared.receipt_key.verifying_key()
    }

    /// Marks `mailbox` as authenticated on this connection, as a successful AUTH would.
    /// False when the connection already holds its maximum of mailboxes.
    pub fn authenticate(&self, mailbox: MailboxAddress) -> bool {
        self.ctx.conn.authenticate(mailbox).is_ok()
    }

    /// Handles the bytes a client sent on one request stream: one length-prefixed request
    /// frame (bytes after it are ignored, as on a stream). Returns the response frames the
    /// relay writes back, each decoded; empty only when `stream` is empty (a stream closed
    /// before any byte gets no answer). A subscription answers with its first page.
    pub async fn handle_stream(&self, stream: &[u8]) -> Vec<proto::Response> {
        let max = self.ctx.shared.config.max_frame_bytes;
        let mut reader = stream;
        let mut sink = Capture::default();
        let result = match frame::read_message::<proto::Request, _>(&mut reader, max).await {
            Ok(None) => return Vec::new(),
            Ok(Some(req)) => connection::serve(&self.ctx, req, &mut sink).await,
            Err(e) => Err(connection::frame_error(e)),
        };
        let mut out = Vec::new();
        let mut written = sink.0.as_slice();
        while let Ok(Some(resp)) =
            frame::read_message::<proto::Response, _>(&mut written, usize::MAX).await
        {
            out.push(resp);
        }
        match result {
            Ok(Some(body)) => out.push(proto::Response {
                version: PROTOCOL_VERSION,
                body: Some(body),
            }),
            Ok(None) => {}
            Err(e) => out.push(connection::error_response(&e)),
        }
        out
    }

    /// Encodes `req` as a frame and handles it like [`Dispatcher::handle_stream`].
    pub async fn handle_request(&self, req: &proto::Request) -> Vec<proto::Response> {
        match frame::encode_frame(req, usize::MAX) {
            Ok(bytes) => self.handle_stream(&bytes).await,
            Err(e) => vec![connection::error_response(&connection::frame_error(e))],
        }
    }
}

/// A subscription's stream, kept in memory. The subscriber "stops" as soon as it has caught
/// up, so a subscription returns after its first page.
#[derive(Default)]
struct Capture(Vec<u8>);

impl AsyncWrite for Capture {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Sink for Capture {
    async fn stopped(&mut self) {}
}

#[cfg(all(test, feature = "redb"))]
mod tests {
    use super::*;
    use crate::proto::{request, response};
    use crate::storage::RedbStorage;

    fn dispatcher() -> (tempfile::TempDir, Dispatcher) {
        let dir = tempfile::tempdir().unwrap();
        let storage = RedbStorage::open(&dir.path().join("t.redb")).unwrap();
        let d = Dispatcher::new(
            RelayConfig::default(),
            Arc::new(storage),
            [7; 32],
            Fingerprint([9; 32]),
        );
        (dir, d)
    }

    fn req(body: request::Body) -> proto::Request {
        proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(body),
        }
    }

    fn error_code(r: &[proto::Response]) -> Option<proto::ErrorCode> {
        match r {
            [
                proto::Response {
                    body: Some(response::Body::Error(e)),
                    ..
                },
            ] => proto::ErrorCode::try_from(e.code).ok(),
            _ => None,
        }
    }

    #[tokio::test]
    async fn send_then_subscribe_and_fetch_as_owner() {
        let (_dir, d) = dispatcher();
        let mailbox = MailboxAddress([1; 32]);
        let send = req(request::Body::Send(proto::SendRequest {
            mailbox_address: mailbox.0.to_vec(),
            envelope_id: vec![5; 16],
            ciphertext: b"sealed".to_vec(),
        }));
        let r = d.handle_request(&send).await;
        assert!(
            matches!(&r[..], [proto::Response { body: Some(response::Body::Send(s)), .. }] if !s.duplicate),
            "{r:?}"
        );
        let fetch = req(request::Body::Fetch(proto::FetchRequest {
            mailbox_address: mailbox.0.to_vec(),
            cursor: 0,
            limit: 0,
        }));
        assert_eq!(
            error_code(&d.handle_request(&fetch).await),
            Some(proto::ErrorCode::Unauthenticated)
        );
        assert!(d.authenticate(mailbox));
        let r = d.handle_request(&fetch).await;
        assert!(
            matches!(&r[..], [proto::Response { body: Some(response::Body::Fetch(f)), .. }] if f.envelopes.len() == 1),
            "{r:?}"
        );
        let sub = req(request::Body::Subscribe(proto::SubscribeRequest {
            mailbox_address: mailbox.0.to_vec(),
            cursor: 0,
        }));
        let r = d.handle_request(&sub).await;
        assert!(
            matches!(&r[..], [proto::Response { body: Some(response::Body::Fetch(f)), .. }] if f.envelopes.len() == 1),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn bad_frames_get_error_responses() {
        let (_dir, d) = dispatcher();
        assert!(d.handle_stream(&[]).await.is_empty());
        assert_eq!(
            error_code(&d.handle_stream(&[0, 0]).await),
            Some(proto::ErrorCode::Malformed)
        );
        assert_eq!(
            error_code(&d.handle_stream(&[0xff, 0, 0, 0]).await),
            Some(proto::ErrorCode::FrameTooLarge)
        );
        assert_eq!(
            error_code(&d.handle_stream(&[0, 0, 0, 2, 0xff, 0xff]).await),
            Some(proto::ErrorCode::Malformed)
        );
        let old = proto::Request {
            version: 0,
            body: None,
        };
        assert_eq!(
            error_code(&d.handle_request(&old).await),
            Some(proto::ErrorCode::UnsupportedVersion)
        );
    }
}
