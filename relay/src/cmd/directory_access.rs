//! DIRECTORY_ACCESS: the owner registers its directory's fetch verifier
//! (`spec/relay-protocol.md` §6.1), and the check every directory fetch goes through.
//!
//! The relay stays blind: it never opens a directory entry. It only hashes a presented fetch
//! token, `SHA-256("Hush-v1-Directory-Verifier" ‖ token)`, and compares the hash with the stored
//! verifier in constant time. It keeps only the hash, so a copy of its database cannot fetch.

use super::{CmdError, Context, owned_mailbox, stock_to_proto};
use crate::proto::{self, ErrorCode, response};
use crate::types::MailboxAddress;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// SHA-256 prefix of a fetch verifier.
const VERIFIER_CONTEXT: &[u8] = b"Hush-v1-Directory-Verifier";

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::DirectoryAccessRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let verifier: [u8; 32] = req
        .fetch_verifier
        .as_slice()
        .try_into()
        .map_err(|_| CmdError::malformed("fetch_verifier must be 32 bytes"))?;
    let stock = ctx
        .shared
        .storage
        .set_fetch_verifier(mailbox, verifier)
        .await?;
    Ok(response::Body::DirectoryStock(stock_to_proto(ctx, stock)))
}

/// Lets a fetch of `mailbox`'s directory through if the mailbox has no verifier (a legacy
/// mailbox) or `token` hashes to it; otherwise `ERROR_CODE_FETCH_TOKEN_INVALID`.
pub(crate) async fn check_fetch_token(
    ctx: &Context,
    mailbox: MailboxAddress,
    token: &[u8],
) -> Result<(), CmdError> {
    let Some(verifier) = ctx.shared.storage.fetch_verifier(mailbox).await? else {
        return Ok(());
    };
    let mut h = Sha256::new();
    h.update(VERIFIER_CONTEXT);
    h.update(token);
    let presented: [u8; 32] = h.finalize().into();
    if token.len() == 32 && bool::from(presented.ct_eq(&verifier)) {
        Ok(())
    } else {
        Err(CmdError::new(
            ErrorCode::FetchTokenInvalid,
            "this directory needs the fetch token from its owner's contact card",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The relay's own hash agrees with the construction the clients use: the verifier in the
    /// published vectors (test-vectors/directory.json) is the hash of their fetch token.
    #[test]
    fn verifier_matches_the_published_vector() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../../test-vectors/directory.json")).unwrap();
        let field = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
        let mut h = Sha256::new();
        h.update(VERIFIER_CONTEXT);
        h.update(field("fetch_token"));
        let ours: [u8; 32] = h.finalize().into();
        assert_eq!(ours.to_vec(), field("fetch_verifier"));
    }
}
