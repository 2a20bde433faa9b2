//! ACK: the owner deletes envelopes it has; each becomes "delivered".

use super::{CmdError, Context, MAX_FETCH, owned_mailbox};
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::AckRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    if req.seqs.len() > MAX_FETCH {
        return Err(CmdError::malformed(format!(
            "at most {MAX_FETCH} sequence numbers per ack"
        )));
    }
    let deleted = ctx
        .shared
        .storage
        .ack_envelopes(mailbox, req.seqs, ctx.shared.config.clock.now_ms())
        .await?;
    ctx.shared.capacity.freed();
    metrics::counter!("hush_relay_envelopes_delivered_total").increment(deleted.into());
    Ok(response::Body::Ack(proto::AckResponse { deleted }))
}
