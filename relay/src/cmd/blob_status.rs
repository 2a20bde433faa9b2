//! BLOB_STATUS (anyone holding the id): length, durable offset, completeness, expiry
//! (spec §11.2). An interrupted upload resumes from the durable offset.

use super::{CmdError, Context, blob_id, blob_refused, blob_store};
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::BlobStatusRequest,
) -> Result<response::Body, CmdError> {
    let id = blob_id(&req.blob_id)?;
    let store = blob_store(ctx)?;
    let now = ctx.shared.config.clock.now_ms();
    let m = store
        .status(&id, now)
        .await
        .map_err(|e| blob_refused(ctx, e))?;
    Ok(response::Body::BlobStatus(status_proto(&m)))
}

pub(crate) fn status_proto(m: &crate::blobs::Meta) -> proto::BlobStatus {
    proto::BlobStatus {
        length: m.length,
        durable_offset: m.durable,
        complete: m.complete,
        expires_at_ms: m.expires_at_ms,
    }
}
