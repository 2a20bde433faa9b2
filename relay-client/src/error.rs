//! What can go wrong talking to a relay.

use hush_wire::frame::FrameError;
use hush_wire::proto::{self, ErrorCode};
use hush_wire::types::{IdError, ReceiptError};

use crate::tls::TlsError;

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

    /// For a refusal the client should simply retry later (`RATE_LIMITED`, `RELAY_FULL`,
    /// `STORAGE_UNAVAILABLE`: nothing was stored, the relay takes writes again by itself):
    /// how long the relay asks it to wait, in milliseconds (at least 1).
    pub fn retry_after_ms(&self) -> Option<u64> {
        match self {
            ClientError::Relay {
                code: ErrorCode::RateLimited | ErrorCode::RelayFull | ErrorCode::StorageUnavailable,
                retry_after_ms,
                ..
            } => Some((*retry_after_ms).max(1)),
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

pub(crate) fn relay_error(e: proto::ErrorResponse) -> ClientError {
    ClientError::Relay {
        code: ErrorCode::try_from(e.code).unwrap_or(ErrorCode::Unspecified),
        message: e.message,
        current_epoch: e.current_epoch,
        retry_after_ms: e.retry_after_ms,
    }
}
