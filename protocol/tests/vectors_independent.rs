//! Checks the published Double Ratchet and X3DH vectors against the spec with the bare
//! primitives (HMAC-SHA256, HKDF-SHA256, ChaCha20-Poly1305), independently of the
//! library's own key schedule code.

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
