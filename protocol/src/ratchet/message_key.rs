//! Message keys and the message AEAD (ChaCha20-Poly1305).

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::trace::Trace;
use crate::{Error, Result};

/// HKDF info string that expands a message key into the AEAD key and nonce.
pub const MESSAGE_KEYS_INFO: &[u8] = b"Hush-v1-MessageKeys";

/// A message key (32 bytes), used for exactly one message.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct MessageKey([u8; 32]);

impl MessageKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HKDF-SHA256(salt = 32 zero bytes, ikm = mk, info = [`MESSAGE_KEYS_INFO`]) → 44 bytes:
    /// ChaCha20-Poly1305 key (32) ‖ nonce (12).
    fn aead(&self, trace: &mut Trace) -> (ChaCha20Poly1305, Nonce) {
        let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), &self.0);
        let mut okm = Zeroizing::new([0u8; 44]);
        hk.expand(MESSAGE_KEYS_INFO, okm.as_mut())
            .expect("HKDF output length is valid");
        trace.record("message_key", &self.0);
        trace.record("aead_key", &okm[..32]);
        trace.record("aead_nonce", &okm[32..]);
        let cipher = ChaCha20Poly1305::new_from_slice(&okm[..32]).expect("32-byte key");
        let mut nonce = Nonce::default();
        nonce.copy_from_slice(&okm[32..]);
        (cipher, nonce)
    }

    pub(crate) fn encrypt(&self, plaintext: &[u8], ad: &[u8], trace: &mut Trace) -> Vec<u8> {
        let (cipher, nonce) = self.aead(trace);
        trace.record("aead_associated_data", ad);
        // Encryption fails only for inputs longer than 2^38 bytes.
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: ad,
                },
            )
            .expect("plaintext within ChaCha20-Poly1305 limits");
        trace.record("ciphertext", &ct);
        ct
    }

    pub(crate) fn decrypt(
        &self,
        ciphertext: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Vec<u8>> {
        let (cipher, nonce) = self.aead(trace);
        trace.record("aead_associated_data", ad);
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: ad,
                },
            )
            .map_err(|_| Error::DecryptionFailed)
    }
}
