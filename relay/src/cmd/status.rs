//! STATUS: stored, delivered or expired, by envelope id; with relay-signed receipts.

use super::{CmdError, Context};
use crate::proto::{self, EnvelopeState as WireState, ErrorCode, response};
use crate::storage::EnvelopeState;
use crate::types::{DeliveredReceipt, EnvelopeId, StoredReceipt};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::StatusRequest,
) -> Result<response::Body, CmdError> {
    let id = EnvelopeId::new(req.envelope_id)?;
    let Some(st) = ctx
        .shared
        .storage
        .envelope_status(id.clone(), ctx.shared.config.clock.now_ms())
        .await?
    else {
        return Err(CmdError::new(ErrorCode::NotFound, "unknown envelope id"));
    };
    let key = &ctx.shared.receipt_key;
    let stored = StoredReceipt::sign(key, id.clone(), st.mailbox, st.stored_at_ms);
    let (state, delivered, expired_at_ms) = match st.state {
        EnvelopeState::Stored => (WireState::Stored, None, 0),
        EnvelopeState::Delivered { at_ms } => (
            WireState::Delivered,
            Some(DeliveredReceipt::sign(key, id, st.mailbox, at_ms).to_proto()),
            0,
        ),
        EnvelopeState::Expired { at_ms } => (WireState::Expired, None, at_ms),
    };
    Ok(response::Body::Status(proto::StatusResponse {
        state: state as i32,
        stored: Some(stored.to_proto()),
        delivered,
        expired_at_ms,
    }))
}
