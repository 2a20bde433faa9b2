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

/// Checks the structure of a credential without its binding signature: a Hush identity
/// encoding whose Ed25519 key equals the leaf's `signature_key`. The binding signature is
/// checked when the member is first named ([`IdentityCache`]).
pub(crate) fn check_credential(credential: &Credential, signature_key: &[u8]) -> GroupResult<()> {
    use prost::Message as _;
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| GroupError::InvalidCredential("not a basic credential"))?;
    let p = crate::proto::wire::IdentityPublicKey::decode(basic.identity())
        .map_err(|_| GroupError::InvalidCredential("identity is not a Hush identity key"))?;
    if p.signing_key.len() != 32 || p.dh_key.len() != 32 || p.dh_key_signature.len() != 64 {
        return Err(GroupError::InvalidCredential(
            "identity is not a Hush identity key",
        ));
    }
    if p.signing_key.as_slice() != signature_key {
        return Err(GroupError::InvalidCredential(
            "signature key differs from the identity key",
        ));
    }
    Ok(())
}

/// Most identities remembered by an [`IdentityCache`] before it starts over.
const IDENTITY_CACHE_LIMIT: usize = 1 << 16;

/// Identities whose credentials were fully verified, keyed by the credential's bytes, so that
/// naming the sender of every message does not verify a signature each time.
#[derive(Default)]
pub(crate) struct IdentityCache {
    verified: std::collections::HashMap<Vec<u8>, IdentityPublicKey>,
}

impl IdentityCache {
    pub(crate) fn get(
        &mut self,
        credential: &Credential,
        signature_key: &[u8],
    ) -> GroupResult<IdentityPublicKey> {
        let key = credential.serialized_content();
        if let Some(id) = self.verified.get(key)
            && id.signing_key_bytes().as_slice() == signature_key
        {
            return Ok(id.clone());
        }
        let id = verify_credential(credential, signature_key)?;
        if self.verified.len() >= IDENTITY_CACHE_LIMIT {
            self.verified.clear();
        }
        self.verified.insert(key.to_vec(), id.clone());
        Ok(id)
    }
}
