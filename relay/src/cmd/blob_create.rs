//! BLOB_CREATE (owner): reserves a blob of a given length against the quota of an
//! authenticated mailbox and the relay-wide storage cap, and hands out its random id
//! (spec §11.1).

use super::{CmdError, Context, blob_refused, blob_store, owned_mailbox};
use crate::proto::{self, ErrorCode, response};
use std::time::Duration;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::BlobCreateRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let store = blob_store(ctx)?;
    let now = ctx.shared.config.clock.now_ms();
    let max = store.config().max_blob_bytes;
    if req.length == 0 || req.length > max {
        return Err(blob_refused(
            ctx,
            crate::blobs::BlobError::TooLarge {
                len: req.length,
                max,
            },
        ));
    }
    // Expired blobs give their space back before the cap is asked.
    if store.sweep(now).await.map_err(|e| blob_refused(ctx, e))? > 0 {
        ctx.shared.capacity.freed();
    }
    let admitted = ctx
        .shared
        .capacity
        .admit(&*ctx.shared.storage, req.length)
        .await
        .map_err(|mut e| {
            if e.code == ErrorCode::RelayFull {
                e.message = format!(
                    "blob not created: {}",
                    e.message
                        .replace("nothing was stored", "no blob was reserved")
                );
            }
            e
        })?;
    let ttl = Duration::from_secs(req.ttl_seconds);
    let (id, expires_at_ms) = store
        .create(mailbox.0, req.length, ttl, now)
        .await
        .map_err(|e| blob_refused(ctx, e))?;
    admitted.keep();
    Ok(response::Body::BlobCreate(proto::BlobCreateResponse {
        blob_id: id.to_vec(),
        expires_at_ms,
    }))
}
