//! 1:1 sessions: X3DH or PQXDH to start, the Double Ratchet after.

mod persist;

use prost::Message;
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::bundle::PreKeyBundle;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::prekeys::PreKeyStore;
use crate::proto::{key32, wire};
use crate::ratchet::ratchet_key::RatchetKeyPair;
use crate::ratchet::{DoubleRatchet, Limits};
use crate::safety_number::SafetyNumber;
use crate::trace::Trace;
use crate::{Error, Result};
use crate::{pqxdh, x3dh};

/// Version of [`wire::HushMessage`] this implementation writes and reads.
pub const MESSAGE_VERSION: u32 = 1;
/// Version of a serialized [`Session`].
pub(crate) const SESSION_STATE_VERSION: u32 = 1;
/// Default `MAX_SKIP`: most message keys one message may skip in one chain.
pub const DEFAULT_MAX_SKIP: u32 = 1000;
/// Default bound on skipped message keys held in total by one session.
pub const DEFAULT_MAX_SKIPPED_TOTAL: u32 = 2000;

/// Options of a session, chosen by the initiator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// `MAX_SKIP`: most message keys skipped in one chain by one incoming message (default 1000).
    pub max_skip: u32,
    /// Most skipped message keys kept in total; the oldest are evicted past it (default 2000).
    pub max_skipped_total: u32,
    /// Encrypt message headers (Signal's Double Ratchet spec, section 4). The responder
    /// follows the initiator's choice.
    pub header_encryption: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            max_skip: DEFAULT_MAX_SKIP,
            max_skipped_total: DEFAULT_MAX_SKIPPED_TOTAL,
            header_encryption: false,
        }
    }
}

impl SessionConfig {
    fn limits(&self) -> Result<Limits> {
        if self.max_skip == 0 || self.max_skipped_total < self.max_skip {
            return Err(Error::InvalidConfig(
                "max_skip must be > 0 and max_skipped_total >= max_skip",
            ));
        }
        Ok(Limits {
            max_skip: self.max_skip,
            max_skipped_total: self.max_skipped_total,
        })
    }
}

/// What the initiator repeats in every message until it hears back.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingPreKey {
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
    kem: Option<PendingKem>,
}

/// PQXDH: the KEM prekey encapsulated to and the ciphertext (public values).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PendingKem {
    kem_prekey_id: u32,
    ciphertext: Vec<u8>,
}

/// What kind of message a byte string is, learned without decrypting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An X3DH or PQXDH initial message from the named identity: give it to [`Session::respond`] if
    /// there is no session with that identity yet, else to [`Session::decrypt`].
    PreKey {
        /// The sender's identity (IK_A), signature-checked.
        sender: Box<IdentityPublicKey>,
    },
    /// A message of an established session.
    Ratchet,
}

/// An end-to-end encrypted 1:1 session. Secrets are wiped on drop.
pub struct Session {
    local: IdentityPublicKey,
    remote: IdentityPublicKey,
    initiator: bool,
    base_key: [u8; 32],
    pending: Option<PendingPreKey>,
    /// PQXDH: `KB`, appended to the associated data of every message. `None`: X3DH.
    kem_binding: Option<[u8; 32]>,
    ratchet: DoubleRatchet,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("initiator", &self.initiator)
            .field("header_encryption", &self.header_encryption())
            .field("post_quantum", &self.is_post_quantum())
            .finish_non_exhaustive()
    }
}

fn decode_message(bytes: &[u8]) -> Result<wire::hush_message::Body> {
    let m = wire::HushMessage::decode(bytes).map_err(|_| Error::Malformed("message"))?;
    if m.version != MESSAGE_VERSION {
        return Err(Error::UnsupportedVersion {
            what: "message",
            version: m.version,
        });
    }
    m.body.ok_or(Error::Malformed("message"))
}

/// Tells a [`PreKey`](MessageKind::PreKey) message from a [`Ratchet`](MessageKind::Ratchet) one.
pub fn message_kind(bytes: &[u8]) -> Result<MessageKind> {
    match decode_message(bytes)? {
        wire::hush_message::Body::Prekey(p) => Ok(MessageKind::PreKey {
            sender: Box::new(IdentityPublicKey::from_proto(
                p.identity
                    .as_ref()
                    .ok_or(Error::Malformed("prekey message"))?,
            )?),
        }),
        wire::hush_message::Body::Ratchet(_) => Ok(MessageKind::Ratchet),
    }
}

impl Session {
    /// Starts a session with the owner of `bundle` as initiator: PQXDH when the bundle
    /// carries a KEM prekey, X3DH otherwise. The bundle's signatures were checked when it was
    /// decoded; a bundle whose signed prekey offers PQXDH but that carries no KEM prekey is
    /// refused ([`Error::PqxdhDowngrade`]). Messages sent before the first reply carry the
    /// initial message.
    pub fn initiate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &IdentityKeyPair,
        bundle: &PreKeyBundle,
        config: SessionConfig,
    ) -> Result<Self> {
        Self::initiate_traced(rng, ours, bundle, config, &mut Trace::off())
    }

    pub(crate) fn initiate_traced<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &IdentityKeyPair,
        bundle: &PreKeyBundle,
        config: SessionConfig,
        trace: &mut Trace,
    ) -> Result<Self> {
        let limits = config.limits()?;
        bundle.check_pqxdh()?;
        let mut ek_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ek_bytes.as_mut());
        let ephemeral = StaticSecret::from(*ek_bytes);
        let base_key = PublicKey::from(&ephemeral).to_bytes();
        trace.record("ephemeral_private_key", ek_bytes.as_ref());
        trace.record("ephemeral_public_key", &base_key);
        let (agreement, kem) = match bundle.kem_prekey() {
            Some(kem) => {
                let (a, k) = pqxdh::initiator_agree(rng, ours, &ephemeral, bundle, kem, trace)?;
                (a, Some(k))
            }
            None => (
                x3dh::initiator_agree(ours, &ephemeral, bundle, trace)?,
                None,
            ),
        };
        let header_keys = config
            .header_encryption
            .then(|| x3dh::initial_header_keys(&agreement.shared_key, trace));
        let ratchet = DoubleRatchet::init_initiator(
            rng,
            *agreement.shared_key,
            bundle.signed_prekey().public_key_bytes(),
            header_keys,
            limits,
            trace,
        )?;
        Ok(Self {
            local: ours.public().clone(),
            remote: bundle.identity().clone(),
            initiator: true,
            base_key,
            kem_binding: kem.as_ref().map(|k| k.binding),
            pending: Some(PendingPreKey {
                signed_prekey_id: bundle.signed_prekey().id(),
                one_time_prekey_id: bundle.one_time_prekey().map(|k| k.id()),
                kem: kem.map(|k| PendingKem {
                    kem_prekey_id: k.kem_prekey_id,
                    ciphertext: k.ciphertext,
                }),
            }),
            ratchet,
        })
    }

    /// Accepts an X3DH or PQXDH initial message (as responder) and decrypts the message it
    /// carries.
    ///
    /// On success the one-time prekey and one-time KEM prekey it used are deleted from
    /// `store` and its base key is remembered, so the same initial message cannot open a
    /// second session ([`Error::ReplayedInitialMessage`]). An X3DH initial message made with
    /// a signed prekey that offers PQXDH is refused ([`Error::PqxdhDowngrade`]). On any
    /// error `store` is unchanged.
    pub fn respond<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &IdentityKeyPair,
        store: &mut PreKeyStore,
        message: &[u8],
        config: SessionConfig,
    ) -> Result<(Self, Vec<u8>)> {
        Self::respond_traced(rng, ours, store, message, config, &mut Trace::off())
    }

    pub(crate) fn respond_traced<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ours: &IdentityKeyPair,
        store: &mut PreKeyStore,
        message: &[u8],
        config: SessionConfig,
        trace: &mut Trace,
    ) -> Result<(Self, Vec<u8>)> {
        let limits = config.limits()?;
        let wire::hush_message::Body::Prekey(p) = decode_message(message)? else {
            return Err(Error::Malformed("expected an initial (prekey) message"));
        };
        let remote = IdentityPublicKey::from_proto(
            p.identity
                .as_ref()
                .ok_or(Error::Malformed("prekey message"))?,
        )?;
        let base_key = key32(&p.base_key, "base")?;
        // X25519 ignores bit 255: refuse keys with it set, so that one base key has exactly
        // one encoding and the replay check below cannot be bypassed by flipping it.
        if base_key[31] & 0x80 != 0 {
            return Err(Error::InvalidKey("base"));
        }
        let inner = p
            .message
            .as_ref()
            .ok_or(Error::Malformed("prekey message"))?;
        // PQXDH's two fields come together (a ciphertext without a KEM prekey id is neither
        // X3DH nor PQXDH).
        if p.kem_prekey_id.is_none() && !p.kem_ciphertext.is_empty() {
            return Err(Error::Malformed("prekey message"));
        }
        let spk = store.signed_prekey(p.signed_prekey_id)?;
        if store.was_seen(p.signed_prekey_id, &base_key) {
            return Err(Error::ReplayedInitialMessage);
        }
        let opk = p
            .one_time_prekey_id
            .map(|id| store.one_time_prekey(id))
            .transpose()?;
        let (agreement, kem_binding) = match p.kem_prekey_id {
            None if spk.offers_pqxdh => return Err(Error::PqxdhDowngrade),
            None => {
                let a = x3dh::responder_agree(
                    ours,
                    &spk.secret,
                    opk,
                    &remote,
                    &PublicKey::from(base_key),
                    trace,
                )?;
                (a, None)
            }
            Some(id) => {
                let kem = store.kem_prekey(id)?;
                let dhs = x3dh::responder_dhs(
                    ours,
                    &spk.secret,
                    opk,
                    &remote,
                    &PublicKey::from(base_key),
                )?;
                let (a, binding) =
                    pqxdh::responder_agree(ours, &dhs, kem, &p.kem_ciphertext, &remote, trace)?;
                (a, Some(binding))
            }
        };
        let header_keys = p
            .header_encryption
            .then(|| x3dh::initial_header_keys(&agreement.shared_key, trace));
        let own_ratchet = RatchetKeyPair::from_secret_bytes(spk.secret.to_bytes());
        let ratchet =
            DoubleRatchet::init_responder(*agreement.shared_key, own_ratchet, header_keys, limits);
        let mut session = Self {
            local: ours.public().clone(),
            remote,
            initiator: false,
            base_key,
            pending: None,
            kem_binding,
            ratchet,
        };
        let plaintext = session.decrypt_ratchet(rng, inner, trace)?;
        store.consume(p.signed_prekey_id, p.one_time_prekey_id, base_key);
        if let Some(id) = p.kem_prekey_id {
            store.consume_kem(id);
        }
        Ok((session, plaintext))
    }

    /// Encrypts `plaintext` into an encoded `hush.v1.HushMessage`.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        self.encrypt_traced(rng, plaintext, &mut Trace::off())
    }

    pub(crate) fn encrypt_traced<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        trace: &mut Trace,
    ) -> Result<Vec<u8>> {
        let ad = self.associated_data();
        let (header, ciphertext) = self.ratchet.encrypt(rng, plaintext, &ad, trace)?;
        let ratchet = wire::RatchetMessage { header, ciphertext };
        let body = match &self.pending {
            Some(pending) => wire::hush_message::Body::Prekey(wire::PreKeyMessage {
                identity: Some(self.local.to_proto()),
                base_key: self.base_key.to_vec(),
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                header_encryption: self.header_encryption(),
                message: Some(ratchet),
                kem_prekey_id: pending.kem.as_ref().map(|k| k.kem_prekey_id),
                kem_ciphertext: pending
                    .kem
                    .as_ref()
                    .map(|k| k.ciphertext.clone())
                    .unwrap_or_default(),
            }),
            None => wire::hush_message::Body::Ratchet(ratchet),
        };
        Ok(wire::HushMessage {
            version: MESSAGE_VERSION,
            body: Some(body),
        }
        .encode_to_vec())
    }

    /// Decrypts an encoded message of this session. On error the session is unchanged, and
    /// later genuine messages still decrypt.
    pub fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &[u8],
    ) -> Result<Vec<u8>> {
        self.decrypt_traced(rng, message, &mut Trace::off())
    }

    pub(crate) fn decrypt_traced<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        message: &[u8],
        trace: &mut Trace,
    ) -> Result<Vec<u8>> {
        match decode_message(message)? {
            wire::hush_message::Body::Ratchet(r) => self.decrypt_ratchet(rng, &r, trace),
            wire::hush_message::Body::Prekey(p) => {
                // A repeat of the initial message (the initiator keeps sending it until it
                // hears back): only for the session it opened.
                if self.initiator
                    || p.base_key != self.base_key
                    || p.kem_prekey_id.is_some() != self.kem_binding.is_some()
                {
                    return Err(Error::SessionMismatch);
                }
                let identity = p
                    .identity
                    .as_ref()
                    .ok_or(Error::Malformed("prekey message"))?;
                // The session's remote identity was verified when the session was opened:
                // an exact byte match needs no second signature check.
                if *identity != self.remote.to_proto() {
                    return Err(Error::SessionMismatch);
                }
                let inner = p
                    .message
                    .as_ref()
                    .ok_or(Error::Malformed("prekey message"))?;
                self.decrypt_ratchet(rng, inner, trace)
            }
        }
    }

    fn decrypt_ratchet<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        r: &wire::RatchetMessage,
        trace: &mut Trace,
    ) -> Result<Vec<u8>> {
        let ad = self.associated_data();
        let pt = self
            .ratchet
            .decrypt(rng, &r.header, &r.ciphertext, &ad, trace)?;
        if self.initiator {
            // Hearing from the responder completes the handshake.
            self.pending = None;
        }
        Ok(pt)
    }

    /// `AD = Encode(IK_A) ‖ Encode(IK_B)`, initiator first, and for PQXDH `‖ KB`.
    fn associated_data(&self) -> Vec<u8> {
        let (a, b) = if self.initiator {
            (&self.local, &self.remote)
        } else {
            (&self.remote, &self.local)
        };
        match &self.kem_binding {
            Some(kb) => pqxdh::associated_data(a, b, kb).to_vec(),
            None => x3dh::associated_data(a, b).to_vec(),
        }
    }

    /// Whether the session was agreed with PQXDH (an ML-KEM-768 encapsulation on top of
    /// X3DH), so that recorded traffic resists a future quantum computer.
    pub fn is_post_quantum(&self) -> bool {
        self.kem_binding.is_some()
    }

    /// This device's identity.
    pub fn local_identity(&self) -> &IdentityPublicKey {
        &self.local
    }

    /// The peer's identity.
    pub fn remote_identity(&self) -> &IdentityPublicKey {
        &self.remote
    }

    /// The safety number of this session's two identities.
    pub fn safety_number(&self) -> SafetyNumber {
        SafetyNumber::new(&self.local, &self.remote)
    }

    /// Whether this session encrypts its headers.
    pub fn header_encryption(&self) -> bool {
        self.ratchet.header_keys.is_some()
    }

    /// Whether this side started the session.
    pub fn is_initiator(&self) -> bool {
        self.initiator
    }

    /// Whether the initiator is still waiting for the first reply (its messages still carry
    /// the X3DH initial message).
    pub fn is_awaiting_reply(&self) -> bool {
        self.pending.is_some()
    }

    /// How many skipped message keys the session holds.
    pub fn skipped_key_count(&self) -> usize {
        self.ratchet.skipped.len()
    }
}
