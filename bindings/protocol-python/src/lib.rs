//! # hush-protocol-bindings
//!
//! The protocol crate alone ([`hush_protocol`]) for researchers, through
//! [UniFFI](https://mozilla.github.io/uniffi-rs/) (Python module `hush_protocol`): identities,
//! prekeys and bundles, X3DH and PQXDH sessions, the Double Ratchet message by message, sealed
//! envelopes, safety numbers and MLS groups ([`GroupMember`]), driven by either the system's random number generator or the
//! test vectors' deterministic one ([`Rng::vector`]), so that a script can replay a vector of
//! `test-vectors/` step by step and compare each byte with its own implementation.
//!
//! Unlike the client engine's bindings, this one hands out secrets when asked: the saved
//! encodings ([`Identity::to_bytes`], [`PreKeys::to_bytes`], [`Session::to_bytes`]) hold private
//! keys, as the spec's saved-state formats do. It is a research tool, not an app's engine.
//!
//! Refusals are [`ProtocolError::Refused`], carrying the spec's identifier of the error
//! (`DecryptionFailed`, `TooFarAhead{skip: 5, max_skip: 4}`, … as the vector files name them)
//! and its message.

#![warn(missing_docs)]

use std::sync::{Arc, Mutex, MutexGuard};

use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::vectors::{VectorRng, error_id};
use hush_protocol::{
    IdentityKeyPair, IdentityPublicKey, PreKeyBundle, PreKeyStore, SafetyNumber, SessionConfig,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

uniffi::setup_scaffolding!("hush_protocol");

/// What the protocol refused, named as the spec and the vector files name it.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ProtocolError {
    /// The protocol crate refused the input.
    #[error("{error}: {message}")]
    Refused {
        /// The spec's identifier of the error, e.g. `DecryptionFailed`.
        error: String,
        /// Its message.
        message: String,
    },
}

impl From<hush_protocol::Error> for ProtocolError {
    fn from(e: hush_protocol::Error) -> Self {
        Self::Refused {
            error: error_id(&e),
            message: e.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, ProtocolError>;

/// A lock that a panic in another call cannot make unusable: the values behind these locks
/// are replaced whole or not at all by the protocol crate (which never panics on input).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Source {
    Vector(VectorRng),
    System(Box<StdRng>),
}

/// A random number generator: the system's ([`Rng::system`]) or the deterministic one the
/// test vectors are made with ([`Rng::vector`], `test-vectors/README.md`).
#[derive(uniffi::Object)]
pub struct Rng(Mutex<Source>);

impl std::fmt::Debug for Rng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Rng")
    }
}

impl Rng {
    fn with<T>(&self, f: impl FnOnce(&mut dyn hush_protocol::CryptoRng) -> T) -> T {
        match &mut *lock(&self.0) {
            Source::Vector(r) => f(r),
            Source::System(r) => f(r.as_mut()),
        }
    }
}

#[uniffi::export]
impl Rng {
    /// Seeded from the operating system.
    #[uniffi::constructor]
    pub fn system() -> Arc<Self> {
        Arc::new(Self(Mutex::new(Source::System(Box::new(
            StdRng::from_rng(&mut rand::rng()),
        )))))
    }

    /// `VectorRng(seed)`: SHA-256("Hush-v1-VectorRNG" ‖ seed ‖ counter) for counter = 0, 1, …
    /// Only for reproducing vectors: anyone who knows the seed knows every key.
    #[uniffi::constructor]
    pub fn vector(seed: Vec<u8>) -> Arc<Self> {
        Arc::new(Self(Mutex::new(Source::Vector(VectorRng::new(&seed)))))
    }

    /// The next `n` bytes of the stream (to follow or skip draws by hand).
    pub fn bytes(&self, n: u32) -> Vec<u8> {
        let mut out = vec![0u8; n as usize];
        self.with(|r| r.fill_bytes(&mut out));
        out
    }
}

/// An identity key pair (Ed25519 + X25519, `spec/x3dh.md` §2).
#[derive(uniffi::Object)]
pub struct Identity(IdentityKeyPair);

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identity({})", self.0.public().fingerprint())
    }
}

#[uniffi::export]
impl Identity {
    /// A new identity: 32 bytes of Ed25519 seed, then 32 of X25519 secret, from `rng`.
    #[uniffi::constructor]
    pub fn generate(rng: &Rng) -> Arc<Self> {
        Arc::new(Self(rng.with(|r| IdentityKeyPair::generate(r))))
    }

    /// An identity from its saved encoding ([`Identity::to_bytes`]).
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(IdentityKeyPair::from_bytes(&bytes)?)))
    }

    /// The saved encoding (`IdentityKeyPairState`): **holds the private keys**.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.to_bytes().to_vec()
    }

    /// The public identity as protobuf `hush.v1.IdentityPublicKey` (with its binding signature).
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().to_bytes()
    }

    /// `Encode(IK)`: Ed25519 public key ‖ X25519 public key (64 bytes).
    pub fn encoded(&self) -> Vec<u8> {
        self.0.public().encode().to_vec()
    }

    /// The fingerprint as shown to users (16 groups of 4 hex digits).
    pub fn fingerprint(&self) -> String {
        self.0.public().fingerprint().to_string()
    }
}

fn public(bytes: &[u8]) -> Result<IdentityPublicKey> {
    Ok(IdentityPublicKey::from_bytes(bytes)?)
}

/// The 60-digit safety number of two public identities (protobuf `IdentityPublicKey` bytes);
/// the order of the two does not matter.
#[uniffi::export]
pub fn safety_number(a: Vec<u8>, b: Vec<u8>) -> Result<String> {
    Ok(SafetyNumber::new(&public(&a)?, &public(&b)?)
        .digits()
        .to_owned())
}

/// A prekey store: signed and one-time prekeys with their private halves.
#[derive(uniffi::Object)]
pub struct PreKeys(Mutex<PreKeyStore>);

impl std::fmt::Debug for PreKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreKeys")
    }
}

#[uniffi::export]
impl PreKeys {
    /// An empty store.
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(PreKeyStore::new())))
    }

    /// A store from its saved encoding ([`PreKeys::to_bytes`]).
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Mutex::new(PreKeyStore::from_bytes(&bytes)?))))
    }

    /// The saved encoding (`PreKeyStoreState`): **holds the private keys**.
    pub fn to_bytes(&self) -> Vec<u8> {
        lock(&self.0).to_bytes().to_vec()
    }

    /// A new X3DH signed prekey (32 bytes from `rng`) signed by `identity`; returns it as
    /// protobuf `SignedPreKeyPublic` (what is published).
    pub fn rotate_signed_prekey(&self, rng: &Rng, identity: &Identity) -> Vec<u8> {
        rng.with(|r| lock(&self.0).rotate_signed_prekey(r, &identity.0))
            .to_bytes()
    }

    /// `count` new one-time prekeys (32 bytes each from `rng`), as protobuf
    /// `OneTimePreKeyPublic`.
    pub fn generate_one_time_prekeys(&self, rng: &Rng, count: u32) -> Vec<Vec<u8>> {
        rng.with(|r| lock(&self.0).generate_one_time_prekeys(r, count as usize))
            .iter()
            .map(|k| k.to_bytes())
            .collect()
    }

    /// How many one-time prekeys are left unused.
    pub fn one_time_prekey_count(&self) -> u32 {
        u32::try_from(lock(&self.0).one_time_prekey_count()).unwrap_or(u32::MAX)
    }
}

/// A prekey bundle (protobuf `PreKeyBundle`) from a published signed prekey and, optionally,
/// a one-time prekey; every signature is verified.
#[uniffi::export]
pub fn bundle(signed_prekey: Vec<u8>, one_time_prekey: Option<Vec<u8>>) -> Result<Vec<u8>> {
    Ok(PreKeyBundle::from_parts(&signed_prekey, one_time_prekey.as_deref())?.to_bytes())
}

/// A 1:1 session (`spec/x3dh.md`, `spec/pqxdh.md`, `spec/double-ratchet.md`).
#[derive(uniffi::Object)]
pub struct Session(Mutex<hush_protocol::Session>);

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

/// What [`respond`] gives: the new session and the first message's plaintext.
#[derive(Debug, uniffi::Record)]
pub struct Responded {
    /// The responder's session.
    pub session: Arc<Session>,
    /// The plaintext of the message the initial message carried.
    pub plaintext: Vec<u8>,
}

/// Accepts an initial message as responder (`spec/x3dh.md` §4.2): on success the one-time
/// prekey it used leaves `prekeys`; on any refusal `prekeys` is unchanged.
#[uniffi::export]
pub fn respond(
    rng: &Rng,
    identity: &Identity,
    prekeys: &PreKeys,
    message: Vec<u8>,
) -> Result<Responded> {
    let mut store = lock(&prekeys.0);
    let (session, plaintext) = rng.with(|r| {
        hush_protocol::Session::respond(
            r,
            &identity.0,
            &mut store,
            &message,
            SessionConfig::default(),
        )
    })?;
    Ok(Responded {
        session: Arc::new(Session(Mutex::new(session))),
        plaintext,
    })
}

#[uniffi::export]
impl Session {
    /// Starts a session with the owner of `bundle` (protobuf `PreKeyBundle`) as initiator:
    /// PQXDH when the bundle carries a KEM prekey, X3DH otherwise.
    #[uniffi::constructor]
    pub fn initiate(
        rng: &Rng,
        identity: &Identity,
        bundle: Vec<u8>,
        header_encryption: bool,
    ) -> Result<Arc<Self>> {
        let bundle = PreKeyBundle::from_bytes(&bundle)?;
        let config = SessionConfig {
            header_encryption,
            ..SessionConfig::default()
        };
        let s = rng.with(|r| hush_protocol::Session::initiate(r, &identity.0, &bundle, config))?;
        Ok(Arc::new(Self(Mutex::new(s))))
    }

    /// A session from its saved encoding ([`Session::to_bytes`]).
    #[uniffi::constructor]
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Mutex::new(
            hush_protocol::Session::from_bytes(&bytes)?,
        ))))
    }

    /// The saved encoding (`SessionState`): **holds the session's secrets**.
    pub fn to_bytes(&self) -> Vec<u8> {
        lock(&self.0).to_bytes().to_vec()
    }

    /// Encrypts `plaintext` into an encoded `HushMessage`.
    pub fn encrypt(&self, rng: &Rng, plaintext: Vec<u8>) -> Result<Vec<u8>> {
        Ok(rng.with(|r| lock(&self.0).encrypt(r, &plaintext))?)
    }

    /// Decrypts an encoded `HushMessage`; on a refusal the session is unchanged.
    pub fn decrypt(&self, rng: &Rng, message: Vec<u8>) -> Result<Vec<u8>> {
        Ok(rng.with(|r| lock(&self.0).decrypt(r, &message))?)
    }

    /// The safety number of the two identities.
    pub fn safety_number(&self) -> String {
        lock(&self.0).safety_number().digits().to_owned()
    }

    /// Whether the session was agreed with PQXDH.
    pub fn is_post_quantum(&self) -> bool {
        lock(&self.0).is_post_quantum()
    }

    /// Whether message headers are encrypted.
    pub fn header_encryption(&self) -> bool {
        lock(&self.0).header_encryption()
    }

    /// How many skipped message keys the session holds.
    pub fn skipped_key_count(&self) -> u64 {
        lock(&self.0).skipped_key_count() as u64
    }
}

/// What a sealed envelope carries (`spec/envelope.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Kind {
    /// An encoded 1:1 `HushMessage`.
    SessionMessage,
    /// An MLS Welcome.
    GroupWelcome,
    /// Application-defined bytes.
    Application,
    /// A link approval sealed to a new device's link key (`spec/multi-device.md`).
    LinkApproval,
}

impl From<Kind> for ContentKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::SessionMessage => ContentKind::SessionMessage,
            Kind::GroupWelcome => ContentKind::GroupWelcome,
            Kind::Application => ContentKind::Application,
            Kind::LinkApproval => ContentKind::LinkApproval,
        }
    }
}

impl From<ContentKind> for Kind {
    fn from(k: ContentKind) -> Self {
        match k {
            ContentKind::SessionMessage => Kind::SessionMessage,
            ContentKind::GroupWelcome => Kind::GroupWelcome,
            ContentKind::Application => Kind::Application,
            ContentKind::LinkApproval => Kind::LinkApproval,
        }
    }
}

/// An opened envelope.
#[derive(Debug, uniffi::Record)]
pub struct Opened {
    /// The sender's public identity (protobuf `IdentityPublicKey`), authenticated.
    pub sender: Vec<u8>,
    /// What the payload is.
    pub kind: Kind,
    /// The payload.
    pub payload: Vec<u8>,
    /// The sender's `reply_to`.
    pub reply_to: Vec<u8>,
}

/// Seals `payload` from `sender` for `recipient` (protobuf `IdentityPublicKey`): one 32-byte
/// ephemeral key from `rng`; the envelope's length is its bucket (`spec/envelope.md`).
#[uniffi::export]
pub fn seal(
    rng: &Rng,
    sender: &Identity,
    recipient: Vec<u8>,
    kind: Kind,
    payload: Vec<u8>,
    reply_to: Vec<u8>,
) -> Result<Vec<u8>> {
    let recipient = public(&recipient)?;
    Ok(rng.with(|r| envelope::seal(r, &sender.0, &recipient, kind.into(), &payload, &reply_to))?)
}

/// Opens an envelope sealed for `identity`.
#[uniffi::export]
pub fn open(identity: &Identity, envelope: Vec<u8>) -> Result<Opened> {
    let c = envelope::open(&identity.0, &envelope)?;
    Ok(Opened {
        sender: c.sender.to_bytes(),
        kind: c.kind.into(),
        payload: c.payload,
        reply_to: c.reply_to,
    })
}

impl From<hush_protocol::group::GroupError> for ProtocolError {
    fn from(e: hush_protocol::group::GroupError) -> Self {
        let debug = format!("{e:?}");
        Self::Refused {
            error: debug
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or_default()
                .to_owned(),
            message: e.to_string(),
        }
    }
}

/// A commit this member made: apply it with [`GroupMember::confirm_commit`] once the group's
/// log accepted it, and give `welcome` to the members it adds.
#[derive(Debug, uniffi::Record)]
pub struct Commit {
    /// The epoch the commit was made in (the group log takes one commit per epoch); applied,
    /// it leads to `epoch + 1`.
    pub epoch: u64,
    /// The commit (an `MLSMessage`).
    pub commit: Vec<u8>,
    /// The Welcome for added members, if any.
    pub welcome: Option<Vec<u8>>,
}

/// What processing a group message produced (`spec/groups.md`).
#[derive(Debug, uniffi::Record)]
pub struct GroupEventRecord {
    /// `application`, `proposal`, `commit`, `own_commit_applied`, `removed`, `own_message`,
    /// `buffered`, `buffered_rejected` or `other`.
    pub kind: String,
    /// The epoch it belongs to.
    pub epoch: u64,
    /// The sender's or committer's public identity (protobuf `IdentityPublicKey`), if known.
    pub sender: Option<Vec<u8>>,
    /// An application message's plaintext (empty otherwise).
    pub plaintext: Vec<u8>,
}

impl From<hush_protocol::group::GroupEvent> for GroupEventRecord {
    fn from(e: hush_protocol::group::GroupEvent) -> Self {
        use hush_protocol::group::GroupEvent as E;
        let (kind, epoch, sender, plaintext) = match e {
            E::Application {
                epoch,
                sender,
                plaintext,
                ..
            } => ("application", epoch, Some(sender), plaintext),
            E::Proposal { epoch, sender, .. } => ("proposal", epoch, sender, Vec::new()),
            E::Commit {
                epoch, committer, ..
            } => ("commit", epoch, committer, Vec::new()),
            E::OwnCommitApplied { epoch } => ("own_commit_applied", epoch, None, Vec::new()),
            E::RemovedFromGroup { epoch } => ("removed", epoch, None, Vec::new()),
            E::OwnMessage { epoch } => ("own_message", epoch, None, Vec::new()),
            E::Buffered { epoch } => ("buffered", epoch, None, Vec::new()),
            E::BufferedMessageRejected { epoch, .. } => {
                ("buffered_rejected", epoch, None, Vec::new())
            }
            _ => ("other", 0, None, Vec::new()),
        };
        Self {
            kind: kind.to_owned(),
            epoch,
            sender: sender.map(|m| m.identity.to_bytes()),
            plaintext,
        }
    }
}

/// One member's MLS client (`spec/groups.md`): its KeyPackages and the groups it is in.
#[derive(uniffi::Object)]
pub struct GroupMember(Mutex<hush_protocol::group::GroupClient>);

impl std::fmt::Debug for GroupMember {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GroupMember")
    }
}

fn gid(id: &[u8]) -> hush_protocol::group::GroupId {
    hush_protocol::group::GroupId::from_slice(id)
}

#[uniffi::export]
impl GroupMember {
    /// A member client for `identity`, with the default group configuration.
    #[uniffi::constructor]
    pub fn new(identity: &Identity) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(Mutex::new(
            hush_protocol::group::GroupClient::new(&identity.0, Default::default())?,
        ))))
    }

    /// `count` one-use KeyPackages (`MLSMessage(KeyPackage)`) for others to add this member.
    pub fn generate_key_packages(&self, rng: &Rng, count: u32) -> Result<Vec<Vec<u8>>> {
        Ok(rng.with(|r| lock(&self.0).generate_key_packages(r, count as usize))?)
    }

    /// Creates a group with a random 32-byte id; returns the id.
    pub fn create_group(&self, rng: &Rng) -> Result<Vec<u8>> {
        Ok(rng
            .with(|r| lock(&self.0).create_group(r))?
            .as_slice()
            .to_vec())
    }

    /// A commit adding the owners of `key_packages` to `group`.
    pub fn add_members(
        &self,
        rng: &Rng,
        group: Vec<u8>,
        key_packages: Vec<Vec<u8>>,
    ) -> Result<Commit> {
        let kps: Vec<&[u8]> = key_packages.iter().map(Vec::as_slice).collect();
        let out = rng.with(|r| lock(&self.0).add_members(r, &gid(&group), &kps))?;
        Ok(Commit {
            epoch: out.epoch,
            commit: out.commit,
            welcome: out.welcome,
        })
    }

    /// Applies this member's pending commit (the group's log accepted it).
    pub fn confirm_commit(&self, rng: &Rng, group: Vec<u8>) -> Result<Vec<GroupEventRecord>> {
        Ok(rng
            .with(|r| lock(&self.0).confirm_commit(r, &gid(&group)))?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// Joins a group from a Welcome (ratchet tree in it); returns the group id.
    pub fn join(&self, rng: &Rng, welcome: Vec<u8>) -> Result<Vec<u8>> {
        Ok(rng
            .with(|r| lock(&self.0).join(r, &welcome, None))?
            .as_slice()
            .to_vec())
    }

    /// Encrypts an application message for `group`.
    pub fn encrypt(&self, rng: &Rng, group: Vec<u8>, plaintext: Vec<u8>) -> Result<Vec<u8>> {
        Ok(rng.with(|r| lock(&self.0).encrypt(r, &gid(&group), &plaintext))?)
    }

    /// Processes a message of `group` (commit, proposal or application message).
    pub fn process(
        &self,
        rng: &Rng,
        group: Vec<u8>,
        message: Vec<u8>,
    ) -> Result<Vec<GroupEventRecord>> {
        Ok(rng
            .with(|r| lock(&self.0).process(r, &gid(&group), &message))?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The group's current epoch.
    pub fn epoch(&self, group: Vec<u8>) -> Result<u64> {
        Ok(lock(&self.0).epoch(&gid(&group))?)
    }

    /// The epoch authenticator (RFC 9420 §8.7): equal for members that agree on the group.
    pub fn epoch_authenticator(&self, group: Vec<u8>) -> Result<Vec<u8>> {
        Ok(lock(&self.0).epoch_authenticator(&gid(&group))?)
    }

    /// The members' public identities (protobuf `IdentityPublicKey`), by leaf.
    pub fn members(&self, group: Vec<u8>) -> Result<Vec<Vec<u8>>> {
        Ok(lock(&self.0)
            .members(&gid(&group))?
            .into_iter()
            .map(|m| m.identity.to_bytes())
            .collect())
    }
}
