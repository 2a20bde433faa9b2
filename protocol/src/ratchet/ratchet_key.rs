//! A ratchet key pair (X25519).

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::{Error, Result};

/// An X25519 key pair used as a Double Ratchet DH key. The secret zeroizes itself on drop.
#[derive(Clone)]
pub(crate) struct RatchetKeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl ZeroizeOnDrop for RatchetKeyPair {}

impl RatchetKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(*bytes)
    }

    pub(crate) fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    pub(crate) fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519 with a peer's public key; rejects an all-zero (non-contributory) output.
    pub(crate) fn dh(&self, their: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        dh(&self.secret, &PublicKey::from(*their))
    }
}

/// X25519(secret, public), refusing the all-zero output a low-order point produces.
pub(crate) fn dh(secret: &StaticSecret, public: &PublicKey) -> Result<Zeroizing<[u8; 32]>> {
    let shared = secret.diffie_hellman(public);
    if !shared.was_contributory() {
        return Err(Error::WeakKey);
    }
    Ok(Zeroizing::new(shared.to_bytes()))
}
