//! The per-file attachment key.

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Length of an [`AttachmentKey`] in bytes.
pub const ATTACHMENT_KEY_LEN: usize = 32;

/// The ChaCha20-Poly1305 key of one attachment: fresh and random for every file, never
/// reused. Zeroized on drop; its `Debug` does not show the bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKey([u8; ATTACHMENT_KEY_LEN]);

impl AttachmentKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut k = [0u8; ATTACHMENT_KEY_LEN];
        rng.fill_bytes(&mut k);
        Self(k)
    }

    /// A key from its 32 bytes (as carried in an [`super::AttachmentRef`]).
    pub fn from_bytes(bytes: [u8; ATTACHMENT_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key bytes, for encoding into a reference. Keep them secret.
    pub fn as_bytes(&self) -> &[u8; ATTACHMENT_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for AttachmentKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AttachmentKey(..)")
    }
}

/// Constant-time comparison.
impl PartialEq for AttachmentKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(self.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl Eq for AttachmentKey {}
