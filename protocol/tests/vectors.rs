//! The published vectors regenerate byte for byte from the code.

use std::path::PathBuf;

fn check(file: &str, generated: String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors")
        .join(file);
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if on_disk != generated {
        let line = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "length differs".to_owned(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "{file} differs from what the code computes ({line}); if the change is intended, \
             run `cargo run -p hush-protocol --features vectors --example gen-vectors`"
        );
    }
}

#[test]
fn x3dh_vectors_match() {
    check("x3dh.json", hush_protocol::vectors::x3dh_vectors());
}

#[test]
fn pqxdh_vectors_match() {
    check("pqxdh.json", hush_protocol::vectors::pqxdh_vectors());
}

#[test]
fn double_ratchet_vectors_match() {
    check(
        "double-ratchet.json",
        hush_protocol::vectors::double_ratchet_vectors(),
    );
}

#[test]
fn directory_vectors_match() {
    check(
        "directory.json",
        hush_protocol::vectors::directory_vectors(),
    );
}

#[test]
fn devices_vectors_match() {
    check("devices.json", hush_protocol::vectors::devices_vectors());
}

#[test]
fn attachment_vectors_match() {
    check(
        "attachments.json",
        hush_protocol::vectors::attachment_vectors(),
    );
}

fn load(file: &str) -> serde_json::Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// An identity from the private keys a vector file lists (through its saved-state encoding).
fn identity(party: &serde_json::Value) -> hush_protocol::IdentityKeyPair {
    use prost::Message;
    let st = hush_protocol::proto::state::IdentityKeyPairState {
        version: 1,
        signing_secret: unhex(&party["identity_signing_private"]),
        dh_secret: unhex(&party["identity_dh_private"]),
    };
    let id = hush_protocol::IdentityKeyPair::from_bytes(&st.encode_to_vec()).unwrap();
    assert_eq!(
        hex::encode(id.public().to_bytes()),
        party["identity_public_key_message"].as_str().unwrap()
    );
    id
}

/// envelope.json regenerates; every envelope written in full opens for its recipient with the
/// recorded content, and every refusal fails with the recorded error.
#[test]
fn envelope_vectors_match() {
    use hush_protocol::envelope::open;
    check("envelope.json", hush_protocol::vectors::envelope_vectors());
    let v = load("envelope.json");
    let mut opened = 0;
    for case in v["cases"].as_array().unwrap() {
        let Some(env) = case.get("envelope") else {
            continue;
        };
        let bob = identity(&case["recipient"]);
        let content = open(&bob, &unhex(env)).unwrap();
        assert_eq!(content.payload, unhex(&case["payload"]), "{}", case["name"]);
        assert_eq!(content.reply_to, unhex(&case["reply_to"]));
        assert_eq!(
            hex::encode(content.sender.to_bytes()),
            case["sender"]["identity_public_key_message"]
                .as_str()
                .unwrap()
        );
        opened += 1;
    }
    assert!(opened >= 5, "only {opened} envelopes opened");
    let mut refused = 0;
    for r in v["refusals"].as_array().unwrap() {
        let who = identity(&v[r["opened_by"].as_str().unwrap()]);
        let err = open(&who, &unhex(&r["envelope"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            r["error_message"].as_str().unwrap(),
            "{}",
            r["name"]
        );
        refused += 1;
    }
    assert!(refused >= 25, "only {refused} refusals");
}

/// state.json regenerates; every saved encoding loads and saves back to the same bytes, and
/// every loaded session decrypts the messages recorded after it ("old data still opens").
#[test]
fn state_vectors_match() {
    use hush_protocol::vectors::VectorRng;
    use hush_protocol::{IdentityKeyPair, PreKeyStore, Session};
    check("state.json", hush_protocol::vectors::state_vectors());
    let v = load("state.json");
    let id_bytes = unhex(&v["identity"]["encoding"]);
    let id = IdentityKeyPair::from_bytes(&id_bytes).unwrap();
    assert_eq!(*id.to_bytes(), id_bytes);
    assert_eq!(
        hex::encode(id.public().to_bytes()),
        v["alice"]["identity_public_key_message"].as_str().unwrap()
    );
    let stores = v["prekey_stores"].as_array().unwrap();
    assert_eq!(stores.len(), 2);
    for s in stores {
        let b = unhex(&s["encoding"]);
        assert_eq!(*PreKeyStore::from_bytes(&b).unwrap().to_bytes(), b);
    }
    let sessions = v["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 5);
    let mut decrypted = 0;
    for s in sessions {
        let b = unhex(&s["encoding"]);
        let mut session = Session::from_bytes(&b).unwrap();
        assert_eq!(*session.to_bytes(), b, "{}", s["name"]);
        let mut rng = VectorRng::new(b"state/decrypt");
        for m in s["next_messages"].as_array().unwrap() {
            let pt = session.decrypt(&mut rng, &unhex(&m["message"])).unwrap();
            assert_eq!(pt, unhex(&m["plaintext"]), "{}: {}", s["name"], m["label"]);
            decrypted += 1;
        }
    }
    assert_eq!(decrypted, 6);
}
