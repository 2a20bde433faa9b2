//! AUTH: the mailbox owner signs an outstanding challenge with the mailbox key.
//!
//! Signed bytes: `"Hush-v1-Relay-Mailbox-Auth" || challenge || certificate fingerprint`. The
//! challenge is consumed by the attempt, right or wrong, so a signature cannot be replayed on
//! this connection, and challenges of other connections are unknown here.

use super::{CmdError, Context};
use crate::proto::{self, ErrorCode, response};
use crate::types::{MailboxAddress, auth_message, parse_public_key};
use ed25519_dalek::Signature;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::AuthRequest,
) -> Result<response::Body, CmdError> {
    let key = parse_public_key(&req.mailbox_public_key)?;
    let challenge: [u8; 32] = req
        .challenge
        .as_slice()
        .try_into()
        .map_err(|_| CmdError::malformed("challenge must be 32 bytes"))?;
    let sig: [u8; 64] = req
        .signature
        .as_slice()
        .try_into()
        .map_err(|_| CmdError::malformed("signature must be 64 bytes"))?;
    if !ctx.conn.take_challenge(&challenge) {
        return Err(CmdError::new(
            ErrorCode::BadSignature,
            "unknown or already used challenge",
        ));
    }
    let msg = auth_message(&challenge, &ctx.shared.fingerprint);
    key.verify_strict(&msg, &Signature::from_bytes(&sig))
        .map_err(|_| CmdError::new(ErrorCode::BadSignature, "signature does not verify"))?;
    let address = MailboxAddress::from_public_key(&key);
    ctx.conn.authenticate(address)?;
    Ok(response::Body::Auth(proto::AuthResponse {
        mailbox_address: address.0.to_vec(),
    }))
}
