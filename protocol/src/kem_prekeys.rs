//! Signed ML-KEM-768 prekeys for PQXDH (`spec/pqxdh.md`, section 3): one-time KEM prekeys,
//! handed out at most once, and last-resort KEM prekeys, handed out when none is left.

use ed25519_dalek::{Signature, Signer};
use prost::Message;
use rand_core::CryptoRng;

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::kem::{KemPublicKey, KemSeed};
use crate::prekeys::PreKeyStore;
use crate::proto::{state, wire};
use crate::{Error, Result};

/// Context prefixed to `kind (1 byte) ‖ id (u32, big-endian) ‖ PQPK (1184 bytes)` before the
/// identity signs a KEM prekey. `kind` is 0 for a one-time and 1 for a last-resort KEM prekey.
pub const KEM_PREKEY_CONTEXT: &[u8] = b"Hush-v1-KemPreKey-MLKEM768";
/// How many last-resort KEM prekeys a store keeps (the current one and those it replaced).
pub const LAST_RESORT_KEM_PREKEYS_KEPT: usize = 3;

/// Whether a KEM prekey is used once or may be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KemPreKeyKind {
    /// Handed out by the directory at most once; deleted by its owner after one use.
    OneTime,
    /// Handed out when no one-time KEM prekey is left; stays usable until rotated out.
    LastResort,
}

impl KemPreKeyKind {
    /// The byte that encodes the kind in signatures and in the KEM binding (0 or 1).
    pub fn byte(self) -> u8 {
        match self {
            Self::OneTime => 0,
            Self::LastResort => 1,
        }
    }

    pub(crate) fn from_last_resort(last_resort: bool) -> Self {
        if last_resort {
            Self::LastResort
        } else {
            Self::OneTime
        }
    }
}

pub(crate) fn kem_prekey_message(kind: KemPreKeyKind, id: u32, public: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(KEM_PREKEY_CONTEXT.len() + 5 + public.len());
    m.extend_from_slice(KEM_PREKEY_CONTEXT);
    m.push(kind.byte());
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(public);
    m
}

/// The public half of a signed KEM prekey. It carries no identity: it is checked against the
/// identity of the bundle it comes with ([`KemPreKeyPublic::from_bytes`]).
#[derive(Clone, PartialEq, Eq)]
pub struct KemPreKeyPublic {
    identity: IdentityPublicKey,
    id: u32,
    kind: KemPreKeyKind,
    public: KemPublicKey,
    signature: Signature,
}

impl core::fmt::Debug for KemPreKeyPublic {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "KemPreKeyPublic({:?} {})", self.kind, self.id)
    }
}

impl KemPreKeyPublic {
    /// The prekey's id (one id space for both kinds, per store).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// One-time or last-resort.
    pub fn kind(&self) -> KemPreKeyKind {
        self.kind
    }

    /// The 1184-byte ML-KEM-768 encapsulation key.
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.public.to_bytes()
    }

    pub(crate) fn public_key(&self) -> &KemPublicKey {
        &self.public
    }

    /// The identity whose signature was verified.
    pub(crate) fn identity(&self) -> &IdentityPublicKey {
        &self.identity
    }

    pub(crate) fn to_proto(&self) -> wire::KemPreKeyPublic {
        wire::KemPreKeyPublic {
            id: self.id,
            last_resort: self.kind == KemPreKeyKind::LastResort,
            public_key: self.public.to_bytes(),
            signature: self.signature.to_bytes().to_vec(),
        }
    }

    pub(crate) fn from_proto(
        p: &wire::KemPreKeyPublic,
        identity: &IdentityPublicKey,
    ) -> Result<Self> {
        let sig: [u8; 64] = p
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("KEM prekey signature"))?;
        let signature = Signature::from_bytes(&sig);
        let kind = KemPreKeyKind::from_last_resort(p.last_resort);
        identity
            .verifying_key()
            .verify_strict(&kem_prekey_message(kind, p.id, &p.public_key), &signature)
            .map_err(|_| Error::BadSignature("KEM prekey"))?;
        Ok(Self {
            identity: identity.clone(),
            id: p.id,
            kind,
            public: KemPublicKey::from_bytes(&p.public_key)?,
            signature,
        })
    }

    /// Encodes as protobuf `hush.v1.KemPreKeyPublic` (what the owner uploads).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes a KEM prekey and verifies that `identity` signed it, and that its key is a
    /// valid ML-KEM-768 encapsulation key.
    pub fn from_bytes(bytes: &[u8], identity: &IdentityPublicKey) -> Result<Self> {
        let p = wire::KemPreKeyPublic::decode(bytes).map_err(|_| Error::Malformed("KEM prekey"))?;
        Self::from_proto(&p, identity)
    }
}

/// A KEM prekey's private half.
pub(crate) struct KemPreKeySecret {
    pub(crate) id: u32,
    pub(crate) kind: KemPreKeyKind,
    pub(crate) seed: KemSeed,
    signature: Signature,
}

impl KemPreKeySecret {
    fn public(&self, identity: &IdentityKeyPair) -> KemPreKeyPublic {
        KemPreKeyPublic {
            identity: identity.public().clone(),
            id: self.id,
            kind: self.kind,
            public: self.seed.public_key(),
            signature: self.signature,
        }
    }

    pub(crate) fn to_state(&self) -> state::KemPreKeyState {
        state::KemPreKeyState {
            id: self.id,
            last_resort: self.kind == KemPreKeyKind::LastResort,
            seed: self.seed.as_bytes().to_vec(),
            signature: self.signature.to_bytes().to_vec(),
        }
    }

    pub(crate) fn from_state(s: &state::KemPreKeyState) -> Result<Self> {
        let sig: [u8; 64] = s
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("prekey store KEM signature"))?;
        Ok(Self {
            id: s.id,
            kind: KemPreKeyKind::from_last_resort(s.last_resort),
            seed: KemSeed::from_bytes(&s.seed)?,
            signature: Signature::from_bytes(&sig),
        })
    }
}

impl PreKeyStore {
    fn new_kem_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        kind: KemPreKeyKind,
    ) -> KemPreKeyPublic {
        let id = self.next_kem_id;
        self.next_kem_id = self.next_kem_id.wrapping_add(1);
        let seed = KemSeed::generate(rng);
        let public = seed.public_key();
        let signature =
            identity
                .signing_key()
                .sign(&kem_prekey_message(kind, id, &public.to_bytes()));
        self.kem.push(KemPreKeySecret {
            id,
            kind,
            seed,
            signature,
        });
        KemPreKeyPublic {
            identity: identity.public().clone(),
            id,
            kind,
            public,
            signature,
        }
    }

    /// Generates `count` signed one-time KEM prekeys and returns their public halves to upload.
    pub fn generate_one_time_kem_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
        count: usize,
    ) -> Vec<KemPreKeyPublic> {
        (0..count)
            .map(|_| self.new_kem_prekey(rng, identity, KemPreKeyKind::OneTime))
            .collect()
    }

    /// Generates a new signed last-resort KEM prekey, makes it current and returns its public
    /// half to upload. The [`LAST_RESORT_KEM_PREKEYS_KEPT`] newest stay usable.
    pub fn rotate_last_resort_kem_prekey<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &IdentityKeyPair,
    ) -> KemPreKeyPublic {
        let public = self.new_kem_prekey(rng, identity, KemPreKeyKind::LastResort);
        let last_resort = self
            .kem
            .iter()
            .filter(|k| k.kind == KemPreKeyKind::LastResort)
            .count();
        if last_resort > LAST_RESORT_KEM_PREKEYS_KEPT
            && let Some(i) = self
                .kem
                .iter()
                .position(|k| k.kind == KemPreKeyKind::LastResort)
        {
            self.kem.remove(i);
        }
        public
    }

    /// The public half of the current (newest) last-resort KEM prekey, if one was generated.
    pub fn current_last_resort_kem_prekey(
        &self,
        identity: &IdentityKeyPair,
    ) -> Option<KemPreKeyPublic> {
        self.kem
            .iter()
            .rev()
            .find(|k| k.kind == KemPreKeyKind::LastResort)
            .map(|k| k.public(identity))
    }

    /// How many one-time KEM prekeys are still unused.
    pub fn one_time_kem_prekey_count(&self) -> usize {
        self.kem
            .iter()
            .filter(|k| k.kind == KemPreKeyKind::OneTime)
            .count()
    }

    pub(crate) fn kem_prekey(&self, id: u32) -> Result<&KemPreKeySecret> {
        self.kem
            .iter()
            .find(|k| k.id == id)
            .ok_or(Error::UnknownKemPreKey(id))
    }

    /// Deletes a one-time KEM prekey after its initial message was accepted; a last-resort
    /// one stays.
    pub(crate) fn consume_kem(&mut self, id: u32) {
        self.kem
            .retain(|k| !(k.id == id && k.kind == KemPreKeyKind::OneTime));
    }
}
