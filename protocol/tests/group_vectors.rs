//! RFC 9420 test vectors (mlswg/mls-implementations), run through the group layer's public
//! API. See `test-vectors/mls-rfc9420/README.md` for which files run and why.

use hush_protocol::group::{
    GroupCiphersuite, GroupClient, KeyPackageSecrets, MlsRatchetTree, MlsWireMessage,
};
use rand::SeedableRng;
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = format!(
        "{}/../test-vectors/mls-rfc9420/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("json")
}

fn hexf(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(v[field].as_str().unwrap_or_else(|| panic!("field {field}"))).expect("hex")
}

#[test]
fn messages_round_trip_through_the_codec() {
    let vectors = load("messages.json");
    let entries = vectors.as_array().expect("array");
    assert_eq!(entries.len(), 300);
    for (i, v) in entries.iter().enumerate() {
        for field in [
            "mls_welcome",
            "mls_group_info",
            "mls_key_package",
            "public_message_application",
            "public_message_proposal",
            "public_message_commit",
            "private_message",
        ] {
            let bytes = hexf(v, field);
            let msg = MlsWireMessage::from_bytes(&bytes)
                .unwrap_or_else(|e| panic!("entry {i} {field}: {e}"));
            assert_eq!(msg.to_bytes().unwrap(), bytes, "entry {i} {field}");
            // A truncated copy never decodes.
            assert!(MlsWireMessage::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        }
        let tree = hexf(v, "ratchet_tree");
        let decoded = MlsRatchetTree::from_bytes(&tree)
            .unwrap_or_else(|e| panic!("entry {i} ratchet_tree: {e}"));
        assert_eq!(decoded.to_bytes().unwrap(), tree, "entry {i} ratchet_tree");
    }
}

/// Runs one passive-client vector: join from the Welcome with the vector's key material,
/// then follow every epoch, checking the epoch authenticator after each.
fn run_passive(v: &Value, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let psks: Vec<(Vec<u8>, Vec<u8>)> = v["external_psks"]
        .as_array()
        .expect("psks")
        .iter()
        .map(|p| (hexf(p, "psk_id"), hexf(p, "psk")))
        .collect();
    let psk_refs: Vec<(&[u8], &[u8])> = psks
        .iter()
        .map(|(a, b)| (a.as_slice(), b.as_slice()))
        .collect();
    let (init, enc, sig) = (
        hexf(v, "init_priv"),
        hexf(v, "encryption_priv"),
        hexf(v, "signature_priv"),
    );
    let secrets = KeyPackageSecrets {
        init_private_key: &init,
        encryption_private_key: &enc,
        signature_private_key: &sig,
    };
    let mut client =
        GroupClient::interop_passive(&mut rng, &hexf(v, "key_package"), &secrets, &psk_refs)
            .expect("interop client");
    let tree = v["ratchet_tree"]
        .as_str()
        .map(|t| hex::decode(t).expect("hex"));
    let g = client
        .join(&mut rng, &hexf(v, "welcome"), tree.as_deref())
        .expect("join");
    assert_eq!(
        client.epoch_authenticator(&g).unwrap(),
        hexf(v, "initial_epoch_authenticator")
    );
    for (n, epoch) in v["epochs"].as_array().expect("epochs").iter().enumerate() {
        for p in epoch["proposals"].as_array().expect("proposals") {
            let bytes = hex::decode(p.as_str().expect("hex")).expect("hex");
            client
                .process(&mut rng, &g, &bytes)
                .unwrap_or_else(|e| panic!("epoch {n} proposal: {e}"));
        }
        client
            .process(&mut rng, &g, &hexf(epoch, "commit"))
            .unwrap_or_else(|e| panic!("epoch {n} commit: {e}"));
        assert_eq!(
            client.epoch_authenticator(&g).unwrap(),
            hexf(epoch, "epoch_authenticator"),
            "epoch {n}"
        );
    }
    // The client's state survives a restart at the end.
    let blob = client.to_bytes().unwrap();
    let back = GroupClient::interop_from_bytes(&blob).unwrap();
    assert_eq!(
        back.epoch_authenticator(&g).unwrap(),
        client.epoch_authenticator(&g).unwrap()
    );
}

fn run_file(name: &str) -> usize {
    let vectors = load(name);
    let mut ran = 0;
    for (i, v) in vectors.as_array().expect("array").iter().enumerate() {
        let suite = v["cipher_suite"].as_u64().expect("suite");
        // Hush offers the two X25519/Ed25519 suites only (member credentials are Ed25519
        // identity keys); the vendored files hold only those entries.
        GroupCiphersuite::from_code(suite as u16).expect("vendored entries are suites 1 and 3");
        let r = std::panic::catch_unwind(|| run_passive(v, i as u64));
        if let Err(e) = r {
            std::panic::resume_unwind(Box::new(format!(
                "{name} entry {i} (suite {suite}): {:?}",
                e.downcast_ref::<String>()
            )));
        }
        ran += 1;
    }
    ran
}

#[test]
fn passive_client_welcome() {
    assert_eq!(run_file("passive-client-welcome.json"), 16);
}

#[test]
fn passive_client_handling_commit() {
    assert_eq!(run_file("passive-client-handling-commit.json"), 26);
}

#[test]
fn passive_client_random() {
    assert_eq!(run_file("passive-client-random.json"), 1);
}
