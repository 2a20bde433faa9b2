//! Sealed-sender envelopes: what the relay stores and forwards for a mailbox.
//!
//! An envelope hides who sent it and how long its content is. It has two AEAD layers:
//! the sender's identity, encrypted to the recipient's identity DH key with a fresh
//! ephemeral key; then the content, encrypted with a key that also depends on
//! DH(sender identity, recipient identity), so that a recipient who opens it knows the sender
//! holds the identity it claims. The content is padded so that the envelope's length is one of
//! a few size buckets ([`padded_len`]). Layout (spec/envelope.md):
//!
//! `0x01 ‖ E (32) ‖ AEAD(k1, sender identity) (128 + 16) ‖ AEAD(k2, padded SealedContent)`

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use prost::Message;
use rand_core::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::proto::wire;
use crate::ratchet::ratchet_key::dh;
use crate::trace::Trace;
use crate::{Error, Result};

/// First byte of every envelope of this format.
pub const ENVELOPE_VERSION: u8 = 1;
/// HKDF info of the identity layer key.
pub const SEALED_IDENTITY_INFO: &[u8] = b"Hush-v1-Sealed-Identity";
/// HKDF info of the content layer key.
pub const SEALED_CONTENT_INFO: &[u8] = b"Hush-v1-Sealed-Content";
/// Version of [`wire::SealedContent`].
pub const SEALED_CONTENT_VERSION: u32 = 1;
/// The smallest envelope.
pub const MIN_ENVELOPE_LEN: usize = 512;
/// The largest envelope this implementation writes or opens (1 MiB).
pub const MAX_ENVELOPE_LEN: usize = 1 << 20;
/// Bytes of an envelope that are not padded content: version, ephemeral key, encrypted
/// identity, and the content layer's tag.
pub const ENVELOPE_OVERHEAD: usize = 1 + 32 + IDENTITY_LEN + 16 + 16;

const IDENTITY_LEN: usize = 128;

/// What kind of payload a sealed envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentKind {
    /// An encoded 1:1 [`HushMessage`](wire::HushMessage).
    SessionMessage,
    /// An MLS Welcome.
    GroupWelcome,
    /// Application-defined bytes.
    Application,
    /// A link approval sealed to a new device's link key (`spec/multi-device.md` §3.2).
    LinkApproval,
}

impl ContentKind {
    fn to_wire(self) -> wire::ContentKind {
        match self {
            Self::SessionMessage => wire::ContentKind::SessionMessage,
            Self::GroupWelcome => wire::ContentKind::GroupWelcome,
            Self::Application => wire::ContentKind::Application,
            Self::LinkApproval => wire::ContentKind::LinkApproval,
        }
    }

    fn from_wire(v: i32) -> Result<Self> {
        match wire::ContentKind::try_from(v) {
            Ok(wire::ContentKind::SessionMessage) => Ok(Self::SessionMessage),
            Ok(wire::ContentKind::GroupWelcome) => Ok(Self::GroupWelcome),
            Ok(wire::ContentKind::Application) => Ok(Self::Application),
            Ok(wire::ContentKind::LinkApproval) => Ok(Self::LinkApproval),
            _ => Err(Error::Malformed("sealed content kind")),
        }
    }
}

/// The opened content of an envelope.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedContent {
    /// The sender, authenticated by the content layer's static-static DH.
    pub sender: IdentityPublicKey,
    /// What `payload` is.
    pub kind: ContentKind,
    /// The payload.
    pub payload: Vec<u8>,
    /// The sender's mailbox send address (may be empty).
    pub reply_to: Vec<u8>,
}

impl core::fmt::Debug for SealedContent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SealedContent")
            .field("sender", &self.sender)
            .field("kind", &self.kind)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// The envelope length for `content_len` bytes of encoded content (plus at least one byte of
/// padding): the smallest power of two from [`MIN_ENVELOPE_LEN`] up that fits, then multiples
/// of 64 KiB. `None` above [`MAX_ENVELOPE_LEN`].
pub fn padded_len(content_len: usize) -> Option<usize> {
    let needed = content_len.checked_add(ENVELOPE_OVERHEAD + 1)?;
    let len = if needed <= 64 * 1024 {
        needed.next_power_of_two().max(MIN_ENVELOPE_LEN)
    } else {
        needed.div_ceil(64 * 1024) * 64 * 1024
    };
    (len <= MAX_ENVELOPE_LEN).then_some(len)
}

fn aead_key(ikm: &[u8], salt: &[u8], info: &[u8]) -> (ChaCha20Poly1305, Nonce) {
    aead_key_traced(ikm, salt, info, ["", ""], &mut Trace::off())
}

/// [`aead_key`], recording the 32-byte key and the 12-byte nonce under `labels`.
fn aead_key_traced(
    ikm: &[u8],
    salt: &[u8],
    info: &[u8],
    labels: [&str; 2],
    trace: &mut Trace,
) -> (ChaCha20Poly1305, Nonce) {
    let mut okm = Zeroizing::new([0u8; 44]);
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, okm.as_mut())
        .expect("HKDF output length is valid");
    trace.record(labels[0], &okm[..32]);
    trace.record(labels[1], &okm[32..]);
    let cipher = ChaCha20Poly1305::new_from_slice(&okm[..32]).expect("32-byte key");
    let mut nonce = Nonce::default();
    nonce.copy_from_slice(&okm[32..]);
    (cipher, nonce)
}

fn encode_identity(id: &IdentityPublicKey) -> [u8; IDENTITY_LEN] {
    let mut out = [0u8; IDENTITY_LEN];
    out[..64].copy_from_slice(&id.encode());
    out[64..].copy_from_slice(&id.binding_signature());
    out
}

fn decode_identity(b: &[u8]) -> Result<IdentityPublicKey> {
    let p = wire::IdentityPublicKey {
        signing_key: b[..32].to_vec(),
        dh_key: b[32..64].to_vec(),
        dh_key_signature: b[64..IDENTITY_LEN].to_vec(),
    };
    // Checks the binding signature (strictly: canonical encodings only).
    IdentityPublicKey::from_proto(&p)
}

/// Seals `payload` for `recipient`: only the holder of the recipient's identity can open it,
/// and it reveals neither the sender nor the payload's exact length.
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    kind: ContentKind,
    payload: &[u8],
    reply_to: &[u8],
) -> Result<Vec<u8>> {
    seal_traced(
        rng,
        sender,
        recipient,
        kind,
        payload,
        reply_to,
        &mut Trace::off(),
    )
}

/// [`seal`], recording every intermediate value (spec/envelope.md, "Test vectors"). The only
/// random draw is the 32-byte ephemeral secret, taken after the content is padded and before
/// any key agreement or encryption.
pub(crate) fn seal_traced<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &IdentityKeyPair,
    recipient: &IdentityPublicKey,
    kind: ContentKind,
    payload: &[u8],
    reply_to: &[u8],
    trace: &mut Trace,
) -> Result<Vec<u8>> {
    let content = Zeroizing::new(
        wire::SealedContent {
            version: SEALED_CONTENT_VERSION,
            kind: kind.to_wire() as i32,
            payload: payload.to_vec(),
            reply_to: reply_to.to_vec(),
        }
        .encode_to_vec(),
    );
    let total = padded_len(content.len()).ok_or(Error::Malformed("payload too large to seal"))?;
    let mut padded = Zeroizing::new(Vec::with_capacity(total - ENVELOPE_OVERHEAD));
    padded.extend_from_slice(&content);
    padded.push(0x80);
    padded.resize(total - ENVELOPE_OVERHEAD, 0);
    trace.record("sealed_content", &content);
    trace.record("padded_content", &padded);

    let mut e_bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(e_bytes.as_mut());
    let e = StaticSecret::from(*e_bytes);
    let e_pub = PublicKey::from(&e).to_bytes();
    trace.record("ephemeral_private_key", e_bytes.as_ref());
    trace.record("ephemeral_public_key", &e_pub);

    let mut out = Vec::with_capacity(total);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&e_pub);

    let dh1 = dh(&e, recipient.dh_key())?;
    trace.record("dh_identity", dh1.as_ref());
    let mut salt1 = [0u8; 64];
    salt1[..32].copy_from_slice(&e_pub);
    salt1[32..].copy_from_slice(recipient.dh_key().as_bytes());
    trace.record("salt1", &salt1);
    let (c1, n1) = aead_key_traced(
        dh1.as_ref(),
        &salt1,
        SEALED_IDENTITY_INFO,
        ["k1", "n1"],
        trace,
    );
    let identity_pt = encode_identity(sender.public());
    trace.record("sender_identity", &identity_pt);
    let identity_ct = c1
        .encrypt(
            &n1,
            Payload {
                msg: &identity_pt,
                aad: &out,
            },
        )
        .expect("within AEAD limits");
    trace.record("c1", &identity_ct);
    out.extend_from_slice(&identity_ct);

    let dh2 = dh(sender.dh_secret(), recipient.dh_key())?;
    trace.record("dh_content", dh2.as_ref());
    let (c2, n2) = aead_key_traced(dh2.as_ref(), &out, SEALED_CONTENT_INFO, ["k2", "n2"], trace);
    let content_ct = c2
        .encrypt(
            &n2,
            Payload {
                msg: &padded,
                aad: &out,
            },
        )
        .expect("within AEAD limits");
    trace.record("c2", &content_ct);
    out.extend_from_slice(&content_ct);
    debug_assert_eq!(out.len(), total);
    Ok(out)
}

/// Opens an envelope sealed for `ours`. Any alteration, or an envelope for someone else, is
/// [`Error::DecryptionFailed`].
pub fn open(ours: &IdentityKeyPair, envelope: &[u8]) -> Result<SealedContent> {
    let head = 1 + 32 + IDENTITY_LEN + 16;
    if envelope.len() < ENVELOPE_OVERHEAD + 1 || envelope.len() > MAX_ENVELOPE_LEN {
        return Err(Error::Malformed("envelope length"));
    }
    if envelope[0] != ENVELOPE_VERSION {
        return Err(Error::UnsupportedVersion {
            what: "envelope",
            version: u32::from(envelope[0]),
        });
    }
    let mut e_pub = [0u8; 32];
    e_pub.copy_from_slice(&envelope[1..33]);
    let dh1 = dh(ours.dh_secret(), &PublicKey::from(e_pub))?;
    let mut salt1 = [0u8; 64];
    salt1[..32].copy_from_slice(&e_pub);
    salt1[32..].copy_from_slice(ours.public().dh_key().as_bytes());
    let (c1, n1) = aead_key(dh1.as_ref(), &salt1, SEALED_IDENTITY_INFO);
    let identity = c1
        .decrypt(
            &n1,
            Payload {
                msg: &envelope[33..head],
                aad: &envelope[..33],
            },
        )
        .map_err(|_| Error::DecryptionFailed)?;
    let sender = decode_identity(&identity)?;

    let dh2 = dh(ours.dh_secret(), sender.dh_key())?;
    let (c2, n2) = aead_key(dh2.as_ref(), &envelope[..head], SEALED_CONTENT_INFO);
    let padded = Zeroizing::new(
        c2.decrypt(
            &n2,
            Payload {
                msg: &envelope[head..],
                aad: &envelope[..head],
            },
        )
        .map_err(|_| Error::DecryptionFailed)?,
    );
    let end = padded
        .iter()
        .rposition(|b| *b != 0)
        .filter(|i| padded[*i] == 0x80)
        .ok_or(Error::Malformed("envelope padding"))?;
    let content = wire::SealedContent::decode(&padded[..end])
        .map_err(|_| Error::Malformed("sealed content"))?;
    if content.version != SEALED_CONTENT_VERSION {
        return Err(Error::UnsupportedVersion {
            what: "sealed content",
            version: content.version,
        });
    }
    Ok(SealedContent {
        sender,
        kind: ContentKind::from_wire(content.kind)?,
        payload: content.payload,
        reply_to: content.reply_to,
    })
}
