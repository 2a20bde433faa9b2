//! `test-vectors/pqxdh.json` (spec/pqxdh.md section 8): PQXDH handshakes with a one-time and
//! a last-resort KEM prekey, with and without header encryption, and the refusals.

use prost::Message;
use serde_json::{Value, json};

use super::x3dh::responder_refusal;
use super::{Party, VectorRng, initiate_and_send, merge, refused, render, trace_json};
use crate::bundle::PreKeyBundle;
use crate::identity::IdentityKeyPair;
use crate::kem_prekeys::{KemPreKeyKind, kem_prekey_message};
use crate::prekeys::PreKeyStore;
use crate::proto::wire;
use crate::safety_number::SafetyNumber;
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

/// Bob's published keys: a signed prekey offering PQXDH, two one-time prekeys, two one-time
/// KEM prekeys and one last-resort KEM prekey, drawn in that order. The bundle carries the
/// second one-time prekey (if any) and the second one-time KEM prekey or the last-resort one.
fn bob_keys(
    rng: &mut VectorRng,
    bob: &IdentityKeyPair,
    with_opk: bool,
    kind: KemPreKeyKind,
) -> (PreKeyStore, PreKeyBundle, Value) {
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey_pqxdh(rng, bob);
    let opks = store.generate_one_time_prekeys(rng, 2);
    let kem_one_time = store.generate_one_time_kem_prekeys(rng, bob, 2);
    let last_resort = store.rotate_last_resort_kem_prekey(rng, bob);
    let opk = with_opk.then(|| opks[1]);
    let kem = match kind {
        KemPreKeyKind::OneTime => kem_one_time[1].clone(),
        KemPreKeyKind::LastResort => last_resort,
    };
    let bundle = PreKeyBundle::new_pqxdh(spk.clone(), opk, Some(kem.clone()))
        .expect("vector bundle is consistent");
    let spk_secret = store
        .signed_prekey(spk.id())
        .map(|s| hex::encode(s.secret.to_bytes()))
        .unwrap_or_default();
    let kem_seed = store
        .kem_prekey(kem.id())
        .map(|k| hex::encode(k.seed.as_bytes()))
        .unwrap_or_default();
    let opk_json = match opk {
        Some(o) => json!({
            "id": o.id(),
            "private": store.one_time_prekey(o.id()).map(|s| hex::encode(s.to_bytes())).unwrap_or_default(),
            "public": hex::encode(o.public_key_bytes()),
        }),
        None => Value::Null,
    };
    let keys = json!({
        "signed_prekey": {
            "id": spk.id(),
            "offers_pqxdh": spk.offers_pqxdh(),
            "private": spk_secret,
            "public": hex::encode(spk.public_key_bytes()),
            "message": hex::encode(spk.to_bytes()),
        },
        "one_time_prekey": opk_json,
        "kem_prekey": {
            "id": kem.id(),
            "kind": match kem.kind() { KemPreKeyKind::OneTime => "one-time", KemPreKeyKind::LastResort => "last-resort" },
            "kind_byte": kem.kind().byte(),
            "seed": kem_seed,
            "public": hex::encode(kem.public_key_bytes()),
            "message": hex::encode(kem.to_bytes()),
        },
        "bundle": hex::encode(bundle.to_bytes()),
    });
    (store, bundle, keys)
}

fn edit(message: &[u8], f: impl FnOnce(&mut wire::PreKeyMessage)) -> Vec<u8> {
    let mut m = wire::HushMessage::decode(message).expect("own encoding");
    if let Some(wire::hush_message::Body::Prekey(p)) = m.body.as_mut() {
        f(p);
    }
    m.encode_to_vec()
}

/// The bundle with its KEM prekey edited by `f`.
fn kem_edit(bundle: &PreKeyBundle, f: impl FnOnce(&mut wire::KemPreKeyPublic)) -> Vec<u8> {
    let mut b = wire::PreKeyBundle::decode(&bundle.to_bytes()[..]).expect("own encoding");
    if let Some(k) = b.kem_prekey.as_mut() {
        f(k);
    }
    b.encode_to_vec()
}

/// Signs `k` again with `identity`, as its owner would (so only its content is wrong).
fn resign(identity: &IdentityKeyPair, k: &mut wire::KemPreKeyPublic) {
    let kind = KemPreKeyKind::from_last_resort(k.last_resort);
    k.signature = identity
        .sign(&kem_prekey_message(kind, k.id, &k.public_key))
        .to_vec();
}

/// The PQXDH vectors.
pub fn pqxdh_vectors() -> String {
    let mut cases = Vec::new();
    for (name, with_opk, kind, header_encryption) in [
        (
            "one-time prekey, one-time KEM prekey",
            true,
            KemPreKeyKind::OneTime,
            false,
        ),
        (
            "no one-time prekey, last-resort KEM prekey",
            false,
            KemPreKeyKind::LastResort,
            false,
        ),
        (
            "header encryption, one-time KEM prekey",
            true,
            KemPreKeyKind::OneTime,
            true,
        ),
    ] {
        let seed = format!("pqxdh/{name}");
        let mut rng = VectorRng::new(seed.as_bytes());
        let (alice, bob) = Party::pair(&mut rng);
        let (mut store, bundle, bob_prekeys) = bob_keys(&mut rng, &bob.identity, with_opk, kind);
        let config = SessionConfig {
            header_encryption,
            ..SessionConfig::default()
        };
        let (a, initiator, message, initial_encrypt) = initiate_and_send(
            &mut rng,
            &alice.identity,
            &bundle,
            header_encryption,
            b"PQXDH initial message",
        );
        let mut trace = Trace::on();
        // Refusals, each before the genuine message is accepted; none changes the store.
        let refusals = vec![
            responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "KEM ciphertext byte 0 ^ 0x01",
                &edit(&message, |p| p.kem_ciphertext[0] ^= 0x01),
                config,
            ),
            responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "unknown KEM prekey id 4294967295",
                &edit(&message, |p| p.kem_prekey_id = Some(u32::MAX)),
                config,
            ),
            responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "KEM ciphertext truncated to 1087 bytes",
                &edit(&message, |p| {
                    p.kem_ciphertext.pop();
                }),
                config,
            ),
            responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "KEM fields removed (downgrade to X3DH)",
                &edit(&message, |p| {
                    p.kem_prekey_id = None;
                    p.kem_ciphertext.clear();
                }),
                config,
            ),
        ];
        let (b, plaintext) = Session::respond_traced(
            &mut rng,
            &bob.identity,
            &mut store,
            &message,
            config,
            &mut trace,
        )
        .expect("vector respond");
        let responder = trace_json(&mut trace);
        let mut stripped =
            wire::PreKeyBundle::decode(&bundle.to_bytes()[..]).expect("own encoding");
        stripped.kem_prekey = None;
        let stripped = stripped.encode_to_vec();
        let stripped_result = PreKeyBundle::from_bytes(&stripped)
            .err()
            .map(|e| refused(&e))
            .expect("a stripped bundle is refused");
        let bundle_refusals: Vec<Value> = [
            (
                "KEM prekey signature byte 0 ^ 0x01",
                kem_edit(&bundle, |k| k.signature[0] ^= 0x01),
            ),
            (
                "KEM prekey last_resort flag flipped (signature no longer covers it)",
                kem_edit(&bundle, |k| k.last_resort = !k.last_resort),
            ),
            (
                "KEM prekey id changed (signature no longer covers it)",
                kem_edit(&bundle, |k| k.id += 1),
            ),
            (
                "KEM public key truncated to 1183 bytes (the signature no longer covers it)",
                kem_edit(&bundle, |k| {
                    k.public_key.pop();
                }),
            ),
            (
                "KEM public key of 1183 bytes, validly signed",
                kem_edit(&bundle, |k| {
                    k.public_key.pop();
                    resign(&bob.identity, k);
                }),
            ),
            (
                "KEM public key with a coefficient >= q, validly signed",
                kem_edit(&bundle, |k| {
                    // The first 12-bit coefficient := 0xfff (q = 3329).
                    k.public_key[0] = 0xff;
                    k.public_key[1] |= 0x0f;
                    resign(&bob.identity, k);
                }),
            ),
        ]
        .into_iter()
        .map(|(name, b)| {
            let err = PreKeyBundle::from_bytes(&b)
                .err()
                .unwrap_or_else(|| panic!("the vector bundle \"{name}\" was accepted"));
            merge(
                json!({"name": name, "bundle": hex::encode(&b)}),
                refused(&err),
            )
        })
        .collect();
        cases.push(json!({
            "name": name,
            "seed": hex::encode(seed.as_bytes()),
            "header_encryption": header_encryption,
            "alice": alice.json(),
            "bob": bob.json(),
            "bob_prekeys": bob_prekeys,
            "initiator_trace": initiator,
            "initial_message_plaintext": hex::encode(&plaintext),
            "initial_message_encrypt_trace": initial_encrypt,
            "initial_message": hex::encode(&message),
            "responder_refusals": refusals,
            "responder_trace": responder,
            "bundle_refusals": bundle_refusals,
            "stripped_bundle": merge(json!({"bundle": hex::encode(&stripped)}), stripped_result),
            "one_time_kem_prekeys_left": store.one_time_kem_prekey_count(),
            "safety_number": SafetyNumber::new(a.local_identity(), b.local_identity()).digits(),
        }));
    }
    render(json!({
        "description": "Hush PQXDH vectors (spec/pqxdh.md). Traces list [label, hex] in the order the code computes them.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order",
        "cases": cases,
    }))
}
