//! Checks the published vectors against the spec with the bare primitives (HMAC-SHA256,
//! HKDF-SHA256, ChaCha20-Poly1305, X25519, Ed25519, ML-KEM-768, SHA-256, hand-encoded
//! protobuf), independently of the library's own code.

mod vectors_common;

use std::path::PathBuf;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use hush_protocol::proto::wire;
use prost::Message;
use serde_json::Value;
use sha2::Sha256;
use vectors_common::{Stream, load, unhex, x25519};

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
        assert!(steps.iter().any(|s| s["result"] == "error"));
        for step in steps {
            checked += check_trace(step);
        }
        checked += check_skipped_keys(conv);
    }
    assert!(checked > 100, "only {checked} values checked");
}

/// A receiving side as `spec/double-ratchet.md` §6 describes it, reduced to what decides a
/// message's fate: the current receiving chain (named by the sender's ratchet key), its `Nr`,
/// the chains seen before, and `MKSKIPPED` as a list of (chain, n), oldest first.
#[derive(Default)]
struct SkipModel {
    current: Option<Vec<u8>>,
    nr: u64,
    old_chains: Vec<Vec<u8>>,
    skipped: Vec<(Vec<u8>, u64)>,
}

impl SkipModel {
    /// What receiving the genuine message with plain header `(dh, pn, n)` gives, per §6.
    fn receive(
        &mut self,
        (dh, pn, n): (Vec<u8>, u64, u64),
        header_encryption: bool,
        max_skip: u64,
        max_total: usize,
    ) -> Result<(), String> {
        let too_far = |skip| Err(format!("TooFarAhead{{skip: {skip}, max_skip: {max_skip}}}"));
        let in_current = self.current.as_ref() == Some(&dh);
        if in_current && n >= self.nr {
            if n - self.nr > max_skip {
                return too_far(n - self.nr);
            }
            let staged: Vec<_> = (self.nr..n).map(|i| (dh.clone(), i)).collect();
            self.commit(staged, max_total);
            self.nr = n + 1;
            return Ok(());
        }
        if let Some(i) = self.skipped.iter().position(|e| *e == (dh.clone(), n)) {
            self.skipped.remove(i);
            return Ok(());
        }
        let chain_has_keys = self.skipped.iter().any(|(c, _)| *c == dh);
        if in_current || (header_encryption && chain_has_keys) {
            return Err("DuplicateMessage".into());
        }
        if self.old_chains.contains(&dh) {
            // With header encryption no key opens the header any more; with plain headers the
            // message starts a DH step whose keys do not open it.
            return Err(if header_encryption {
                "HeaderDecryptionFailed".into()
            } else {
                "DecryptionFailed".into()
            });
        }
        let mut staged = Vec::new();
        if let Some(cur) = &self.current
            && pn > self.nr
        {
            if pn - self.nr > max_skip {
                return too_far(pn - self.nr);
            }
            staged.extend((self.nr..pn).map(|i| (cur.clone(), i)));
        }
        if n > max_skip {
            return too_far(n);
        }
        staged.extend((0..n).map(|i| (dh.clone(), i)));
        self.commit(staged, max_total);
        if let Some(cur) = self.current.replace(dh) {
            self.old_chains.push(cur);
        }
        self.nr = n + 1;
        Ok(())
    }

    fn commit(&mut self, staged: Vec<(Vec<u8>, u64)>, max_total: usize) {
        self.skipped.extend(staged);
        while self.skipped.len() > max_total {
            self.skipped.remove(0);
        }
    }
}

fn parse_header(h: &[u8]) -> (Vec<u8>, u64, u64) {
    assert_eq!(h.len(), 40);
    let be = |b: &[u8]| u64::from(u32::from_be_bytes(b.try_into().unwrap()));
    (h[..32].to_vec(), be(&h[32..36]), be(&h[36..40]))
}

/// Replays a conversation's deliveries through [`SkipModel`]: every genuine delivery's result
/// (success or the exact error) and the number of skipped keys held afterwards must match;
/// every forged delivery is refused with the state unchanged.
fn check_skipped_keys(conv: &Value) -> usize {
    let he = conv["header_encryption"].as_bool().unwrap();
    let max_skip = conv["max_skip"].as_u64().unwrap();
    let max_total = usize::try_from(conv["max_skipped_total"].as_u64().unwrap()).unwrap();
    let mut headers = std::collections::HashMap::new();
    let (mut alice, mut bob) = (SkipModel::default(), SkipModel::default());
    let mut checked = 0;
    for step in conv["steps"].as_array().unwrap() {
        let op = step["op"].as_str().unwrap();
        let words: Vec<&str> = op.split(' ').collect();
        if words[1] == "sends" {
            headers.insert(
                words[2].to_owned(),
                find(&entries(&step["trace"]), "header").to_vec(),
            );
            continue;
        }
        if words[1] != "receives" {
            continue;
        }
        if op.contains("another session") {
            assert_eq!(step["error"], "SessionMismatch", "{op}");
            continue;
        }
        if op.contains("(tampered") || op.contains("(forged") {
            assert_eq!(step["result"], "error", "{op}");
            assert_eq!(step["state_unchanged"], true, "{op}");
            continue;
        }
        let model = if words[0] == "alice" {
            &mut alice
        } else {
            &mut bob
        };
        let expected = model.receive(parse_header(&headers[words[2]]), he, max_skip, max_total);
        match expected {
            Ok(()) => assert_eq!(step["result"], "ok", "{op}"),
            Err(e) => {
                assert_eq!(step["error"], e.as_str(), "{op}");
                assert_eq!(step["state_unchanged"], true, "{op}");
            }
        }
        assert_eq!(
            step["skipped_keys_held"].as_u64().unwrap(),
            model.skipped.len() as u64,
            "{op}"
        );
        checked += 1;
    }
    checked
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
        assert!(refusals.iter().all(|r| r["result"] == "error"));
        assert_eq!(case["stripped_bundle"]["error"], "PqxdhDowngrade");
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
    let mut rng = Stream::new(&unhex(&v["seed"]));
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

/// One half of a safety number from `spec/x3dh.md` §2.2 with bare SHA-512.
fn safety_half(encoded_identity: &[u8]) -> String {
    use sha2::{Digest, Sha512};
    let mut h = Sha512::new();
    h.update([0x00, 0x01]);
    h.update(b"Hush-v1-SafetyNumber");
    h.update(encoded_identity);
    let mut digest = h.finalize();
    for _ in 1..5200 {
        digest = Sha512::new()
            .chain_update(digest)
            .chain_update(encoded_identity)
            .finalize();
    }
    digest[..30]
        .chunks(5)
        .map(|c| {
            format!(
                "{:05}",
                c.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b)) % 100_000
            )
        })
        .collect()
}

fn grouped(s: &str, n: usize) -> String {
    s.as_bytes()
        .chunks(n)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fingerprints and safety numbers in their display forms (`spec/x3dh.md` §2.1, §2.2): the
/// halves are sorted, not "initiator first" — at least one case has Bob's half first.
#[test]
fn fingerprints_and_safety_numbers_follow_the_spec() {
    use sha2::Digest;
    let v = load("x3dh.json");
    let mut bob_first = 0;
    for case in v["cases"].as_array().unwrap() {
        let mut halves = Vec::new();
        for party in ["alice", "bob"] {
            let p = &case[party];
            let encoded = unhex(&p["encoded_identity"]);
            let fp = sha2::Sha256::new()
                .chain_update(b"Hush-v1-Fingerprint")
                .chain_update(&encoded)
                .finalize();
            assert_eq!(p["fingerprint"], hex::encode(fp));
            assert_eq!(p["fingerprint_display"], grouped(&hex::encode(fp), 4));
            let half = safety_half(&encoded);
            assert_eq!(p["safety_number_half"], half.as_str());
            halves.push(half);
        }
        if halves[1] < halves[0] {
            bob_first += 1;
        }
        let mut sorted = halves.clone();
        sorted.sort();
        let digits = sorted.concat();
        assert_eq!(case["safety_number"], digits.as_str());
        assert_eq!(case["safety_number_display"], grouped(&digits, 5));
    }
    assert!(bob_first > 0, "no case puts the responder's half first");
}

/// Every refusal in the vectors names an error the spec defines, by its identifier, and the
/// defects the X3DH refusals claim are really there.
#[test]
fn refusals_name_spec_errors_and_real_defects() {
    let spec: String = ["x3dh.md", "double-ratchet.md", "pqxdh.md"]
        .iter()
        .map(|f| {
            std::fs::read_to_string(
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../spec")
                    .join(f),
            )
            .unwrap()
        })
        .collect();
    let mut errors: Vec<Value> = Vec::new();
    for case in load("x3dh.json")["cases"].as_array().unwrap() {
        for list in [
            "responder_refusals_before",
            "responder_refusals_after",
            "bundle_refusals",
        ] {
            if let Some(l) = case[list].as_array() {
                errors.extend(l.iter().cloned());
            }
        }
    }
    for case in load("pqxdh.json")["cases"].as_array().unwrap() {
        errors.extend(
            case["responder_refusals"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        errors.push(case["stripped_bundle"].clone());
        let bundle_refusals = case["bundle_refusals"].as_array().unwrap();
        assert_eq!(bundle_refusals.len(), 6);
        errors.extend(bundle_refusals.iter().cloned());
        // The validly signed bad KEM keys: the signature holds, the key does not.
        for r in bundle_refusals
            .iter()
            .filter(|r| r["name"].as_str().unwrap().ends_with("validly signed"))
        {
            let k = wire::PreKeyBundle::decode(&unhex(&r["bundle"])[..])
                .unwrap()
                .kem_prekey
                .unwrap();
            let mut message = b"Hush-v1-KemPreKey-MLKEM768".to_vec();
            message.push(u8::from(k.last_resort));
            message.extend(k.id.to_be_bytes());
            message.extend(&k.public_key);
            ed25519_verify(
                &unhex(&case["bob"]["identity_signing_public"]),
                &message,
                &k.signature,
            );
            let first = u16::from(k.public_key[0]) | (u16::from(k.public_key[1] & 0x0f) << 8);
            assert!(k.public_key.len() != 1184 || first >= 3329);
            assert_eq!(r["error"], "InvalidKey(KEM prekey)");
        }
    }
    for conv in load("double-ratchet.json")["conversations"]
        .as_array()
        .unwrap()
    {
        errors.extend(
            conv["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["result"] == "error")
                .cloned(),
        );
    }
    let mut names = std::collections::BTreeSet::new();
    for e in &errors {
        assert_eq!(e["result"], "error");
        let id = e["error"].as_str().unwrap();
        let name = id.split(['(', '{']).next().unwrap();
        assert!(
            spec.contains(&format!("`{name}")),
            "{id} is not a spec error"
        );
        names.insert(name.to_owned());
    }
    for expected in [
        "Malformed",
        "UnsupportedVersion",
        "InvalidKey",
        "BadSignature",
        "WeakKey",
        "UnknownSignedPreKey",
        "UnknownOneTimePreKey",
        "UnknownKemPreKey",
        "PqxdhDowngrade",
        "ReplayedInitialMessage",
        "SessionMismatch",
        "DecryptionFailed",
        "HeaderDecryptionFailed",
        "DuplicateMessage",
        "TooFarAhead",
        "CounterOverflow",
    ] {
        assert!(
            names.contains(expected),
            "no vector refuses with {expected}"
        );
    }
    // The named defects.
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let at_least_l = |s: &[u8]| {
        let (mut a, mut b) = (s.to_vec(), L.to_vec());
        a.reverse();
        b.reverse();
        a >= b
    };
    let mut defects = 0;
    for e in &errors {
        let name = e["name"].as_str().unwrap_or_default();
        let prekey = e["message"].as_str().and_then(|m| {
            match wire::HushMessage::decode(&hex::decode(m).unwrap()[..])
                .ok()?
                .body?
            {
                wire::hush_message::Body::Prekey(p) => Some(p),
                wire::hush_message::Body::Ratchet(_) => None,
            }
        });
        if name.contains("bit 255") {
            assert_ne!(prekey.unwrap().base_key[31] & 0x80, 0);
            assert_eq!(e["error"], "InvalidKey(base)");
            defects += 1;
        } else if name == "base key of low order" {
            let key = prekey.unwrap().base_key;
            assert_eq!(x25519(&[0x42; 32], &key), vec![0; 32]);
            assert_eq!(e["error"], "WeakKey");
            defects += 1;
        } else if name.contains("S + L") {
            let sig = match &prekey {
                Some(p) => p.identity.as_ref().unwrap().dh_key_signature.clone(),
                None => {
                    let b = wire::PreKeyBundle::decode(&unhex(&e["bundle"])[..]).unwrap();
                    b.signed_prekey.unwrap().signature
                }
            };
            assert!(at_least_l(&sig[32..]), "{name}: S < L");
            assert!(e["error"].as_str().unwrap().starts_with("BadSignature"));
            defects += 1;
        }
    }
    assert!(defects >= 5, "only {defects} defects checked");
}

/// Checks `test-vectors/envelope.json` against spec/envelope.md with the bare primitives
/// (X25519, Ed25519, HKDF-SHA256, ChaCha20-Poly1305, SHA-256, hand-encoded protobuf),
/// independently of `protocol/src/envelope.rs`; and checks every field listing of
/// `test-vectors/state.json` against its encoding by encoding the listing by hand.
mod envelope_and_state {
    use super::vectors_common::{Stream, load, unhex, x25519};
    use chacha20poly1305::aead::{Aead, Payload};
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
    use hkdf::Hkdf;
    use hush_protocol::proto::wire;
    use prost::Message;
    use serde_json::Value;
    use sha2::{Digest, Sha256};

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
        let padded =
            open_layer(&kn2, &env[177..], &env[..177]).ok_or("DecryptionFailed".to_owned())?;
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
}

/// The multi-device vectors from spec/multi-device.md §2–3 alone: each list's signature over
/// its content and its fields, the update cases' added and removed ids, and the link: the
/// request's signature, the sealing (X25519, HKDF, ChaCha20-Poly1305) rebuilt byte for byte,
/// and the approval signed by the person over the request hash and the new list.
#[test]
fn devices_vectors_follow_the_spec() {
    use sha2::Digest;
    let v = load("devices.json");
    let person = wire::IdentityPublicKey::decode(unhex(&v["person"]).as_slice()).unwrap();
    let sha = |b: &[u8]| Sha256::digest(b).to_vec();
    let mut contents = Vec::new();
    for l in v["lists"].as_array().unwrap() {
        let content = unhex(&l["content"]);
        let signature = unhex(&l["signature"]);
        ed25519_verify(
            &person.signing_key,
            &[&b"Hush-v1-DeviceList"[..], &content].concat(),
            &signature,
        );
        let encoded = wire::SignedDeviceList {
            content: content.clone(),
            signature,
        }
        .encode_to_vec();
        assert_eq!(encoded, unhex(&l["encoded"]));
        assert_eq!(sha(&encoded), unhex(&l["hash"]));
        let c = wire::DeviceListContent::decode(content.as_slice()).unwrap();
        assert_eq!(
            (c.version, c.person.as_ref(), c.counter),
            (1, Some(&person), l["counter"].as_u64().unwrap())
        );
        assert_eq!(u64::from(c.next_id), l["next_id"].as_u64().unwrap());
        let devices = l["devices"].as_array().unwrap();
        assert_eq!(c.devices.len(), devices.len());
        for (e, d) in c.devices.iter().zip(devices) {
            assert_eq!(u64::from(e.id), d["id"].as_u64().unwrap());
            assert!(e.id >= 1 && e.id < c.next_id);
            assert_eq!(
                e.identity.as_ref().unwrap().encode_to_vec(),
                unhex(&d["identity"])
            );
            assert_eq!(e.mailbox_address, unhex(&d["mailbox_address"]));
            assert_eq!(e.directory_secret, unhex(&d["directory_secret"]));
            assert_eq!(e.relay, d["relay"].as_str().unwrap());
        }
        contents.push(c);
    }
    // Counters grow by one per list; device 1 is the person's own identity.
    for (i, c) in contents.iter().enumerate() {
        assert_eq!(c.counter, i as u64 + 1);
        assert_eq!(c.devices[0].identity.as_ref(), Some(&person));
    }
    // Accepted updates: added and removed are the id differences (§2.2).
    let ids = |bytes: &[u8]| -> Vec<u32> {
        let s = wire::SignedDeviceList::decode(bytes).unwrap();
        wire::DeviceListContent::decode(s.content.as_slice())
            .unwrap()
            .devices
            .iter()
            .map(|e| e.id)
            .collect()
    };
    let lists: Vec<Vec<u8>> = v["lists"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| unhex(&l["encoded"]))
        .collect();
    for case in v["update_cases"].as_array().unwrap() {
        if case["result"] != "ok" {
            assert!(case["error"].as_str().is_some_and(|e| !e.is_empty()));
            continue;
        }
        let offered = ids(&unhex(&case["offered"]));
        let held_counter = case["held_counter"].as_u64().unwrap() as usize;
        let held = ids(&lists[held_counter - 1]);
        let added: Vec<u64> = offered
            .iter()
            .filter(|i| !held.contains(i))
            .map(|i| u64::from(*i))
            .collect();
        let removed: Vec<u64> = held
            .iter()
            .filter(|i| !offered.contains(i))
            .map(|i| u64::from(*i))
            .collect();
        let as_u64 = |k: &str| -> Vec<u64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect()
        };
        assert_eq!(
            (as_u64("added"), as_u64("removed")),
            (added, removed),
            "{}",
            case["name"]
        );
    }

    // The link request: signed by the device it names, hashed as sent.
    let k = &v["link"];
    let request = unhex(&k["request"]);
    let rc = wire::LinkRequestContent::decode(unhex(&k["request_content"]).as_slice()).unwrap();
    let device = rc.device.as_ref().unwrap();
    ed25519_verify(
        &device.signing_key,
        &[&b"Hush-v1-LinkRequest"[..], &unhex(&k["request_content"])].concat(),
        &unhex(&k["request_signature"]),
    );
    assert_eq!(
        wire::LinkRequest {
            content: unhex(&k["request_content"]),
            signature: unhex(&k["request_signature"])
        }
        .encode_to_vec(),
        request
    );
    let request_hash = sha(&request);
    assert_eq!(request_hash, unhex(&k["request_hash"]));
    assert_eq!(rc.expires_at, k["now"].as_u64().unwrap() + 300);
    let base = {
        let mut b = [0u8; 32];
        b[0] = 9;
        b
    };
    let link_key = x25519(&unhex(&k["link_secret"]), &base);
    assert_eq!(
        (link_key.clone(), rc.link_key.clone()),
        (unhex(&k["link_key"]), unhex(&k["link_key"]))
    );
    // The seal: X25519 from both sides, HKDF(salt = E ‖ link_key), ChaCha20-Poly1305.
    let e = x25519(&unhex(&k["ephemeral_secret"]), &base);
    assert_eq!(e, unhex(&k["ephemeral_public"]));
    let shared = x25519(&unhex(&k["ephemeral_secret"]), &link_key);
    assert_eq!(shared, x25519(&unhex(&k["link_secret"]), &e));
    assert_eq!(shared, unhex(&k["x25519"]));
    let okm = hkdf(
        &[&e[..], &link_key[..]].concat(),
        &shared,
        b"Hush-v1-LinkSeal",
        44,
    );
    assert_eq!(
        (&okm[..32], &okm[32..]),
        (&unhex(&k["seal_key"])[..], &unhex(&k["seal_nonce"])[..])
    );
    let approval = unhex(&k["approval"]);
    let ct = ChaCha20Poly1305::new_from_slice(&okm[..32])
        .unwrap()
        .encrypt(
            &Nonce::try_from(&okm[32..]).unwrap(),
            Payload {
                msg: &approval,
                aad: &request_hash,
            },
        )
        .unwrap();
    assert_eq!([&[1u8][..], &e, &ct].concat(), unhex(&k["sealed"]));
    // The approval: signed by the person over the request hash, the id and the new list.
    let content = unhex(&k["approval_content"]);
    ed25519_verify(
        &person.signing_key,
        &[&b"Hush-v1-LinkApproval"[..], &content].concat(),
        &unhex(&k["approval_signature"]),
    );
    assert_eq!(
        wire::LinkApproval {
            content: content.clone(),
            signature: unhex(&k["approval_signature"])
        }
        .encode_to_vec(),
        approval
    );
    let ac = wire::LinkApprovalContent::decode(content.as_slice()).unwrap();
    assert_eq!(
        (ac.version, ac.request_hash.clone(), u64::from(ac.device_id)),
        (1, request_hash, k["device_id"].as_u64().unwrap())
    );
    assert_eq!(ac.transfer, unhex(&k["transfer"]));
    // §5: the person's word for the new device, over its two keys, in the approval and in
    // the group credential identity (the device's IdentityPublicKey fields, then DeviceOf).
    let d = &v["device_of"];
    let tablet = wire::IdentityPublicKey::decode(unhex(&d["device"]).as_slice()).unwrap();
    assert_eq!(Some(&tablet), Some(device));
    let signed = [
        &b"Hush-v1-DeviceOf"[..],
        &tablet.signing_key,
        &tablet.dh_key,
    ]
    .concat();
    assert_eq!(signed, unhex(&d["signed"]));
    ed25519_verify(&person.signing_key, &signed, &unhex(&d["signature"]));
    assert_eq!(ac.device_of, unhex(&d["signature"]));
    let mi = wire::MemberIdentity::decode(unhex(&d["member_identity"]).as_slice()).unwrap();
    assert_eq!(
        (&mi.signing_key, &mi.dh_key, &mi.dh_key_signature),
        (
            &tablet.signing_key,
            &tablet.dh_key,
            &tablet.dh_key_signature
        )
    );
    let of = mi.device_of.as_ref().unwrap();
    assert_eq!(
        (of.person.as_ref(), &of.signature),
        (Some(&person), &unhex(&d["signature"]))
    );
    let rebuilt = wire::MemberIdentity {
        device_of: Some(wire::DeviceOf {
            person: Some(person.clone()),
            signature: unhex(&d["signature"]),
        }),
        ..wire::MemberIdentity::decode(tablet.encode_to_vec().as_slice()).unwrap()
    };
    assert_eq!(rebuilt.encode_to_vec(), unhex(&d["member_identity"]));
    assert_eq!(ac.device_list.unwrap().encode_to_vec(), lists[3]);
    let v4 = &contents[3];
    let linked = v4.devices.iter().find(|d| d.id == ac.device_id).unwrap();
    assert_eq!(
        (
            linked.identity.as_ref(),
            &linked.mailbox_address,
            &linked.relay
        ),
        (Some(device), &rc.mailbox_address, &rc.relay)
    );
}
