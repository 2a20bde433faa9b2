//! One QUIC connection to one relay: connecting with the pinned certificate, HELLO, and the
//! request/response exchange every call uses.

use crate::error::{ClientError, relay_error};
use crate::results::RelayInfo;
use crate::subscription::SubStream;
use crate::tls::{self, TlsError};
use ed25519_dalek::VerifyingKey;
use hush_wire::frame::{self, PROTOCOL_VERSION};
use hush_wire::proto::{self, request, response};
use hush_wire::types::{Fingerprint, parse_public_key};
use hush_wire::url::RelayUrl;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

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

/// A connection to one relay.
pub struct Client {
    endpoint: quinn::Endpoint,
    pub(crate) conn: quinn::Connection,
    url: RelayUrl,
    /// Key fingerprint of the certificate the relay presented (what AUTH signs over).
    pub(crate) relay_fingerprint: Fingerprint,
    pub(crate) info: RelayInfo,
    pub(crate) options: ClientOptions,
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
            .ack_frequency_config(Some(hush_wire::quic::ack_frequency()));
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
        let relay_fingerprint = hush_wire::quic::peer_fingerprint(&conn).ok_or_else(|| {
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
            hush_wire::quic::take_end(&mut recv);
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

    pub(crate) async fn open_subscription(
        &self,
        body: request::Body,
    ) -> Result<SubStream, ClientError> {
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
