//! 1:1 sessions: X3DH to start, the Double Ratchet after.

use prost::Message;
use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, Zeroizing};

use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::prekeys::{PreKeyBundle, PreKeyStore};
use crate::proto::{key32, opt_key32, state, wire};
use crate::ratchet::chain_key::ChainKey;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::message_key::MessageKey;
use crate::ratchet::ratchet_key::RatchetKeyPair;
use crate::ratchet::root_key::RootKey;
use crate::ratchet::skipped_keys::{ChainId, SkippedKey, SkippedKeys};
use crate::ratchet::{DoubleRatchet, HeaderKeys, Limits};
use crate::safety_number::SafetyNumber;
use crate::trace::Trace;
use crate::x3dh;
use crate::{Error, Result};

/// Version of [`wire::HushMessage`] this implementation writes and reads.
pub const MESSAGE_VERSION: u32 = 1;
/// Version of a serialized [`Session`].
const SESSION_STATE_VERSION: u32 = 1;
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingPreKey {
    signed_prekey_id: u32,
    one_time_prekey_id: Option<u32>,
}

/// What kind of message a byte string is, learned without decrypting it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    /// An X3DH initial message from the named identity: give it to [`Session::respond`] if
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
    ratchet: DoubleRatchet,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("initiator", &self.initiator)
            .field("header_encryption", &self.header_encryption())
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
    /// Starts a session with the owner of `bundle` (X3DH as initiator). The bundle's
    /// signatures were checked when it was decoded. Messages sent before the first reply
    /// carry the X3DH initial message.
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
        let mut ek_bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(ek_bytes.as_mut());
        let ephemeral = StaticSecret::from(*ek_bytes);
        let base_key = PublicKey::from(&ephemeral).to_bytes();
        trace.record("ephemeral_private_key", ek_bytes.as_ref());
        trace.record("ephemeral_public_key", &base_key);
        let agreement = x3dh::initiator_agree(ours, &ephemeral, bundle, trace)?;
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
            pending: Some(PendingPreKey {
                signed_prekey_id: bundle.signed_prekey().id(),
                one_time_prekey_id: bundle.one_time_prekey().map(|k| k.id()),
            }),
            ratchet,
        })
    }

    /// Accepts an X3DH initial message (X3DH as responder) and decrypts the message it carries.
    ///
    /// On success the one-time prekey it used is deleted from `store` and its base key is
    /// remembered, so the same initial message cannot open a second session
    /// ([`Error::ReplayedInitialMessage`]). On any error `store` is unchanged.
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
        let spk = store.signed_prekey(p.signed_prekey_id)?;
        if store.was_seen(p.signed_prekey_id, &base_key) {
            return Err(Error::ReplayedInitialMessage);
        }
        let opk = p
            .one_time_prekey_id
            .map(|id| store.one_time_prekey(id))
            .transpose()?;
        let agreement = x3dh::responder_agree(
            ours,
            &spk.secret,
            opk,
            &remote,
            &PublicKey::from(base_key),
            trace,
        )?;
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
            ratchet,
        };
        let plaintext = session.decrypt_ratchet(rng, inner, trace)?;
        store.consume(p.signed_prekey_id, p.one_time_prekey_id, base_key);
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
        let body = match self.pending {
            Some(pending) => wire::hush_message::Body::Prekey(wire::PreKeyMessage {
                identity: Some(self.local.to_proto()),
                base_key: self.base_key.to_vec(),
                signed_prekey_id: pending.signed_prekey_id,
                one_time_prekey_id: pending.one_time_prekey_id,
                header_encryption: self.header_encryption(),
                message: Some(ratchet),
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
                if self.initiator || p.base_key != self.base_key {
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

    /// `AD = Encode(IK_A) ‖ Encode(IK_B)`, initiator first.
    fn associated_data(&self) -> [u8; 128] {
        let (a, b) = if self.initiator {
            (&self.local, &self.remote)
        } else {
            (&self.remote, &self.local)
        };
        let mut ad = [0u8; 128];
        ad[..64].copy_from_slice(&a.encode());
        ad[64..].copy_from_slice(&b.encode());
        ad
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

    /// Serializes the whole session (secrets included) as versioned protobuf
    /// `hush.state.v1.SessionState`. Encrypt it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let r = &self.ratchet;
        let hk = r.header_keys.as_ref();
        let key = |k: Option<&HeaderKey>| k.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
        let mut st = state::SessionState {
            version: SESSION_STATE_VERSION,
            local_identity: Some(self.local.to_proto()),
            remote_identity: Some(self.remote.to_proto()),
            initiator: self.initiator,
            base_key: self.base_key.to_vec(),
            pending_prekey: self.pending.map(|p| state::PendingPreKeyState {
                base_key: self.base_key.to_vec(),
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
            }),
            root_key: r.root.as_bytes().to_vec(),
            dh_self_secret: r.dh_self.secret_bytes().to_vec(),
            dh_remote: r.dh_remote.map(|k| k.to_vec()).unwrap_or_default(),
            sending_chain_key: r
                .send
                .as_ref()
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default(),
            receiving_chain_key: r
                .recv
                .as_ref()
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default(),
            ns: r.ns,
            nr: r.nr,
            pn: r.pn,
            header_encryption: hk.is_some(),
            header_key_send: key(hk.and_then(|h| h.send.as_ref())),
            header_key_recv: key(hk.and_then(|h| h.recv.as_ref())),
            next_header_key_send: key(hk.map(|h| &h.next_send)),
            next_header_key_recv: key(hk.map(|h| &h.next_recv)),
            skipped: r
                .skipped
                .iter()
                .map(|k| state::SkippedKeyState {
                    chain_id: k.chain.0.to_vec(),
                    n: k.n,
                    message_key: k.key.as_bytes().to_vec(),
                })
                .collect(),
            max_skip: r.limits.max_skip,
            max_skipped_total: r.limits.max_skipped_total,
        };
        let out = Zeroizing::new(st.encode_to_vec());
        wipe_session_state(&mut st);
        out
    }

    /// Restores a session written by [`Session::to_bytes`]. A wrong, truncated or
    /// inconsistent blob is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut st =
            state::SessionState::decode(bytes).map_err(|_| Error::Malformed("session state"))?;
        let result = Self::from_state(&st);
        wipe_session_state(&mut st);
        result
    }

    fn from_state(st: &state::SessionState) -> Result<Self> {
        if st.version != SESSION_STATE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "session state",
                version: st.version,
            });
        }
        // Both identities were verified when the session was made. The state is the caller's
        // own, as trusted as the secret keys in it, so loading decodes them without checking
        // their binding signatures again (two Ed25519 verifications per load otherwise).
        let identity = |p: &Option<wire::IdentityPublicKey>| {
            IdentityPublicKey::from_proto_endorsed(
                p.as_ref().ok_or(Error::Malformed("session state"))?,
            )
        };
        let limits = SessionConfig {
            max_skip: st.max_skip,
            max_skipped_total: st.max_skipped_total,
            header_encryption: st.header_encryption,
        }
        .limits()?;
        let header_keys = if st.header_encryption {
            let opt = |b: &[u8]| -> Result<Option<HeaderKey>> {
                Ok(opt_key32(b, "header")?.map(HeaderKey::new))
            };
            Some(HeaderKeys {
                send: opt(&st.header_key_send)?,
                recv: opt(&st.header_key_recv)?,
                next_send: HeaderKey::new(key32(&st.next_header_key_send, "header")?),
                next_recv: HeaderKey::new(key32(&st.next_header_key_recv, "header")?),
            })
        } else {
            None
        };
        let mut skipped_vec = Vec::with_capacity(st.skipped.len());
        for k in &st.skipped {
            skipped_vec.push(SkippedKey {
                chain: ChainId(key32(&k.chain_id, "skipped chain")?),
                n: k.n,
                key: MessageKey::new(key32(&k.message_key, "message")?),
            });
        }
        if skipped_vec.len() > limits.max_skipped_total as usize {
            return Err(Error::Malformed("session state: too many skipped keys"));
        }
        let mut skipped = SkippedKeys::default();
        skipped.extend(skipped_vec, limits.max_skipped_total as usize);
        let ratchet = DoubleRatchet {
            root: RootKey::new(key32(&st.root_key, "root")?),
            dh_self: RatchetKeyPair::from_secret_bytes(key32(&st.dh_self_secret, "ratchet")?),
            dh_remote: opt_key32(&st.dh_remote, "ratchet")?,
            send: opt_key32(&st.sending_chain_key, "chain")?.map(ChainKey::new),
            recv: opt_key32(&st.receiving_chain_key, "chain")?.map(ChainKey::new),
            ns: st.ns,
            nr: st.nr,
            pn: st.pn,
            header_keys,
            skipped,
            limits,
        };
        let base_key = key32(&st.base_key, "base")?;
        let pending = match &st.pending_prekey {
            Some(p) if st.initiator => Some(PendingPreKey {
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
            }),
            Some(_) => {
                return Err(Error::Malformed(
                    "session state: responder with pending prekey",
                ));
            }
            None => None,
        };
        if st.initiator && ratchet.send.is_none() {
            return Err(Error::Malformed(
                "session state: initiator without sending chain",
            ));
        }
        Ok(Self {
            local: identity(&st.local_identity)?,
            remote: identity(&st.remote_identity)?,
            initiator: st.initiator,
            base_key,
            pending,
            ratchet,
        })
    }
}

fn wipe_session_state(st: &mut state::SessionState) {
    st.root_key.zeroize();
    st.dh_self_secret.zeroize();
    st.sending_chain_key.zeroize();
    st.receiving_chain_key.zeroize();
    st.header_key_send.zeroize();
    st.header_key_recv.zeroize();
    st.next_header_key_send.zeroize();
    st.next_header_key_recv.zeroize();
    for k in &mut st.skipped {
        k.chain_id.zeroize();
        k.message_key.zeroize();
    }
}
