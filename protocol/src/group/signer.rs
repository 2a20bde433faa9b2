//! The member's MLS signer: the device's Hush Ed25519 identity key.

use ed25519_dalek::{Signer as _, SigningKey};
use openmls::prelude::SignatureScheme;
use openmls_traits::signatures::{Signer, SignerError};

/// Signs MLS structures with an Ed25519 key. The key wipes itself on drop.
#[derive(Clone)]
pub(crate) struct GroupSigner {
    key: SigningKey,
}

impl GroupSigner {
    pub(crate) fn new(key: SigningKey) -> Self {
        Self { key }
    }

    /// The public Ed25519 key (the MLS leaf's `signature_key`).
    pub(crate) fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The 32-byte secret seed, for persisting interop clients only.
    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
}

impl Signer for GroupSigner {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.key.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}
