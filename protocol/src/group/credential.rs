//! Credentials: an MLS `BasicCredential` whose identity is the member's Hush identity.
//!
//! `identity` = protobuf `hush.v1.IdentityPublicKey` (Ed25519 key, X25519 key, binding
//! signature), and the leaf's MLS `signature_key` must equal that Ed25519 key. So a group
//! member is the same identity, with the same fingerprint and safety number, as in 1:1
//! sessions. A linked device's credential adds its person's [`DeviceOf`]
//! (`hush.v1.MemberIdentity` field 4, `spec/multi-device.md` section 5): the leaf then names
//! the person too, checked against the person's signature.

use openmls::prelude::{BasicCredential, Credential, CredentialWithKey};
use prost::Message as _;

use super::error::{GroupError, GroupResult};
use crate::devices::DeviceOf;
use crate::identity::IdentityPublicKey;
use crate::proto::wire;

/// The credential and signature key a Hush identity presents in MLS, with its person's word
/// when it is a linked device.
pub(crate) fn credential_for(
    identity: &IdentityPublicKey,
    device_of: Option<&DeviceOf>,
) -> CredentialWithKey {
    CredentialWithKey {
        credential: BasicCredential::new(member_identity(identity, device_of)).into(),
        signature_key: identity.signing_key_bytes().to_vec().into(),
    }
}

/// The `identity` of the credential: an encoded `hush.v1.MemberIdentity`, which without
/// `device_of` is exactly the encoded `IdentityPublicKey`.
pub(crate) fn member_identity(
    identity: &IdentityPublicKey,
    device_of: Option<&DeviceOf>,
) -> Vec<u8> {
    let p = identity.to_proto();
    wire::MemberIdentity {
        signing_key: p.signing_key,
        dh_key: p.dh_key,
        dh_key_signature: p.dh_key_signature,
        device_of: device_of.map(DeviceOf::to_proto),
    }
    .encode_to_vec()
}

/// What a leaf's credential names: the device, and the person that vouched for it (`None`:
/// the device is its own person, or a device that shows no person's word).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeafIdentity {
    pub(crate) device: IdentityPublicKey,
    pub(crate) person: Option<IdentityPublicKey>,
}

/// Checks that `credential` is a Hush identity bound to `signature_key`, and returns it.
pub(crate) fn verify_credential(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<IdentityPublicKey> {
    let p = decode_credential(credential, signature_key)?;
    let identity = IdentityPublicKey::from_proto(&device_proto(&p))
        .map_err(|_| GroupError::InvalidCredential("identity is not a Hush identity key"))?;
    person_of(&identity, &p)?;
    Ok(identity)
}

/// The device's own `IdentityPublicKey` fields of a member identity.
fn device_proto(p: &wire::MemberIdentity) -> wire::IdentityPublicKey {
    wire::IdentityPublicKey {
        signing_key: p.signing_key.clone(),
        dh_key: p.dh_key.clone(),
        dh_key_signature: p.dh_key_signature.clone(),
    }
}

/// The person a member identity's `DeviceOf` names, checked (the person's binding signature
/// and their signature over the device's keys).
fn person_of(
    device: &IdentityPublicKey,
    p: &wire::MemberIdentity,
) -> GroupResult<Option<IdentityPublicKey>> {
    p.device_of
        .as_ref()
        .map(|d| {
            DeviceOf::from_proto(device, d)
                .map(|d| d.person().clone())
                .map_err(|_| {
                    GroupError::InvalidCredential(
                        "the person's word for the device does not verify",
                    )
                })
        })
        .transpose()
}

/// Decodes the Hush identity in `credential` and checks its structure: 32/32/64-byte fields
/// and an Ed25519 key equal to the leaf's `signature_key`.
fn decode_credential(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<wire::MemberIdentity> {
    let basic = BasicCredential::try_from(credential.clone())
        .map_err(|_| GroupError::InvalidCredential("not a basic credential"))?;
    let p = wire::MemberIdentity::decode(basic.identity())
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

/// Checks the structure of a credential (see [`decode_credential`]) without the device's
/// binding signature, and the person's word for the device when it carries one: a leaf's own
/// signature cannot vouch for the person it names.
pub(crate) fn check_credential(credential: &Credential, signature_key: &[u8]) -> GroupResult<()> {
    let p = decode_credential(credential, signature_key)?;
    if p.device_of.is_none() {
        return Ok(());
    }
    person_of(&endorsed_device(&p)?, &p).map(|_| ())
}

/// The identity of a leaf that is already in the group's tree. The device's binding signature
/// is not checked again: the credential is part of the leaf node, which is signed with the
/// same Ed25519 key, and openmls verified that signature before the leaf entered the tree.
/// The person's word is checked (the leaf's signature does not vouch for it).
pub(crate) fn leaf_identity(
    credential: &Credential,
    signature_key: &[u8],
) -> GroupResult<LeafIdentity> {
    let p = decode_credential(credential, signature_key)?;
    let device = endorsed_device(&p)?;
    let person = person_of(&device, &p)?;
    Ok(LeafIdentity { device, person })
}

/// The device's identity of a leaf's credential, its binding signature not checked (see
/// [`leaf_identity`]).
fn endorsed_device(p: &wire::MemberIdentity) -> GroupResult<IdentityPublicKey> {
    IdentityPublicKey::from_proto_endorsed(&device_proto(p))
        .map_err(|_| GroupError::InvalidCredential("identity is not a Hush identity key"))
}

/// Most identities remembered by an [`IdentityCache`] before it starts over.
const IDENTITY_CACHE_LIMIT: usize = 1 << 16;

/// Identities of leaves already decoded, keyed by the credential's bytes, so that naming the
/// sender of every message does not decode a key each time.
#[derive(Default)]
pub(crate) struct IdentityCache {
    known: std::collections::HashMap<Vec<u8>, LeafIdentity>,
}

impl IdentityCache {
    pub(crate) fn get(
        &mut self,
        credential: &Credential,
        signature_key: &[u8],
    ) -> GroupResult<LeafIdentity> {
        let key = credential.serialized_content();
        if let Some(id) = self.known.get(key)
            && id.device.signing_key_bytes().as_slice() == signature_key
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
