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

/// Decodes the Hush identity in `credential` and checks its structure: 32/32/64-byte fields
/// and an Ed25519 key equal to the leaf's `signature_key`.
fn decode_credential(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<crate::proto::wire::IdentityPublicKey> {
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
    Ok(p)
}

/// Checks the structure of a credential (see [`decode_credential`]) without its binding
/// signature.
pub(crate) fn check_credential(credential: &Credential, signature_key: &[u8]) -> GroupResult<()> {
    decode_credential(credential, signature_key).map(|_| ())
}

/// The identity of a leaf that is already in the group's tree. Its binding signature is not
/// checked again: the credential is part of the leaf node, which is signed with the same
/// Ed25519 key, and openmls verified that signature before the leaf entered the tree.
pub(crate) fn leaf_identity(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<IdentityPublicKey> {
    let p = decode_credential(credential, signature_key)?;
    IdentityPublicKey::from_proto_endorsed(&p)
        .map_err(|_| GroupError::InvalidCredential("identity is not a Hush identity key"))
}

/// Most identities remembered by an [`IdentityCache`] before it starts over.
const IDENTITY_CACHE_LIMIT: usize = 1 << 16;

/// Identities of leaves already decoded, keyed by the credential's bytes, so that naming the
/// sender of every message does not decode a key each time.
#[derive(Default)]
pub(crate) struct IdentityCache {
    known: std::collections::HashMap<Vec<u8>, IdentityPublicKey>,
}

impl IdentityCache {
    pub(crate) fn get(
        &mut self,
        credential: &Credential,
        signature_key: &[u8],
    ) -> GroupResult<IdentityPublicKey> {
        let key = credential.serialized_content();
        if let Some(id) = self.known.get(key)
            && id.signing_key_bytes().as_slice() == signature_key
        {
            return Ok(id.clone());
        }
        let id = leaf_identity(credential, signature_key)?;
        if self.known.len() >= IDENTITY_CACHE_LIMIT {
            self.known.clear();
        }
        self.known.insert(key.to_vec(), id.clone());
        Ok(id)
    }
}
