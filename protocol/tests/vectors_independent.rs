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

fn find<'a>(t: &'a [(String, Vec<u8>)], label: &str) -> &'a [u8] {
    &t.iter()
        .find(|(l, _)| l == label)
        .unwrap_or_else(|| panic!("no {label} in trace"))
        .1
}

fn x25519(private: &[u8], public: &[u8]) -> Vec<u8> {
    let s = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(private).unwrap());
    let p = x25519_dalek::PublicKey::from(<[u8; 32]>::try_from(public).unwrap());
    s.diffie_hellman(&p).to_bytes().to_vec()
}

fn ed25519_verify(public: &[u8], message: &[u8], signature: &[u8]) {
    let vk = ed25519_dalek::VerifyingKey::from_bytes(&public.try_into().unwrap()).unwrap();
    let sig = ed25519_dalek::Signature::from_bytes(&signature.try_into().unwrap());
    vk.verify_strict(message, &sig).unwrap();
}

/// The PQXDH vectors from spec/pqxdh.md alone, with bare X25519, Ed25519, ML-KEM-768 (FIPS 203),
/// SHA-256 and HKDF: prekey signatures, the KEM key pair from its seed, the encapsulation from
/// its recorded randomness, the four DHs from the private keys, SK, KB, AD, and the initial
/// message's fields and first AEAD.
#[test]
fn pqxdh_vectors_follow_the_spec() {
    use ml_kem::kem::Decapsulate;
    use ml_kem::{KeyExport, MlKem768};
    use sha2::Digest;
    let v = load("pqxdh.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let bob_signing = unhex(&case["bob"]["identity_signing_public"]);
        let pk = &case["bob_prekeys"];
        // The signed prekey, signed under the PQXDH-offer context.
        let spk_pub = unhex(&pk["signed_prekey"]["public"]);
        let spk_msg =
            wire::SignedPreKeyPublic::decode(&unhex(&pk["signed_prekey"]["message"])[..]).unwrap();
        assert!(spk_msg.offers_pqxdh);
        let mut m = b"Hush-v1-SignedPreKey-PQXDH".to_vec();
        m.extend_from_slice(&spk_msg.id.to_be_bytes());
        m.extend_from_slice(&spk_pub);
        ed25519_verify(&bob_signing, &m, &spk_msg.signature);
        // The KEM prekey: key pair from the 64-byte seed, signature over context ‖ kind ‖ id ‖ PQPK.
        let kem = &pk["kem_prekey"];
        let seed = unhex(&kem["seed"]);
        let dk = ml_kem::DecapsulationKey::<MlKem768>::from_seed(
            ml_kem::array::Array::try_from(&seed[..]).unwrap(),
        );
        let pqpk = unhex(&kem["public"]);
        assert_eq!(dk.encapsulation_key().to_bytes().to_vec(), pqpk, "{name}");
        assert_eq!(pqpk.len(), 1184);
        let kem_msg = wire::KemPreKeyPublic::decode(&unhex(&kem["message"])[..]).unwrap();
        let kind = u8::from(kem_msg.last_resort);
        assert_eq!(u64::from(kind), kem["kind_byte"].as_u64().unwrap());
        let mut m = b"Hush-v1-KemPreKey-MLKEM768".to_vec();
        m.push(kind);
        m.extend_from_slice(&kem_msg.id.to_be_bytes());
        m.extend_from_slice(&kem_msg.public_key);
        ed25519_verify(&bob_signing, &m, &kem_msg.signature);
        // The bundle carries exactly these parts.
        let bundle = wire::PreKeyBundle::decode(&unhex(&pk["bundle"])[..]).unwrap();
        assert_eq!(bundle.kem_prekey.unwrap(), kem_msg);
        // Encapsulation from the recorded randomness m; decapsulation gives the same SS.
        let t = entries(&case["initiator_trace"]);
        let rand_m = find(&t, "kem_encapsulation_randomness");
        let ek = ml_kem::EncapsulationKey::<MlKem768>::new(
            &ml_kem::array::Array::try_from(&pqpk[..]).unwrap(),
        )
        .unwrap();
        let (ct, ss) =
            ek.encapsulate_deterministic(&ml_kem::array::Array::try_from(rand_m).unwrap());
        assert_eq!(&ct[..], find(&t, "kem_ciphertext"), "{name}");
        assert_eq!(&ss[..], find(&t, "kem_shared_secret"), "{name}");
        assert_eq!(dk.decapsulate(&ct)[..], ss[..]);
        // The initial message names the KEM prekey and carries CT.
        let msg = wire::HushMessage::decode(&unhex(&case["initial_message"])[..]).unwrap();
        let Some(wire::hush_message::Body::Prekey(p)) = msg.body else {
            panic!("initial message is not a PreKeyMessage")
        };
        assert_eq!(p.kem_prekey_id, Some(kem_msg.id));
        assert_eq!(p.kem_ciphertext, ct.to_vec());
        // DH1..DH4 from the private keys.
        let a_ik = unhex(&case["alice"]["identity_dh_private"]);
        let b_ik_pub = unhex(&case["bob"]["identity_dh_public"]);
        let ek_a = find(&t, "ephemeral_private_key").to_vec();
        let mut dhs = vec![
            x25519(&a_ik, &spk_pub),
            x25519(&ek_a, &b_ik_pub),
            x25519(&ek_a, &spk_pub),
        ];
        if !pk["one_time_prekey"].is_null() {
            dhs.push(x25519(&ek_a, &unhex(&pk["one_time_prekey"]["public"])));
        }
        // KB and AD.
        let mut h = Sha256::new();
        h.update(b"Hush-v1-PQXDH-KEM-Binding");
        h.update([kind]);
        h.update(kem_msg.id.to_be_bytes());
        h.update(&pqpk);
        h.update(ct.as_slice());
        let kb = h.finalize().to_vec();
        let mut ad = unhex(&case["alice"]["encoded_identity"]);
        ad.extend(unhex(&case["bob"]["encoded_identity"]));
        ad.extend_from_slice(&kb);
        // SK = HKDF(0^32, 0xFF^32 ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS, info).
        let mut ikm = vec![0xFF; 32];
        for d in &dhs {
            ikm.extend_from_slice(d);
        }
        ikm.extend_from_slice(&ss);
        let sk = hkdf(
            &[0u8; 32],
            &ikm,
            b"Hush-v1-PQXDH-X25519-SHA256-MLKEM768",
            32,
        );
        for side in ["initiator_trace", "responder_trace"] {
            let t = entries(&case[side]);
            let recorded: Vec<&[u8]> = t
                .iter()
                .filter(|(l, _)| l.starts_with("dh") && l.len() == 3)
                .map(|(_, b)| &b[..])
                .collect();
            assert_eq!(
                recorded,
                dhs.iter().map(|d| &d[..]).collect::<Vec<_>>(),
                "{name} {side}"
            );
            assert_eq!(find(&t, "kem_binding"), &kb[..], "{name} {side}");
            assert_eq!(find(&t, "pqxdh_associated_data"), &ad[..], "{name} {side}");
            assert_eq!(find(&t, "shared_key"), &sk[..], "{name} {side}");
        }
        // The first message's AEAD authenticates AD ‖ header, and decrypts.
        let enc = &case["initial_message_encrypt_trace"];
        let aead_ad = find(&entries(enc), "aead_associated_data").to_vec();
        assert_eq!(aead_ad[..160], ad[..]);
        let step = serde_json::json!({
            "op": name,
            "trace": enc,
            "message": case["initial_message"],
            "plaintext": case["initial_message_plaintext"],
        });
        assert!(check_trace(&step) >= 2);
        // Every refusal is named, and the stripped bundle is a downgrade.
        let refusals = case["responder_refusals"].as_array().unwrap();
        assert_eq!(refusals.len(), 4);
        assert!(
            refusals
                .iter()
                .all(|r| r["result"].as_str().unwrap().starts_with("error: "))
        );
        assert!(
            case["stripped_bundle"]["result"]
                .as_str()
                .unwrap()
                .contains("PQXDH downgrade")
        );
    }
}

/// `VectorRng` from test-vectors/README.md: SHA-256("Hush-v1-VectorRNG" ‖ seed ‖ counter).
struct Stream {
    seed: Vec<u8>,
    counter: u64,
    pending: Vec<u8>,
}

impl Stream {
    fn take(&mut self, n: usize) -> Vec<u8> {
        use sha2::Digest;
        while self.pending.len() < n {
            let mut h = Sha256::new();
            h.update(b"Hush-v1-VectorRNG");
            h.update(&self.seed);
            h.update(self.counter.to_be_bytes());
            self.pending.extend_from_slice(&h.finalize());
            self.counter += 1;
        }
        self.pending.drain(..n).collect()
    }
}

/// Padmé as in spec/attachments.md §4, written as a loop over the bits it clears.
fn padme(len: u64) -> u64 {
    if len <= 65_536 {
        return 65_536;
    }
    let e = 63 - len.leading_zeros() as u64;
    let s = 64 - e.leading_zeros() as u64;
    let mut clear = 0u64;
    for bit in 0..(e - s) {
        clear |= 1 << bit;
    }
    if len & clear == 0 {
        len
    } else {
        (len | clear) + 1
    }
}

/// The attachment vectors from spec/attachments.md alone: plaintexts re-drawn from the RNG,
/// every chunk sealed with bare ChaCha20-Poly1305 under nonce = index (11 bytes BE) ‖ last,
/// the Padmé length, the SHA-256 of chunks ‖ zeros, and the reference's protobuf fields.
#[test]
fn attachment_vectors_follow_the_spec() {
    use sha2::Digest;
    let v = load("attachments.json");
    let mut rng = Stream {
        seed: unhex(&v["seed"]),
        counter: 0,
        pending: Vec::new(),
    };
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    for c in cases {
        let size = usize::try_from(c["size"].as_u64().unwrap()).unwrap();
        let key = rng.take(32);
        let blob_id = rng.take(32);
        let plaintext = rng.take(size);
        assert_eq!(key, unhex(&c["key"]), "{size}");
        assert_eq!(blob_id, unhex(&c["blob_id"]), "{size}");
        assert_eq!(
            Sha256::digest(&plaintext).to_vec(),
            unhex(&c["plaintext_sha256"])
        );
        if let Some(p) = c.get("plaintext") {
            assert_eq!(plaintext, unhex(p));
        }
        let cipher = ChaCha20Poly1305::new_from_slice(&key).unwrap();
        let n_chunks = size.div_ceil(65_536).max(1);
        let chunks = c["chunks"].as_array().unwrap();
        assert_eq!(chunks.len(), n_chunks, "{size}");
        let mut blob = Vec::new();
        for (i, ch) in chunks.iter().enumerate() {
            let last = i + 1 == n_chunks;
            let mut nonce = [0u8; 12];
            nonce[3..11].copy_from_slice(&(i as u64).to_be_bytes());
            nonce[11] = u8::from(last);
            assert_eq!(nonce.to_vec(), unhex(&ch["nonce"]));
            let piece = &plaintext[(i * 65_536).min(size)..((i + 1) * 65_536).min(size)];
            let ct = cipher.encrypt(&Nonce::from(nonce), piece).unwrap();
            assert_eq!(
                ct[ct.len() - 16..].to_vec(),
                unhex(&ch["tag"]),
                "{size} {i}"
            );
            match ch.get("ciphertext") {
                Some(full) => assert_eq!(ct, unhex(full)),
                None => assert_eq!(
                    Sha256::digest(&ct).to_vec(),
                    unhex(&ch["ciphertext_sha256"])
                ),
            }
            // The same chunk under the other flag is a different ciphertext.
            nonce[11] ^= 1;
            assert!(cipher.decrypt(&Nonce::from(nonce), ct.as_slice()).is_err());
            blob.extend_from_slice(&ct);
        }
        assert_eq!(blob.len() as u64, c["ciphertext_len"].as_u64().unwrap());
        let padded = padme(blob.len() as u64);
        assert_eq!(padded, c["padded_len"].as_u64().unwrap(), "{size}");
        blob.resize(usize::try_from(padded).unwrap(), 0);
        let digest = Sha256::digest(&blob).to_vec();
        assert_eq!(digest, unhex(&c["digest"]), "{size}");
        let r = wire::AttachmentReference::decode(unhex(&c["reference"]).as_slice()).unwrap();
        assert_eq!(r.version, 1);
        assert_eq!(r.blob_id, blob_id);
        assert_eq!(r.key, key);
        assert_eq!(r.digest, digest);
        assert_eq!(r.size, size as u64);
        assert_eq!(r.name, c["name"].as_str().unwrap());
        assert_eq!(r.media_type, c["media_type"].as_str().unwrap());
    }
    for pair in v["padded_lengths"].as_array().unwrap() {
        let (l, p) = (pair[0].as_u64().unwrap(), pair[1].as_u64().unwrap());
        assert_eq!(padme(l), p, "{l}");
    }
}
