//! Property tests of 1:1 sessions: random conversations (both parties sending, random
//! delivery order, drops, duplicates, tampering, persistence at random points), with and
//! without header encryption; and decoding of arbitrary or mutated bytes never panics.

use std::sync::OnceLock;

use hush_protocol::proto::wire;
use hush_protocol::{
    IdentityKeyPair, IdentityPublicKey, MessageKind, OneTimePreKeyPublic, PreKeyBundle,
    PreKeyStore, Session, SessionConfig, SignedPreKeyPublic, message_kind,
};
use proptest::prelude::*;
use proptest::sample::Index;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// One genuine message put on the network.
struct Sent {
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
    delivered: bool,
    dropped: bool,
}

#[derive(Clone, Copy, Debug)]
enum Tamper {
    /// Flip one bit of the (plain or encrypted) header field.
    HeaderBit,
    /// Flip one bit of the AEAD ciphertext (tag included).
    CiphertextBit,
    /// Cut the ciphertext short.
    TruncateCiphertext,
    /// Put another message's header field on this message's ciphertext.
    SwapHeader,
    /// Claim another message version.
    Version,
    /// Flip one bit of the base key (initial messages; other messages: the ciphertext).
    BaseKeyBit,
    /// Replace the sender identity by a third party's valid one (initial messages only;
    /// other messages: the header).
    ForeignIdentity,
    /// Give the message back to its own sender.
    Reflect,
    /// Flip one bit anywhere in the encoded bytes.
    RawBit,
}

#[derive(Clone, Debug)]
enum Op {
    Send {
        from_alice: bool,
        len: usize,
    },
    Deliver {
        to_alice: bool,
        pick: Index,
    },
    Drop {
        to_alice: bool,
        pick: Index,
    },
    Duplicate {
        to_alice: bool,
        pick: Index,
    },
    Tamper {
        to_alice: bool,
        pick: Index,
        kind: Tamper,
        at: Index,
        other: Index,
    },
    Persist {
        alice: bool,
    },
}

fn tamper_strategy() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::HeaderBit),
        Just(Tamper::CiphertextBit),
        Just(Tamper::TruncateCiphertext),
        Just(Tamper::SwapHeader),
        Just(Tamper::Version),
        Just(Tamper::BaseKeyBit),
        Just(Tamper::ForeignIdentity),
        Just(Tamper::Reflect),
        Just(Tamper::RawBit),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<bool>(), 0usize..200).prop_map(|(from_alice, len)| Op::Send { from_alice, len }),
        5 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Deliver { to_alice, pick }),
        1 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Drop { to_alice, pick }),
        1 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Duplicate { to_alice, pick }),
        2 => (any::<bool>(), any::<Index>(), tamper_strategy(), any::<Index>(), any::<Index>())
            .prop_map(|(to_alice, pick, kind, at, other)| Op::Tamper { to_alice, pick, kind, at, other }),
        1 => any::<bool>().prop_map(|alice| Op::Persist { alice }),
    ]
}

fn flip(bytes: &mut [u8], at: &Index) {
    if bytes.is_empty() {
        return;
    }
    let bit = at.index(bytes.len() * 8);
    bytes[bit / 8] ^= 1 << (bit % 8);
}

fn decode(bytes: &[u8]) -> wire::HushMessage {
    wire::HushMessage::decode(bytes).expect("genuine messages decode")
}

fn inner(m: &mut wire::HushMessage) -> &mut wire::RatchetMessage {
    match m.body.as_mut().expect("genuine messages have a body") {
        wire::hush_message::Body::Prekey(p) => p.message.as_mut().expect("inner message"),
        wire::hush_message::Body::Ratchet(r) => r,
    }
}

fn prekey(m: &mut wire::HushMessage) -> Option<&mut wire::PreKeyMessage> {
    match m.body.as_mut() {
        Some(wire::hush_message::Body::Prekey(p)) => Some(p),
        _ => None,
    }
}

/// Identity, base key, header field, ciphertext.
type AuthenticatedParts = (Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>);

/// What the receiver authenticates of a message: everything but the prekey ids and the
/// header-encryption flag of an initial message (see `raw_bit_flip_is_harmless`).
fn authenticated_parts(bytes: &[u8]) -> Option<AuthenticatedParts> {
    let mut m = wire::HushMessage::decode(bytes).ok()?;
    if m.version != 1 {
        return None;
    }
    let (identity, base) = match prekey(&mut m) {
        Some(p) => (p.identity.as_ref()?.encode_to_vec(), p.base_key.clone()),
        None => (Vec::new(), Vec::new()),
    };
    let r = match m.body.as_mut()? {
        wire::hush_message::Body::Prekey(p) => p.message.as_ref()?.clone(),
        wire::hush_message::Body::Ratchet(r) => r.clone(),
    };
    Some((identity, base, r.header, r.ciphertext))
}

struct World {
    rng: StdRng,
    config: SessionConfig,
    bob_id: IdentityKeyPair,
    eve: IdentityPublicKey,
    bob_store: PreKeyStore,
    alice: Session,
    bob: Option<Session>,
    /// Alice → Bob.
    to_bob: Vec<Sent>,
    /// Bob → Alice.
    to_alice: Vec<Sent>,
    counter: u32,
}

impl World {
    fn new(seed: u64, header_encryption: bool, with_opk: bool) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bob_id = IdentityKeyPair::generate(&mut rng);
        let eve = IdentityKeyPair::generate(&mut rng).public().clone();
        let mut bob_store = PreKeyStore::new();
        let spk = bob_store.rotate_signed_prekey(&mut rng, &bob_id);
        let opks = bob_store.generate_one_time_prekeys(&mut rng, 2);
        let opk = with_opk.then(|| opks[1].to_bytes());
        let bundle = PreKeyBundle::from_parts(&spk.to_bytes(), opk.as_deref()).unwrap();
        let config = SessionConfig {
            header_encryption,
            ..SessionConfig::default()
        };
        let alice = Session::initiate(&mut rng, &alice_id, &bundle, config).unwrap();
        assert!(alice.is_awaiting_reply());
        Self {
            rng,
            config,
            bob_id,
            eve,
            bob_store,
            alice,
            bob: None,
            to_bob: Vec::new(),
            to_alice: Vec::new(),
            counter: 0,
        }
    }

    fn queue(&mut self, to_alice: bool) -> &mut Vec<Sent> {
        if to_alice {
            &mut self.to_alice
        } else {
            &mut self.to_bob
        }
    }

    /// The receiver's whole persistent state: its session, or Bob's prekey store before he
    /// has one.
    fn receiver_state(&self, to_alice: bool) -> Vec<u8> {
        match (to_alice, &self.bob) {
            (true, _) => self.alice.to_bytes().to_vec(),
            (false, Some(b)) => b.to_bytes().to_vec(),
            (false, None) => self.bob_store.to_bytes().to_vec(),
        }
    }

    fn receive(&mut self, to_alice: bool, bytes: &[u8]) -> hush_protocol::Result<Vec<u8>> {
        if to_alice {
            return self.alice.decrypt(&mut self.rng, bytes);
        }
        if let Some(b) = self.bob.as_mut() {
            return b.decrypt(&mut self.rng, bytes);
        }
        // No session yet: Bob's application routes every message to `respond`.
        let (session, pt) = Session::respond(
            &mut self.rng,
            &self.bob_id,
            &mut self.bob_store,
            bytes,
            self.config,
        )?;
        assert!(!session.is_initiator());
        assert_eq!(session.header_encryption(), self.config.header_encryption);
        assert_eq!(session.safety_number(), self.alice.safety_number());
        self.bob = Some(session);
        Ok(pt)
    }

    /// Gives `bytes` to the receiver and checks it is refused without any state change.
    fn expect_rejected(&mut self, to_alice: bool, bytes: &[u8], what: &str) {
        let before = self.receiver_state(to_alice);
        let had_session = self.bob.is_some();
        let result = self.receive(to_alice, bytes);
        assert!(result.is_err(), "{what} was accepted: {result:?}");
        assert_eq!(self.bob.is_some(), had_session, "{what} opened a session");
        assert!(
            self.receiver_state(to_alice) == before,
            "{what} changed the receiver's state"
        );
    }

    fn send(&mut self, from_alice: bool, len: usize) {
        self.counter += 1;
        let mut plaintext =
            format!("{}#{}:", if from_alice { "A" } else { "B" }, self.counter).into_bytes();
        plaintext.resize(plaintext.len() + len, (self.counter % 251) as u8);
        let bytes = if from_alice {
            let awaiting = self.alice.is_awaiting_reply();
            let m = self.alice.encrypt(&mut self.rng, &plaintext).unwrap();
            // The initiator repeats the X3DH initial message until it hears back.
            let is_prekey = matches!(message_kind(&m).unwrap(), MessageKind::PreKey { .. });
            assert_eq!(is_prekey, awaiting);
            m
        } else {
            let Some(bob) = self.bob.as_mut() else {
                // The responder cannot send before it has received.
                return;
            };
            let m = bob.encrypt(&mut self.rng, &plaintext).unwrap();
            assert_eq!(message_kind(&m).unwrap(), MessageKind::Ratchet);
            m
        };
        self.queue(!from_alice).push(Sent {
            bytes,
            plaintext,
            delivered: false,
            dropped: false,
        });
    }

    fn in_flight(&self, to_alice: bool) -> Vec<usize> {
        let q = if to_alice {
            &self.to_alice
        } else {
            &self.to_bob
        };
        (0..q.len())
            .filter(|&i| !q[i].delivered && !q[i].dropped)
            .collect()
    }

    fn deliver(&mut self, to_alice: bool, i: usize) {
        let bytes = self.queue(to_alice)[i].bytes.clone();
        let pt = self
            .receive(to_alice, &bytes)
            .unwrap_or_else(|e| panic!("genuine message {i} (to_alice={to_alice}) refused: {e}"));
        let sent = &mut self.queue(to_alice)[i];
        assert_eq!(pt, sent.plaintext);
        sent.delivered = true;
        if to_alice {
            assert!(!self.alice.is_awaiting_reply());
        }
    }

    fn duplicate(&mut self, to_alice: bool, pick: &Index) {
        let q = if to_alice {
            &self.to_alice
        } else {
            &self.to_bob
        };
        let delivered: Vec<usize> = (0..q.len()).filter(|&i| q[i].delivered).collect();
        if delivered.is_empty() {
            return;
        }
        let bytes = q[delivered[pick.index(delivered.len())]].bytes.clone();
        self.expect_rejected(to_alice, &bytes, "duplicate");
    }

    fn persist(&mut self, alice: bool) {
        if alice {
            let blob = self.alice.to_bytes();
            let restored = Session::from_bytes(&blob).unwrap();
            assert_eq!(*restored.to_bytes(), *blob, "session state round trip");
            self.alice = restored;
        } else if let Some(bob) = &self.bob {
            let blob = bob.to_bytes();
            let restored = Session::from_bytes(&blob).unwrap();
            assert_eq!(*restored.to_bytes(), *blob, "session state round trip");
            self.bob = Some(restored);
        } else {
            let blob = self.bob_store.to_bytes();
            let restored = PreKeyStore::from_bytes(&blob).unwrap();
            assert_eq!(*restored.to_bytes(), *blob, "prekey store round trip");
            self.bob_store = restored;
        }
    }

    fn tamper(&mut self, to_alice: bool, pick: &Index, kind: Tamper, at: &Index, other: &Index) {
        let q = if to_alice {
            &self.to_alice
        } else {
            &self.to_bob
        };
        if q.is_empty() {
            return;
        }
        let i = pick.index(q.len());
        let genuine = q[i].bytes.clone();
        let mut m = decode(&genuine);
        let bytes = match kind {
            Tamper::HeaderBit => {
                flip(&mut inner(&mut m).header, at);
                m.encode_to_vec()
            }
            Tamper::CiphertextBit => {
                flip(&mut inner(&mut m).ciphertext, at);
                m.encode_to_vec()
            }
            Tamper::TruncateCiphertext => {
                let ct = &mut inner(&mut m).ciphertext;
                let keep = at.index(ct.len());
                ct.truncate(keep);
                m.encode_to_vec()
            }
            Tamper::SwapHeader => {
                let j = other.index(q.len());
                if j == i {
                    flip(&mut inner(&mut m).header, at);
                } else {
                    inner(&mut m).header = inner(&mut decode(&q[j].bytes)).header.clone();
                }
                m.encode_to_vec()
            }
            Tamper::Version => {
                m.version = 2 + at.index(1000) as u32;
                m.encode_to_vec()
            }
            Tamper::BaseKeyBit => {
                match prekey(&mut m) {
                    // Includes bit 255, which X25519 ignores: the responder refuses it.
                    Some(p) => flip(&mut p.base_key, at),
                    None => flip(&mut inner(&mut m).ciphertext, at),
                }
                m.encode_to_vec()
            }
            Tamper::ForeignIdentity => {
                let eve = wire::IdentityPublicKey::decode(self.eve.to_bytes().as_slice()).unwrap();
                match prekey(&mut m) {
                    Some(p) => p.identity = Some(eve),
                    None => flip(&mut inner(&mut m).header, at),
                }
                m.encode_to_vec()
            }
            Tamper::Reflect => {
                self.expect_rejected(!to_alice, &genuine, "reflected message");
                return;
            }
            Tamper::RawBit => {
                let mut b = genuine.clone();
                flip(&mut b, at);
                self.raw_bit_flip_is_harmless(to_alice, i, &b);
                return;
            }
        };
        assert_ne!(bytes, genuine);
        self.expect_rejected(to_alice, &bytes, &format!("{kind:?} on message {i}"));
    }

    /// A flipped bit anywhere in the encoding: the message is refused without a state change,
    /// or it is accepted only if everything the receiver authenticates is unchanged (the
    /// flip hit a prekey id or the header-encryption flag of a repeated initial message, or
    /// made a protobuf field unknown), in which case it yields the genuine plaintext, once.
    fn raw_bit_flip_is_harmless(&mut self, to_alice: bool, i: usize, bytes: &[u8]) {
        let before = self.receiver_state(to_alice);
        let had_session = self.bob.is_some();
        match self.receive(to_alice, bytes) {
            Err(_) => {
                assert_eq!(self.bob.is_some(), had_session);
                assert!(
                    self.receiver_state(to_alice) == before,
                    "raw flip changed state"
                );
            }
            Ok(pt) => {
                let sent = &mut self.queue(to_alice)[i];
                assert!(
                    !sent.delivered,
                    "a flipped copy of a delivered message was accepted"
                );
                assert_eq!(pt, sent.plaintext);
                assert_eq!(
                    authenticated_parts(bytes),
                    authenticated_parts(&sent.bytes),
                    "a message with altered authenticated content was accepted"
                );
                sent.delivered = true;
                sent.dropped = false;
            }
        }
    }

    fn run(&mut self, ops: &[Op]) {
        for op in ops {
            match op {
                Op::Send { from_alice, len } => self.send(*from_alice, *len),
                Op::Deliver { to_alice, pick } => {
                    let f = self.in_flight(*to_alice);
                    if !f.is_empty() {
                        self.deliver(*to_alice, f[pick.index(f.len())]);
                    }
                }
                Op::Drop { to_alice, pick } => {
                    let f = self.in_flight(*to_alice);
                    if !f.is_empty() {
                        let i = f[pick.index(f.len())];
                        self.queue(*to_alice)[i].dropped = true;
                    }
                }
                Op::Duplicate { to_alice, pick } => self.duplicate(*to_alice, pick),
                Op::Tamper {
                    to_alice,
                    pick,
                    kind,
                    at,
                    other,
                } => self.tamper(*to_alice, pick, *kind, at, other),
                Op::Persist { alice } => self.persist(*alice),
            }
        }
        // Everything not dropped arrives in the end (newest first), then every delivered
        // message is replayed once more.
        for to_alice in [false, true] {
            for i in self.in_flight(to_alice).into_iter().rev() {
                self.deliver(to_alice, i);
            }
        }
        for to_alice in [false, true] {
            let n = self.queue(to_alice).len();
            for i in 0..n {
                if self.queue(to_alice)[i].delivered {
                    let bytes = self.queue(to_alice)[i].bytes.clone();
                    self.expect_rejected(to_alice, &bytes, "late duplicate");
                }
            }
        }
        // Both sides can still talk.
        self.send(true, 3);
        let last = self.to_bob.len() - 1;
        self.deliver(false, last);
        self.send(false, 3);
        let last = self.to_alice.len() - 1;
        self.deliver(true, last);
        assert!(!self.alice.is_awaiting_reply());
        assert_eq!(
            self.alice.header_encryption(),
            self.config.header_encryption
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_conversations(
        seed in any::<u64>(),
        header_encryption in any::<bool>(),
        with_opk in any::<bool>(),
        ops in prop::collection::vec(op_strategy(), 1..150),
    ) {
        let mut world = World::new(seed, header_encryption, with_opk);
        world.run(&ops);
    }
}

/// Valid encodings of every decodable type, and a pair of established sessions.
struct Fixture {
    blobs: Vec<Vec<u8>>,
    /// Alice's session state (established, header encryption on) and a message to her from Bob.
    alice_state: Vec<u8>,
    message_to_alice: Vec<u8>,
    /// Bob's identity, prekey store before the first message, and Alice's first message.
    bob_id: Vec<u8>,
    bob_store: Vec<u8>,
    first: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(7);
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bob_id = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob_id);
        let opk = store.generate_one_time_prekeys(&mut rng, 2);
        let bundle = PreKeyBundle::new(spk.clone(), Some(opk[0]));
        let config = SessionConfig {
            header_encryption: true,
            ..SessionConfig::default()
        };
        let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, config).unwrap();
        let first = alice.encrypt(&mut rng, b"first").unwrap();
        let store_before = store.to_bytes().to_vec();
        let (mut bob, _) = Session::respond(&mut rng, &bob_id, &mut store, &first, config).unwrap();
        let reply = bob.encrypt(&mut rng, b"reply").unwrap();
        let alice_state = alice.to_bytes().to_vec();
        let mut plain_alice =
            Session::initiate(&mut rng, &alice_id, &bundle, SessionConfig::default()).unwrap();
        let plain_first = plain_alice.encrypt(&mut rng, b"plain").unwrap();
        let blobs = vec![
            alice_state.clone(),
            bob.to_bytes().to_vec(),
            plain_alice.to_bytes().to_vec(),
            store.to_bytes().to_vec(),
            alice_id.to_bytes().to_vec(),
            alice_id.public().to_bytes(),
            bundle.to_bytes(),
            spk.to_bytes(),
            opk[1].to_bytes(),
            first.clone(),
            plain_first,
            reply.clone(),
        ];
        Fixture {
            blobs,
            alice_state,
            message_to_alice: reply,
            bob_id: bob_id.to_bytes().to_vec(),
            bob_store: store_before,
            first,
        }
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    Flip(Index, u8),
    Set(Index, u8),
    Truncate(Index),
    Insert(Index, u8),
    Remove(Index),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Set(i, v)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(i, v)| Mutation::Insert(i, v)),
        1 => any::<Index>().prop_map(Mutation::Remove),
    ]
}

fn mutate(mut b: Vec<u8>, ms: &[Mutation]) -> Vec<u8> {
    for m in ms {
        match m {
            Mutation::Insert(i, v) => {
                let at = i.index(b.len() + 1);
                b.insert(at, *v);
            }
            _ if b.is_empty() => {}
            Mutation::Flip(i, bit) => {
                let at = i.index(b.len());
                b[at] ^= 1 << bit;
            }
            Mutation::Set(i, v) => {
                let at = i.index(b.len());
                b[at] = *v;
            }
            Mutation::Truncate(i) => {
                let at = i.index(b.len());
                b.truncate(at);
            }
            Mutation::Remove(i) => {
                let at = i.index(b.len());
                b.remove(at);
            }
        }
    }
    b
}

/// Feeds `bytes` to every decoder of the crate and to the receiving paths of a session and
/// of a prekey store. None may panic; a refused message leaves the state unchanged; a
/// session that decodes can still be used.
fn decode_everything(bytes: &[u8]) {
    let f = fixture();
    let mut rng = StdRng::seed_from_u64(bytes.len() as u64);
    let _ = IdentityKeyPair::from_bytes(bytes);
    let _ = IdentityPublicKey::from_bytes(bytes);
    let _ = PreKeyBundle::from_bytes(bytes);
    let _ = PreKeyBundle::from_parts(bytes, Some(bytes));
    let _ = SignedPreKeyPublic::from_bytes(bytes);
    let _ = OneTimePreKeyPublic::from_bytes(bytes);
    let _ = message_kind(bytes);
    if let Ok(store) = PreKeyStore::from_bytes(bytes) {
        let _ = store.to_bytes();
        let _ = store.one_time_prekey_count();
    }
    if let Ok(mut s) = Session::from_bytes(bytes) {
        let _ = s.to_bytes();
        let _ = s.safety_number();
        let _ = s.encrypt(&mut rng, b"after decoding a mutated state");
        let _ = s.decrypt(&mut rng, &f.message_to_alice);
        let _ = s.decrypt(&mut rng, bytes);
    }
    let mut alice = Session::from_bytes(&f.alice_state).unwrap();
    if alice.decrypt(&mut rng, bytes).is_err() {
        assert_eq!(
            *alice.to_bytes(),
            *f.alice_state,
            "refused message changed the session"
        );
    }
    let bob_id = IdentityKeyPair::from_bytes(&f.bob_id).unwrap();
    let mut store = PreKeyStore::from_bytes(&f.bob_store).unwrap();
    if Session::respond(
        &mut rng,
        &bob_id,
        &mut store,
        bytes,
        SessionConfig::default(),
    )
    .is_err()
    {
        assert_eq!(
            *store.to_bytes(),
            *f.bob_store,
            "refused initial message changed the store"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        decode_everything(&bytes);
    }

    #[test]
    fn decoding_mutated_encodings_never_panics(
        which in any::<Index>(),
        mutations in prop::collection::vec(mutation_strategy(), 1..6),
    ) {
        let f = fixture();
        let blob = f.blobs[which.index(f.blobs.len())].clone();
        decode_everything(&mutate(blob, &mutations));
    }
}

#[test]
fn fixture_messages_are_genuine() {
    // The fuzz properties above are only meaningful if the fixture's paths accept valid input.
    let f = fixture();
    let mut rng = StdRng::seed_from_u64(1);
    let mut alice = Session::from_bytes(&f.alice_state).unwrap();
    assert_eq!(
        alice.decrypt(&mut rng, &f.message_to_alice).unwrap(),
        b"reply"
    );
    let bob_id = IdentityKeyPair::from_bytes(&f.bob_id).unwrap();
    let mut store = PreKeyStore::from_bytes(&f.bob_store).unwrap();
    let (_, pt) = Session::respond(
        &mut rng,
        &bob_id,
        &mut store,
        &f.first,
        SessionConfig::default(),
    )
    .unwrap();
    assert_eq!(pt, b"first");
}

/// X25519 ignores the top bit of a public key (RFC 7748) while the replay check compares
/// base keys as bytes: a replayed initial message (no one-time prekey) with bit 255 of its
/// base key flipped must still be refused, leaving the store unchanged.
#[test]
fn replayed_initial_message_with_top_bit_flipped_base_key_is_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob_id);
    let bundle = PreKeyBundle::new(spk, None);
    let config = SessionConfig::default();
    let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, config).unwrap();
    let first = alice.encrypt(&mut rng, b"first").unwrap();
    Session::respond(&mut rng, &bob_id, &mut store, &first, config).unwrap();
    let mut m = decode(&first);
    prekey(&mut m).unwrap().base_key[31] ^= 0x80;
    let replay = m.encode_to_vec();
    let before = store.to_bytes();
    assert!(Session::respond(&mut rng, &bob_id, &mut store, &replay, config).is_err());
    assert_eq!(*store.to_bytes(), *before);
}
