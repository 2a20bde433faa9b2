//! Header keys (header encryption, Signal's Double Ratchet spec section 4).

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::header::{HEADER_LEN, Header};
use crate::trace::Trace;

/// Length of an encrypted header: nonce (24) ‖ header (40) ‖ tag (16).
pub const ENCRYPTED_HEADER_LEN: usize = 24 + HEADER_LEN + 16;

/// A header key (32 bytes): XChaCha20-Poly1305 key for message headers.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct HeaderKey([u8; 32]);

impl HeaderKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `HENCRYPT(hk, header)`: a random 24-byte nonce ‖ XChaCha20-Poly1305(hk, nonce, header, aad = "").
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        header: &Header,
        trace: &mut Trace,
    ) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new_from_slice(&self.0).expect("32-byte key");
        let mut nonce = XNonce::default();
        rng.fill_bytes(&mut nonce);
        let plain = header.encode();
        trace.record("header_key", &self.0);
        trace.record("header_nonce", &nonce);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &plain,
                    aad: b"",
                },
            )
            .expect("header within XChaCha20-Poly1305 limits");
        let mut out = Vec::with_capacity(ENCRYPTED_HEADER_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// `HDECRYPT(hk, enc_header)`: `None` when this key does not open the header.
    pub(crate) fn decrypt(&self, enc: &[u8]) -> Option<Header> {
        if enc.len() != ENCRYPTED_HEADER_LEN {
            return None;
        }
        let cipher = XChaCha20Poly1305::new_from_slice(&self.0).ok()?;
        let nonce = XNonce::try_from(&enc[..24]).ok()?;
        let plain = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &enc[24..],
                    aad: b"",
                },
            )
            .ok()?;
        Header::decode(&plain).ok()
    }
}
