//! [`Client`] calls of the blob store (spec/relay-protocol.md §11): reserve a blob, upload it
//! on a stream of its own (resuming at the relay's durable offset), ask its status, and
//! download it from any offset. Data is streamed in 64 KiB pieces; nothing holds a whole blob.

use crate::error::relay_error;
use crate::{Client, ClientError};
use hush_wire::frame::{self, PROTOCOL_VERSION};
use hush_wire::proto::{self, request, response};
use hush_wire::types::MailboxAddress;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Bytes moved per read or write.
const BUF: usize = 64 * 1024;

/// A blob's id: 32 random bytes from the relay, also its read capability (keep it as secret
/// as the attachment reference that carries it).
pub type BlobId = [u8; 32];

/// What the relay says about a blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobInfo {
    /// The blob's length in bytes.
    pub length: u64,
    /// Bytes from the start on stable storage: an upload resumes here.
    pub durable_offset: u64,
    /// Every byte is durable: the blob can be downloaded (for an upload, this is the
    /// receipt).
    pub complete: bool,
    /// When the relay deletes it (ms since the Unix epoch).
    pub expires_at_ms: u64,
}

impl From<proto::BlobStatus> for BlobInfo {
    fn from(s: proto::BlobStatus) -> Self {
        BlobInfo {
            length: s.length,
            durable_offset: s.durable_offset,
            complete: s.complete,
            expires_at_ms: s.expires_at_ms,
        }
    }
}

fn id_of(bytes: &[u8]) -> Result<BlobId, ClientError> {
    bytes
        .try_into()
        .map_err(|_| ClientError::UnexpectedResponse)
}

impl Client {
    /// Reserves a blob of exactly `length` bytes, counted toward the quota of `mailbox`
    /// (authenticated on this client), living `ttl_seconds` (0: the relay's default).
    /// Returns its id and expiry.
    pub async fn create_blob(
        &self,
        mailbox: &MailboxAddress,
        length: u64,
        ttl_seconds: u64,
    ) -> Result<(BlobId, u64), ClientError> {
        match self
            .request(request::Body::BlobCreate(proto::BlobCreateRequest {
                mailbox_address: mailbox.0.to_vec(),
                length,
                ttl_seconds,
            }))
            .await?
        {
            response::Body::BlobCreate(r) => Ok((id_of(&r.blob_id)?, r.expires_at_ms)),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// A blob's length, durable offset, completeness and expiry.
    pub async fn blob_status(&self, id: &BlobId) -> Result<BlobInfo, ClientError> {
        match self
            .request(request::Body::BlobStatus(proto::BlobStatusRequest {
                blob_id: id.to_vec(),
            }))
            .await?
        {
            response::Body::BlobStatus(s) => Ok(s.into()),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Uploads the blob's bytes from `offset` on, read from `data` until its end (which must
    /// be the blob's end for the upload to complete). `offset` must not exceed the relay's
    /// durable offset ([`Client::blob_status`]). Returns the relay's status once what it
    /// received is durable: `complete` is the receipt of the whole blob.
    pub async fn upload_blob<R: AsyncRead + Unpin>(
        &self,
        id: &BlobId,
        offset: u64,
        mut data: R,
    ) -> Result<BlobInfo, ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        let req = proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(request::Body::BlobUpload(proto::BlobUploadRequest {
                blob_id: id.to_vec(),
                offset,
            })),
        };
        frame::write_message(&mut send, &req, usize::MAX).await?;
        let mut buf = vec![0u8; BUF];
        loop {
            let n = data
                .read(&mut buf)
                .await
                .map_err(|e| ClientError::Stream(format!("reading the blob: {e}")))?;
            if n == 0 {
                break;
            }
            if send.write_all(&buf[..n]).await.is_err() {
                // The relay stopped reading: its answer, read next, says why.
                break;
            }
        }
        let _ = send.finish();
        let resp =
            frame::read_message::<proto::Response, _>(&mut recv, self.options.max_frame_bytes)
                .await?
                .ok_or(ClientError::NoResponse)?;
        match resp.body {
            Some(response::Body::BlobStatus(s)) => Ok(s.into()),
            Some(response::Body::Error(e)) => Err(relay_error(e)),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Downloads a complete blob from `offset` to its end into `out`. Returns the blob's
    /// length; fails (after writing what arrived) if the stream ends early, so a caller
    /// resumes at `offset` + what it wrote.
    pub async fn download_blob<W: AsyncWrite + Unpin>(
        &self,
        id: &BlobId,
        offset: u64,
        mut out: W,
    ) -> Result<u64, ClientError> {
        let (mut send, mut recv) = self.conn.open_bi().await?;
        let req = proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(request::Body::BlobDownload(proto::BlobDownloadRequest {
                blob_id: id.to_vec(),
                offset,
            })),
        };
        frame::write_message(&mut send, &req, usize::MAX).await?;
        let _ = send.finish();
        let resp =
            frame::read_message::<proto::Response, _>(&mut recv, self.options.max_frame_bytes)
                .await?
                .ok_or(ClientError::NoResponse)?;
        let head = match resp.body {
            Some(response::Body::BlobDownload(d)) => d,
            Some(response::Body::Error(e)) => return Err(relay_error(e)),
            _ => return Err(ClientError::UnexpectedResponse),
        };
        if head.offset != offset || head.length < offset {
            return Err(ClientError::UnexpectedResponse);
        }
        let mut left = head.length - offset;
        let mut buf = vec![0u8; BUF];
        while left > 0 {
            let want = (left as usize).min(BUF);
            let Some(n) = recv
                .read(&mut buf[..want])
                .await
                .map_err(|e| ClientError::Stream(e.to_string()))?
            else {
                return Err(ClientError::Stream(format!(
                    "blob download ended {left} bytes early"
                )));
            };
            out.write_all(&buf[..n])
                .await
                .map_err(|e| ClientError::Stream(format!("writing the blob: {e}")))?;
            left -= n as u64;
        }
        out.flush()
            .await
            .map_err(|e| ClientError::Stream(format!("writing the blob: {e}")))?;
        Ok(head.length)
    }
}
