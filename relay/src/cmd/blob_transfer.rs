//! BLOB_UPLOAD and BLOB_DOWNLOAD: the two requests that take a stream of their own, with the
//! blob's bytes unframed after the request (upload) or after the first response frame
//! (download) (spec §11.3, §11.4). Memory per transfer: one 64 KiB buffer (and, on PostgreSQL, one
//! chunk row).

use super::blob_status::status_proto;
use super::{CmdError, Context, blob_error, blob_id, blob_refused, blob_store};
use crate::blobs::BlobError;
use crate::connection::error_response;
use crate::frame::{self, PROTOCOL_VERSION};
use crate::proto::{self, request, response};
use std::time::Duration;

/// Bytes moved per read or write.
const BUF: usize = 64 * 1024;
/// How often a waiting upload checks whether a newer upload of its blob took over.
const SUPERSEDE_CHECK: Duration = Duration::from_millis(250);

/// Whether a request is served by [`handle`] on its own stream.
pub(crate) fn is_transfer(body: &request::Body) -> bool {
    matches!(
        body,
        request::Body::BlobUpload(_) | request::Body::BlobDownload(_)
    )
}

async fn write_body(send: &mut quinn::SendStream, ctx: &Context, body: response::Body) {
    let resp = proto::Response {
        version: PROTOCOL_VERSION,
        body: Some(body),
    };
    if let Err(e) = frame::write_message(send, &resp, ctx.shared.config.max_frame_bytes).await {
        tracing::debug!(error = %e, "could not write blob response");
    }
}

async fn write_error(send: &mut quinn::SendStream, e: &CmdError) {
    let resp = error_response(e);
    if let Err(e) = frame::write_message(send, &resp, usize::MAX).await {
        tracing::debug!(error = %e, "could not write blob error");
    }
}

/// Serves one transfer request on its stream (after the checks every request passes),
/// answering errors itself.
pub(crate) async fn serve(
    ctx: Context,
    req: proto::Request,
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
) {
    let started = std::time::Instant::now();
    let kind = req.body.as_ref().map_or("invalid", super::kind);
    let r = match crate::connection::admit(&ctx, req) {
        Ok(body) => handle(&ctx, body, &mut send, &mut recv).await,
        Err(e) => Err(e),
    };
    if let Err(e) = r {
        metrics::counter!("hush_relay_errors_total", "kind" => e.kind()).increment(1);
        tracing::debug!(remote = %ctx.conn.remote, error = %e.message, "blob transfer refused");
        let _ = recv.stop(0u32.into());
        write_error(&mut send, &e).await;
    }
    let _ = send.finish();
    metrics::histogram!("hush_relay_request_duration_seconds", "request" => kind)
        .record(started.elapsed().as_secs_f64());
}

async fn handle(
    ctx: &Context,
    body: request::Body,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
) -> Result<(), CmdError> {
    match body {
        request::Body::BlobUpload(r) => upload(ctx, r, send, recv).await,
        request::Body::BlobDownload(r) => download(ctx, r, send).await,
        _ => Err(CmdError::malformed("not a blob transfer")),
    }
}

async fn upload(
    ctx: &Context,
    req: proto::BlobUploadRequest,
    send: &mut quinn::SendStream,
    recv: &mut quinn::RecvStream,
) -> Result<(), CmdError> {
    let id = blob_id(&req.blob_id)?;
    let store = blob_store(ctx)?;
    let now = ctx.shared.config.clock.now_ms();
    let mut up = store
        .begin_upload(id, req.offset, now)
        .await
        .map_err(|e| blob_refused(ctx, e))?;
    let mut buf = vec![0u8; BUF];
    loop {
        if up.superseded() {
            return Err(blob_error(BlobError::Superseded));
        }
        let n = match tokio::time::timeout(SUPERSEDE_CHECK, recv.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(Some(n))) => n,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                // The uploader is gone (connection lost, stream reset): keep what arrived.
                tracing::debug!(error = %e, "blob upload interrupted");
                up.sync().await.map_err(blob_error)?;
                return Ok(());
            }
        };
        if let Err(e) = up.write(&buf[..n]).await {
            // Keep the valid prefix durable, then refuse.
            let _ = up.sync().await;
            return Err(blob_error(e));
        }
    }
    let meta = up.finish().await.map_err(blob_error)?;
    write_body(send, ctx, response::Body::BlobStatus(status_proto(&meta))).await;
    Ok(())
}

async fn download(
    ctx: &Context,
    req: proto::BlobDownloadRequest,
    send: &mut quinn::SendStream,
) -> Result<(), CmdError> {
    let id = blob_id(&req.blob_id)?;
    let store = blob_store(ctx)?;
    let now = ctx.shared.config.clock.now_ms();
    let (mut file, meta) = store
        .open_download(&id, req.offset, now)
        .await
        .map_err(|e| blob_refused(ctx, e))?;
    write_body(
        send,
        ctx,
        response::Body::BlobDownload(proto::BlobDownloadResponse {
            length: meta.length,
            offset: req.offset,
            expires_at_ms: meta.expires_at_ms,
        }),
    )
    .await;
    let mut left = meta.length - req.offset;
    let mut buf = vec![0u8; BUF];
    while left > 0 {
        let want = (left as usize).min(BUF);
        let n = match file.read(&mut buf[..want]).await {
            Ok(0) => {
                // Never finish a short download as if it were whole.
                tracing::error!("blob file shorter than its length");
                let _ = send.reset(1u32.into());
                return Ok(());
            }
            Ok(n) => n,
            Err(e) => {
                tracing::error!(error = %e, "blob read failed");
                let _ = send.reset(1u32.into());
                return Ok(());
            }
        };
        if let Err(e) = send.write_all(&buf[..n]).await {
            tracing::debug!(error = %e, "blob download interrupted");
            return Ok(());
        }
        left -= n as u64;
    }
    Ok(())
}
