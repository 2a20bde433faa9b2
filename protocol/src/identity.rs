//! Device identity: an Ed25519 signing key and an X25519 Diffie-Hellman key, the DH key bound
//! to the signing key by a signature.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use prost::Message;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::proto::{key32, state, wire};
use crate::{Error, Result};

/// Context prefixed to the X25519 identity key before the identity signing key signs it.
pub const IDENTITY_DH_CONTEXT: &[u8] = b"Hush-v1-IdentityDH";
/// Context prefixed to the encoded identity for its fingerprint.
pub const FINGERPRINT_CONTEXT: &[u8] = b"Hush-v1-Fingerprint";

/// Version of the serialized [`IdentityKeyPair`].
const IDENTITY_STATE_VERSION: u32 = 1;

/// A device's private identity. Its secrets are wiped from memory when it is dropped.
pub struct IdentityKeyPair {
    signing: SigningKey,
    dh: StaticSecret,
    public: IdentityPublicKey,
}

// Both secret fields zeroize themselves on drop (ed25519-dalek and x25519-dalek with their
// `zeroize` features); the public part holds no secret.
impl ZeroizeOnDrop for IdentityKeyPair {}

impl core::fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl IdentityKeyPair {
    /// Generates a new identity from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut signing = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(signing.as_mut());
        let mut dh = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(dh.as_mut());
        Self::from_secrets(&signing, &dh)
    }

    /// Builds an identity from its two 32-byte secrets (Ed25519 seed, X25519 scalar bytes).
    pub(crate) fn from_secrets(signing_seed: &[u8; 32], dh_secret: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(signing_seed);
        let dh = StaticSecret::from(*dh_secret);
        let dh_public = PublicKey::from(&dh);
        let signature = signing.sign(&binding_message(dh_public.as_bytes()));
        let public = IdentityPublicKey {
            signing: signing.verifying_key(),
            dh: dh_public,
            signature,
        };
        Self {
            signing,
            dh,
            public,
        }
    }

    /// The public identity to publish.
    pub fn public(&self) -> &IdentityPublicKey {
        &self.public
    }

    /// Signs `message` with the identity's Ed25519 key.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.signing.sign(message).to_bytes()
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn dh_secret(&self) -> &StaticSecret {
        &self.dh
    }

    /// Serializes the identity (secrets included) for storage. Encrypt it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let st = state::IdentityKeyPairState {
            version: IDENTITY_STATE_VERSION,
            signing_secret: self.signing.to_bytes().to_vec(),
            dh_secret: self.dh.to_bytes().to_vec(),
        };
        let out = Zeroizing::new(st.encode_to_vec());
        let mut st = st;
        zeroize::Zeroize::zeroize(&mut st.signing_secret);
        zeroize::Zeroize::zeroize(&mut st.dh_secret);
        out
    }

    /// Restores an identity written by [`IdentityKeyPair::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut st = state::IdentityKeyPairState::decode(bytes)
            .map_err(|_| Error::Malformed("identity state"))?;
        let result = (|| {
            if st.version != IDENTITY_STATE_VERSION {
                return Err(Error::UnsupportedVersion {
                    what: "identity state",
                    version: st.version,
                });
            }
            let signing = Zeroizing::new(key32(&st.signing_secret, "identity signing")?);
            let dh = Zeroizing::new(key32(&st.dh_secret, "identity DH")?);
            Ok(Self::from_secrets(&signing, &dh))
        })();
        zeroize::Zeroize::zeroize(&mut st.signing_secret);
        zeroize::Zeroize::zeroize(&mut st.dh_secret);
        result
    }
}

pub(crate) fn binding_message(dh_public: &[u8; 32]) -> Vec<u8> {
    let mut m = Vec::with_capacity(IDENTITY_DH_CONTEXT.len() + 32);
    m.extend_from_slice(IDENTITY_DH_CONTEXT);
    m.extend_from_slice(dh_public);
    m
}

/// A device's public identity: Ed25519 key, X25519 key and the signature binding them.
///
/// A value of this type has always had its binding signature checked.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityPublicKey {
    signing: VerifyingKey,
    dh: PublicKey,
    signature: Signature,
}

impl core::fmt::Debug for IdentityPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "IdentityPublicKey({})", self.fingerprint())
    }
}

impl IdentityPublicKey {
    /// The Ed25519 public key (32 bytes).
    pub fn signing_key_bytes(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The X25519 public key (32 bytes).
    pub fn dh_key_bytes(&self) -> [u8; 32] {
        self.dh.to_bytes()
    }

    pub(crate) fn binding_signature(&self) -> [u8; 64] {
        self.signature.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.signing
    }

    pub(crate) fn dh_key(&self) -> &PublicKey {
        &self.dh
    }

    /// `Encode(IK)` of the spec: Ed25519 public key ‖ X25519 public key (64 bytes).
    pub fn encode(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(self.signing.as_bytes());
        out[32..].copy_from_slice(self.dh.as_bytes());
        out
    }

    /// The identity's fingerprint: SHA-256(`Hush-v1-Fingerprint` ‖ Encode(IK)).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_CONTEXT);
        h.update(self.encode());
        Fingerprint(h.finalize().into())
    }

    /// Verifies an Ed25519 signature made by this identity over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> Result<()> {
        let sig = Signature::from_bytes(signature);
        self.signing
            .verify_strict(message, &sig)
            .map_err(|_| Error::BadSignature("message"))
    }

    pub(crate) fn to_proto(&self) -> wire::IdentityPublicKey {
        wire::IdentityPublicKey {
            signing_key: self.signing.to_bytes().to_vec(),
            dh_key: self.dh.to_bytes().to_vec(),
            dh_key_signature: self.signature.to_bytes().to_vec(),
        }
    }

    pub(crate) fn from_proto(p: &wire::IdentityPublicKey) -> Result<Self> {
        let id = Self::from_proto_endorsed(p)?;
        id.signing
            .verify_strict(&binding_message(id.dh.as_bytes()), &id.signature)
            .map_err(|_| Error::BadSignature("identity DH key"))?;
        Ok(id)
    }

    /// Decodes an identity without checking its binding signature. Only for encodings that
    /// were verified before or that another signature by the same Ed25519 key covers: the
    /// identities in a saved session state (verified when the session was made), and MLS
    /// leaf credentials, which openmls verifies the leaf signature of before a leaf enters
    /// the tree (see `spec/groups.md`, section 2).
    pub(crate) fn from_proto_endorsed(p: &wire::IdentityPublicKey) -> Result<Self> {
        let signing = VerifyingKey::from_bytes(&key32(&p.signing_key, "identity signing")?)
            .map_err(|_| Error::InvalidKey("identity signing"))?;
        let dh = PublicKey::from(key32(&p.dh_key, "identity DH")?);
        let sig: [u8; 64] = p
            .dh_key_signature
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("identity signature"))?;
        Ok(Self {
            signing,
            dh,
            signature: Signature::from_bytes(&sig),
        })
    }

    /// Encodes the identity as protobuf `hush.v1.IdentityPublicKey`.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_proto().encode_to_vec()
    }

    /// Decodes and verifies an identity written by [`IdentityPublicKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p = wire::IdentityPublicKey::decode(bytes)
            .map_err(|_| Error::Malformed("identity public key"))?;
        Self::from_proto(&p)
    }
}

/// SHA-256 fingerprint of an identity; `Display` shows it as 16 groups of 4 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl core::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{:02x}{:02x}", pair[0], pair[1])?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}
