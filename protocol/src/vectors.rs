//! Generation of the published test vectors `test-vectors/x3dh.json`,
//! `test-vectors/pqxdh.json`, `test-vectors/double-ratchet.json`,
//! `test-vectors/directory.json`, `test-vectors/attachments.json`, `test-vectors/envelope.json`,
//! `test-vectors/devices.json` and `test-vectors/state.json` (feature `vectors`).
//!
//! The vectors are produced by running the library's own session code under a deterministic
//! random number generator ([`VectorRng`]) with tracing switched on, so every intermediate
//! value the code computes (DH outputs, root/chain/message keys, AEAD keys and nonces,
//! headers, associated data, ciphertexts) is pinned in the order it is computed.
//! `cargo run -p hush-protocol --features vectors --example gen-vectors` rewrites the files;
//! the test `tests/vectors.rs` regenerates them and fails if any byte differs.

mod attachments;
mod devices;
mod envelope;
mod pqxdh;
mod ratchet;
mod state;
mod x3dh;

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::bundle::PreKeyBundle;
use crate::identity::IdentityKeyPair;
use crate::prekeys::PreKeyStore;
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

pub use attachments::attachment_vectors;
pub use devices::devices_vectors;
pub use envelope::envelope_vectors;
pub use pqxdh::pqxdh_vectors;
pub use ratchet::double_ratchet_vectors;
pub use state::state_vectors;
pub use x3dh::x3dh_vectors;

/// Domain-separation prefix of [`VectorRng`].
pub const VECTOR_RNG_CONTEXT: &[u8] = b"Hush-v1-VectorRNG";

/// The deterministic generator the vectors are made with. Its output stream is
/// `SHA-256(VECTOR_RNG_CONTEXT ‖ seed ‖ counter)` for counter = 0, 1, 2, … (u64, big-endian),
/// concatenated; each request takes the next bytes of the stream. **Never use it for
/// anything but test vectors.**
#[derive(Clone)]
pub struct VectorRng {
    seed: Vec<u8>,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

impl VectorRng {
    /// A generator for `seed`.
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            if self.used == 32 {
                let mut h = Sha256::new();
                h.update(VECTOR_RNG_CONTEXT);
                h.update(&self.seed);
                h.update(self.counter.to_be_bytes());
                self.block = h.finalize().into();
                self.counter += 1;
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }
}

impl TryRng for VectorRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        Ok(u32::from_be_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        Ok(u64::from_be_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

// Only for vectors: deterministic by design.
impl TryCryptoRng for VectorRng {}

/// Alice starts a session from `bundle` and encrypts `text`: the session, the initiator's
/// trace, the encoded first message and the trace of its encryption.
fn initiate_and_send(
    rng: &mut VectorRng,
    alice: &IdentityKeyPair,
    bundle: &PreKeyBundle,
    header_encryption: bool,
    text: &[u8],
) -> (Session, Value, Vec<u8>, Value) {
    let config = SessionConfig {
        header_encryption,
        ..SessionConfig::default()
    };
    let mut trace = Trace::on();
    let mut session =
        Session::initiate_traced(rng, alice, bundle, config, &mut trace).expect("vector handshake");
    let initiator = trace_json(&mut trace);
    let message = session
        .encrypt_traced(rng, text, &mut trace)
        .expect("vector encrypt");
    (session, initiator, message, trace_json(&mut trace))
}

fn trace_json(trace: &mut Trace) -> Value {
    Value::Array(
        trace
            .take()
            .into_iter()
            .map(|(label, bytes)| json!([label, hex::encode(bytes)]))
            .collect(),
    )
}

struct Party {
    name: &'static str,
    identity: IdentityKeyPair,
}

impl Party {
    /// Alice then Bob, each identity drawn from `rng` (the vectors' first draws).
    fn pair(rng: &mut VectorRng) -> (Self, Self) {
        let alice = Party {
            name: "alice",
            identity: IdentityKeyPair::generate(rng),
        };
        let bob = Party {
            name: "bob",
            identity: IdentityKeyPair::generate(rng),
        };
        (alice, bob)
    }

    fn json(&self) -> Value {
        let p = self.identity.public();
        json!({
            "name": self.name,
            "identity_signing_private": hex::encode(self.identity.signing_key().to_bytes()),
            "identity_dh_private": hex::encode(self.identity.dh_secret().to_bytes()),
            "identity_signing_public": hex::encode(p.signing_key_bytes()),
            "identity_dh_public": hex::encode(p.dh_key_bytes()),
            "encoded_identity": hex::encode(p.encode()),
            "identity_public_key_message": hex::encode(p.to_bytes()),
            "fingerprint": hex::encode(p.fingerprint().0),
            "fingerprint_display": p.fingerprint().to_string(),
            "safety_number_half": crate::safety_number::half(p),
        })
    }
}

/// Bob's published keys, with their private halves.
fn bob_keys(
    rng: &mut VectorRng,
    bob: &IdentityKeyPair,
    with_opk: bool,
) -> (PreKeyStore, PreKeyBundle, Value) {
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(rng, bob);
    let opks = store.generate_one_time_prekeys(rng, 2);
    let opk = with_opk.then(|| opks[1]);
    let bundle = PreKeyBundle::new(spk.clone(), opk);
    let spk_secret = store
        .signed_prekey(spk.id())
        .map(|s| hex::encode(s.secret.to_bytes()))
        .unwrap_or_default();
    let opk_json = match opk {
        Some(o) => json!({
            "id": o.id(),
            "private": store.one_time_prekey(o.id()).map(|s| hex::encode(s.to_bytes())).unwrap_or_default(),
            "public": hex::encode(o.public_key_bytes()),
        }),
        None => Value::Null,
    };
    let keys = json!({
        "signed_prekey": {
            "id": spk.id(),
            "private": spk_secret,
            "public": hex::encode(spk.public_key_bytes()),
            "message": hex::encode(spk.to_bytes()),
        },
        "one_time_prekey": opk_json,
        "bundle": hex::encode(bundle.to_bytes()),
    });
    (store, bundle, keys)
}

/// A low-order X25519 point (order 8): its DH output with any key is all zeros.
pub(crate) const LOW_ORDER_POINT: [u8; 32] = [
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
];

/// The order of the Ed25519 group, `L = 2^252 + 27742317777372353535851937790883648493`,
/// little-endian.
const ED25519_L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// The same Ed25519 signature with `S` replaced by `S + L`: the same value modulo `L`, but a
/// non-canonical encoding that strict verification refuses.
pub(crate) fn non_canonical(signature: &[u8]) -> Vec<u8> {
    let mut out = signature.to_vec();
    let mut carry = 0u16;
    for (o, l) in out[32..].iter_mut().zip(ED25519_L) {
        let sum = u16::from(*o) + u16::from(l) + carry;
        *o = sum as u8;
        carry = sum >> 8;
    }
    out
}

/// The spec's identifier of an error (`spec/x3dh.md` §6, `spec/double-ratchet.md` §6.6),
/// as the vectors name it: the variant, then its fields, e.g. `Malformed(header)` or
/// `TooFarAhead{skip: 5, max_skip: 4}`. Bindings use it to name refusals the way the
/// vector files do.
pub fn error_id(e: &crate::Error) -> String {
    use crate::Error as E;
    match e {
        E::Malformed(what) => format!("Malformed({what})"),
        E::UnsupportedVersion { what, version } => {
            format!("UnsupportedVersion{{what: {what}, version: {version}}}")
        }
        E::InvalidKey(what) => format!("InvalidKey({what})"),
        E::BadSignature(what) => format!("BadSignature({what})"),
        E::WeakKey => "WeakKey".into(),
        E::UnknownSignedPreKey(id) => format!("UnknownSignedPreKey({id})"),
        E::UnknownOneTimePreKey(id) => format!("UnknownOneTimePreKey({id})"),
        E::UnknownKemPreKey(id) => format!("UnknownKemPreKey({id})"),
        E::PqxdhDowngrade => "PqxdhDowngrade".into(),
        E::ReplayedInitialMessage => "ReplayedInitialMessage".into(),
        E::SessionMismatch => "SessionMismatch".into(),
        E::NoSendingChain => "NoSendingChain".into(),
        E::DecryptionFailed => "DecryptionFailed".into(),
        E::HeaderDecryptionFailed => "HeaderDecryptionFailed".into(),
        E::DuplicateMessage => "DuplicateMessage".into(),
        E::TooFarAhead { skip, max_skip } => {
            format!("TooFarAhead{{skip: {skip}, max_skip: {max_skip}}}")
        }
        E::CounterOverflow => "CounterOverflow".into(),
        E::InvalidConfig(what) => format!("InvalidConfig({what})"),
        E::InvalidDeviceList(what) => format!("InvalidDeviceList({what})"),
        E::DeviceListPerson => "DeviceListPerson".into(),
        E::DeviceListRollback { have, got } => {
            format!("DeviceListRollback{{have: {have}, got: {got}}}")
        }
        E::DeviceListEquivocation(counter) => format!("DeviceListEquivocation({counter})"),
        E::DeviceIdReused(id) => format!("DeviceIdReused({id})"),
        E::InvalidLink(what) => format!("InvalidLink({what})"),
        E::LinkExpired => "LinkExpired".into(),
    }
}

/// `"result": "error"` with the error's identifier ([`error_id`]) and its message.
pub(crate) fn refused(e: &crate::Error) -> Value {
    json!({"result": "error", "error": error_id(e), "error_message": e.to_string()})
}

/// Merges the fields of `extra` (an object) into `v` (an object).
pub(crate) fn merge(mut v: Value, extra: Value) -> Value {
    if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
        o.extend(e);
    }
    v
}

fn render(v: Value) -> String {
    let mut s = serde_json::to_string_pretty(&v).expect("JSON values always serialize");
    s.push('\n');
    s
}

/// The blind-directory vectors (`spec/relay-protocol.md` §6.1): a directory secret and a
/// mailbox address, the seal key, fetch token and verifier derived from them, and sealed
/// entries of several kinds and sizes with their nonces.
pub fn directory_vectors() -> String {
    use crate::directory::{DirectoryKeys, DirectorySecret, EntryKind};
    let seed = "directory";
    let mut rng = VectorRng::new(seed.as_bytes());
    let mut ds = [0u8; 32];
    rng.fill(&mut ds);
    let mut mailbox_seed = [0u8; 32];
    rng.fill(&mut mailbox_seed);
    let mailbox_public = ed25519_dalek::SigningKey::from_bytes(&mailbox_seed)
        .verifying_key()
        .to_bytes();
    let mut h = Sha256::new();
    h.update(b"Hush-v1-Relay-Mailbox-Address");
    h.update(mailbox_public);
    let mailbox: [u8; 32] = h.finalize().into();
    let secret = DirectorySecret::from_bytes(ds);
    let keys = DirectoryKeys::derive(&secret, &mailbox);
    let token = keys.fetch_token();
    let mut entries = Vec::new();
    for (kind, name, len) in [
        (EntryKind::SignedPrekey, "signed_prekey", 40usize),
        (EntryKind::OneTimePrekey, "one_time_prekey", 33),
        (EntryKind::KeyPackage, "key_package", 300),
        (
            EntryKind::LastResortKeyPackage,
            "last_resort_key_package",
            252,
        ),
    ] {
        let mut blob = vec![0u8; len];
        rng.fill(&mut blob);
        let mut nonce = [0u8; 24];
        rng.fill(&mut nonce);
        let sealed = keys
            .seal_with_nonce(&nonce, kind, &blob)
            .expect("vector blob within limits");
        entries.push(json!({
            "kind": name,
            "kind_byte": kind as u8,
            "blob": hex::encode(&blob),
            "nonce": hex::encode(nonce),
            "sealed": hex::encode(&sealed),
        }));
    }
    render(json!({
        "description": "Hush blind directory vectors (spec/relay-protocol.md section 6.1): keys from a directory secret and a mailbox address, and sealed entries.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order: directory secret (32), mailbox Ed25519 seed (32), then per entry its blob and its 24-byte nonce",
        "seed": hex::encode(seed.as_bytes()),
        "directory_secret": hex::encode(secret.as_bytes()),
        "mailbox_public_key": hex::encode(mailbox_public),
        "mailbox_address": hex::encode(keys.mailbox_address()),
        "seal_key": hex::encode(keys.seal_key_bytes()),
        "fetch_token": hex::encode(token.as_bytes()),
        "fetch_verifier": hex::encode(token.verifier()),
        "entries": entries,
    }))
}
