//! The keys of an encrypted store and how a record is sealed.
//!
//! From one 32-byte store key (given by the app, or derived from a passphrase with Argon2id)
//! HKDF-SHA256 derives an index key and a value key. A record `(table, key, value)` is kept
//! as:
//!
//! ```text
//! id     = HMAC-SHA256(index key, table name || 0x00 || key)
//! sealed = nonce (24) || XChaCha20-Poly1305(value key, nonce,
//!              aad = "hush-client-store-v1" || table name || 0x00 || id,
//!              u32-LE key length || key || value)
//! ```
//!
//! so the file shows neither keys (contact aliases, peer fingerprints) nor values, and a
//! sealed value moved to another row or table no longer opens.

use super::{StoreError, Value};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

const AAD_PREFIX: &[u8] = b"hush-client-store-v1";
const INDEX_INFO: &[u8] = b"hush-client-store-v1 index";
const VALUE_INFO: &[u8] = b"hush-client-store-v1 value";
const NONCE_LEN: usize = 24;

/// Argon2id cost parameters for a passphrase-derived store key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl KdfParams {
    /// 19 MiB, 2 passes, 1 lane: OWASP's minimum recommendation for Argon2id.
    pub const DEFAULT: KdfParams = KdfParams {
        m_cost: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };
    /// Bounds on parameters read from a file, so a tampered header cannot make the library
    /// allocate gigabytes or spin for minutes before the key check fails.
    pub(crate) fn is_sane(&self) -> bool {
        (8..=1024 * 1024).contains(&self.m_cost)
            && (1..=64).contains(&self.t_cost)
            && (1..=16).contains(&self.p_cost)
    }
}

/// The keys that seal a store's records. Wiped when dropped; `Debug` shows no key bytes.
pub struct StoreKey {
    index: Zeroizing<[u8; 32]>,
    value: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey(..)")
    }
}

impl StoreKey {
    /// The keys of a 32-byte store key the app keeps (for example in the platform keystore).
    pub fn from_key(key: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(None, key);
        let mut index = Zeroizing::new([0u8; 32]);
        let mut value = Zeroizing::new([0u8; 32]);
        // Both lengths are far below HKDF's limit of 255 blocks: expand cannot fail.
        let _ = hk.expand(INDEX_INFO, index.as_mut());
        let _ = hk.expand(VALUE_INFO, value.as_mut());
        Self { index, value }
    }

    /// The keys of a passphrase: Argon2id over its bytes exactly as given, with `salt`.
    pub fn from_passphrase(
        passphrase: &[u8],
        salt: &[u8; 16],
        params: KdfParams,
    ) -> Result<Self, StoreError> {
        use argon2::{Algorithm, Argon2, Params, Version};
        let p = Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32))
            .map_err(|e| StoreError::Corrupt(format!("invalid Argon2id parameters: {e}")))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, p)
            .hash_password_into(passphrase, salt, key.as_mut())
            .map_err(|e| StoreError::Corrupt(format!("key derivation failed: {e}")))?;
        Ok(Self::from_key(&key))
    }

    /// The row id of `key` in `table`.
    pub(crate) fn id(&self, table: &str, key: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.index.as_ref())
            .expect("HMAC takes keys of any length");
        mac.update(table.as_bytes());
        mac.update(&[0]);
        mac.update(key);
        mac.finalize().into_bytes().into()
    }

    fn aad(table: &str, id: &[u8; 32]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(AAD_PREFIX.len() + table.len() + 33);
        aad.extend_from_slice(AAD_PREFIX);
        aad.extend_from_slice(table.as_bytes());
        aad.push(0);
        aad.extend_from_slice(id);
        aad
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.value).into())
    }

    /// Seals a record stored under row `id`.
    pub(crate) fn seal(&self, table: &str, id: &[u8; 32], key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut plain = Zeroizing::new(Vec::with_capacity(4 + key.len() + value.len()));
        plain.extend_from_slice(&(key.len() as u32).to_le_bytes());
        plain.extend_from_slice(key);
        plain.extend_from_slice(value);
        let aad = Self::aad(table, id);
        let ct = self
            .cipher()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plain,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any message a store holds");
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Opens a record found under row `id`: its key and value.
    pub(crate) fn open(
        &self,
        table: &str,
        id: &[u8; 32],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Value), StoreError> {
        let corrupt = || StoreError::Corrupt(format!("a record of table {table} does not open"));
        if sealed.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = <[u8; NONCE_LEN]>::try_from(nonce).map_err(|_| corrupt())?;
        let aad = Self::aad(table, id);
        let plain = Zeroizing::new(
            self.cipher()
                .decrypt(&XNonce::from(nonce), Payload { msg: ct, aad: &aad })
                .map_err(|_| corrupt())?,
        );
        if plain.len() < 4 {
            return Err(corrupt());
        }
        let klen = u32::from_le_bytes([plain[0], plain[1], plain[2], plain[3]]) as usize;
        let key = plain.get(4..4 + klen).ok_or_else(corrupt)?.to_vec();
        // The id binds the key: a record whose inner key hashes elsewhere was moved.
        if self.id(table, &key) != *id {
            return Err(corrupt());
        }
        Ok((key, Zeroizing::new(plain[4 + klen..].to_vec())))
    }
}
