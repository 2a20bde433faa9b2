//! Sending and receiving chain keys and `KDF_CK`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::message_key::MessageKey;

/// HMAC input of `KDF_CK` that yields the message key.
pub const MESSAGE_KEY_SEED: u8 = 0x01;
/// HMAC input of `KDF_CK` that yields the next chain key.
pub const CHAIN_KEY_SEED: u8 = 0x02;

/// A chain key (32 bytes).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainKey([u8; 32]);

impl ChainKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn hmac(&self, seed: u8) -> [u8; 32] {
        // HMAC accepts keys of any length.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes a 32-byte key");
        mac.update(&[seed]);
        mac.finalize().into_bytes().into()
    }

    /// The message key of this chain step: HMAC-SHA256(ck, 0x01).
    pub(crate) fn message_key(&self) -> MessageKey {
        MessageKey::new(self.hmac(MESSAGE_KEY_SEED))
    }

    /// The next chain key: HMAC-SHA256(ck, 0x02).
    pub(crate) fn next(&self) -> ChainKey {
        ChainKey(self.hmac(CHAIN_KEY_SEED))
    }
}
