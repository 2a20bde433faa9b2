//! `test-vectors/x3dh.json`: X3DH handshakes (with and without a one-time prekey, with header
//! encryption), the display forms of fingerprints and safety numbers, and every refusal of a
//! bundle or an initial message with its error and a check that Bob's store did not change.

use prost::Message;
use serde_json::{Value, json};

use super::{
    LOW_ORDER_POINT, Party, VectorRng, bob_keys, initiate_and_send, merge, non_canonical, refused,
    render, trace_json,
};
use crate::bundle::PreKeyBundle;
use crate::identity::{IdentityKeyPair, binding_message};
use crate::prekeys::{PreKeyStore, signed_prekey_message};
use crate::proto::wire;
use crate::safety_number::SafetyNumber;
use crate::session::{Session, SessionConfig};
use crate::trace::Trace;

/// The initial message with its `PreKeyMessage` edited by `f`.
fn edit_message(message: &[u8], f: impl FnOnce(&mut wire::HushMessage)) -> Vec<u8> {
    let mut m = wire::HushMessage::decode(message).expect("own encoding");
    f(&mut m);
    m.encode_to_vec()
}

fn edit_prekey(message: &[u8], f: impl FnOnce(&mut wire::PreKeyMessage)) -> Vec<u8> {
    edit_message(message, |m| {
        if let Some(wire::hush_message::Body::Prekey(p)) = m.body.as_mut() {
            f(p);
        }
    })
}

fn edit_bundle(bundle: &[u8], f: impl FnOnce(&mut wire::PreKeyBundle)) -> Vec<u8> {
    let mut b = wire::PreKeyBundle::decode(bundle).expect("own encoding");
    f(&mut b);
    b.encode_to_vec()
}

/// Bob refuses `message` with the error recorded; his store is unchanged.
pub(super) fn responder_refusal(
    rng: &mut VectorRng,
    bob: &IdentityKeyPair,
    store: &mut PreKeyStore,
    name: &str,
    message: &[u8],
    config: SessionConfig,
) -> Value {
    let before = store.to_bytes();
    let err = Session::respond(rng, bob, store, message, config)
        .expect_err("a vector refusal is refused");
    assert!(*before == *store.to_bytes(), "a refusal changed the store");
    merge(
        json!({"name": name, "message": hex::encode(message)}),
        merge(refused(&err), json!({"store_unchanged": true})),
    )
}

/// The refusals of initial messages derived from the genuine `message` (made by `alice`,
/// who can sign whatever her identity key signs), before Bob accepts it.
fn responder_refusals(
    rng: &mut VectorRng,
    alice: &IdentityKeyPair,
    bob: &IdentityKeyPair,
    store: &mut PreKeyStore,
    message: &[u8],
    config: SessionConfig,
) -> Vec<Value> {
    // Alice's identity with a low-order DH key, validly bound by her signing key.
    let low_order_identity = wire::IdentityPublicKey {
        signing_key: alice.public().signing_key_bytes().to_vec(),
        dh_key: LOW_ORDER_POINT.to_vec(),
        dh_key_signature: alice.sign(&binding_message(&LOW_ORDER_POINT)).to_vec(),
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "HushMessage.version = 2",
            edit_message(message, |m| m.version = 2),
        ),
        (
            "a RatchetMessage body instead of a PreKeyMessage",
            edit_message(message, |m| {
                if let Some(wire::hush_message::Body::Prekey(p)) = m.body.take() {
                    m.body = p.message.map(wire::hush_message::Body::Ratchet);
                }
            }),
        ),
        (
            "identity missing",
            edit_prekey(message, |p| p.identity = None),
        ),
        (
            "identity binding signature byte 0 ^ 0x01",
            edit_prekey(message, |p| {
                if let Some(id) = p.identity.as_mut() {
                    id.dh_key_signature[0] ^= 0x01;
                }
            }),
        ),
        (
            "identity binding signature with S + L (non-canonical)",
            edit_prekey(message, |p| {
                if let Some(id) = p.identity.as_mut() {
                    id.dh_key_signature = non_canonical(&id.dh_key_signature);
                }
            }),
        ),
        (
            "identity DH key of low order, validly bound",
            edit_prekey(message, |p| p.identity = Some(low_order_identity)),
        ),
        (
            "base key with bit 255 set",
            edit_prekey(message, |p| p.base_key[31] |= 0x80),
        ),
        (
            "base key of 31 bytes",
            edit_prekey(message, |p| {
                p.base_key.pop();
            }),
        ),
        (
            "base key of low order",
            edit_prekey(message, |p| p.base_key = LOW_ORDER_POINT.to_vec()),
        ),
        (
            "unknown signed prekey id",
            edit_prekey(message, |p| p.signed_prekey_id += 1000),
        ),
        (
            "unknown one-time prekey id",
            edit_prekey(message, |p| p.one_time_prekey_id = Some(4_000_000)),
        ),
        (
            "carried message missing",
            edit_prekey(message, |p| p.message = None),
        ),
        ("last byte ^ 0x01 (ciphertext tag)", {
            let mut m = message.to_vec();
            let last = m.len() - 1;
            m[last] ^= 0x01;
            m
        }),
    ];
    cases
        .into_iter()
        .map(|(name, m)| responder_refusal(rng, bob, store, name, &m, config))
        .collect()
}

/// What Alice's side makes of `bundle`: decoding and verifying it, then starting a session.
fn bundle_refusal(
    rng: &mut VectorRng,
    alice: &IdentityKeyPair,
    name: &str,
    bundle: &[u8],
) -> Value {
    let err = PreKeyBundle::from_bytes(bundle)
        .and_then(|b| Session::initiate(rng, alice, &b, SessionConfig::default()))
        .err()
        .unwrap_or_else(|| panic!("the vector bundle \"{name}\" was accepted"));
    merge(
        json!({"name": name, "bundle": hex::encode(bundle)}),
        refused(&err),
    )
}

fn bundle_refusals(
    rng: &mut VectorRng,
    alice: &IdentityKeyPair,
    bob: &IdentityKeyPair,
    bundle: &[u8],
) -> Vec<Value> {
    let spk_id = wire::PreKeyBundle::decode(bundle)
        .ok()
        .and_then(|b| b.signed_prekey)
        .map_or(0, |s| s.id);
    let low_order_signature = bob
        .sign(&signed_prekey_message(spk_id, &LOW_ORDER_POINT, false))
        .to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "PreKeyBundle.version = 2",
            edit_bundle(bundle, |b| b.version = 2),
        ),
        (
            "signed prekey missing",
            edit_bundle(bundle, |b| b.signed_prekey = None),
        ),
        (
            "signed prekey signature byte 0 ^ 0x01",
            edit_bundle(bundle, |b| {
                if let Some(s) = b.signed_prekey.as_mut() {
                    s.signature[0] ^= 0x01;
                }
            }),
        ),
        (
            "signed prekey signature with S + L (non-canonical)",
            edit_bundle(bundle, |b| {
                if let Some(s) = b.signed_prekey.as_mut() {
                    s.signature = non_canonical(&s.signature);
                }
            }),
        ),
        (
            "signed prekey id changed (signature no longer covers it)",
            edit_bundle(bundle, |b| {
                if let Some(s) = b.signed_prekey.as_mut() {
                    s.id += 1;
                }
            }),
        ),
        (
            "responder identity binding signature byte 0 ^ 0x01",
            edit_bundle(bundle, |b| {
                if let Some(id) = b.signed_prekey.as_mut().and_then(|s| s.identity.as_mut()) {
                    id.dh_key_signature[0] ^= 0x01;
                }
            }),
        ),
        (
            "signed prekey of low order, validly signed",
            edit_bundle(bundle, |b| {
                if let Some(s) = b.signed_prekey.as_mut() {
                    s.public_key = LOW_ORDER_POINT.to_vec();
                    s.signature = low_order_signature;
                }
            }),
        ),
        (
            "one-time prekey of low order",
            edit_bundle(bundle, |b| {
                if let Some(o) = b.one_time_prekey.as_mut() {
                    o.public_key = LOW_ORDER_POINT.to_vec();
                }
            }),
        ),
    ];
    cases
        .into_iter()
        .map(|(name, b)| bundle_refusal(rng, alice, name, &b))
        .collect()
}

/// The X3DH vectors: a handshake with a one-time prekey, one without, and two with header
/// encryption (with and without a one-time prekey; in the last one Bob's safety-number half
/// sorts first, so the halves' order is seen to be sorted, not "initiator first"). The
/// refusals are in the first two.
pub fn x3dh_vectors() -> String {
    let mut cases = Vec::new();
    for (name, with_opk, header_encryption) in [
        ("with one-time prekey", true, false),
        ("without one-time prekey", false, false),
        ("header encryption", true, true),
        ("header encryption, without one-time prekey", false, true),
    ] {
        let seed = format!("x3dh/{name}");
        let mut rng = VectorRng::new(seed.as_bytes());
        let (alice, bob) = Party::pair(&mut rng);
        let (mut store, bundle, bob_prekeys) = bob_keys(&mut rng, &bob.identity, with_opk);
        let config = SessionConfig {
            header_encryption,
            ..SessionConfig::default()
        };
        let (a, initiator, message, initial_encrypt) = initiate_and_send(
            &mut rng,
            &alice.identity,
            &bundle,
            header_encryption,
            b"X3DH initial message",
        );
        let mut trace = Trace::on();
        let refusals = with_opk && !header_encryption;
        let before = if refusals {
            responder_refusals(
                &mut rng,
                &alice.identity,
                &bob.identity,
                &mut store,
                &message,
                config,
            )
        } else {
            Vec::new()
        };
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
        let mut after = Vec::new();
        if !header_encryption {
            after.push(responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "the same initial message again",
                &message,
                config,
            ));
            after.push(responder_refusal(
                &mut rng,
                &bob.identity,
                &mut store,
                "the same initial message with bit 255 of the base key flipped",
                &edit_prekey(&message, |p| p.base_key[31] ^= 0x80),
                config,
            ));
        }
        let bundle_refused = if refusals {
            bundle_refusals(&mut rng, &alice.identity, &bob.identity, &bundle.to_bytes())
        } else {
            Vec::new()
        };
        let safety = SafetyNumber::new(a.local_identity(), b.local_identity());
        let mut case = json!({
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
            "responder_trace": responder,
            "safety_number": safety.digits(),
            "safety_number_display": safety.to_string(),
        });
        if refusals {
            case = merge(
                case,
                json!({
                    "responder_refusals_before": before,
                    "bundle_refusals": bundle_refused,
                }),
            );
        }
        if !after.is_empty() {
            case = merge(case, json!({"responder_refusals_after": after}));
        }
        cases.push(case);
    }
    render(json!({
        "description": "Hush X3DH vectors (spec/x3dh.md). Traces list [label, hex] in the order the code computes them.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order",
        "cases": cases,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::error_id;

    #[test]
    fn error_ids_name_the_spec_errors() {
        assert_eq!(
            error_id(&crate::Error::TooFarAhead {
                skip: 5,
                max_skip: 4
            }),
            "TooFarAhead{skip: 5, max_skip: 4}"
        );
        assert_eq!(
            error_id(&crate::Error::Malformed("header")),
            "Malformed(header)"
        );
    }
}
