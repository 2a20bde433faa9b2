//! ML-KEM-768 (FIPS 203) for PQXDH, through RustCrypto's `ml-kem` crate.
//!
//! Each secret is its own type: [`KemSeed`] (the 64-byte decapsulation key seed `d ‖ z`) and
//! [`KemSharedSecret`] (the 32-byte shared secret `SS`). Both are wiped on drop and neither
//! implements `Debug`. Randomness is drawn by this module from the caller's generator in fixed
//! sizes (64 bytes per key pair, 32 bytes per encapsulation), so the test vectors pin it.

use ml_kem::array::Array;
use ml_kem::kem::Decapsulate;
use ml_kem::{EncapsulationKey, KeyExport, MlKem768};
use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// Length of an encoded ML-KEM-768 encapsulation key (`PQPK`).
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;
/// Length of an ML-KEM-768 ciphertext (`CT`).
pub const KEM_CIPHERTEXT_LEN: usize = 1088;

type DecapsulationKey768 = ml_kem::DecapsulationKey<MlKem768>;
type EncapsulationKey768 = EncapsulationKey<MlKem768>;

/// The private seed of one KEM prekey: `d ‖ z` of FIPS 203 `ML-KEM.KeyGen_internal`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct KemSeed([u8; 64]);

/// The KEM shared secret `SS` (32 bytes).
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct KemSharedSecret([u8; 32]);

impl KemSharedSecret {
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A validated ML-KEM-768 encapsulation key with its encoding.
#[derive(Clone)]
pub(crate) struct KemPublicKey {
    key: Box<EncapsulationKey768>,
}

impl PartialEq for KemPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for KemPublicKey {}

impl KemPublicKey {
    /// Decodes and validates an encapsulation key (FIPS 203 section 7.2 modulus check).
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let arr = Array::try_from(bytes).map_err(|_| Error::InvalidKey("KEM prekey"))?;
        let key = EncapsulationKey768::new(&arr).map_err(|_| Error::InvalidKey("KEM prekey"))?;
        Ok(Self { key: Box::new(key) })
    }

    /// The 1184-byte encoding.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        self.key.to_bytes().to_vec()
    }

    /// `(CT, SS) = ML-KEM.Encaps(PQPK)` with the 32-byte message `m` drawn from `rng`.
    pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
    ) -> (Vec<u8>, KemSharedSecret, Zeroizing<[u8; 32]>) {
        let mut m = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(m.as_mut());
        let (ct, mut ss) = self.key.encapsulate_deterministic(&Array::from(*m));
        let mut out = [0u8; 32];
        out.copy_from_slice(&ss);
        ss.zeroize();
        (ct.to_vec(), KemSharedSecret(out), m)
    }
}

impl KemSeed {
    /// 64 fresh bytes from `rng`.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; 64];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }

    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let seed: [u8; 64] = bytes
            .try_into()
            .map_err(|_| Error::InvalidKey("KEM prekey seed"))?;
        Ok(Self(seed))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    fn expand(&self) -> DecapsulationKey768 {
        // `DecapsulationKey` zeroizes itself on drop (feature `zeroize`).
        let mut seed = Array::from(self.0);
        let dk = DecapsulationKey768::from_seed(seed);
        seed.zeroize();
        dk
    }

    /// The encapsulation key of this seed.
    pub(crate) fn public_key(&self) -> KemPublicKey {
        KemPublicKey {
            key: Box::new(self.expand().encapsulation_key().clone()),
        }
    }

    /// `SS = ML-KEM.Decaps(dk, CT)`, with the encapsulation key (needed for the binding).
    /// A ciphertext of the right length always decapsulates: a tampered one yields an
    /// unrelated secret (implicit rejection), so the session's first AEAD fails.
    pub(crate) fn decapsulate(&self, ciphertext: &[u8]) -> Result<(KemSharedSecret, KemPublicKey)> {
        let ct = Array::try_from(ciphertext).map_err(|_| Error::Malformed("KEM ciphertext"))?;
        let dk = self.expand();
        let mut ss = dk.decapsulate(&ct);
        let mut out = [0u8; 32];
        out.copy_from_slice(&ss);
        ss.zeroize();
        let public = KemPublicKey {
            key: Box::new(dk.encapsulation_key().clone()),
        };
        Ok((KemSharedSecret(out), public))
    }
}
