//! Credentials: an MLS `BasicCredential` whose identity is the member's Hush identity.
//!
//! `identity` = protobuf `hush.v1.IdentityPublicKey` (Ed25519 key, X25519 key, binding
//! signature), and the leaf's MLS `signature_key` must equal that Ed25519 key. So a group
//! member is the same identity, with the same fingerprint and safety number, as in 1:1
//! sessions.

use openmls::prelude::{BasicCredential, Credential, CredentialWithKey};

use super::error::{GroupError, GroupResult};
use crate::identity::IdentityPublicKey;

/// The credential and signature key a Hush identity presents in MLS.
pub(crate) fn credential_for(identity: &IdentityPublicKey) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(identity.to_bytes()).into(),
        signature_key: identity.signing_key_bytes().to_vec().into(),
    }
}

/// Checks that `credential` is a Hush identity bound to `signature_key`, and returns it.
pub(crate) fn verify_credential(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<IdentityPublicKey> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| GroupError::InvalidCredential("not a basic credential"))?;
    let identity = IdentityPublicKey::from_bytes(basic.identity())
        .map_err(|_| GroupError::InvalidCredential("identity is not a Hush identity key"))?;
    if identity.signing_key_bytes().as_slice() != signature_key {
        return Err(GroupError::InvalidCredential(
            "signature key differs from the identity key",
        ));
    }
    Ok(identity)
}
