//! Prekeys: the signed prekey and one-time prekeys a device publishes so that others can
//! start sessions with it while it is offline, and the private store that answers them.

use std::collections::BTreeMap;

use ed25519_dalek::{Signature, Signer};
use prost::Message;
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::proto::{key32, state, wire};
use crate::{Error, Result};

/// Context prefixed to `id (u32, big-endian) ‖ public key` before the identity signs a signed prekey.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"Hush-v1-SignedPreKey";
/// Version of an encoded [`PreKeyBundle`].
pub const BUNDLE_VERSION: u32 = 1;
/// Version of a serialized [`PreKeyStore`].
const STORE_VERSION: u32 = 1;
/// How many signed prekeys a store keeps (the current one and the ones it replaced), so that
/// initial messages sent just before a rotation still open.
pub const SIGNED_PREKEYS_KEPT: usize = 3;
/// How many accepted X3DH base keys are remembered per signed prekey for replay detection.
pub const SEEN_BASE_KEYS_PER_SIGNED_PREKEY: usize = 10_000;

fn signed_prekey_message(id: u32, public: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNED_PREKEY_CONTEXT.len() + 36);
    m.extend_from_slice(SIGNED_PREKEY_CONTEXT);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(public);
    m
}

/// The public, signed half of a prekey bundle. A value of this type has a verified signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedPreKeyPublic {
    identity: IdentityPublicKey,
    id: u32,
    public: PublicKey,
    signature: Signature,
}

impl core::fmt::Debug for SignedPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SignedPreKeyPublic")
            .field("identity", &self.identity)
            .field("id", &self.id)
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

    fn to_proto(&self) -> wire::SignedPreKeyPublic {
        wire::SignedPreKeyPublic {
            identity: Some(self.identity.to_proto()),
            id: self.id,
            public_key: self.public.to_bytes().to_vec(),
            signature: self.signature.to_bytes().to_vec(),
        }
    }

    fn from_proto(p: &wire::SignedPreKeyPublic) -> Result<Self> {
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
            .verify_strict(&signed_prekey_message(p.id, &public), &signature)
            .map_err(|_| Error::BadSignature("signed prekey"))?;
        Ok(Self {
            identity,
            id: p.id,
            public: PublicKey::from(public),
            signature,
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

    fn to_proto(self) -> wire::OneTimePreKeyPublic {
        wire::OneTimePreKeyPublic {
            id: self.id,
            public_key: self.public.to_bytes().to_vec(),
        }
    }

    fn from_proto(p: &wire::OneTimePreKeyPublic) -> Result<Self> {
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

/// What an initiator needs to start a session: the responder's signed prekey and, while the
/// stock lasts, one of its one-time prekeys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    signed: SignedPreKeyPublic,
    one_time: Option<OneTimePreKeyPublic>,
}

impl PreKeyBundle {
    /// Assembles a bundle from its verified parts.
    pub fn new(signed: SignedPreKeyPublic, one_time: Option<OneTimePreKeyPublic>) -> Self {
        Self { signed, one_time }
    }

    /// Assembles a bundle from the two blobs a relay directory hands out.
    pub fn from_parts(signed_prekey: &[u8], one_time_prekey: Option<&[u8]>) -> Result<Self> {
        Ok(Self {
            signed: SignedPreKeyPublic::from_bytes(signed_prekey)?,
            one_time: one_time_prekey
                .map(OneTimePreKeyPublic::from_bytes)
                .transpose()?,
        })
    }

    /// The responder's identity.
    pub fn identity(&self) -> &IdentityPublicKey {
        &self.signed.identity
    }

    /// The signed prekey.
    pub fn signed_prekey(&self) -> &SignedPreKeyPublic {
        &self.signed
    }

    /// The one-time prekey, if the bundle has one.
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKeyPublic> {
        self.one_time.as_ref()
    }

    /// Encodes as protobuf `hush.v1.PreKeyBundle`.
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::PreKeyBundle {
            version: BUNDLE_VERSION,
            signed_prekey: Some(self.signed.to_proto()),
            one_time_prekey: self.one_time.map(OneTimePreKeyPublic::to_proto),
        }
        .encode_to_vec()
    }

    /// Decodes a bundle and verifies its signatures.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p = wire::PreKeyBundle::decode(bytes).map_err(|_| Error::Malformed("prekey bundle"))?;
        if p.version != BUNDLE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "prekey bundle",
                version: p.version,
            });
        }
        Ok(Self {
            signed: SignedPreKeyPublic::from_proto(
                p.signed_prekey
                    .as_ref()
                    .ok_or(Error::Malformed("prekey bundle"))?,
            )?,
            one_time: p
                .one_time_prekey
                .as_ref()
                .map(OneTimePreKeyPublic::from_proto)
                .transpose()?,
        })
    }
}

/// A signed prekey's private half, with the base keys already accepted under it.
pub(crate) struct SignedPreKeySecret {
    pub(crate) id: u32,
    pub(crate) secret: StaticSecret,
    signature: Signature,
    seen_base_keys: Vec<[u8; 32]>,
}

/// The owner's private prekeys. Secrets are wiped on drop; one-time prekeys are deleted as
/// soon as an initial message that used them has been accepted.
#[derive(Default)]
pub struct PreKeyStore {
    signed: Vec<SignedPreKeySecret>,
    one_time: BTreeMap<u32, StaticSecret>,
    next_signed_id: u32,
    next_one_time_id: u32,
}

// Every secret is an x25519-dalek `StaticSecret`, which zeroizes itself on drop.
impl ZeroizeOnDrop for PreKeyStore {}

impl core::fmt::Debug for PreKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PreKeyStore")
            .field("signed_prekeys", &self.signed.len())
            .field("one_time_prekeys", &self.one_time.len())
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
        let id = self.next_signed_id;
        self.next_signed_id = self.next_signed_id.wrapping_add(1);
        let secret = random_secret(rng);
        let public = PublicKey::from(&secret);
        let signature = identity
            .signing_key()
            .sign(&signed_prekey_message(id, public.as_bytes()));
        self.signed.push(SignedPreKeySecret {
            id,
            secret,
            signature,
            seen_base_keys: Vec::new(),
        });
        if self.signed.len() > SIGNED_PREKEYS_KEPT {
            self.signed.remove(0);
        }
        SignedPreKeyPublic {
            identity: identity.public().clone(),
            id,
            public,
            signature,
        }
    }

    /// The public half of the current signed prekey, if one was generated.
    pub fn current_signed_prekey(&self, identity: &IdentityKeyPair) -> Option<SignedPreKeyPublic> {
        self.signed.last().map(|s| SignedPreKeyPublic {
            identity: identity.public().clone(),
            id: s.id,
            public: PublicKey::from(&s.secret),
            signature: s.signature,
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
}
