//! Prekeys: the signed prekey and one-time prekeys a device publishes so that others can
//! start sessions with it while it is offline, and the private store that answers them.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer};
use prost::Message;
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::kem_prekeys::KemPreKeySecret;
use crate::proto::{key32, state, wire};
use crate::{Error, Result};

/// Context prefixed to `id (u32, big-endian) ‖ public key` before the identity signs a signed prekey.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"Hush-v1-SignedPreKey";
/// Replaces [`SIGNED_PREKEY_CONTEXT`] in the signature of a signed prekey whose owner offers
/// PQXDH with it (`spec/pqxdh.md`, section 6): a bundle with such a prekey and no KEM prekey
/// was stripped, and is refused.
pub const SIGNED_PREKEY_PQXDH_CONTEXT: &[u8] = b"Hush-v1-SignedPreKey-PQXDH";
/// Version of a serialized [`PreKeyStore`].
const STORE_VERSION: u32 = 1;
/// How many signed prekeys a store keeps (the current one and the ones it replaced), so that
/// initial messages sent just before a rotation still open.
pub const SIGNED_PREKEYS_KEPT: usize = 3;
/// How many accepted X3DH base keys are remembered per signed prekey for replay detection.
pub const SEEN_BASE_KEYS_PER_SIGNED_PREKEY: usize = 10_000;

pub(crate) fn signed_prekey_message(id: u32, public: &[u8; 32], offers_pqxdh: bool) -> Vec<u8> {
    let context = if offers_pqxdh {
        SIGNED_PREKEY_PQXDH_CONTEXT
    } else {
        SIGNED_PREKEY_CONTEXT
    };
    let mut m = Vec::with_capacity(context.len() + 36);
    m.extend_from_slice(context);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(public);
    m
}

/// The public, signed half of a prekey bundle. A value of this type has a verified signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    pub(crate) identity: IdentityPublicKey,
    id: u32,
    public: PublicKey,
    signature: Signature,
    pub(crate) offers_pqxdh: bool,
}

impl core::fmt::Debug for SignedPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedPreKeyPublic")
            .field("identity", &self.identity)
            .field("id", &self.id)
            .field("offers_pqxdh", &self.offers_pqxdh)
            .finish_non_exhaustive()
    }
}

impl SignedPreKeyPublic {
    /// The identity that signed this prekey.
    pub fn identity(&self) -> &IdentityPublicKey {
        &self.identity
    }

    /// The prekey's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Whether the owner signed this prekey as offering PQXDH: every bundle with it must
    /// then carry a KEM prekey.
    pub fn offers_pqxdh(&self) -> bool {
        self.offers_pqxdh
    }

    pub(crate) fn to_proto(&self) -> wire::SignedPreKeyPublic {
        wire::SignedPreKeyPublic {
            identity: Some(self.identity.to_proto()),
            id: self.id,
            public_key: self.public.to_bytes().to_vec(),
            signature: self.signature.to_bytes().to_vec(),
            offers_pqxdh: self.offers_pqxdh,
        }
    }

    pub(crate) fn from_proto(p: &wire::SignedPreKeyPublic) -> Result<Self> {
        let identity = IdentityPublicKey::from_proto(
            p.identity
                .as_ref()
                .ok_or(Error::Malformed("signed prekey identity"))?,
        )?;
        let public = key32(&p.public_key, "signed prekey")?;
        let sig: [u8; 64] = p
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("signed prekey signature"))?;
        let signature = Signature::from_bytes(&sig);
        identity
            .verifying_key()
            .verify_strict(
                &signed_prekey_message(p.id, &public, p.offers_pqxdh),
                &signature,
            )
            .map_err(|_| Error::BadSignature("signed prekey"))?;
        Ok(Self {
            identity,
            id: p.id,
            public: PublicKey::from(public),
            signature,
            offers_pqxdh: p.offers_pqxdh,
        })
    }

    /// Encodes as protobuf `hush.v1.SignedPreKeyPublic` (what the owner uploads).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes and verifies the signature (identity binding and prekey).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p = wire::SignedPreKeyPublic::decode(bytes)
            .map_err(|_| Error::Malformed("signed prekey"))?;
        Self::from_proto(&p)
    }
}

/// A one-time prekey's public half.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct OneTimePreKeyPublic {
    id: u32,
    public: PublicKey,
}

impl core::fmt::Debug for OneTimePreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OneTimePreKeyPublic({})", self.id)
    }
}

impl OneTimePreKeyPublic {
    /// The prekey's id.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The X25519 public key.
    pub fn public_key_bytes(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    pub(crate) fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub(crate) fn to_proto(self) -> wire::OneTimePreKeyPublic {
        wire::OneTimePreKeyPublic {
            id: self.id,
            public_key: self.public.to_bytes().to_vec(),
        }
    }

    pub(crate) fn from_proto(p: &wire::OneTimePreKeyPublic) -> Result<Self> {
        Ok(Self {
            id: p.id,
            public: PublicKey::from(key32(&p.public_key, "one-time prekey")?),
        })
    }

    /// Encodes as protobuf `hush.v1.OneTimePreKeyPublic`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes a one-time prekey.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p = wire::OneTimePreKeyPublic::decode(bytes)
            .map_err(|_| Error::Malformed("one-time prekey"))?;
        Self::from_proto(&p)
    }
}

/// A signed prekey's private half, with the base keys already accepted under it.
pub(crate) struct SignedPreKeySecret {
    pub(crate) id: u32,
    pub(crate) secret: StaticSecret,
    signature: Signature,
    seen_base_keys: Vec<[u8; 32]>,
    pub(crate) offers_pqxdh: bool,
}

/// The owner's private prekeys. Secrets are wiped on drop; one-time prekeys are deleted as
/// soon as an initial message that used them has been accepted.
#[derive(Default)]
pub struct PreKeyStore {
    signed: Vec<SignedPreKeySecret>,
    one_time: BTreeMap<u32, StaticSecret>,
    next_signed_id: u32,
    next_one_time_id: u32,
    pub(crate) kem: Vec<KemPreKeySecret>,
    pub(crate) next_kem_id: u32,
}

// Every X25519 secret is an x25519-dalek `StaticSecret`, which zeroizes itself on drop; every
// KEM secret is a `KemSeed`, which does too.
impl ZeroizeOnDrop for PreKeyStore {}

impl core::fmt::Debug for PreKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyStore")
            .field("signed_prekeys", &self.signed.len())
            .field("one_time_prekeys", &self.one_time.len())
            .field("kem_prekeys", &self.kem.len())
            .finish_non_exhaustive()
    }
}

fn random_secret<R: CryptoRng + ?Sized>(rng: &mut R) -> StaticSecret {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut());
    StaticSecret::from(*bytes)
}

impl PreKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Generates a new signed prekey, makes it current and returns its public half to upload.
    /// The [`SIGNED_PREKEYS_KEPT`] newest signed prekeys stay usable.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
    ) -> SignedPreKeyPublic {
        self.rotate_signed(rng, identity, false)
    }

    /// Like [`PreKeyStore::rotate_signed_prekey`], but signs the new prekey as offering PQXDH
    /// (`spec/pqxdh.md`, section 6): initiators then refuse any bundle with it that carries no
    /// KEM prekey, and this store refuses X3DH initial messages made with it. Keep a
    /// last-resort KEM prekey ([`PreKeyStore::rotate_last_resort_kem_prekey`]) published.
    pub fn rotate_signed_prekey_pqxdh<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
    ) -> SignedPreKeyPublic {
        self.rotate_signed(rng, identity, true)
    }

    fn rotate_signed<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        offers_pqxdh: bool,
    ) -> SignedPreKeyPublic {
        let id = self.next_signed_id;
        self.next_signed_id = self.next_signed_id.wrapping_add(1);
        let secret = random_secret(rng);
        let public = PublicKey::from(&secret);
        let signature = identity.signing_key().sign(&signed_prekey_message(
            id,
            public.as_bytes(),
            offers_pqxdh,
        ));
        self.signed.push(SignedPreKeySecret {
            id,
            secret,
            signature,
            seen_base_keys: Vec::new(),
            offers_pqxdh,
        });
        if self.signed.len() > SIGNED_PREKEYS_KEPT {
            self.signed.remove(0);
        }
        SignedPreKeyPublic {
            identity: identity.public().clone(),
            id,
            public,
            signature,
            offers_pqxdh,
        }
    }

    /// The public half of the current signed prekey, if one was generated.
    pub fn current_signed_prekey(&self, identity: &IdentityKeyPair) -> Option<SignedPreKeyPublic> {
        self.signed.last().map(|s| SignedPreKeyPublic {
            identity: identity.public().clone(),
            id: s.id,
            public: PublicKey::from(&s.secret),
            signature: s.signature,
            offers_pqxdh: s.offers_pqxdh,
        })
    }

    /// Generates `count` one-time prekeys and returns their public halves to upload.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Vec<OneTimePreKeyPublic> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.next_one_time_id;
            self.next_one_time_id = self.next_one_time_id.wrapping_add(1);
            let secret = random_secret(rng);
            out.push(OneTimePreKeyPublic {
                id,
                public: PublicKey::from(&secret),
            });
            self.one_time.insert(id, secret);
        }
        out
    }

    /// How many one-time prekeys are still unused.
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time.len()
    }

    pub(crate) fn signed_prekey(&self, id: u32) -> Result<&SignedPreKeySecret> {
        self.signed
            .iter()
            .find(|s| s.id == id)
            .ok_or(Error::UnknownSignedPreKey(id))
    }

    pub(crate) fn one_time_prekey(&self, id: u32) -> Result<&StaticSecret> {
        self.one_time
            .get(&id)
            .ok_or(Error::UnknownOneTimePreKey(id))
    }

    pub(crate) fn was_seen(&self, signed_id: u32, base_key: &[u8; 32]) -> bool {
        self.signed
            .iter()
            .filter(|s| s.id == signed_id)
            .any(|s| s.seen_base_keys.contains(base_key))
    }

    /// Records an accepted initial message: deletes its one-time prekey and remembers its base key.
    pub(crate) fn consume(&mut self, signed_id: u32, one_time_id: Option<u32>, base_key: [u8; 32]) {
        if let Some(id) = one_time_id {
            self.one_time.remove(&id);
        }
        if let Some(s) = self.signed.iter_mut().find(|s| s.id == signed_id) {
            if s.seen_base_keys.len() >= SEEN_BASE_KEYS_PER_SIGNED_PREKEY {
                s.seen_base_keys.remove(0);
            }
            s.seen_base_keys.push(base_key);
        }
    }

    /// Serializes the store (secrets included) for storage. Encrypt it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut st = state::PreKeyStoreState {
            version: STORE_VERSION,
            signed_prekeys: self
                .signed
                .iter()
                .map(|s| state::SignedPreKeyState {
                    id: s.id,
                    secret: s.secret.to_bytes().to_vec(),
                    signature: s.signature.to_bytes().to_vec(),
                    seen_base_keys: s.seen_base_keys.iter().map(|k| k.to_vec()).collect(),
                    offers_pqxdh: s.offers_pqxdh,
                })
                .collect(),
            one_time_prekeys: self
                .one_time
                .iter()
                .map(|(id, s)| state::OneTimePreKeyState {
                    id: *id,
                    secret: s.to_bytes().to_vec(),
                })
                .collect(),
            next_signed_prekey_id: self.next_signed_id,
            next_one_time_prekey_id: self.next_one_time_id,
            kem_prekeys: self.kem.iter().map(KemPreKeySecret::to_state).collect(),
            next_kem_prekey_id: self.next_kem_id,
        };
        let out = Zeroizing::new(st.encode_to_vec());
        wipe_store_state(&mut st);
        out
    }

    /// Restores a store written by [`PreKeyStore::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut st =
            state::PreKeyStoreState::decode(bytes).map_err(|_| Error::Malformed("prekey store"))?;
        let result = Self::from_state(&st);
        wipe_store_state(&mut st);
        result
    }

    fn from_state(st: &state::PreKeyStoreState) -> Result<Self> {
        if st.version != STORE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "prekey store",
                version: st.version,
            });
        }
        let mut signed = Vec::with_capacity(st.signed_prekeys.len());
        for s in &st.signed_prekeys {
            let sig: [u8; 64] = s
                .signature
                .as_slice()
                .try_into()
                .map_err(|_| Error::Malformed("prekey store signature"))?;
            signed.push(SignedPreKeySecret {
                id: s.id,
                secret: StaticSecret::from(*Zeroizing::new(key32(&s.secret, "signed prekey")?)),
                signature: Signature::from_bytes(&sig),
                seen_base_keys: s
                    .seen_base_keys
                    .iter()
                    .map(|k| key32(k, "seen base"))
                    .collect::<Result<_>>()?,
                offers_pqxdh: s.offers_pqxdh,
            });
        }
        let mut one_time = BTreeMap::new();
        for o in &st.one_time_prekeys {
            let secret = StaticSecret::from(*Zeroizing::new(key32(&o.secret, "one-time prekey")?));
            one_time.insert(o.id, secret);
        }
        Ok(Self {
            signed,
            one_time,
            next_signed_id: st.next_signed_prekey_id,
            next_one_time_id: st.next_one_time_prekey_id,
            kem: st
                .kem_prekeys
                .iter()
                .map(KemPreKeySecret::from_state)
                .collect::<Result<_>>()?,
            next_kem_id: st.next_kem_prekey_id,
        })
    }
}

fn wipe_store_state(st: &mut state::PreKeyStoreState) {
    for s in &mut st.signed_prekeys {
        s.secret.zeroize();
    }
    for o in &mut st.one_time_prekeys {
        o.secret.zeroize();
    }
    for k in &mut st.kem_prekeys {
        k.seed.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_decoded_state_is_wiped() {
        let mut rng = rand::rng();
        let id = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        store.rotate_signed_prekey_pqxdh(&mut rng, &id);
        store.generate_one_time_prekeys(&mut rng, 2);
        store.generate_one_time_kem_prekeys(&mut rng, &id, 1);
        let mut st = state::PreKeyStoreState::decode(store.to_bytes().as_slice()).unwrap();
        let secrets = |st: &state::PreKeyStoreState| -> Vec<Vec<u8>> {
            st.signed_prekeys
                .iter()
                .map(|s| s.secret.clone())
                .chain(st.one_time_prekeys.iter().map(|o| o.secret.clone()))
                .chain(st.kem_prekeys.iter().map(|k| k.seed.clone()))
                .collect()
        };
        assert_eq!(secrets(&st).len(), 4);
        assert!(secrets(&st).iter().all(|s| s.iter().any(|&b| b != 0)));
        wipe_store_state(&mut st);
        assert!(secrets(&st).iter().all(|s| s.iter().all(|&b| b == 0)));
    }
}
