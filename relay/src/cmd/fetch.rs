//! FETCH: the owner reads its mailbox from a cursor.

use super::{CmdError, Context, owned_mailbox, page_bytes, page_limit, stock_to_proto};
use crate::proto::{self, response};
use crate::storage::StoredEnvelope;

pub(crate) fn envelope_to_proto(e: StoredEnvelope) -> proto::Envelope {
    proto::Envelope {
        seq: e.seq,
        envelope_id: e.envelope_id.as_bytes().to_vec(),
        stored_at_ms: e.stored_at_ms,
        expires_at_ms: e.expires_at_ms,
        ciphertext: e.ciphertext,
    }
}

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::FetchRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let page = ctx
        .shared
        .storage
        .fetch_page(
            mailbox,
            req.cursor,
            page_limit(req.limit),
            page_bytes(ctx),
            ctx.shared.config.clock.now_ms(),
        )
        .await?;
    let next_cursor = page
        .envelopes
        .last()
        .map(|e| e.seq + 1)
        .unwrap_or(req.cursor);
    Ok(response::Body::Fetch(proto::FetchResponse {
        envelopes: page.envelopes.into_iter().map(envelope_to_proto).collect(),
        next_cursor,
        stock: Some(stock_to_proto(ctx, page.stock)),
    }))
}
