//! `test-vectors/state.json` (spec/x3dh.md §7, spec/double-ratchet.md §9): the exact bytes
//! of saved identities, prekey stores and sessions, each with its fields listed, and for each
//! session the next message it must still decrypt once loaded.

use prost::Message;
use serde_json::{Value, json};

use super::envelope::party;
use super::{VectorRng, render};
use crate::bundle::PreKeyBundle;
use crate::identity::IdentityKeyPair;
use crate::prekeys::PreKeyStore;
use crate::proto::{state, wire};
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

/// One protobuf field of a listing: number, name, type and value.
fn field(number: u32, name: &str, ty: &str, value: Value) -> Value {
    json!({ "field": number, "name": name, "type": ty, "value": value })
}

fn bytes(number: u32, name: &str, b: &[u8]) -> Value {
    field(number, name, "bytes", json!(hex::encode(b)))
}

fn uint32(number: u32, name: &str, v: u32) -> Value {
    field(number, name, "uint32", json!(v))
}

fn boolean(number: u32, name: &str, v: bool) -> Value {
    field(number, name, "bool", json!(v))
}

fn optional_u32(number: u32, name: &str, v: Option<u32>) -> Value {
    field(number, name, "optional uint32", json!(v))
}

fn message(number: u32, name: &str, v: Option<Value>) -> Value {
    field(number, name, "message", v.unwrap_or(Value::Null))
}

fn repeated(number: u32, name: &str, v: Vec<Value>) -> Value {
    field(number, name, "repeated message", Value::Array(v))
}

fn identity_public(p: &wire::IdentityPublicKey) -> Value {
    json!([
        bytes(1, "signing_key", &p.signing_key),
        bytes(2, "dh_key", &p.dh_key),
        bytes(3, "dh_key_signature", &p.dh_key_signature),
    ])
}

fn identity_listing(st: &state::IdentityKeyPairState) -> Value {
    json!([
        uint32(1, "version", st.version),
        bytes(2, "signing_secret", &st.signing_secret),
        bytes(3, "dh_secret", &st.dh_secret),
    ])
}

fn store_listing(st: &state::PreKeyStoreState) -> Value {
    let signed = st
        .signed_prekeys
        .iter()
        .map(|s| {
            json!([
                uint32(1, "id", s.id),
                bytes(2, "secret", &s.secret),
                bytes(3, "signature", &s.signature),
                field(
                    4,
                    "seen_base_keys",
                    "repeated bytes",
                    json!(s.seen_base_keys.iter().map(hex::encode).collect::<Vec<_>>()),
                ),
                boolean(5, "offers_pqxdh", s.offers_pqxdh),
            ])
        })
        .collect();
    let one_time = st
        .one_time_prekeys
        .iter()
        .map(|o| json!([uint32(1, "id", o.id), bytes(2, "secret", &o.secret)]))
        .collect();
    let kem = st
        .kem_prekeys
        .iter()
        .map(|k| {
            json!([
                uint32(1, "id", k.id),
                boolean(2, "last_resort", k.last_resort),
                bytes(3, "seed", &k.seed),
                bytes(4, "signature", &k.signature),
            ])
        })
        .collect();
    json!([
        uint32(1, "version", st.version),
        repeated(2, "signed_prekeys", signed),
        repeated(3, "one_time_prekeys", one_time),
        uint32(4, "next_signed_prekey_id", st.next_signed_prekey_id),
        uint32(5, "next_one_time_prekey_id", st.next_one_time_prekey_id),
        repeated(6, "kem_prekeys", kem),
        uint32(7, "next_kem_prekey_id", st.next_kem_prekey_id),
    ])
}

fn session_listing(st: &state::SessionState) -> Value {
    let pending = st.pending_prekey.as_ref().map(|p| {
        json!([
            bytes(1, "base_key", &p.base_key),
            uint32(2, "signed_prekey_id", p.signed_prekey_id),
            optional_u32(3, "one_time_prekey_id", p.one_time_prekey_id),
            optional_u32(4, "kem_prekey_id", p.kem_prekey_id),
            bytes(5, "kem_ciphertext", &p.kem_ciphertext),
        ])
    });
    let skipped = st
        .skipped
        .iter()
        .map(|k| {
            json!([
                bytes(1, "chain_id", &k.chain_id),
                uint32(2, "n", k.n),
                bytes(3, "message_key", &k.message_key),
            ])
        })
        .collect();
    json!([
        uint32(1, "version", st.version),
        message(
            2,
            "local_identity",
            st.local_identity.as_ref().map(identity_public)
        ),
        message(
            3,
            "remote_identity",
            st.remote_identity.as_ref().map(identity_public)
        ),
        boolean(4, "initiator", st.initiator),
        bytes(5, "base_key", &st.base_key),
        message(6, "pending_prekey", pending),
        bytes(7, "root_key", &st.root_key),
        bytes(8, "dh_self_secret", &st.dh_self_secret),
        bytes(9, "dh_remote", &st.dh_remote),
        bytes(10, "sending_chain_key", &st.sending_chain_key),
        bytes(11, "receiving_chain_key", &st.receiving_chain_key),
        uint32(12, "ns", st.ns),
        uint32(13, "nr", st.nr),
        uint32(14, "pn", st.pn),
        boolean(15, "header_encryption", st.header_encryption),
        bytes(16, "header_key_send", &st.header_key_send),
        bytes(17, "header_key_recv", &st.header_key_recv),
        bytes(18, "next_header_key_send", &st.next_header_key_send),
        bytes(19, "next_header_key_recv", &st.next_header_key_recv),
        repeated(20, "skipped", skipped),
        uint32(21, "max_skip", st.max_skip),
        uint32(22, "max_skipped_total", st.max_skipped_total),
        bytes(23, "pqxdh_binding", &st.pqxdh_binding),
    ])
}

/// Every value a party's session code traced so far, oldest first.
#[derive(Default)]
struct History(Vec<(String, Vec<u8>)>);

impl History {
    fn add(&mut self, trace: &mut Trace) {
        self.0.extend(trace.take());
    }

    fn last(&self, label: &str) -> Option<&[u8]> {
        self.0
            .iter()
            .rev()
            .find(|(l, _)| l == label)
            .map(|(_, b)| b.as_slice())
    }
}

/// A saved session, its listing, and the messages it must decrypt after loading. Checks the
/// fields that the traces pin: identities, base key, root key and own ratchet secret.
fn session_entry(
    name: &str,
    session: &Session,
    history: &History,
    next: &[(&str, &[u8], &[u8])],
) -> Value {
    let encoding = session.to_bytes();
    let st = state::SessionState::decode(encoding.as_slice()).expect("own encoding decodes");
    assert_eq!(
        st.local_identity.as_ref(),
        Some(&session.local_identity().to_proto())
    );
    assert_eq!(
        st.remote_identity.as_ref(),
        Some(&session.remote_identity().to_proto())
    );
    assert_eq!(
        history.last("kdf_rk.root_key"),
        Some(st.root_key.as_slice())
    );
    assert_eq!(
        history.last("ratchet_private_key"),
        Some(st.dh_self_secret.as_slice())
    );
    if st.initiator {
        assert_eq!(
            history.last("ephemeral_public_key"),
            Some(st.base_key.as_slice())
        );
    }
    // Loading gives the same bytes back.
    let loaded = Session::from_bytes(&encoding).expect("own encoding loads");
    assert_eq!(*loaded.to_bytes(), *encoding);
    let mut rng = VectorRng::new(b"state/decrypt");
    let mut s = loaded;
    for (label, m, pt) in next {
        assert_eq!(
            s.decrypt(&mut rng, m).expect("the loaded session decrypts"),
            *pt,
            "{name}: {label}"
        );
    }
    json!({
        "name": name,
        "encoding": hex::encode(encoding.as_slice()),
        "fields": session_listing(&st),
        "next_messages": next.iter().map(|(label, m, pt)| json!({
            "label": label,
            "message": hex::encode(m),
            "plaintext": hex::encode(pt),
        })).collect::<Vec<_>>(),
    })
}

fn store_entry(name: &str, store: &PreKeyStore) -> Value {
    let encoding = store.to_bytes();
    let st = state::PreKeyStoreState::decode(encoding.as_slice()).expect("own encoding decodes");
    let loaded = PreKeyStore::from_bytes(&encoding).expect("own encoding loads");
    assert_eq!(*loaded.to_bytes(), *encoding);
    json!({
        "name": name,
        "encoding": hex::encode(encoding.as_slice()),
        "fields": store_listing(&st),
    })
}

/// The saved-state vectors. `VectorRng("state")` draws, in order: Alice's and Bob's
/// identities; Bob's signed prekey 0, one-time prekeys 0 and 1, signed prekey 1 (offering
/// PQXDH), one-time KEM prekey 0 (64-byte seed) and last-resort KEM prekey 1; then every key
/// the four conversations below need, in the order the file lists their steps. (Decrypting
/// with a loaded session uses a separate `VectorRng("state/decrypt")`; it draws only when
/// a DH-ratchet step needs a new key pair.)
pub fn state_vectors() -> String {
    let seed = "state";
    let mut rng = VectorRng::new(seed.as_bytes());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);

    let identity_encoding = alice.to_bytes();
    let identity_state = state::IdentityKeyPairState::decode(identity_encoding.as_slice())
        .expect("own encoding decodes");
    let loaded = IdentityKeyPair::from_bytes(&identity_encoding).expect("own encoding loads");
    assert_eq!(loaded.public(), alice.public());
    assert_eq!(*loaded.to_bytes(), *identity_encoding);
    let identity = json!({
        "name": "alice's identity key pair",
        "keys": party("alice", &alice),
        "encoding": hex::encode(identity_encoding.as_slice()),
        "fields": identity_listing(&identity_state),
    });

    let mut store = PreKeyStore::new();
    let spk0 = store.rotate_signed_prekey(&mut rng, &bob);
    let opks = store.generate_one_time_prekeys(&mut rng, 2);
    let spk1 = store.rotate_signed_prekey_pqxdh(&mut rng, &bob);
    let kem_one_time = store.generate_one_time_kem_prekeys(&mut rng, &bob, 1);
    let kem_last_resort = store.rotate_last_resort_kem_prekey(&mut rng, &bob);
    let mut stores = vec![store_entry(
        "bob's fresh store: two signed prekeys (the second offers PQXDH), two one-time prekeys, a one-time and a last-resort KEM prekey",
        &store,
    )];

    let mut sessions = Vec::new();
    let mut trace = Trace::on();
    let plain = SessionConfig::default();
    let he = SessionConfig {
        header_encryption: true,
        ..SessionConfig::default()
    };

    // 1. X3DH with a one-time prekey, plain headers.
    {
        let (mut ha, mut hb) = (History::default(), History::default());
        let bundle = PreKeyBundle::new(spk0.clone(), Some(opks[1]));
        let mut a = Session::initiate_traced(&mut rng, &alice, &bundle, plain, &mut trace)
            .expect("vector handshake");
        ha.add(&mut trace);
        let a0 = a
            .encrypt_traced(&mut rng, b"a0: first", &mut trace)
            .expect("vector encrypt");
        ha.add(&mut trace);
        let a_saved = a.to_bytes();
        let a_hist = ha.0.clone();
        let (mut b, _) =
            Session::respond_traced(&mut rng, &bob, &mut store, &a0, plain, &mut trace)
                .expect("vector respond");
        hb.add(&mut trace);
        let b_saved = b.to_bytes();
        let a1 = a
            .encrypt_traced(&mut rng, b"a1: second, before any reply", &mut trace)
            .expect("vector encrypt");
        ha.add(&mut trace);
        let b_hist = History(hb.0.clone());
        let b0 = b
            .encrypt_traced(&mut rng, b"b0: the first reply", &mut trace)
            .expect("vector encrypt");
        hb.add(&mut trace);
        let a_before = Session::from_bytes(&a_saved).expect("loads");
        sessions.push(session_entry(
            "alice, initiator before the first reply (X3DH with one-time prekey, plain headers)",
            &a_before,
            &History(a_hist),
            &[("b0", &b0, b"b0: the first reply")],
        ));
        let b_after = Session::from_bytes(&b_saved).expect("loads");
        sessions.push(session_entry(
            "bob, responder after receiving a0 (plain headers)",
            &b_after,
            &b_hist,
            &[("a1", &a1, b"a1: second, before any reply")],
        ));
    }

    // 2. Header encryption: Alice after Bob's first reply.
    {
        let (mut ha, mut hb) = (History::default(), History::default());
        let bundle = PreKeyBundle::new(spk0.clone(), Some(opks[0]));
        let mut a = Session::initiate_traced(&mut rng, &alice, &bundle, he, &mut trace)
            .expect("vector handshake");
        ha.add(&mut trace);
        let a0 = a
            .encrypt_traced(&mut rng, b"a0: header encryption", &mut trace)
            .expect("vector encrypt");
        ha.add(&mut trace);
        let (mut b, _) = Session::respond_traced(&mut rng, &bob, &mut store, &a0, he, &mut trace)
            .expect("vector respond");
        hb.add(&mut trace);
        let b0 = b
            .encrypt_traced(&mut rng, b"b0: reply", &mut trace)
            .expect("vector encrypt");
        hb.add(&mut trace);
        a.decrypt_traced(&mut rng, &b0, &mut trace)
            .expect("vector decrypt");
        ha.add(&mut trace);
        let b1 = b
            .encrypt_traced(&mut rng, b"b1: after the save", &mut trace)
            .expect("vector encrypt");
        hb.add(&mut trace);
        sessions.push(session_entry(
            "alice after receiving b0 (header encryption)",
            &a,
            &ha,
            &[("b1", &b1, b"b1: after the save")],
        ));
    }

    // 3. Skipped keys: Bob receives a0 then a3.
    {
        let (mut ha, mut hb) = (History::default(), History::default());
        let bundle = PreKeyBundle::new(spk0.clone(), None);
        let mut a = Session::initiate_traced(&mut rng, &alice, &bundle, plain, &mut trace)
            .expect("vector handshake");
        ha.add(&mut trace);
        let texts: [&[u8]; 4] = [b"a0", b"a1: skipped", b"a2: skipped too", b"a3"];
        let mut sent = Vec::new();
        for t in texts {
            sent.push(
                a.encrypt_traced(&mut rng, t, &mut trace)
                    .expect("vector encrypt"),
            );
            ha.add(&mut trace);
        }
        let (mut b, _) =
            Session::respond_traced(&mut rng, &bob, &mut store, &sent[0], plain, &mut trace)
                .expect("vector respond");
        hb.add(&mut trace);
        b.decrypt_traced(&mut rng, &sent[3], &mut trace)
            .expect("vector decrypt");
        hb.add(&mut trace);
        sessions.push(session_entry(
            "bob holding two skipped message keys (received a0, then a3)",
            &b,
            &hb,
            &[("a2", &sent[2], texts[2]), ("a1", &sent[1], texts[1])],
        ));
    }

    // 4. PQXDH with the last-resort KEM prekey: the initiator before the first reply.
    {
        let mut ha = History::default();
        let bundle = PreKeyBundle::new_pqxdh(spk1.clone(), None, Some(kem_last_resort.clone()))
            .expect("vector bundle");
        let mut a = Session::initiate_traced(&mut rng, &alice, &bundle, plain, &mut trace)
            .expect("vector handshake");
        ha.add(&mut trace);
        let a0 = a
            .encrypt_traced(&mut rng, b"a0: post-quantum", &mut trace)
            .expect("vector encrypt");
        ha.add(&mut trace);
        let (mut b, _) =
            Session::respond_traced(&mut rng, &bob, &mut store, &a0, plain, &mut trace)
                .expect("vector respond");
        trace.take();
        let b0 = b
            .encrypt_traced(&mut rng, b"b0: post-quantum reply", &mut trace)
            .expect("vector encrypt");
        trace.take();
        sessions.push(session_entry(
            "alice, PQXDH initiator before the first reply (pending KEM ciphertext, KEM binding)",
            &a,
            &ha,
            &[("b0", &b0, b"b0: post-quantum reply")],
        ));
    }
    assert_eq!(kem_one_time.len(), 1);
    stores.push(store_entry(
        "bob's store after accepting the four initial messages: one-time prekeys used, base keys seen",
        &store,
    ));

    render(json!({
        "description": "Hush saved-state vectors (spec/x3dh.md section 7, spec/double-ratchet.md section 9, spec/proto/state.proto): exact encodings of IdentityKeyPair::to_bytes, PreKeyStore::to_bytes and Session::to_bytes, each with every protobuf field listed (number, name, type, value; bytes in hex, empty = absent). Each session lists the messages it must decrypt, in order, after from_bytes.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order: Alice's and Bob's identities, Bob's prekeys (signed prekey 0, one-time prekeys 0 and 1, signed prekey 1 offering PQXDH, one-time KEM prekey 0, last-resort KEM prekey 1), then the keys of the four conversations in the order of the sessions listed",
        "seed": hex::encode(seed.as_bytes()),
        "alice": party("alice", &alice),
        "bob": party("bob", &bob),
        "identity": identity,
        "prekey_stores": stores,
        "sessions": sessions,
    }))
}
