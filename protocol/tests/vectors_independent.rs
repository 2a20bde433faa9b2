//! Checks the published Double Ratchet and X3DH vectors against the spec with the bare
//! primitives (HMAC-SHA256, HKDF-SHA256, ChaCha20-Poly1305), independently of the
//! library's own key schedule code.

use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hush_protocol::proto::wire;
use prost::Message;
use serde_json::Value;
use sha2::Sha256;

fn load(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hkdf(salt: &[u8], ikm: &[u8], info: &[u8], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn entries(trace: &Value) -> Vec<(String, Vec<u8>)> {
    trace
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e[0].as_str().unwrap().to_owned(), unhex(&e[1])))
        .collect()
}

fn inner_ciphertext(message: &[u8]) -> Vec<u8> {
    let m = wire::HushMessage::decode(message).unwrap();
    match m.body.unwrap() {
        wire::hush_message::Body::Ratchet(r) => r.ciphertext,
        wire::hush_message::Body::Prekey(p) => p.message.unwrap().ciphertext,
    }
}

/// Walks one trace: every message key is HMAC(chain key, 0x01), every AEAD key and nonce is
/// HKDF(message key), every successful receive decrypts with exactly those values.
fn check_trace(step: &Value) -> usize {
    let trace = entries(&step["trace"]);
    let mut checked = 0;
    let mut last_chain: Option<Vec<u8>> = None;
    let mut last_mk: Option<Vec<u8>> = None;
    let mut key_nonce: (Vec<u8>, Vec<u8>) = (Vec::new(), Vec::new());
    for (label, bytes) in &trace {
        match label.as_str() {
            "chain_key" => last_chain = Some(bytes.clone()),
            "message_key" => {
                if let Some(ck) = &last_chain {
                    assert_eq!(&hmac(ck, &[0x01]), bytes, "{}", step["op"]);
                    checked += 1;
                }
                last_mk = Some(bytes.clone());
            }
            "aead_key" => key_nonce.0 = bytes.clone(),
            "aead_nonce" => {
                key_nonce.1 = bytes.clone();
                let okm = hkdf(
                    &[0u8; 32],
                    last_mk.as_ref().unwrap(),
                    b"Hush-v1-MessageKeys",
                    44,
                );
                assert_eq!(okm[..32], key_nonce.0[..]);
                assert_eq!(okm[32..], key_nonce.1[..]);
                checked += 1;
            }
            "aead_associated_data" if step["result"] == "ok" || step["result"].is_null() => {
                let cipher = ChaCha20Poly1305::new_from_slice(&key_nonce.0).unwrap();
                let nonce = Nonce::try_from(&key_nonce.1[..]).unwrap();
                let ct = inner_ciphertext(&unhex(&step["message"]));
                let pt = cipher
                    .decrypt(
                        &nonce,
                        Payload {
                            msg: &ct,
                            aad: bytes,
                        },
                    )
                    .unwrap();
                assert_eq!(pt, unhex(&step["plaintext"]), "{}", step["op"]);
                checked += 1;
            }
            _ => {}
        }
    }
    checked
}

#[test]
fn double_ratchet_vectors_follow_the_spec() {
    let v = load("double-ratchet.json");
    let mut checked = 0;
    for conv in v["conversations"].as_array().unwrap() {
        let steps = conv["steps"].as_array().unwrap();
        // Several DH ratchet steps, a rejected message, a late skipped message.
        let ops: Vec<&str> = steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
        assert!(ops.iter().any(|o| o.contains("tampered")));
        assert!(
            steps
                .iter()
                .any(|s| s["result"].as_str().is_some_and(|r| r.starts_with("error")))
        );
        for step in steps {
            checked += check_trace(step);
        }
    }
    assert!(checked > 100, "only {checked} values checked");
}

#[test]
fn x3dh_vectors_follow_the_spec() {
    let v = load("x3dh.json");
    for case in v["cases"].as_array().unwrap() {
        for side in ["initiator_trace", "responder_trace"] {
            let t = entries(&case[side]);
            let dhs: Vec<&Vec<u8>> = t
                .iter()
                .filter(|(l, _)| l.starts_with("dh") && l.len() == 3)
                .map(|(_, b)| b)
                .collect();
            let mut ikm = vec![0xFF; 32];
            for d in &dhs {
                ikm.extend_from_slice(d);
            }
            let sk = hkdf(&[0u8; 32], &ikm, b"Hush-v1-X3DH", 32);
            let recorded = &t.iter().find(|(l, _)| l == "shared_key").unwrap().1;
            assert_eq!(&sk, recorded, "{side}");
            let ad = &t
                .iter()
                .find(|(l, _)| l == "x3dh_associated_data")
                .unwrap()
                .1;
            let mut expected = unhex(&case["alice"]["encoded_identity"]);
            expected.extend(unhex(&case["bob"]["encoded_identity"]));
            assert_eq!(ad, &expected);
        }
        let n_dh = if case["bob_prekeys"]["one_time_prekey"].is_null() {
            3
        } else {
            4
        };
        assert_eq!(
            entries(&case["initiator_trace"])
                .iter()
                .filter(|(l, _)| l.starts_with("dh") && l.len() == 3)
                .count(),
            n_dh
        );
        // The first root step: KDF_RK(SK, DH(EK_ratchet, SPK)).
        let t = entries(&case["initiator_trace"]);
        let sk = &t.iter().find(|(l, _)| l == "shared_key").unwrap().1;
        let dh_out = &t.iter().find(|(l, _)| l == "dh_output").unwrap().1;
        let okm = hkdf(sk, dh_out, b"Hush-v1-Ratchet", 64);
        assert_eq!(
            okm[..32],
            t.iter().find(|(l, _)| l == "kdf_rk.root_key").unwrap().1[..]
        );
        assert_eq!(
            okm[32..],
            t.iter().find(|(l, _)| l == "kdf_rk.chain_key").unwrap().1[..]
        );
    }
}

/// The directory vectors from spec/relay-protocol.md §6.1 alone: the mailbox address from the
/// mailbox key, both HKDF outputs, the verifier, and each sealed entry rebuilt with
/// XChaCha20-Poly1305 over the padded blob and opened again.
#[test]
fn directory_vectors_follow_the_spec() {
    use chacha20poly1305::XChaCha20Poly1305;
    use sha2::Digest;
    let v = load("directory.json");
    let ds = unhex(&v["directory_secret"]);
    let mailbox_public = unhex(&v["mailbox_public_key"]);
    let mailbox = {
        let mut h = Sha256::new();
        h.update(b"Hush-v1-Relay-Mailbox-Address");
        h.update(&mailbox_public);
        h.finalize().to_vec()
    };
    assert_eq!(mailbox, unhex(&v["mailbox_address"]));
    // HKDF with no salt is HKDF with 32 zero bytes of salt (RFC 5869 §2.2).
    let derive = |label: &[u8]| hkdf(&[0u8; 32], &ds, &[label, &mailbox[..]].concat(), 32);
    let seal_key = derive(b"Hush-v1-Directory-Seal");
    let token = derive(b"Hush-v1-Directory-Fetch");
    assert_eq!(seal_key, unhex(&v["seal_key"]));
    assert_eq!(token, unhex(&v["fetch_token"]));
    let verifier = {
        let mut h = Sha256::new();
        h.update(b"Hush-v1-Directory-Verifier");
        h.update(&token);
        h.finalize().to_vec()
    };
    assert_eq!(verifier, unhex(&v["fetch_verifier"]));
    let cipher = XChaCha20Poly1305::new_from_slice(&seal_key).unwrap();
    let entries = v["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 4);
    for e in entries {
        let blob = unhex(&e["blob"]);
        let nonce = unhex(&e["nonce"]);
        let kind = u8::try_from(e["kind_byte"].as_u64().unwrap()).unwrap();
        let mut padded = (blob.len() as u32).to_be_bytes().to_vec();
        padded.extend_from_slice(&blob);
        while !padded.len().is_multiple_of(256) {
            padded.push(0);
        }
        let aad = [&b"Hush-v1-Directory-Entry"[..], &mailbox[..], &[kind][..]].concat();
        let nonce = chacha20poly1305::XNonce::try_from(nonce.as_slice()).unwrap();
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &padded,
                    aad: &aad,
                },
            )
            .unwrap();
        let mut sealed = vec![1u8];
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ct);
        assert_eq!(sealed, unhex(&e["sealed"]), "{}", e["kind"]);
        let opened = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &sealed[25..],
                    aad: &aad,
                },
            )
            .unwrap();
        assert_eq!(opened, padded);
    }
}
