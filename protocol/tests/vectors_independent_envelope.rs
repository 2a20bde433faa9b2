//! Checks `test-vectors/envelope.json` against spec/envelope.md with the bare primitives
//! (X25519, Ed25519, HKDF-SHA256, ChaCha20-Poly1305, SHA-256, hand-encoded protobuf),
//! independently of `protocol/src/envelope.rs`; and checks every field listing of
//! `test-vectors/state.json` against its encoding by encoding the listing by hand.

mod vectors_common;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use hush_protocol::proto::wire;
use prost::Message;
use serde_json::Value;
use sha2::{Digest, Sha256};
use vectors_common::{Stream, load, unhex, x25519};

fn x25519_public(private: &[u8]) -> Vec<u8> {
    let s = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(private).unwrap());
    x25519_dalek::PublicKey::from(&s).as_bytes().to_vec()
}

fn hkdf44(salt: &[u8], ikm: &[u8], info: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 44];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn cipher(kn: &[u8]) -> (ChaCha20Poly1305, Nonce) {
    (
        ChaCha20Poly1305::new_from_slice(&kn[..32]).unwrap(),
        Nonce::try_from(&kn[32..]).unwrap(),
    )
}

fn seal_layer(kn: &[u8], msg: &[u8], aad: &[u8]) -> Vec<u8> {
    let (c, n) = cipher(kn);
    c.encrypt(&n, Payload { msg, aad }).unwrap()
}

fn open_layer(kn: &[u8], msg: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (c, n) = cipher(kn);
    c.decrypt(&n, Payload { msg, aad }).ok()
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// `value` equals the field `name` of `obj`, given in full or as `name_len` + `name_sha256`.
fn same_bytes(obj: &Value, name: &str, value: &[u8]) {
    if let Some(full) = obj.get(name) {
        assert_eq!(hex::encode(value), full.as_str().unwrap(), "{name}");
    } else {
        assert_eq!(
            obj[format!("{name}_len")].as_u64().unwrap(),
            value.len() as u64,
            "{name}_len"
        );
        assert_eq!(
            obj[format!("{name}_sha256")].as_str().unwrap(),
            sha256(value),
            "{name}_sha256"
        );
        assert!(
            value.len() > 2048,
            "{name}: short values are written in full"
        );
    }
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn len_field(number: u32, b: &[u8], out: &mut Vec<u8>) {
    varint(u64::from(number) << 3 | 2, out);
    varint(b.len() as u64, out);
    out.extend_from_slice(b);
}

fn int_field(number: u32, v: u64, out: &mut Vec<u8>) {
    varint(u64::from(number) << 3, out);
    varint(v, out);
}

/// `hush.v1.SealedContent` by hand (proto3: zero and empty fields are not written).
fn sealed_content(version: u64, kind: u64, payload: &[u8], reply_to: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if version != 0 {
        int_field(1, version, &mut out);
    }
    if kind != 0 {
        int_field(2, kind, &mut out);
    }
    if !payload.is_empty() {
        len_field(3, payload, &mut out);
    }
    if !reply_to.is_empty() {
        len_field(4, reply_to, &mut out);
    }
    out
}

/// The envelope length of spec/envelope.md "Padding and buckets"; `None` above 1 MiB.
fn bucket(content_len: usize) -> Option<usize> {
    let needed = content_len + 1 + 193;
    let l = if needed <= 65536 {
        needed.next_power_of_two().max(512)
    } else {
        needed.div_ceil(65536) * 65536
    };
    (l <= 1 << 20).then_some(l)
}

fn binding_ok(identity: &[u8]) -> bool {
    let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&identity[..32].try_into().unwrap())
    else {
        return false;
    };
    let sig = ed25519_dalek::Signature::from_bytes(&identity[64..128].try_into().unwrap());
    let msg = [&b"Hush-v1-IdentityDH"[..], &identity[32..64]].concat();
    vk.verify_strict(&msg, &sig).is_ok()
}

/// What opening `env` with the recipient's X25519 secret gives according to the spec's
/// "Errors" section: the content's (kind, payload, reply_to), or the error's identifier.
fn spec_open(dh_private: &[u8], env: &[u8]) -> Result<(i32, Vec<u8>, Vec<u8>), String> {
    if env.len() < 194 || env.len() > 1 << 20 {
        return Err("Malformed(envelope length)".into());
    }
    if env[0] != 1 {
        return Err(format!(
            "UnsupportedVersion{{what: envelope, version: {}}}",
            env[0]
        ));
    }
    let dh1 = x25519(dh_private, &env[1..33]);
    if dh1 == [0u8; 32] {
        return Err("WeakKey".into());
    }
    let salt1 = [&env[1..33], &x25519_public(dh_private)[..]].concat();
    let kn1 = hkdf44(&salt1, &dh1, b"Hush-v1-Sealed-Identity");
    let identity =
        open_layer(&kn1, &env[33..177], &env[..33]).ok_or("DecryptionFailed".to_owned())?;
    if !binding_ok(&identity) {
        return Err("BadSignature(identity DH key)".into());
    }
    let dh2 = x25519(dh_private, &identity[32..64]);
    let kn2 = hkdf44(&env[..177], &dh2, b"Hush-v1-Sealed-Content");
    let padded = open_layer(&kn2, &env[177..], &env[..177]).ok_or("DecryptionFailed".to_owned())?;
    let end = padded
        .iter()
        .rposition(|b| *b != 0)
        .filter(|&i| padded[i] == 0x80)
        .ok_or("Malformed(envelope padding)".to_owned())?;
    let c = wire::SealedContent::decode(&padded[..end])
        .map_err(|_| "Malformed(sealed content)".to_owned())?;
    if c.version != 1 {
        return Err(format!(
            "UnsupportedVersion{{what: sealed content, version: {}}}",
            c.version
        ));
    }
    if !(1..=3).contains(&c.kind) {
        return Err("Malformed(sealed content kind)".into());
    }
    Ok((c.kind, c.payload, c.reply_to))
}

/// Every sealing case from spec/envelope.md: the payload re-drawn from the RNG, the
/// ephemeral key, both DHs, both HKDF outputs, the hand-encoded content and its padding, both
/// AEAD layers and the envelope (or its SHA-256), and the bucket edges the brief names.
#[test]
fn envelope_vectors_follow_the_spec() {
    let v = load("envelope.json");
    let mut rng = Stream::new(&unhex(&v["seed"]));
    for who in ["alice", "bob", "carol"] {
        let sig = rng.take(32);
        let dh = rng.take(32);
        assert_eq!(unhex(&v[who]["identity_signing_private"]), sig, "{who}");
        assert_eq!(unhex(&v[who]["identity_dh_private"]), dh, "{who}");
        assert_eq!(unhex(&v[who]["identity_dh_public"]), x25519_public(&dh));
    }
    let mut needed_seen = Vec::new();
    let mut first_envelope = None;
    for case in v["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let a = &case["sender"];
        let b = &case["recipient"];
        let payload = rng.take(case["payload_len"].as_u64().unwrap() as usize);
        same_bytes(case, "payload", &payload);
        let reply_to = unhex(&case["reply_to"]);
        let kind = case["kind_value"].as_u64().unwrap();
        let content = sealed_content(1, kind, &payload, &reply_to);
        let needed = content.len() + 194;
        assert_eq!(case["needed"].as_u64().unwrap() as usize, needed, "{name}");
        needed_seen.push(needed);
        let Some(total) = bucket(content.len()) else {
            assert_eq!(case["result"], "error");
            assert_eq!(case["error"], "Malformed(payload too large to seal)");
            assert!(needed > 1 << 20);
            continue;
        };
        assert_eq!(case["result"], "ok", "{name}");
        assert_eq!(case["envelope_len"].as_u64().unwrap() as usize, total);
        same_bytes(case, "sealed_content", &content);
        let mut padded = content.clone();
        padded.push(0x80);
        padded.resize(total - 193, 0);
        assert_eq!(
            case["padding_len"].as_u64().unwrap() as usize,
            total - needed
        );
        same_bytes(case, "padded_content", &padded);

        let e = rng.take(32);
        assert_eq!(unhex(&case["ephemeral_private_key"]), e, "{name}");
        let e_pub = x25519_public(&e);
        assert_eq!(unhex(&case["ephemeral_public_key"]), e_pub);
        let b_dh_pub = unhex(&b["identity_dh_public"]);
        let dh1 = x25519(&e, &b_dh_pub);
        assert_eq!(dh1, x25519(&unhex(&b["identity_dh_private"]), &e_pub));
        assert_eq!(unhex(&case["dh_identity"]), dh1);
        let salt1 = [&e_pub[..], &b_dh_pub[..]].concat();
        assert_eq!(unhex(&case["salt1"]), salt1);
        let kn1 = hkdf44(&salt1, &dh1, b"Hush-v1-Sealed-Identity");
        assert_eq!(unhex(&case["k1"]), kn1[..32]);
        assert_eq!(unhex(&case["n1"]), kn1[32..]);
        let identity = unhex(&case["sender_identity"]);
        assert_eq!(identity[..64], unhex(&a["encoded_identity"])[..]);
        assert!(binding_ok(&identity), "{name}: binding signature");
        let mut env = vec![1u8];
        env.extend_from_slice(&e_pub);
        let c1 = seal_layer(&kn1, &identity, &env);
        assert_eq!(c1.len(), 144);
        assert_eq!(unhex(&case["c1"]), c1);
        env.extend_from_slice(&c1);
        let dh2 = x25519(&unhex(&a["identity_dh_private"]), &b_dh_pub);
        assert_eq!(unhex(&case["dh_content"]), dh2);
        let kn2 = hkdf44(&env, &dh2, b"Hush-v1-Sealed-Content");
        assert_eq!(unhex(&case["k2"]), kn2[..32]);
        assert_eq!(unhex(&case["n2"]), kn2[32..]);
        let c2 = seal_layer(&kn2, &padded, &env);
        same_bytes(case, "c2", &c2);
        env.extend_from_slice(&c2);
        assert_eq!(env.len(), total);
        same_bytes(case, "envelope", &env);
        // Opening per the spec gives the content back.
        let (k, p, r) = spec_open(&unhex(&b["identity_dh_private"]), &env).unwrap();
        assert_eq!((k as u64, p, r), (kind, payload, reply_to), "{name}");
        if first_envelope.is_none() {
            first_envelope = Some(env);
        }
    }
    for edge in [511, 512, 513, 65535, 65536, 65537, 1 << 20, (1 << 20) + 1] {
        assert!(needed_seen.contains(&edge), "no case with needed = {edge}");
    }

    // Refusals: each envelope is what it says it is, and the spec gives the recorded error.
    let first = first_envelope.unwrap();
    let _well_formed_e = rng.take(32);
    let mut n = 0;
    for r in v["refusals"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        let env = unhex(&r["envelope"]);
        if let Some(len) = r.get("truncated_to") {
            assert_eq!(env, first[..len.as_u64().unwrap() as usize], "{name}");
        } else if let Some(at) = r.get("flipped_offset") {
            let mut m = first.clone();
            m[at.as_u64().unwrap() as usize] ^= 1;
            assert_eq!(env, m, "{name}");
        } else if let Some(vb) = r.get("version_byte") {
            let mut m = first.clone();
            m[0] = vb.as_u64().unwrap() as u8;
            assert_eq!(env, m, "{name}");
        } else if r.get("construction").is_some() {
            let e = rng.take(32);
            assert_eq!(unhex(&r["ephemeral_private_key"]), e, "{name}");
            let e_pub = x25519_public(&e);
            let b_dh_pub = unhex(&v["bob"]["identity_dh_public"]);
            let salt1 = [&e_pub[..], &b_dh_pub[..]].concat();
            let kn1 = hkdf44(&salt1, &x25519(&e, &b_dh_pub), b"Hush-v1-Sealed-Identity");
            let mut m = vec![1u8];
            m.extend_from_slice(&e_pub);
            m.extend(seal_layer(&kn1, &unhex(&r["sender_identity"]), &m.clone()));
            let dh2 = x25519(&unhex(&v["alice"]["identity_dh_private"]), &b_dh_pub);
            let kn2 = hkdf44(&m, &dh2, b"Hush-v1-Sealed-Content");
            assert_eq!(unhex(&r["k2"]), kn2[..32]);
            m.extend(seal_layer(&kn2, &unhex(&r["padded_content"]), &m.clone()));
            assert_eq!(env, m, "{name}");
        } else if name.starts_with("E.public = 0") {
            let mut m = first.clone();
            m[1..33].fill(0);
            assert_eq!(env, m);
        } else {
            assert_eq!(env, first, "{name}");
        }
        let who = &v[r["opened_by"].as_str().unwrap()];
        let expected = spec_open(&unhex(&who["identity_dh_private"]), &env).unwrap_err();
        assert_eq!(r["error"].as_str().unwrap(), expected, "{name}");
        n += 1;
    }
    assert!(n >= 25);
    for needed in [
        "DecryptionFailed",
        "Malformed(envelope length)",
        "Malformed(envelope padding)",
        "UnsupportedVersion{what: envelope, version: 2}",
        "UnsupportedVersion{what: sealed content, version: 2}",
        "BadSignature(identity DH key)",
        "Malformed(sealed content kind)",
        "Malformed(sealed content)",
    ] {
        assert!(
            v["refusals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["error"] == needed),
            "no refusal with {needed}"
        );
    }
}

/// A field listing of state.json encoded by hand as proto3: fields in number order, zero /
/// false / empty values not written, `optional` and message fields written when present.
fn encode_listing(fields: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    let mut last = 0;
    for f in fields.as_array().unwrap() {
        let number = u32::try_from(f["field"].as_u64().unwrap()).unwrap();
        assert!(number > last, "fields in number order");
        last = number;
        let value = &f["value"];
        match f["type"].as_str().unwrap() {
            "uint32" => {
                let v = value.as_u64().unwrap();
                assert!(v <= u64::from(u32::MAX));
                if v != 0 {
                    int_field(number, v, &mut out);
                }
            }
            "bool" => {
                if value.as_bool().unwrap() {
                    int_field(number, 1, &mut out);
                }
            }
            "bytes" => {
                let b = unhex(value);
                if !b.is_empty() {
                    len_field(number, &b, &mut out);
                }
            }
            "optional uint32" => {
                if let Some(v) = value.as_u64() {
                    int_field(number, v, &mut out);
                }
            }
            "message" => {
                if !value.is_null() {
                    len_field(number, &encode_listing(value), &mut out);
                }
            }
            "repeated message" => {
                for m in value.as_array().unwrap() {
                    len_field(number, &encode_listing(m), &mut out);
                }
            }
            "repeated bytes" => {
                for b in value.as_array().unwrap() {
                    len_field(number, &unhex(b), &mut out);
                }
            }
            other => panic!("unknown type {other}"),
        }
    }
    out
}

fn get<'a>(fields: &'a Value, name: &str) -> &'a Value {
    &fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no field {name}"))["value"]
}

fn key_len_ok(v: &Value, may_be_empty: bool) -> bool {
    let b = unhex(v);
    b.len() == 32 || (may_be_empty && b.is_empty())
}

/// Every field listing in state.json encodes, by hand, to exactly the recorded bytes, and the
/// values follow spec/x3dh.md §7 and spec/double-ratchet.md §9.
#[test]
fn state_vectors_follow_the_spec() {
    let v = load("state.json");
    let alice = &v["alice"];
    let bob = &v["bob"];

    let id = &v["identity"];
    assert_eq!(
        hex::encode(encode_listing(&id["fields"])),
        hex::encode(unhex(&id["encoding"]))
    );
    assert_eq!(get(&id["fields"], "version"), 1);
    assert_eq!(
        get(&id["fields"], "signing_secret"),
        &alice["identity_signing_private"]
    );
    assert_eq!(
        get(&id["fields"], "dh_secret"),
        &alice["identity_dh_private"]
    );

    let stores = v["prekey_stores"].as_array().unwrap();
    for s in stores {
        let f = &s["fields"];
        assert_eq!(
            hex::encode(encode_listing(f)),
            hex::encode(unhex(&s["encoding"])),
            "{}",
            s["name"]
        );
        assert_eq!(get(f, "version"), 1);
        let bob_sig = unhex(&bob["identity_signing_public"]);
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&bob_sig.try_into().unwrap()).unwrap();
        for spk in get(f, "signed_prekeys").as_array().unwrap() {
            let id = u32::try_from(get(spk, "id").as_u64().unwrap()).unwrap();
            let public = x25519_public(&unhex(get(spk, "secret")));
            // spec/x3dh.md §3.1 and spec/pqxdh.md §6: the signed statement.
            let context: &[u8] = if get(spk, "offers_pqxdh").as_bool().unwrap() {
                b"Hush-v1-SignedPreKey-PQXDH"
            } else {
                b"Hush-v1-SignedPreKey"
            };
            let msg = [context, &id.to_be_bytes()[..], &public[..]].concat();
            let sig: [u8; 64] = unhex(get(spk, "signature")).try_into().unwrap();
            assert!(
                vk.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
                    .is_ok(),
                "signed prekey {id} signature"
            );
            for k in get(spk, "seen_base_keys").as_array().unwrap() {
                assert!(key_len_ok(k, false));
            }
        }
        for o in get(f, "one_time_prekeys").as_array().unwrap() {
            assert!(key_len_ok(get(o, "secret"), false));
        }
        for k in get(f, "kem_prekeys").as_array().unwrap() {
            assert_eq!(unhex(get(k, "seed")).len(), 64);
            assert_eq!(unhex(get(k, "signature")).len(), 64);
        }
    }
    // The store after the handshakes used both one-time prekeys and saw four base keys.
    let before = &stores[0]["fields"];
    let after = &stores[1]["fields"];
    assert_eq!(get(before, "one_time_prekeys").as_array().unwrap().len(), 2);
    assert_eq!(get(after, "one_time_prekeys").as_array().unwrap().len(), 0);
    let seen: usize = get(after, "signed_prekeys")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| get(s, "seen_base_keys").as_array().unwrap().len())
        .sum();
    assert_eq!(seen, 4);
    assert_eq!(get(after, "kem_prekeys").as_array().unwrap().len(), 2);

    let sessions = v["sessions"].as_array().unwrap();
    let mut skipped_total = 0;
    let mut with_he = 0;
    let mut pending = 0;
    for s in sessions {
        let name = s["name"].as_str().unwrap();
        let f = &s["fields"];
        assert_eq!(
            hex::encode(encode_listing(f)),
            hex::encode(unhex(&s["encoding"])),
            "{name}"
        );
        let numbers: Vec<u64> = f
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["field"].as_u64().unwrap())
            .collect();
        assert_eq!(numbers, (1..=23).collect::<Vec<_>>(), "{name}");
        assert_eq!(get(f, "version"), 1);
        let initiator = get(f, "initiator").as_bool().unwrap();
        let (local, remote) = if initiator {
            (alice, bob)
        } else {
            (bob, alice)
        };
        assert_eq!(
            get(&get(f, "local_identity").clone(), "signing_key"),
            &local["identity_signing_public"]
        );
        assert_eq!(
            get(&get(f, "remote_identity").clone(), "dh_key"),
            &remote["identity_dh_public"]
        );
        for k in ["base_key", "root_key", "dh_self_secret"] {
            assert!(key_len_ok(get(f, k), false), "{name}: {k}");
        }
        for k in ["dh_remote", "sending_chain_key", "receiving_chain_key"] {
            assert!(key_len_ok(get(f, k), true), "{name}: {k}");
        }
        let he = get(f, "header_encryption").as_bool().unwrap();
        for k in [
            "header_key_send",
            "header_key_recv",
            "next_header_key_send",
            "next_header_key_recv",
        ] {
            if he {
                assert!(key_len_ok(get(f, k), !k.starts_with("next")), "{name}: {k}");
            } else {
                assert_eq!(get(f, k), "", "{name}: {k}");
            }
        }
        with_he += usize::from(he);
        let p = get(f, "pending_prekey");
        if !p.is_null() {
            assert!(initiator, "{name}: pending prekey on a responder");
            assert_eq!(get(p, "base_key"), get(f, "base_key"));
            let kem = !get(p, "kem_prekey_id").is_null();
            assert_eq!(kem, get(p, "kem_ciphertext") != "", "{name}");
            assert_eq!(kem, get(f, "pqxdh_binding") != "", "{name}");
            if kem {
                assert_eq!(unhex(get(p, "kem_ciphertext")).len(), 1088);
            }
            pending += 1;
        }
        if initiator {
            assert!(key_len_ok(get(f, "sending_chain_key"), false));
        }
        let skipped = get(f, "skipped").as_array().unwrap();
        for k in skipped {
            // Plain headers: a skipped key's chain is the sender's ratchet key.
            if !he {
                assert_eq!(get(k, "chain_id"), get(f, "dh_remote"), "{name}");
            }
            assert!(key_len_ok(get(k, "message_key"), false));
        }
        skipped_total += skipped.len();
        assert!(!s["next_messages"].as_array().unwrap().is_empty());
    }
    assert_eq!(skipped_total, 2);
    assert_eq!(with_he, 1);
    assert_eq!(pending, 2);
}
