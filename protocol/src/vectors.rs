//! Generation of the published test vectors `test-vectors/x3dh.json`,
//! `test-vectors/pqxdh.json`, `test-vectors/double-ratchet.json`,
//! `test-vectors/directory.json`, `test-vectors/attachments.json`, `test-vectors/envelope.json`
//! and `test-vectors/state.json` (feature `vectors`).
//!
//! The vectors are produced by running the library's own session code under a deterministic
//! random number generator ([`VectorRng`]) with tracing switched on, so every intermediate
//! value the code computes (DH outputs, root/chain/message keys, AEAD keys and nonces,
//! headers, associated data, ciphertexts) is pinned in the order it is computed.
//! `cargo run -p hush-protocol --features vectors --example gen-vectors` rewrites the files;
//! the test `tests/vectors.rs` regenerates them and fails if any byte differs.

mod attachments;
mod envelope;
mod pqxdh;
mod state;

use std::convert::Infallible;

use rand_core::{TryCryptoRng, TryRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::bundle::PreKeyBundle;
use crate::identity::IdentityKeyPair;
use crate::prekeys::PreKeyStore;
use crate::safety_number::SafetyNumber;
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

pub use attachments::attachment_vectors;
pub use envelope::envelope_vectors;
pub use pqxdh::pqxdh_vectors;
pub use state::state_vectors;

/// Domain-separation prefix of [`VectorRng`].
pub const VECTOR_RNG_CONTEXT: &[u8] = b"Hush-v1-VectorRNG";

/// The deterministic generator the vectors are made with. Its output stream is
/// `SHA-256(VECTOR_RNG_CONTEXT ‖ seed ‖ counter)` for counter = 0, 1, 2, … (u64, big-endian),
/// concatenated; each request takes the next bytes of the stream. **Never use it for
/// anything but test vectors.**
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

/// The X3DH vectors: one handshake with a one-time prekey, one without.
pub fn x3dh_vectors() -> String {
    let mut cases = Vec::new();
    for (name, with_opk) in [
        ("with one-time prekey", true),
        ("without one-time prekey", false),
    ] {
        let seed = format!("x3dh/{name}");
        let mut rng = VectorRng::new(seed.as_bytes());
        let alice = Party {
            name: "alice",
            identity: IdentityKeyPair::generate(&mut rng),
        };
        let bob = Party {
            name: "bob",
            identity: IdentityKeyPair::generate(&mut rng),
        };
        let (mut store, bundle, bob_prekeys) = bob_keys(&mut rng, &bob.identity, with_opk);
        let config = SessionConfig::default();
        let mut trace = Trace::on();
        let mut a =
            Session::initiate_traced(&mut rng, &alice.identity, &bundle, config, &mut trace)
                .expect("vector handshake");
        let initiator = trace_json(&mut trace);
        let message = a
            .encrypt_traced(&mut rng, b"X3DH initial message", &mut trace)
            .expect("vector encrypt");
        let initial_encrypt = trace_json(&mut trace);
        let (b, plaintext) = Session::respond_traced(
            &mut rng,
            &bob.identity,
            &mut store,
            &message,
            config,
            &mut trace,
        )
        .expect("vector respond");
        let responder = trace_json(&mut trace);
        cases.push(json!({
            "name": name,
            "seed": hex::encode(seed.as_bytes()),
            "alice": alice.json(),
            "bob": bob.json(),
            "bob_prekeys": bob_prekeys,
            "initiator_trace": initiator,
            "initial_message_plaintext": hex::encode(&plaintext),
            "initial_message_encrypt_trace": initial_encrypt,
            "initial_message": hex::encode(&message),
            "responder_trace": responder,
            "safety_number": SafetyNumber::new(a.local_identity(), b.local_identity()).digits(),
        }));
    }
    render(json!({
        "description": "Hush X3DH vectors (spec/x3dh.md). Traces list [label, hex] in the order the code computes them.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order",
        "cases": cases,
    }))
}

/// One side of a scripted conversation.
struct Side {
    session: Session,
    sent: Vec<Vec<u8>>,
}

/// The Double Ratchet vectors: one scripted conversation with plain headers and one with
/// header encryption, covering both directions, several DH-ratchet steps, out-of-order
/// delivery, a skipped message that arrives later, a tampered message and a replay.
pub fn double_ratchet_vectors() -> String {
    let mut conversations = Vec::new();
    for (name, he) in [("plain headers", false), ("header encryption", true)] {
        conversations.push(conversation(name, he));
    }
    render(json!({
        "description": "Hush Double Ratchet vectors (spec/double-ratchet.md). Each step's trace lists [label, hex] in the order the code computes them.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order",
        "conversations": conversations,
    }))
}

fn conversation(name: &str, header_encryption: bool) -> Value {
    let seed = format!("double-ratchet/{name}");
    let mut rng = VectorRng::new(seed.as_bytes());
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let (mut store, bundle, bob_prekeys) = bob_keys(&mut rng, &bob_id, true);
    let config = SessionConfig {
        header_encryption,
        ..SessionConfig::default()
    };
    let mut steps = Vec::new();
    let mut trace = Trace::on();
    let alice_session = Session::initiate_traced(&mut rng, &alice_id, &bundle, config, &mut trace)
        .expect("vector handshake");
    steps.push(json!({"op": "alice initiates", "trace": trace_json(&mut trace)}));
    let mut alice = Side {
        session: alice_session,
        sent: Vec::new(),
    };
    let a0 = alice
        .session
        .encrypt_traced(&mut rng, b"a0: hello Bob", &mut trace)
        .expect("vector encrypt");
    steps.push(json!({
        "op": "alice sends a0",
        "plaintext": hex::encode(b"a0: hello Bob"),
        "message": hex::encode(&a0),
        "trace": trace_json(&mut trace),
    }));
    alice.sent.push(a0.clone());
    let (bob_session, pt) =
        Session::respond_traced(&mut rng, &bob_id, &mut store, &a0, config, &mut trace)
            .expect("vector respond");
    steps.push(json!({
        "op": "bob receives a0 (responds)",
        "message": hex::encode(&a0),
        "result": "ok",
        "plaintext": hex::encode(&pt),
        "trace": trace_json(&mut trace),
    }));
    let mut bob = Side {
        session: bob_session,
        sent: Vec::new(),
    };

    // (sender is alice?, text) sends and (receiver is alice?, index, tamper) deliveries.
    enum Step {
        Send(bool, &'static str),
        Recv(bool, usize, bool),
    }
    use Step::{Recv, Send};
    let script = [
        Send(true, "a1: still waiting for you"),
        Send(true, "a2: sent before any reply"),
        Recv(false, 2, false), // out of order: a2 before a1
        Recv(false, 1, false),
        Send(false, "b0: hi Alice"),
        Send(false, "b1: this one arrives late"),
        Send(false, "b2: third"),
        Recv(true, 0, false),
        Recv(true, 2, false), // b1 skipped
        Send(true, "a3: new ratchet step"),
        Recv(false, 3, false),
        Send(false, "b3: another step"),
        Recv(true, 3, true), // tampered: rejected
        Recv(true, 3, false),
        Recv(true, 1, false), // the skipped message from an older chain
        Send(true, "a4: and again"),
        Recv(false, 4, false),
        Recv(false, 4, false), // replay: rejected
    ];
    for step in script {
        match step {
            Send(from_alice, text) => {
                let (side, who) = if from_alice {
                    (&mut alice, "alice")
                } else {
                    (&mut bob, "bob")
                };
                let m = side
                    .session
                    .encrypt_traced(&mut rng, text.as_bytes(), &mut trace)
                    .expect("vector encrypt");
                let label = &text[..2];
                steps.push(json!({
                    "op": format!("{who} sends {label}"),
                    "plaintext": hex::encode(text.as_bytes()),
                    "message": hex::encode(&m),
                    "trace": trace_json(&mut trace),
                }));
                side.sent.push(m);
            }
            Recv(to_alice, index, tamper) => {
                let (receiver, sender, who, prefix) = if to_alice {
                    (&mut alice, &bob, "alice", "b")
                } else {
                    (&mut bob, &alice, "bob", "a")
                };
                let mut m = sender.sent[index].clone();
                if tamper {
                    let last = m.len() - 1;
                    m[last] ^= 0x01;
                }
                let before = receiver.session.to_bytes();
                let result = receiver.session.decrypt_traced(&mut rng, &m, &mut trace);
                let mut entry = json!({
                    "op": format!("{who} receives {prefix}{index}{}", if tamper { " (tampered: last byte ^ 0x01)" } else { "" }),
                    "message": hex::encode(&m),
                    "trace": trace_json(&mut trace),
                });
                match result {
                    Ok(pt) => {
                        entry["result"] = json!("ok");
                        entry["plaintext"] = json!(hex::encode(pt));
                    }
                    Err(e) => {
                        assert!(
                            *before == *receiver.session.to_bytes(),
                            "a rejected message changed the state"
                        );
                        entry["result"] = json!(format!("error: {e}"));
                    }
                }
                steps.push(entry);
            }
        }
    }
    json!({
        "name": name,
        "seed": hex::encode(seed.as_bytes()),
        "header_encryption": header_encryption,
        "alice": Party { name: "alice", identity: alice_id }.json(),
        "bob": Party { name: "bob", identity: bob_id }.json(),
        "bob_prekeys": bob_prekeys,
        "steps": steps,
    })
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
    use crate::directory::{DirectoryKeys, DirectorySecret, EntryKind, fetch_verifier};
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
    let keys = DirectoryKeys::derive(&DirectorySecret::from_bytes(ds), &mailbox);
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
        "directory_secret": hex::encode(ds),
        "mailbox_public_key": hex::encode(mailbox_public),
        "mailbox_address": hex::encode(mailbox),
        "seal_key": hex::encode(keys.seal_key_bytes()),
        "fetch_token": hex::encode(token.as_bytes()),
        "fetch_verifier": hex::encode(fetch_verifier(token.as_bytes())),
        "entries": entries,
    }))
}
