//! The async relay client.
//!
//! One [`Client`] is one QUIC connection to one relay, pinned to the certificate fingerprint
//! of its `hush://FPR@HOST:PORT` URL. Every call opens its own bidirectional stream, so any
//! number of calls can run concurrently on one client (`&self` everywhere; share it with an
//! `Arc`). Receipts are verified against the relay's receipt key before they are returned.

use crate::frame::{self, FrameError, PROTOCOL_VERSION};
use crate::proto::{self, ErrorCode, request, response};
use crate::tls::{self, TlsError};
use crate::types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, IdError, MailboxAddress, ReceiptError,
    StoredReceipt, auth_message, parse_public_key,
};
use crate::url::RelayUrl;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use crate::storage::{
    GroupEntry, GroupMessageKind, KeyPackage, OneTimePrekey, PrekeyBundle, SignedPrekey,
    StoredEnvelope as Envelope,
};

/// Everything that can go wrong talking to a relay.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The local UDP socket could not be opened.
    #[error("cannot open a UDP socket: {0}")]
    Socket(std::io::Error),
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// Starting the QUIC connection failed.
    #[error("cannot connect: {0}")]
    Connect(#[from] quinn::ConnectError),
    /// The QUIC connection failed or was closed (also: wrong certificate fingerprint).
    #[error("connection: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// A stream failed.
    #[error("stream: {0}")]
    Stream(String),
    /// A frame could not be read or written.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The relay answered with an error.
    #[error("relay refused ({code:?}): {message}")]
    Relay {
        /// Error code.
        code: ErrorCode,
        /// The relay's one-line explanation.
        message: String,
        /// For epoch conflicts: the group's current epoch.
        current_epoch: Option<u64>,
        /// For rate limiting: how long to wait.
        retry_after_ms: u64,
    },
    /// The relay answered with the wrong kind of response.
    #[error("unexpected response from relay")]
    UnexpectedResponse,
    /// The relay closed the stream without answering.
    #[error("relay closed the stream without a response")]
    NoResponse,
    /// A receipt did not verify.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// A malformed id or key.
    #[error(transparent)]
    Id(#[from] IdError),
    /// The request took longer than the client's request timeout.
    #[error("request timed out")]
    Timeout,
}

impl ClientError {
    /// The relay's error code, if the relay refused the request.
    pub fn relay_code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Relay { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// For an epoch conflict: the group's current epoch.
    pub fn epoch_conflict(&self) -> Option<u64> {
        match self {
            ClientError::Relay {
                code: ErrorCode::EpochConflict,
                current_epoch,
                ..
            } => *current_epoch,
            _ => None,
        }
    }
}

/// Client tuning.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// QUIC keep-alive interval (default 15 s).
    pub keep_alive: Duration,
    /// Connection idle timeout (default 60 s).
    pub idle_timeout: Duration,
    /// Per-request timeout (default 30 s). Subscriptions are not bound by it.
    pub request_timeout: Duration,
    /// Largest frame accepted from the relay (default 1 MiB + 64 KiB).
    pub max_frame_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            keep_alive: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_frame_bytes: frame::DEFAULT_MAX_FRAME,
        }
    }
}

/// What the relay said in its HELLO.
#[derive(Debug, Clone)]
pub struct RelayInfo {
    /// The relay's receipt-signing key.
    pub receipt_public_key: VerifyingKey,
    /// Relay clock, Unix ms.
    pub server_time_ms: u64,
    /// Largest frame the relay accepts.
    pub max_frame_bytes: u32,
    /// Largest envelope the relay accepts.
    pub max_envelope_bytes: u32,
    /// Envelope time-to-live.
    pub ttl_seconds: u64,
}

/// Directory stock of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stock {
    /// One-time prekeys left.
    pub one_time_prekeys: u64,
    /// KeyPackages left (not counting the last resort).
    pub key_packages: u64,
    /// Whether a signed prekey is stored.
    pub has_signed_prekey: bool,
    /// Whether a last-resort KeyPackage is stored.
    pub has_last_resort: bool,
    /// True when the relay thinks the owner should upload more.
    pub low: bool,
}

impl From<proto::DirectoryStock> for Stock {
    fn from(s: proto::DirectoryStock) -> Self {
        Stock {
            one_time_prekeys: s.one_time_prekeys,
            key_packages: s.key_packages,
            has_signed_prekey: s.has_signed_prekey,
            has_last_resort: s.has_last_resort,
            low: s.low,
        }
    }
}

/// A page of a mailbox.
#[derive(Debug, Clone)]
pub struct FetchResult {
    /// Envelopes in sequence order.
    pub envelopes: Vec<Envelope>,
    /// Cursor for the next fetch.
    pub next_cursor: u64,
    /// The mailbox's directory stock.
    pub stock: Stock,
}

/// The lifecycle state of an envelope as the relay reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// In the mailbox.
    Stored,
    /// Acknowledged by the owner; with the relay-signed (and verified) receipt.
    Delivered(DeliveredReceipt),
    /// Removed unread after its TTL.
    Expired {
        /// When, Unix ms.
        at_ms: u64,
    },
}

/// The answer to a status query, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The stored receipt (verified).
    pub stored: StoredReceipt,
    /// The current state.
    pub status: Status,
}

/// A Welcome (or any envelope) to store in a mailbox together with a commit.
#[derive(Debug, Clone)]
pub struct WelcomeDelivery {
    /// Recipient mailbox.
    pub mailbox: MailboxAddress,
    /// Envelope id.
    pub envelope_id: EnvelopeId,
    /// Opaque ciphertext.
    pub ciphertext: Vec<u8>,
}

/// Result of a group append.
#[derive(Debug, Clone)]
pub struct GroupAppendResult {
    /// Sequence number of the entry in the group log.
    pub seq: u64,
    /// The group's epoch after the append.
    pub current_epoch: u64,
    /// True when this exact commit had already been accepted.
    pub duplicate: bool,
    /// Verified stored receipts of the welcomes, in order.
    pub welcome_receipts: Vec<StoredReceipt>,
}

/// A page of a group log.
#[derive(Debug, Clone)]
pub struct GroupFetchResult {
    /// Entries in sequence order.
    pub entries: Vec<GroupEntry>,
    /// Cursor for the next fetch.
    pub next_cursor: u64,
    /// The group's epoch after its last commit, if any.
    pub current_epoch: Option<u64>,
}

/// A connection to one relay.
pub struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    url: RelayUrl,
    /// Key fingerprint of the certificate the relay presented (what AUTH signs over).
    relay_fingerprint: Fingerprint,
    info: RelayInfo,
    options: ClientOptions,
}

impl Client {
    /// Connects with default options.
    pub async fn connect(url: &RelayUrl) -> Result<Client, ClientError> {
        Self::connect_with(url, ClientOptions::default()).await
    }

    /// Connects, checks the pinned certificate, and says HELLO.
    pub async fn connect_with(
        url: &RelayUrl,
        options: ClientOptions,
    ) -> Result<Client, ClientError> {
        let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .map_err(|e| ClientError::Resolve(format!("{}: {e}", url.host)))?
            .next()
            .ok_or_else(|| ClientError::Resolve(url.host.clone()))?;
        let bind: SocketAddr = if addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let mut endpoint = quinn::Endpoint::client(bind).map_err(ClientError::Socket)?;
        let crypto = tls::client_crypto(url.fingerprint)?;
        let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .keep_alive_interval(Some(options.keep_alive))
            .ack_frequency_config(Some(crate::connection::ack_frequency()));
        if let Ok(t) = quinn::IdleTimeout::try_from(options.idle_timeout) {
            transport.max_idle_timeout(Some(t));
        }
        cfg.transport_config(Arc::new(transport));
        endpoint.set_default_client_config(cfg);
        // The pin, not the name, authenticates the relay; the name only goes into SNI.
        let server_name = if url.host.parse::<std::net::IpAddr>().is_ok() {
            "hush-relay"
        } else {
            url.host.as_str()
        };
        let conn = endpoint.connect(addr, server_name)?.await?;
        // With an old whole-certificate pin the URL's fingerprint is not the relay's key
        // fingerprint; AUTH binds the latter (spec §1, §3).
        let relay_fingerprint = tls::peer_fingerprint(&conn).ok_or_else(|| {
            ClientError::Tls(TlsError::BadCertificate(
                "relay presented no parseable certificate".into(),
            ))
        })?;
        let mut client = Client {
            endpoint,
            conn,
            url: url.clone(),
            relay_fingerprint,
            info: RelayInfo {
                receipt_public_key: VerifyingKey::default(),
                server_time_ms: 0,
                max_frame_bytes: 0,
                max_envelope_bytes: 0,
                ttl_seconds: 0,
            },
            options,
        };
        let hello = match client
            .request(request::Body::Hello(proto::HelloRequest {}))
            .await?
        {
            response::Body::Hello(h) => h,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        client.info = RelayInfo {
            receipt_public_key: parse_public_key(&hello.receipt_public_key)?,
            server_time_ms: hello.server_time_ms,
            max_frame_bytes: hello.max_frame_bytes,
            max_envelope_bytes: hello.max_envelope_bytes,
            ttl_seconds: hello.ttl_seconds,
        };
        Ok(client)
    }

    /// The relay's HELLO information (receipt key, limits).
    pub fn info(&self) -> &RelayInfo {
        &self.info
    }

    /// The relay's receipt-signing key, learned over the pinned connection.
    pub fn relay_public_key(&self) -> &VerifyingKey {
        &self.info.receipt_public_key
    }

    /// The URL this client connected to.
    pub fn url(&self) -> &RelayUrl {
        &self.url
    }

    /// The relay's key fingerprint (SHA-256 of its certificate's SubjectPublicKeyInfo), read
    /// from the certificate it presented. Equals `url().fingerprint` unless the URL is an old
    /// whole-certificate address; the relay's current address uses this one.
    pub fn relay_fingerprint(&self) -> Fingerprint {
        self.relay_fingerprint
    }

    /// The underlying QUIC connection (for tests and tools that speak raw frames).
    pub fn connection(&self) -> &quinn::Connection {
        &self.conn
    }

    /// Sends one raw request and returns the raw response (error responses included).
    pub async fn raw_request(&self, req: &proto::Request) -> Result<proto::Response, ClientError> {
        let max = self.options.max_frame_bytes;
        let fut = async {
            let (mut send, mut recv) = self.conn.open_bi().await?;
            frame::write_message(&mut send, req, usize::MAX).await?;
            send.finish()
                .map_err(|e| ClientError::Stream(e.to_string()))?;
            let resp = frame::read_message::<proto::Response, _>(&mut recv, max)
                .await?
                .ok_or(ClientError::NoResponse)?;
            frame::take_end(&mut recv);
            Ok(resp)
        };
        tokio::time::timeout(self.options.request_timeout, fut)
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    pub(crate) async fn request(&self, body: request::Body) -> Result<response::Body, ClientError> {
        let resp = self
            .raw_request(&proto::Request {
                version: PROTOCOL_VERSION,
                body: Some(body),
            })
            .await?;
        match resp.body {
            Some(response::Body::Error(e)) => Err(relay_error(e)),
            Some(b) => Ok(b),
            None => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Asks for a fresh authentication challenge.
    pub async fn challenge(&self) -> Result<[u8; 32], ClientError> {
        match self
            .request(request::Body::Challenge(proto::ChallengeRequest {}))
            .await?
        {
            response::Body::Challenge(c) => c
                .challenge
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::UnexpectedResponse),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Sends a prepared authentication (public key, challenge, signature). Most callers want
    /// [`Client::authenticate`].
    pub async fn authenticate_with(
        &self,
        public_key: &VerifyingKey,
        challenge: [u8; 32],
        signature: [u8; 64],
    ) -> Result<MailboxAddress, ClientError> {
        match self
            .request(request::Body::Auth(proto::AuthRequest {
                mailbox_public_key: public_key.to_bytes().to_vec(),
                challenge: challenge.to_vec(),
                signature: signature.to_vec(),
            }))
            .await?
        {
            response::Body::Auth(a) => {
                let addr = MailboxAddress::from_slice(&a.mailbox_address)?;
                if addr != MailboxAddress::from_public_key(public_key) {
                    return Err(ClientError::UnexpectedResponse);
                }
                Ok(addr)
            }
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Proves ownership of the mailbox of `key` on this connection; returns its address.
    pub async fn authenticate(&self, key: &SigningKey) -> Result<MailboxAddress, ClientError> {
        let challenge = self.challenge().await?;
        let sig = key.sign(&auth_message(&challenge, &self.relay_fingerprint));
        self.authenticate_with(&key.verifying_key(), challenge, sig.to_bytes())
            .await
    }

    /// Stores an envelope in `to`'s mailbox; returns the verified stored receipt. Retrying
    /// with the same id and bytes is safe (same receipt).
    pub async fn send(
        &self,
        to: &MailboxAddress,
        envelope_id: &EnvelopeId,
        ciphertext: Vec<u8>,
    ) -> Result<StoredReceipt, ClientError> {
        let r = match self
            .request(request::Body::Send(proto::SendRequest {
                mailbox_address: to.0.to_vec(),
                envelope_id: envelope_id.as_bytes().to_vec(),
                ciphertext,
            }))
            .await?
        {
            response::Body::Send(s) => s,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        let receipt =
            StoredReceipt::from_proto(r.receipt.as_ref().ok_or(ClientError::UnexpectedResponse)?)?;
        if &receipt.envelope_id != envelope_id || &receipt.mailbox != to {
            return Err(ReceiptError::Mismatch.into());
        }
        receipt.verify(&self.info.receipt_public_key)?;
        Ok(receipt)
    }

    /// Reads an authenticated mailbox from `cursor` (`limit` 0 = relay default).
    pub async fn fetch(
        &self,
        mailbox: &MailboxAddress,
        cursor: u64,
        limit: u32,
    ) -> Result<FetchResult, ClientError> {
        match self
            .request(request::Body::Fetch(proto::FetchRequest {
                mailbox_address: mailbox.0.to_vec(),
                cursor,
                limit,
            }))
            .await?
        {
            response::Body::Fetch(f) => fetch_result(f),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Subscribes to an authenticated mailbox: everything from `cursor`, then live pushes.
    pub async fn subscribe(
        &self,
        mailbox: &MailboxAddress,
        cursor: u64,
    ) -> Result<MailboxSubscription, ClientError> {
        let stream = self
            .open_subscription(request::Body::Subscribe(proto::SubscribeRequest {
                mailbox_address: mailbox.0.to_vec(),
                cursor,
            }))
            .await?;
        Ok(MailboxSubscription { stream })
    }

    /// Deletes envelopes from an authenticated mailbox; returns how many existed.
    pub async fn ack(&self, mailbox: &MailboxAddress, seqs: &[u64]) -> Result<u32, ClientError> {
        match self
            .request(request::Body::Ack(proto::AckRequest {
                mailbox_address: mailbox.0.to_vec(),
                seqs: seqs.to_vec(),
            }))
            .await?
        {
            response::Body::Ack(a) => Ok(a.deleted),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// The status of an envelope by id, with verified receipts.
    pub async fn status(&self, envelope_id: &EnvelopeId) -> Result<StatusReport, ClientError> {
        let s = match self
            .request(request::Body::Status(proto::StatusRequest {
                envelope_id: envelope_id.as_bytes().to_vec(),
            }))
            .await?
        {
            response::Body::Status(s) => s,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        let key = &self.info.receipt_public_key;
        let stored =
            StoredReceipt::from_proto(s.stored.as_ref().ok_or(ClientError::UnexpectedResponse)?)?;
        if &stored.envelope_id != envelope_id {
            return Err(ReceiptError::Mismatch.into());
        }
        stored.verify(key)?;
        let status = match proto::EnvelopeState::try_from(s.state) {
            Ok(proto::EnvelopeState::Stored) => Status::Stored,
            Ok(proto::EnvelopeState::Delivered) => {
                let d = DeliveredReceipt::from_proto(
                    s.delivered
                        .as_ref()
                        .ok_or(ClientError::UnexpectedResponse)?,
                )?;
                if &d.envelope_id != envelope_id || d.mailbox != stored.mailbox {
                    return Err(ReceiptError::Mismatch.into());
                }
                d.verify(key)?;
                Status::Delivered(d)
            }
            Ok(proto::EnvelopeState::Expired) => Status::Expired {
                at_ms: s.expired_at_ms,
            },
            _ => return Err(ClientError::UnexpectedResponse),
        };
        Ok(StatusReport { stored, status })
    }

    /// Uploads the signed prekey (if given) and one-time prekeys for an authenticated mailbox.
    pub async fn upload_prekeys(
        &self,
        mailbox: &MailboxAddress,
        signed_prekey: Option<SignedPrekey>,
        one_time_prekeys: Vec<OneTimePrekey>,
    ) -> Result<Stock, ClientError> {
        self.prekey_upload(mailbox, signed_prekey, one_time_prekeys, false)
            .await
    }

    /// Fetches a mailbox's prekey bundle without a fetch token (a legacy mailbox, §6.1),
    /// taking one one-time prekey if any is left.
    pub async fn fetch_prekey_bundle(
        &self,
        mailbox: &MailboxAddress,
    ) -> Result<PrekeyBundle, ClientError> {
        self.fetch_prekey_bundle_with_token(mailbox, None).await
    }

    /// Uploads KeyPackages (and optionally a new last-resort one) for an authenticated mailbox.
    pub async fn upload_key_packages(
        &self,
        mailbox: &MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
    ) -> Result<Stock, ClientError> {
        self.key_package_upload(mailbox, key_packages, last_resort, false)
            .await
    }

    /// Takes one KeyPackage of a mailbox without a fetch token (a legacy mailbox, §6.1); the
    /// last-resort one when none are left.
    pub async fn fetch_key_package(
        &self,
        mailbox: &MailboxAddress,
    ) -> Result<KeyPackage, ClientError> {
        self.fetch_key_package_with_token(mailbox, None).await
    }

    /// The directory stock of an authenticated mailbox.
    pub async fn directory_stock(&self, mailbox: &MailboxAddress) -> Result<Stock, ClientError> {
        self.stock_request(request::Body::DirectoryStock(
            proto::DirectoryStockRequest {
                mailbox_address: mailbox.0.to_vec(),
            },
        ))
        .await
    }

    pub(crate) async fn stock_request(&self, body: request::Body) -> Result<Stock, ClientError> {
        match self.request(body).await? {
            response::Body::DirectoryStock(s) => Ok(s.into()),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Appends to a group log. A commit for a stale epoch fails with an error whose
    /// [`ClientError::epoch_conflict`] is the current epoch. Welcomes go only with a commit.
    pub async fn group_append(
        &self,
        group: &GroupId,
        epoch: u64,
        kind: GroupMessageKind,
        message: Vec<u8>,
        welcomes: Vec<WelcomeDelivery>,
    ) -> Result<GroupAppendResult, ClientError> {
        let expected: Vec<(EnvelopeId, MailboxAddress)> = welcomes
            .iter()
            .map(|w| (w.envelope_id.clone(), w.mailbox))
            .collect();
        let kind = match kind {
            GroupMessageKind::Commit => proto::GroupMessageKind::Commit,
            GroupMessageKind::Proposal => proto::GroupMessageKind::Proposal,
            GroupMessageKind::Application => proto::GroupMessageKind::Application,
        };
        let r = match self
            .request(request::Body::GroupAppend(proto::GroupAppendRequest {
                group_id: group.as_bytes().to_vec(),
                epoch,
                kind: kind as i32,
                message,
                welcomes: welcomes
                    .into_iter()
                    .map(|w| proto::WelcomeDelivery {
                        mailbox_address: w.mailbox.0.to_vec(),
                        envelope_id: w.envelope_id.as_bytes().to_vec(),
                        ciphertext: w.ciphertext,
                    })
                    .collect(),
            }))
            .await?
        {
            response::Body::GroupAppend(r) => r,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        if r.welcome_receipts.len() != expected.len() {
            return Err(ClientError::UnexpectedResponse);
        }
        let mut receipts = Vec::with_capacity(expected.len());
        for (p, (id, mb)) in r.welcome_receipts.iter().zip(expected) {
            let rc = StoredReceipt::from_proto(p)?;
            if rc.envelope_id != id || rc.mailbox != mb {
                return Err(ReceiptError::Mismatch.into());
            }
            rc.verify(&self.info.receipt_public_key)?;
            receipts.push(rc);
        }
        Ok(GroupAppendResult {
            seq: r.seq,
            current_epoch: r.current_epoch,
            duplicate: r.duplicate,
            welcome_receipts: receipts,
        })
    }

    /// Reads a group log from `cursor`.
    pub async fn group_fetch(
        &self,
        group: &GroupId,
        cursor: u64,
        limit: u32,
    ) -> Result<GroupFetchResult, ClientError> {
        match self
            .request(request::Body::GroupFetch(proto::GroupFetchRequest {
                group_id: group.as_bytes().to_vec(),
                cursor,
                limit,
            }))
            .await?
        {
            response::Body::GroupFetch(f) => group_result(f),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Subscribes to a group log: everything from `cursor`, then live pushes.
    pub async fn group_subscribe(
        &self,
        group: &GroupId,
        cursor: u64,
    ) -> Result<GroupSubscription, ClientError> {
        let stream = self
            .open_subscription(request::Body::GroupSubscribe(
                proto::GroupSubscribeRequest {
                    group_id: group.as_bytes().to_vec(),
                    cursor,
                },
            ))
            .await?;
        Ok(GroupSubscription { stream })
    }

    async fn open_subscription(&self, body: request::Body) -> Result<SubStream, ClientError> {
        let (mut send, recv) = self.conn.open_bi().await?;
        let req = proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(body),
        };
        frame::write_message(&mut send, &req, usize::MAX).await?;
        send.finish()
            .map_err(|e| ClientError::Stream(e.to_string()))?;
        Ok(SubStream {
            recv,
            max: self.options.max_frame_bytes,
        })
    }

    /// Closes the connection and waits briefly for the relay to see it.
    pub async fn close(&self) {
        self.conn.close(0u32.into(), b"bye");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

struct SubStream {
    recv: quinn::RecvStream,
    max: usize,
}

impl SubStream {
    async fn next(&mut self) -> Result<Option<response::Body>, ClientError> {
        match frame::read_message::<proto::Response, _>(&mut self.recv, self.max).await? {
            None => Ok(None),
            Some(proto::Response {
                body: Some(response::Body::Error(e)),
                ..
            }) => Err(relay_error(e)),
            Some(proto::Response { body: Some(b), .. }) => Ok(Some(b)),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}

/// A live mailbox subscription. Dropping it ends the subscription.
pub struct MailboxSubscription {
    stream: SubStream,
}

impl MailboxSubscription {
    /// The next batch: first the backlog from the cursor (possibly empty), then each push.
    /// `Ok(None)` when the relay ended the subscription.
    pub async fn next(&mut self) -> Result<Option<FetchResult>, ClientError> {
        match self.stream.next().await? {
            None => Ok(None),
            Some(response::Body::Fetch(f)) => fetch_result(f).map(Some),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}

/// A live group log subscription. Dropping it ends the subscription.
pub struct GroupSubscription {
    stream: SubStream,
}

impl GroupSubscription {
    /// The next batch of entries; `Ok(None)` when the relay ended the subscription.
    pub async fn next(&mut self) -> Result<Option<GroupFetchResult>, ClientError> {
        match self.stream.next().await? {
            None => Ok(None),
            Some(response::Body::GroupFetch(f)) => group_result(f).map(Some),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}

fn relay_error(e: proto::ErrorResponse) -> ClientError {
    ClientError::Relay {
        code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified),
        message: e.message,
        current_epoch: e.current_epoch,
        retry_after_ms: e.retry_after_ms,
    }
}

fn fetch_result(f: proto::FetchResponse) -> Result<FetchResult, ClientError> {
    let mut envelopes = Vec::with_capacity(f.envelopes.len());
    for e in f.envelopes {
        envelopes.push(Envelope {
            seq: e.seq,
            envelope_id: EnvelopeId::new(e.envelope_id)?,
            stored_at_ms: e.stored_at_ms,
            expires_at_ms: e.expires_at_ms,
            ciphertext: e.ciphertext,
        });
    }
    Ok(FetchResult {
        envelopes,
        next_cursor: f.next_cursor,
        stock: f.stock.map(Stock::from).unwrap_or_default(),
    })
}

fn group_result(f: proto::GroupFetchResponse) -> Result<GroupFetchResult, ClientError> {
    let mut entries = Vec::with_capacity(f.entries.len());
    for e in f.entries {
        let kind = match proto::GroupMessageKind::try_from(e.kind) {
            Ok(proto::GroupMessageKind::Commit) => GroupMessageKind::Commit,
            Ok(proto::GroupMessageKind::Proposal) => GroupMessageKind::Proposal,
            Ok(proto::GroupMessageKind::Application) => GroupMessageKind::Application,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        entries.push(GroupEntry {
            seq: e.seq,
            epoch: e.epoch,
            kind,
            stored_at_ms: e.stored_at_ms,
            message: e.message,
        });
    }
    Ok(GroupFetchResult {
        entries,
        next_cursor: f.next_cursor,
        current_epoch: f.current_epoch,
    })
}
