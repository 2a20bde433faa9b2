//! `test-vectors/double-ratchet.json`: scripted conversations, with plain headers and with
//! header encryption, under the default limits and under small ones that make the skipped-key
//! rules visible; every refusal with its error and a check that the state did not change.

use prost::Message;
use serde_json::{Value, json};

use super::{LOW_ORDER_POINT, Party, VectorRng, bob_keys, merge, refused, render, trace_json};
use crate::identity::IdentityKeyPair;
use crate::proto::wire;
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

/// One side of a scripted conversation.
struct Side {
    session: Session,
    sent: Vec<Vec<u8>>,
}

/// How a delivered message is altered.
#[derive(Clone, Copy)]
enum Forgery {
    /// The last byte (in the ciphertext's tag) XOR 0x01.
    FlipLastByte,
    /// Byte 30 of the header field XOR 0x01 (with header encryption: inside the encrypted
    /// header).
    FlipHeaderByte,
    /// The plain header's `N` replaced.
    Counter(u32),
    /// The plain header's ratchet key replaced.
    RatchetKey([u8; 32]),
    /// `HushMessage.version` replaced.
    Version(u32),
    /// The header field cut to this many bytes.
    HeaderLen(usize),
    /// `HushMessage` without a body (only its version).
    NoBody,
    /// Bytes that are not a protobuf message.
    Garbage,
}

impl Forgery {
    fn describe(self) -> String {
        match self {
            Self::FlipLastByte => "tampered: last byte ^ 0x01".into(),
            Self::FlipHeaderByte => "tampered: header field byte 30 ^ 0x01".into(),
            Self::Counter(n) => format!("forged: header N = {n}"),
            Self::RatchetKey(k) => format!("forged: header ratchet key {}", hex::encode(k)),
            Self::Version(v) => format!("forged: HushMessage.version = {v}"),
            Self::HeaderLen(n) => format!("forged: header field cut to {n} bytes"),
            Self::NoBody => "forged: HushMessage without a body".into(),
            Self::Garbage => "forged: ff ff ff ff (not protobuf)".into(),
        }
    }

    fn apply(self, message: &[u8]) -> Vec<u8> {
        let mut m = message.to_vec();
        let mut decoded = wire::HushMessage::decode(message).expect("own encoding");
        let ratchet = match decoded.body.as_mut() {
            Some(wire::hush_message::Body::Ratchet(r)) => Some(r),
            Some(wire::hush_message::Body::Prekey(p)) => p.message.as_mut(),
            None => None,
        }
        .expect("own messages carry a ratchet message");
        match self {
            Self::FlipLastByte => {
                let last = m.len() - 1;
                m[last] ^= 0x01;
                return m;
            }
            Self::Garbage => return vec![0xff; 4],
            Self::FlipHeaderByte => ratchet.header[30] ^= 0x01,
            Self::Counter(n) => ratchet.header[36..40].copy_from_slice(&n.to_be_bytes()),
            Self::RatchetKey(k) => ratchet.header[..32].copy_from_slice(&k),
            Self::HeaderLen(n) => ratchet.header.truncate(n),
            Self::Version(v) => decoded.version = v,
            Self::NoBody => decoded.body = None,
        }
        decoded.encode_to_vec()
    }
}

/// A step of a script: `Send(from_alice, text)`; `Recv(to_alice, index, forgery)` delivers
/// the sender's message number `index` (counted over all its messages), altered or not.
/// `OtherSession` delivers to Bob's session the initial message of a second session Alice
/// starts from the same bundle.
enum Step {
    Send(bool, &'static str),
    Recv(bool, usize, Option<Forgery>),
    OtherSession,
}
use Step::{OtherSession, Recv, Send};

/// The default-limits script: both directions, several DH-ratchet steps, out-of-order
/// delivery, a key skipped in one chain used after two further steps, and the refusals of
/// `spec/double-ratchet.md` §6.6 that a peer's message can cause.
fn main_script(header_encryption: bool) -> Vec<Step> {
    let mut s = vec![
        Send(true, "a1: still waiting for you"),
        Send(true, "a2: sent before any reply"),
        Recv(false, 2, None), // out of order: a2 before a1
        Recv(false, 1, None),
        Send(false, "b0: hi Alice"),
        Send(false, "b1: this one arrives late"),
        Send(false, "b2: third"),
        Recv(true, 0, None),
        Recv(true, 2, None), // b1 skipped
        Send(true, "a3: new ratchet step"),
        Recv(false, 3, None),
        Send(false, "b3: another step"),
        // Refused while b3's DH step is staged: the step drew a ratchet key from the RNG.
        Recv(true, 3, Some(Forgery::FlipLastByte)),
        Recv(true, 3, None),
        Recv(true, 1, None), // the skipped message from an older chain
        Send(true, "a4: and again"),
        Recv(false, 4, None),
        Recv(false, 4, None), // replay: DuplicateMessage
        Send(true, "a5: the last one"),
        Recv(false, 5, Some(Forgery::Version(2))),
        Recv(false, 5, Some(Forgery::NoBody)),
        Recv(false, 5, Some(Forgery::Garbage)),
        Recv(false, 5, Some(Forgery::FlipHeaderByte)),
        OtherSession,
    ];
    if !header_encryption {
        s.extend([
            Recv(false, 5, Some(Forgery::HeaderLen(39))),
            // The current chain's ratchet key with N = 2^32 - 1.
            Recv(false, 5, Some(Forgery::Counter(u32::MAX))),
            // A new ratchet key: a DH step that reaches a low-order point.
            Recv(false, 5, Some(Forgery::RatchetKey(LOW_ORDER_POINT))),
        ]);
    }
    s.push(Recv(false, 5, None));
    s
}

/// The small-limits script (`max_skip` 4, `max_skipped_total` 6): skipping in the current
/// chain, the rest of the old chain during a DH step, ahead in a new chain, the store at its
/// limit (oldest dropped), and the per-message skip limit at and past its edge, in the
/// current chain and in a DH step.
fn skip_script() -> Vec<Step> {
    vec![
        Send(true, "a1"),
        Send(true, "a2"),
        Send(true, "a3"),
        Recv(false, 3, None), // skips a1, a2 (current chain)
        Recv(false, 1, None), // from the skipped keys
        Send(false, "b0"),
        Send(false, "b1"),
        Send(false, "b2"),
        Send(false, "b3"),
        Recv(true, 0, None),
        Send(true, "a4"),
        Recv(false, 4, None),
        Send(false, "b4"),
        Send(false, "b5"),
        Recv(true, 5, None), // DH step: skips b1..b3 (old chain) and b4 (new chain)
        Send(false, "b6"),
        Send(false, "b7"),
        Send(false, "b8"),
        Recv(true, 8, None), // skips b6, b7: six keys held, the limit
        Send(true, "a5"),
        Recv(false, 5, None),
        Send(false, "b9"),
        Send(false, "b10"),
        Recv(true, 10, None), // skips b9: the oldest (b1) is dropped
        Recv(true, 1, None),  // dropped: refused
        Recv(true, 2, None),  // still held
        Send(false, "b11"),
        Send(false, "b12"),
        Send(false, "b13"),
        Send(false, "b14"),
        Send(false, "b15"),
        Send(false, "b16"),
        Recv(true, 16, None), // would skip 5 > max_skip: TooFarAhead
        Recv(true, 15, None), // skips exactly max_skip = 4
        Send(true, "a6"),
        Recv(false, 6, None),
        Send(false, "b17"),
        Send(false, "b18"),
        Send(false, "b19"),
        Send(false, "b20"),
        Send(false, "b21"),
        Send(false, "b22"),
        Recv(true, 22, None), // DH step with N = 5 > max_skip: TooFarAhead
        Recv(true, 21, None), // DH step: skips b16 (old chain) and b17..b20 (new chain)
    ]
}

/// The Double Ratchet vectors: the default-limits script with plain headers and with header
/// encryption, then the small-limits script with both.
pub fn double_ratchet_vectors() -> String {
    let small = |header_encryption| SessionConfig {
        max_skip: 4,
        max_skipped_total: 6,
        header_encryption,
    };
    let default = |header_encryption| SessionConfig {
        header_encryption,
        ..SessionConfig::default()
    };
    let conversations = vec![
        conversation("plain headers", default(false), &main_script(false)),
        conversation("header encryption", default(true), &main_script(true)),
        conversation("skipped keys, plain headers", small(false), &skip_script()),
        conversation(
            "skipped keys, header encryption",
            small(true),
            &skip_script(),
        ),
    ];
    render(json!({
        "description": "Hush Double Ratchet vectors (spec/double-ratchet.md). Each step's trace lists [label, hex] in the order the code computes them.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order",
        "conversations": conversations,
    }))
}

fn conversation(name: &str, config: SessionConfig, script: &[Step]) -> Value {
    let seed = format!("double-ratchet/{name}");
    let mut rng = VectorRng::new(seed.as_bytes());
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let (mut store, bundle, bob_prekeys) = bob_keys(&mut rng, &bob_id, true);
    let mut steps = Vec::new();
    let mut trace = Trace::on();
    let alice_session = Session::initiate_traced(&mut rng, &alice_id, &bundle, config, &mut trace)
        .expect("vector handshake");
    steps.push(json!({"op": "alice initiates", "trace": trace_json(&mut trace)}));
    let mut alice = Side {
        session: alice_session,
        sent: Vec::new(),
    };
    let a0_text: &[u8] = if config.max_skip < 10 {
        b"a0"
    } else {
        b"a0: hello Bob"
    };
    let a0 = alice
        .session
        .encrypt_traced(&mut rng, a0_text, &mut trace)
        .expect("vector encrypt");
    steps.push(json!({
        "op": "alice sends a0",
        "plaintext": hex::encode(a0_text),
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
        "skipped_keys_held": bob_session.skipped_key_count(),
    }));
    let mut bob = Side {
        session: bob_session,
        sent: Vec::new(),
    };

    for step in script {
        match *step {
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
                let label = text.split(':').next().unwrap_or(text);
                steps.push(json!({
                    "op": format!("{who} sends {label}"),
                    "plaintext": hex::encode(text.as_bytes()),
                    "message": hex::encode(&m),
                    "trace": trace_json(&mut trace),
                }));
                side.sent.push(m);
            }
            OtherSession => {
                let mut other = Session::initiate(&mut rng, &alice_id, &bundle, config)
                    .expect("vector handshake");
                let m = other
                    .encrypt(&mut rng, b"a second session")
                    .expect("vector encrypt");
                let before = bob.session.to_bytes();
                let err = bob
                    .session
                    .decrypt_traced(&mut rng, &m, &mut trace)
                    .expect_err("another session's initial message is refused");
                assert!(
                    *before == *bob.session.to_bytes(),
                    "a refusal changed the state"
                );
                steps.push(merge(
                    merge(
                        json!({
                            "op": "bob receives the initial message of another session alice started from the same bundle",
                            "message": hex::encode(&m),
                            "trace": trace_json(&mut trace),
                        }),
                        refused(&err),
                    ),
                    json!({"state_unchanged": true, "skipped_keys_held": bob.session.skipped_key_count()}),
                ));
            }
            Recv(to_alice, index, forgery) => {
                let (receiver, sender, who, prefix) = if to_alice {
                    (&mut alice, &bob, "alice", "b")
                } else {
                    (&mut bob, &alice, "bob", "a")
                };
                let m = match forgery {
                    Some(f) => f.apply(&sender.sent[index]),
                    None => sender.sent[index].clone(),
                };
                let before = receiver.session.to_bytes();
                let result = receiver.session.decrypt_traced(&mut rng, &m, &mut trace);
                let op = match forgery {
                    Some(f) => format!("{who} receives {prefix}{index} ({})", f.describe()),
                    None => format!("{who} receives {prefix}{index}"),
                };
                let entry = json!({
                    "op": op,
                    "message": hex::encode(&m),
                    "trace": trace_json(&mut trace),
                });
                let entry = match result {
                    Ok(pt) => {
                        assert!(forgery.is_none(), "a forged vector message opened");
                        merge(entry, json!({"result": "ok", "plaintext": hex::encode(pt)}))
                    }
                    Err(e) => {
                        assert!(
                            *before == *receiver.session.to_bytes(),
                            "a rejected message changed the state"
                        );
                        merge(merge(entry, refused(&e)), json!({"state_unchanged": true}))
                    }
                };
                steps.push(merge(
                    entry,
                    json!({"skipped_keys_held": receiver.session.skipped_key_count()}),
                ));
            }
        }
    }
    json!({
        "name": name,
        "seed": hex::encode(seed.as_bytes()),
        "header_encryption": config.header_encryption,
        "max_skip": config.max_skip,
        "max_skipped_total": config.max_skipped_total,
        "alice": Party { name: "alice", identity: alice_id }.json(),
        "bob": Party { name: "bob", identity: bob_id }.json(),
        "bob_prekeys": bob_prekeys,
        "steps": steps,
    })
}
