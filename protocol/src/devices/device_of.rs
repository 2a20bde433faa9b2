//! A person's word that a device is theirs (`spec/multi-device.md`, section 5): the signature
//! a linked device's group credential carries, so that every group member can name the
//! person from the device's leaf alone.

use prost::Message;

use super::signature_of;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::proto::wire;
use crate::{Error, Result};

/// Context prefixed to the device's keys before the person signs them.
pub const DEVICE_OF_CONTEXT: &[u8] = b"Hush-v1-DeviceOf";

/// `"Hush-v1-DeviceOf" ‖ signing key ‖ X25519 key` of `device`: fixed-length, so nothing is
/// re-encoded to check it.
fn signed_keys(device: &IdentityPublicKey) -> [u8; DEVICE_OF_CONTEXT.len() + 64] {
    let mut m = [0u8; DEVICE_OF_CONTEXT.len() + 64];
    let (context, keys) = m.split_at_mut(DEVICE_OF_CONTEXT.len());
    context.copy_from_slice(DEVICE_OF_CONTEXT);
    keys[..32].copy_from_slice(&device.signing_key_bytes());
    keys[32..].copy_from_slice(&device.dh_key_bytes());
    m
}

/// The person's signature that `device` is one of their devices, checked: a value of this
/// type always verifies. It names the person, not a list: whether the device is still on the
/// person's list is for a holder of that list to check.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceOf {
    person: IdentityPublicKey,
    device: IdentityPublicKey,
    signature: [u8; 64],
}

impl core::fmt::Debug for DeviceOf {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceOf")
            .field("person", &self.person.fingerprint())
            .field("device", &self.device.fingerprint())
            .finish_non_exhaustive()
    }
}

impl DeviceOf {
    /// `person` vouches for `device`.
    pub fn sign(person: &IdentityKeyPair, device: &IdentityPublicKey) -> Self {
        Self {
            person: person.public().clone(),
            device: device.clone(),
            signature: person.sign(&signed_keys(device)),
        }
    }

    /// Checks `signature` as `person`'s word for `device`: [`Error::Malformed`] if it is not
    /// 64 bytes, [`Error::BadSignature`] if it does not verify.
    pub fn from_signature(
        person: &IdentityPublicKey,
        device: &IdentityPublicKey,
        signature: &[u8],
    ) -> Result<Self> {
        let signature = signature_of(signature, "device-of signature")?;
        person
            .verify(&signed_keys(device), &signature)
            .map_err(|_| Error::BadSignature("device of"))?;
        Ok(Self {
            person: person.clone(),
            device: device.clone(),
            signature,
        })
    }

    /// Decodes an encoded `hush.v1.DeviceOf` (see [`DeviceOf::to_bytes`]) for `device` and
    /// checks it (the person's binding signature included).
    pub fn from_bytes(device: &IdentityPublicKey, bytes: &[u8]) -> Result<Self> {
        let p = wire::DeviceOf::decode(bytes).map_err(|_| Error::Malformed("device of"))?;
        Self::from_proto(device, &p)
    }

    pub(crate) fn from_proto(device: &IdentityPublicKey, p: &wire::DeviceOf) -> Result<Self> {
        let person = IdentityPublicKey::from_proto(
            p.person
                .as_ref()
                .ok_or(Error::Malformed("device of (person)"))?,
        )?;
        Self::from_signature(&person, device, &p.signature)
    }

    pub(crate) fn to_proto(&self) -> wire::DeviceOf {
        wire::DeviceOf {
            person: Some(self.person.to_proto()),
            signature: self.signature.to_vec(),
        }
    }

    /// The encoded `hush.v1.DeviceOf`: the person and the signature (the device is the
    /// credential's or the state's owner, not repeated).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// The person who vouches.
    pub fn person(&self) -> &IdentityPublicKey {
        &self.person
    }

    /// The device vouched for.
    pub fn device(&self) -> &IdentityPublicKey {
        &self.device
    }

    /// The person's Ed25519 signature over `"Hush-v1-DeviceOf" ‖ signing key ‖ X25519 key`.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_of_verifies_only_for_its_person_and_device() {
        let mut rng = rand::rng();
        let person = IdentityKeyPair::generate(&mut rng);
        let device = IdentityKeyPair::generate(&mut rng);
        let other = IdentityKeyPair::generate(&mut rng);
        let of = DeviceOf::sign(&person, device.public());
        let back = DeviceOf::from_bytes(device.public(), &of.to_bytes()).unwrap();
        assert_eq!(back, of);
        assert_eq!(back.person(), person.public());
        assert!(matches!(
            DeviceOf::from_bytes(other.public(), &of.to_bytes()),
            Err(Error::BadSignature(_))
        ));
        assert!(matches!(
            DeviceOf::from_signature(other.public(), device.public(), of.signature()),
            Err(Error::BadSignature(_))
        ));
        let mut bad = *of.signature();
        bad[0] ^= 1;
        assert!(DeviceOf::from_signature(person.public(), device.public(), &bad).is_err());
        assert!(matches!(
            DeviceOf::from_signature(person.public(), device.public(), &bad[..63]),
            Err(Error::Malformed(_))
        ));
        assert!(DeviceOf::from_bytes(device.public(), b"\xff").is_err());
        // Debug names the two identities, never the signature's bytes.
        let shown = format!("{of:?}");
        assert!(
            shown.starts_with("DeviceOf") && shown.contains("person"),
            "{shown}"
        );
        assert!(
            !shown.contains(&hex::encode(&of.signature()[..8])),
            "{shown}"
        );
    }
}
