//! The root key and `KDF_RK`.

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::chain_key::ChainKey;
use super::header_key::HeaderKey;
use crate::trace::Trace;

/// HKDF info string of `KDF_RK`.
pub const KDF_RK_INFO: &[u8] = b"Hush-v1-Ratchet";

/// The Double Ratchet root key (32 bytes).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct RootKey([u8; 32]);

/// What one `KDF_RK` step yields.
pub(crate) struct RootStep {
    pub(crate) root: RootKey,
    pub(crate) chain: ChainKey,
    /// The next header key; only derived when header encryption is on.
    pub(crate) next_header_key: Option<HeaderKey>,
}

impl RootKey {
    pub(crate) fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `KDF_RK(rk, dh_out)`: HKDF-SHA256 with salt = rk, ikm = dh_out, info = [`KDF_RK_INFO`];
    /// 64 output bytes (root key ‖ chain key), or 96 with header encryption
    /// (root key ‖ chain key ‖ next header key).
    pub(crate) fn kdf(
        &self,
        dh_out: &[u8; 32],
        header_encryption: bool,
        trace: &mut Trace,
    ) -> RootStep {
        let hk = Hkdf::<Sha256>::new(Some(&self.0), dh_out);
        let mut okm = Zeroizing::new([0u8; 96]);
        let len = if header_encryption { 96 } else { 64 };
        // 96 bytes is far below HKDF-SHA256's 8160-byte limit.
        hk.expand(KDF_RK_INFO, &mut okm[..len])
            .expect("HKDF output length is valid");
        let mut root = [0u8; 32];
        root.copy_from_slice(&okm[..32]);
        let mut chain = [0u8; 32];
        chain.copy_from_slice(&okm[32..64]);
        trace.record("kdf_rk.root_key", &root);
        trace.record("kdf_rk.chain_key", &chain);
        let next_header_key = header_encryption.then(|| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&okm[64..96]);
            trace.record("kdf_rk.next_header_key", &h);
            HeaderKey::new(h)
        });
        RootStep {
            root: RootKey(root),
            chain: ChainKey::new(chain),
            next_header_key,
        }
    }
}
