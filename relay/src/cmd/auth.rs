//! AUTH: the mailbox owner signs an outstanding challenge with the mailbox key.
//!
//! Signed bytes: `"Hush-v1-Relay-Mailbox-Auth" || challenge || relay key fingerprint` (or, from
//! clients made before key pinning, the whole-certificate fingerprint). The
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
    // The key fingerprint; or the whole-certificate one, which clients from before key pinning
    // sign (spec §1). Both name this relay only.
    let sig = Signature::from_bytes(&sig);
    let shared = &ctx.shared;
    let verifies = |f| {
        key.verify_strict(&auth_message(&challenge, f), &sig)
            .is_ok()
    };
    if !verifies(&shared.fingerprint) && !verifies(&shared.certificate_fingerprint) {
        return Err(CmdError::new(
            ErrorCode::BadSignature,
            "signature does not verify",
        ));
    }
    let address = MailboxAddress::from_public_key(&key);
    ctx.conn.authenticate(address)?;
    Ok(response::Body::Auth(proto::AuthResponse {
        mailbox_address: address.0.to_vec(),
    }))
}
