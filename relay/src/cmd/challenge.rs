//! CHALLENGE: a fresh 32-byte value to sign, valid once, on this connection only.

use super::{CmdError, Context};
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    _req: proto::ChallengeRequest,
) -> Result<response::Body, CmdError> {
    let mut c = [0u8; 32];
    getrandom::fill(&mut c).map_err(|e| CmdError::internal(format!("random source: {e}")))?;
    ctx.conn.add_challenge(c);
    Ok(response::Body::Challenge(proto::ChallengeResponse {
        challenge: c.to_vec(),
    }))
}
