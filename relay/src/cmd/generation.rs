//! GENERATION: the owner reads, or compare-and-sets, its mailbox's state generation: a
//! counter that only the owner advances, which lets a client tell that its stored state was
//! rolled back (spec/relay-protocol.md, "GENERATION").

use super::{CmdError, Context, owned_mailbox};
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::GenerationRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let storage = &ctx.shared.storage;
    let (current, advanced) = match req.expected {
        None => (storage.generation(mailbox).await?, false),
        Some(expected) => {
            if req.next <= expected {
                return Err(CmdError::malformed(
                    "the next generation must be greater than the expected one",
                ));
            }
            let out = storage
                .advance_generation(mailbox, expected, req.next)
                .await?;
            (out.current, out.advanced)
        }
    };
    Ok(response::Body::Generation(proto::GenerationResponse {
        current,
        advanced,
    }))
}
