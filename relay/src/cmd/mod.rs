//! One file per request kind. [`dispatch`] routes a decoded request to its handler.
//!
//! A unary handler returns its response body; a subscription handler writes its frames to the
//! stream itself and returns `None`.

mod ack;
mod auth;
mod blob_create;
mod blob_status;
pub(crate) mod blob_transfer;
mod challenge;
mod directory_access;
mod directory_stock;
mod fetch;
mod generation;
mod group_append;
mod group_fetch;
mod group_subscribe;
mod hello;
mod key_package_fetch;
mod key_package_upload;
mod prekey_fetch;
mod prekey_upload;
mod send;
mod status;
mod subscribe;

use crate::connection::ConnState;
use crate::proto::{self, ErrorCode, request, response};
use crate::shared::Shared;
use crate::shutdown::Shutdown;
use crate::storage::{DirectoryStock, StorageError};
use crate::types::{IdError, MailboxAddress};
use std::sync::Arc;

/// Where a subscription writes its frames: a QUIC send stream on a real connection, a buffer
/// in the socket-free [`crate::dispatch`] path.
pub(crate) trait Sink: tokio::io::AsyncWrite + Unpin + Send {
    /// Resolves when the peer no longer wants frames.
    fn stopped(&mut self) -> impl std::future::Future<Output = ()> + Send;
}

impl Sink for quinn::SendStream {
    async fn stopped(&mut self) {
        let _ = quinn::SendStream::stopped(self).await;
    }
}

/// What a handler sees.
pub(crate) struct Context {
    pub(crate) shared: Arc<Shared>,
    pub(crate) conn: Arc<ConnState>,
    pub(crate) shutdown: Shutdown,
}

/// A request failure, sent back as an `ErrorResponse`.
#[derive(Debug)]
pub(crate) struct CmdError {
    pub(crate) code: ErrorCode,
    pub(crate) message: String,
    pub(crate) current_epoch: Option<u64>,
    pub(crate) retry_after_ms: u64,
}

impl CmdError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CmdError {
            code,
            message: message.into(),
            current_epoch: None,
            retry_after_ms: 0,
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    pub(crate) fn malformed(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Malformed, message)
    }

    pub(crate) fn to_proto(&self) -> proto::ErrorResponse {
        proto::ErrorResponse {
            code: self.code as i32,
            message: self.message.clone(),
            current_epoch: self.current_epoch,
            retry_after_ms: self.retry_after_ms,
        }
    }

    /// Metric label.
    pub(crate) fn kind(&self) -> &'static str {
        match self.code {
            ErrorCode::Unspecified => "unspecified",
            ErrorCode::Malformed => "malformed",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::FrameTooLarge => "frame_too_large",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::BadSignature => "bad_signature",
            ErrorCode::NotFound => "not_found",
            ErrorCode::QuotaExceeded => "quota_exceeded",
            ErrorCode::EnvelopeTooLarge => "envelope_too_large",
            ErrorCode::EnvelopeIdConflict => "envelope_id_conflict",
            ErrorCode::EpochConflict => "epoch_conflict",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Internal => "internal",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::FetchTokenInvalid => "fetch_token_invalid",
            ErrorCode::RelayFull => "relay_full",
            ErrorCode::DirectoryEntryTooLarge => "directory_entry_too_large",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::BlobTooLarge => "blob_too_large",
            ErrorCode::BlobExpired => "blob_expired",
            ErrorCode::BlobOffset => "blob_offset",
            ErrorCode::BlobIncomplete => "blob_incomplete",
        }
    }
}

impl From<StorageError> for CmdError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::QuotaExceeded { .. } | StorageError::DirectoryFull(_) => {
                CmdError::new(ErrorCode::QuotaExceeded, e.to_string())
            }
            StorageError::EnvelopeIdConflict => {
                CmdError::new(ErrorCode::EnvelopeIdConflict, e.to_string())
            }
            StorageError::EpochConflict { current } => {
                let mut c = CmdError::new(ErrorCode::EpochConflict, e.to_string());
                c.current_epoch = Some(current);
                c
            }
            StorageError::LastEpoch => CmdError::malformed(e.to_string()),
            StorageError::Closed => CmdError::new(ErrorCode::ShuttingDown, e.to_string()),
            StorageError::Unavailable { retry_after_ms, .. } => {
                let mut c = CmdError::new(
                    ErrorCode::StorageUnavailable,
                    format!("{e}; nothing was stored"),
                );
                c.retry_after_ms = retry_after_ms.max(1);
                c
            }
            StorageError::Unreachable { retry_after_ms, .. } => {
                let mut c = CmdError::new(
                    ErrorCode::StorageUnavailable,
                    format!(
                        "{e}; whether this request was stored is unknown: repeat it (a \
                         repeat never stores twice)"
                    ),
                );
                c.retry_after_ms = retry_after_ms.max(1);
                c
            }
            StorageError::Corrupt(_) | StorageError::Backend(_) | StorageError::Unsupported(_) => {
                CmdError::internal(e.to_string())
            }
        }
    }
}

impl From<IdError> for CmdError {
    fn from(e: IdError) -> Self {
        CmdError::malformed(e.to_string())
    }
}

/// Metric label of a request kind.
pub(crate) fn kind(body: &request::Body) -> &'static str {
    match body {
        request::Body::Hello(_) => "hello",
        request::Body::Challenge(_) => "challenge",
        request::Body::Auth(_) => "auth",
        request::Body::Send(_) => "send",
        request::Body::Fetch(_) => "fetch",
        request::Body::Subscribe(_) => "subscribe",
        request::Body::Ack(_) => "ack",
        request::Body::Status(_) => "status",
        request::Body::PrekeyUpload(_) => "prekey_upload",
        request::Body::PrekeyFetch(_) => "prekey_fetch",
        request::Body::KeyPackageUpload(_) => "key_package_upload",
        request::Body::KeyPackageFetch(_) => "key_package_fetch",
        request::Body::DirectoryStock(_) => "directory_stock",
        request::Body::GroupAppend(_) => "group_append",
        request::Body::GroupFetch(_) => "group_fetch",
        request::Body::GroupSubscribe(_) => "group_subscribe",
        request::Body::Generation(_) => "generation",
        request::Body::DirectoryAccess(_) => "directory_access",
        request::Body::BlobCreate(_) => "blob_create",
        request::Body::BlobUpload(_) => "blob_upload",
        request::Body::BlobStatus(_) => "blob_status",
        request::Body::BlobDownload(_) => "blob_download",
    }
}

/// Runs one request.
pub(crate) async fn dispatch<S: Sink>(
    ctx: &Context,
    body: request::Body,
    send: &mut S,
) -> Result<Option<response::Body>, CmdError> {
    use request::Body as B;
    let out = match body {
        B::Hello(r) => hello::handle(ctx, r).await?,
        B::Challenge(r) => challenge::handle(ctx, r).await?,
        B::Auth(r) => auth::handle(ctx, r).await?,
        B::Send(r) => send::handle(ctx, r).await?,
        B::Fetch(r) => fetch::handle(ctx, r).await?,
        B::Subscribe(r) => return subscribe::handle(ctx, r, send).await.map(|()| None),
        B::Ack(r) => ack::handle(ctx, r).await?,
        B::Status(r) => status::handle(ctx, r).await?,
        B::PrekeyUpload(r) => prekey_upload::handle(ctx, r).await?,
        B::PrekeyFetch(r) => prekey_fetch::handle(ctx, r).await?,
        B::KeyPackageUpload(r) => key_package_upload::handle(ctx, r).await?,
        B::KeyPackageFetch(r) => key_package_fetch::handle(ctx, r).await?,
        B::DirectoryStock(r) => directory_stock::handle(ctx, r).await?,
        B::GroupAppend(r) => group_append::handle(ctx, r).await?,
        B::GroupFetch(r) => group_fetch::handle(ctx, r).await?,
        B::GroupSubscribe(r) => return group_subscribe::handle(ctx, r, send).await.map(|()| None),
        B::Generation(r) => generation::handle(ctx, r).await?,
        B::DirectoryAccess(r) => directory_access::handle(ctx, r).await?,
        B::BlobCreate(r) => blob_create::handle(ctx, r).await?,
        B::BlobStatus(r) => blob_status::handle(ctx, r).await?,
        B::BlobUpload(_) | B::BlobDownload(_) => {
            return Err(CmdError::malformed(
                "blob upload and download need a QUIC stream of their own",
            ));
        }
    };
    Ok(Some(out))
}

/// Parses a mailbox address and checks that this connection owns it.
pub(crate) fn owned_mailbox(ctx: &Context, bytes: &[u8]) -> Result<MailboxAddress, CmdError> {
    let a = MailboxAddress::from_slice(bytes)?;
    ctx.conn.require_owner(&a)?;
    Ok(a)
}

/// The wire form of a stock, with the low-stock flag computed from the relay's threshold.
pub(crate) fn stock_to_proto(ctx: &Context, s: DirectoryStock) -> proto::DirectoryStock {
    let t = ctx.shared.config.low_stock_threshold;
    proto::DirectoryStock {
        one_time_prekeys: s.one_time_prekeys,
        key_packages: s.key_packages,
        has_signed_prekey: s.has_signed_prekey,
        has_last_resort: s.has_last_resort,
        low: (s.has_signed_prekey && s.one_time_prekeys < t)
            || (s.has_last_resort && s.key_packages < t)
            || (s.has_last_resort_kem_prekey && s.one_time_kem_prekeys < t),
        one_time_kem_prekeys: s.one_time_kem_prekeys,
        has_last_resort_kem_prekey: s.has_last_resort_kem_prekey,
    }
}

/// Most entries one fetch returns.
pub(crate) const MAX_FETCH: usize = 1000;
/// Entries a fetch with `limit = 0` returns.
pub(crate) const DEFAULT_FETCH: usize = 100;

/// The page size to use for a requested limit.
pub(crate) fn page_limit(requested: u32) -> usize {
    match requested as usize {
        0 => DEFAULT_FETCH,
        n => n.min(MAX_FETCH),
    }
}

/// Ciphertext bytes that fit one response frame.
pub(crate) fn page_bytes(ctx: &Context) -> usize {
    ctx.shared.config.max_frame_bytes.saturating_sub(16 * 1024)
}

/// The relay's blob store, if it has one (a relay always does; the socket-free dispatcher
/// only over an embedded store).
pub(crate) fn blob_store(ctx: &Context) -> Result<Arc<crate::blobs::Blobs>, CmdError> {
    ctx.shared
        .blobs
        .clone()
        .ok_or_else(|| CmdError::new(ErrorCode::NotFound, "this relay has no blob store"))
}

/// Parses a 32-byte blob id.
pub(crate) fn blob_id(bytes: &[u8]) -> Result<[u8; crate::blobs::BLOB_ID_LEN], CmdError> {
    bytes
        .try_into()
        .map_err(|_| CmdError::malformed("blob id must be 32 bytes"))
}

/// The wire error for a blob store error, after noting that an expired blob was deleted
/// (its bytes leave the relay-wide storage cap).
pub(crate) fn blob_refused(ctx: &Context, e: crate::blobs::BlobError) -> CmdError {
    if matches!(e, crate::blobs::BlobError::Expired) {
        ctx.shared.capacity.freed();
    }
    blob_error(e)
}

/// The wire error for a blob store error.
pub(crate) fn blob_error(e: crate::blobs::BlobError) -> CmdError {
    use crate::blobs::BlobError as E;
    let code = match &e {
        E::NotFound | E::Superseded => ErrorCode::NotFound,
        E::Expired => ErrorCode::BlobExpired,
        E::TooLarge { .. } => ErrorCode::BlobTooLarge,
        E::Quota { .. } => ErrorCode::QuotaExceeded,
        E::Offset { .. } => ErrorCode::BlobOffset,
        E::Incomplete { .. } => ErrorCode::BlobIncomplete,
        E::Io(_) | E::Database(_) => ErrorCode::StorageUnavailable,
    };
    let mut c = CmdError::new(code, e.to_string());
    if code == ErrorCode::StorageUnavailable {
        c.retry_after_ms = 1000;
    }
    c
}
