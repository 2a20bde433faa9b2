//! HELLO: versions, limits and the relay's receipt key.

use super::{CmdError, Context};
use crate::frame::PROTOCOL_VERSION;
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    _req: proto::HelloRequest,
) -> Result<response::Body, CmdError> {
    let c = &ctx.shared.config;
    Ok(response::Body::Hello(proto::HelloResponse {
        min_version: PROTOCOL_VERSION,
        max_version: PROTOCOL_VERSION,
        receipt_public_key: ctx.shared.receipt_key.verifying_key().to_bytes().to_vec(),
        server_time_ms: ctx.shared.config.clock.now_ms(),
        max_frame_bytes: c.max_frame_bytes.try_into().unwrap_or(u32::MAX),
        max_envelope_bytes: c.max_envelope_bytes.try_into().unwrap_or(u32::MAX),
        ttl_seconds: c.ttl.as_secs(),
    }))
}
