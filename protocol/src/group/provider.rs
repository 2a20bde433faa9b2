//! The openmls provider the group layer hands to openmls: RustCrypto primitives, the
//! caller's random number generator, and the client's own [`GroupStorage`].

use core::cell::RefCell;

use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider;
use openmls_traits::random::OpenMlsRand;
use rand_core::CryptoRng;

use super::storage::GroupStorage;

/// openmls' randomness, drawn from the generator the caller passed to the current call.
///
/// openmls asks for randomness through `&self`, so the caller's `&mut` generator sits in a
/// `RefCell` for the duration of one call of the group layer.
pub(crate) struct CallerRand<'a, R: CryptoRng + ?Sized> {
    rng: RefCell<&'a mut R>,
}

/// The caller's generator cannot fail; the error type only satisfies the trait.
#[derive(Debug, thiserror::Error)]
#[error("randomness unavailable")]
pub(crate) struct RandError;

impl<R: CryptoRng + ?Sized> OpenMlsRand for CallerRand<'_, R> {
    type Error = RandError;

    fn random_array<const N: usize>(&self) -> Result<[u8; N], Self::Error> {
        let mut out = [0u8; N];
        self.rng
            .try_borrow_mut()
            .map_err(|_| RandError)?
            .fill_bytes(&mut out);
        Ok(out)
    }

    fn random_vec(&self, len: usize) -> Result<Vec<u8>, Self::Error> {
        let mut out = vec![0u8; len];
        self.rng
            .try_borrow_mut()
            .map_err(|_| RandError)?
            .fill_bytes(&mut out);
        Ok(out)
    }
}

/// One call's view of a client: its crypto backend, its storage, and the caller's generator.
pub(crate) struct Provider<'a, R: CryptoRng + ?Sized> {
    crypto: &'a RustCrypto,
    storage: &'a GroupStorage,
    rand: CallerRand<'a, R>,
}

impl<'a, R: CryptoRng + ?Sized> Provider<'a, R> {
    pub(crate) fn new(crypto: &'a RustCrypto, storage: &'a GroupStorage, rng: &'a mut R) -> Self {
        Self {
            crypto,
            storage,
            rand: CallerRand {
                rng: RefCell::new(rng),
            },
        }
    }
}

impl<'a, R: CryptoRng + ?Sized> OpenMlsProvider for Provider<'a, R> {
    type CryptoProvider = RustCrypto;
    type RandProvider = CallerRand<'a, R>;
    type StorageProvider = GroupStorage;

    fn storage(&self) -> &Self::StorageProvider {
        self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.rand
    }
}
