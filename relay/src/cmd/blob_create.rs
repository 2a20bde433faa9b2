//! BLOB_CREATE (owner): reserves a blob of a given length against the quota of an
//! authenticated mailbox and hands out its random id (spec §11.1).

use super::{CmdError, Context, blob_error, blob_store, owned_mailbox};
use crate::proto::{self, response};
use std::time::Duration;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::BlobCreateRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let store = blob_store(ctx)?;
    let now = ctx.shared.config.clock.now_ms();
    let ttl = Duration::from_secs(req.ttl_seconds);
    let (id, expires_at_ms) =
        tokio::task::spawn_blocking(move || store.create(mailbox.0, req.length, ttl, now))
            .await
            .map_err(|e| CmdError::internal(e.to_string()))?
            .map_err(blob_error)?;
    Ok(response::Body::BlobCreate(proto::BlobCreateResponse {
        blob_id: id.to_vec(),
        expires_at_ms,
    }))
}
