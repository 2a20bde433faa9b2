//! Property tests for Hush's own wire and storage encoders and decoders (not prost's):
//!
//! - Hush's encoders write the schema of `spec/proto/{messages,state}.proto` canonically: real
//!   identities, prekeys, bundles, stores, sessions and messages encode to bytes that decode
//!   as the spec's message, carry the typed value's parts, and re-encode to the same bytes;
//! - Hush's decoders refuse a signed encoding with any one field tampered with (key, id,
//!   PQXDH flag, signature, signer) and a bundle of another version;
//! - the typed forms (identity, prekeys, bundle, session, prekey store, sealed envelope, MLS
//!   wire messages): real values round-trip through their byte forms;
//! - every decoder of untrusted bytes returns (never panics) on arbitrary input.

use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::group::{GroupClient, GroupConfig, MlsRatchetTree, MlsWireMessage, inspect};
use hush_protocol::proto::{state, wire};
use hush_protocol::{
    BUNDLE_VERSION, IdentityKeyPair, IdentityPublicKey, OneTimePreKeyPublic, PreKeyBundle,
    PreKeyStore, Session, SessionConfig, SignedPreKeyPublic, message_kind,
};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::OnceLock;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn identity_public() -> impl Strategy<Value = wire::IdentityPublicKey> {
    (bytes(40), bytes(40), bytes(70)).prop_map(|(signing_key, dh_key, dh_key_signature)| {
        wire::IdentityPublicKey {
            signing_key,
            dh_key,
            dh_key_signature,
        }
    })
}

fn signed_prekey_public() -> impl Strategy<Value = wire::SignedPreKeyPublic> {
    (
        option::of(identity_public()),
        any::<u32>(),
        bytes(40),
        bytes(70),
        any::<bool>(),
    )
        .prop_map(|(identity, id, public_key, signature, offers_pqxdh)| {
            wire::SignedPreKeyPublic {
                identity,
                id,
                public_key,
                signature,
                offers_pqxdh,
            }
        })
}

fn kem_prekey_public() -> impl Strategy<Value = wire::KemPreKeyPublic> {
    (any::<u32>(), any::<bool>(), bytes(1300), bytes(70)).prop_map(
        |(id, last_resort, public_key, signature)| wire::KemPreKeyPublic {
            id,
            last_resort,
            public_key,
            signature,
        },
    )
}

fn one_time_prekey_public() -> impl Strategy<Value = wire::OneTimePreKeyPublic> {
    (any::<u32>(), bytes(40))
        .prop_map(|(id, public_key)| wire::OneTimePreKeyPublic { id, public_key })
}

fn bundle() -> impl Strategy<Value = wire::PreKeyBundle> {
    (
        any::<u32>(),
        option::of(signed_prekey_public()),
        option::of(one_time_prekey_public()),
        option::of(kem_prekey_public()),
    )
        .prop_map(
            |(version, signed_prekey, one_time_prekey, kem_prekey)| wire::PreKeyBundle {
                version,
                signed_prekey,
                one_time_prekey,
                kem_prekey,
            },
        )
}

fn ratchet_message() -> impl Strategy<Value = wire::RatchetMessage> {
    (bytes(80), bytes(200))
        .prop_map(|(header, ciphertext)| wire::RatchetMessage { header, ciphertext })
}

fn prekey_message() -> impl Strategy<Value = wire::PreKeyMessage> {
    (
        option::of(identity_public()),
        bytes(40),
        any::<u32>(),
        option::of(any::<u32>()),
        any::<bool>(),
        option::of(ratchet_message()),
        option::of(any::<u32>()),
        bytes(1200),
    )
        .prop_map(
            |(
                identity,
                base_key,
                signed_prekey_id,
                one_time_prekey_id,
                header_encryption,
                message,
                kem_prekey_id,
                kem_ciphertext,
            )| {
                wire::PreKeyMessage {
                    identity,
                    base_key,
                    signed_prekey_id,
                    one_time_prekey_id,
                    header_encryption,
                    message,
                    kem_prekey_id,
                    kem_ciphertext,
                }
            },
        )
}

fn hush_message() -> impl Strategy<Value = wire::HushMessage> {
    let body = prop_oneof![
        Just(None),
        prekey_message().prop_map(|m| Some(wire::hush_message::Body::Prekey(m))),
        ratchet_message().prop_map(|m| Some(wire::hush_message::Body::Ratchet(m))),
    ];
    (any::<u32>(), body).prop_map(|(version, body)| wire::HushMessage { version, body })
}

fn identity_state() -> impl Strategy<Value = state::IdentityKeyPairState> {
    (any::<u32>(), bytes(40), bytes(40)).prop_map(|(version, signing_secret, dh_secret)| {
        state::IdentityKeyPairState {
            version,
            signing_secret,
            dh_secret,
        }
    })
}

fn prekey_store_state() -> impl Strategy<Value = state::PreKeyStoreState> {
    let spk = (
        any::<u32>(),
        bytes(40),
        bytes(70),
        vec(bytes(40), 0..3),
        any::<bool>(),
    )
        .prop_map(|(id, secret, signature, seen_base_keys, offers_pqxdh)| {
            state::SignedPreKeyState {
                id,
                secret,
                signature,
                seen_base_keys,
                offers_pqxdh,
            }
        });
    let kem = (any::<u32>(), any::<bool>(), bytes(80), bytes(70)).prop_map(
        |(id, last_resort, seed, signature)| state::KemPreKeyState {
            id,
            last_resort,
            seed,
            signature,
        },
    );
    let opk =
        (any::<u32>(), bytes(40)).prop_map(|(id, secret)| state::OneTimePreKeyState { id, secret });
    (
        any::<u32>(),
        vec(spk, 0..3),
        vec(opk, 0..4),
        any::<u32>(),
        any::<u32>(),
        vec(kem, 0..3),
        any::<u32>(),
    )
        .prop_map(
            |(
                version,
                signed_prekeys,
                one_time_prekeys,
                next_spk,
                next_opk,
                kem_prekeys,
                next_kem,
            )| {
                state::PreKeyStoreState {
                    version,
                    signed_prekeys,
                    one_time_prekeys,
                    next_signed_prekey_id: next_spk,
                    next_one_time_prekey_id: next_opk,
                    kem_prekeys,
                    next_kem_prekey_id: next_kem,
                }
            },
        )
}

fn session_state() -> impl Strategy<Value = state::SessionState> {
    let skipped = (bytes(40), any::<u32>(), bytes(40)).prop_map(|(chain_id, n, message_key)| {
        state::SkippedKeyState {
            chain_id,
            n,
            message_key,
        }
    });
    let pending = (
        bytes(40),
        any::<u32>(),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        bytes(1200),
    )
        .prop_map(
            |(base_key, signed_prekey_id, one_time_prekey_id, kem_prekey_id, kem_ciphertext)| {
                state::PendingPreKeyState {
                    base_key,
                    signed_prekey_id,
                    one_time_prekey_id,
                    kem_prekey_id,
                    kem_ciphertext,
                }
            },
        );
    let keys = vec(bytes(40), 11..=11);
    let counters = vec(any::<u32>(), 6..=6);
    (
        (
            option::of(identity_public()),
            option::of(identity_public()),
            any::<bool>(),
            any::<bool>(),
        ),
        option::of(pending),
        keys,
        counters,
        vec(skipped, 0..4),
    )
        .prop_map(
            |((local, remote, initiator, header_encryption), pending, k, c, skipped)| {
                state::SessionState {
                    version: c[0],
                    local_identity: local,
                    remote_identity: remote,
                    initiator,
                    base_key: k[0].clone(),
                    pending_prekey: pending,
                    root_key: k[1].clone(),
                    dh_self_secret: k[2].clone(),
                    dh_remote: k[3].clone(),
                    sending_chain_key: k[4].clone(),
                    receiving_chain_key: k[5].clone(),
                    ns: c[1],
                    nr: c[2],
                    pn: c[3],
                    header_encryption,
                    header_key_send: k[6].clone(),
                    header_key_recv: k[7].clone(),
                    next_header_key_send: k[8].clone(),
                    next_header_key_recv: k[9].clone(),
                    skipped,
                    max_skip: c[4],
                    max_skipped_total: c[5],
                    pqxdh_binding: k[10].clone(),
                }
            },
        )
}

fn group_client_state() -> impl Strategy<Value = state::GroupClientState> {
    let entry =
        (bytes(30), bytes(60)).prop_map(|(key, value)| state::GroupStorageEntry { key, value });
    let buffered = (any::<u64>(), bytes(60))
        .prop_map(|(epoch, message)| state::BufferedGroupMessage { epoch, message });
    let intent = prop_oneof![
        Just(None),
        vec(bytes(40), 0..3).prop_map(|key_packages| Some(state::group_intent::Kind::Add(
            state::AddIntent { key_packages }
        ))),
        vec(bytes(33), 0..3).prop_map(|signing_keys| Some(state::group_intent::Kind::Remove(
            state::RemoveIntent { signing_keys }
        ))),
        any::<bool>().prop_map(|b| Some(state::group_intent::Kind::SelfUpdate(b))),
        any::<bool>().prop_map(|b| Some(state::group_intent::Kind::CommitProposals(b))),
    ];
    let pending =
        (any::<u64>(), bytes(60), option::of(intent)).prop_map(|(epoch, commit, intent)| {
            state::PendingGroupCommit {
                epoch,
                commit,
                intent: intent.map(|kind| state::GroupIntent { kind }),
            }
        });
    let meta = (bytes(32), vec(buffered, 0..3), option::of(pending)).prop_map(
        |(group_id, future, pending)| state::GroupMetaState {
            group_id,
            future,
            pending,
        },
    );
    (
        vec(any::<u32>(), 5..=5),
        any::<bool>(),
        (bytes(33), bytes(33), bytes(33), bytes(100)),
        vec(entry, 0..4),
        vec(meta, 0..3),
    )
        .prop_map(
            |(
                n,
                require_hush_credentials,
                (signing_key, secret, integrity, device_of),
                storage,
                groups,
            )| {
                state::GroupClientState {
                    version: n[0],
                    ciphersuite: n[1],
                    signing_key,
                    padding_size: n[2],
                    max_past_epochs: n[3],
                    future_buffer_capacity: n[4],
                    require_hush_credentials,
                    interop_signature_secret: secret,
                    storage,
                    groups,
                    integrity,
                    device_of,
                }
            },
        )
}

/// Hush's `bytes` decode as the spec's message `M`, which re-encodes to exactly those bytes
/// (Hush writes the schema, canonically, and nothing else).
fn canonical<M: Message + Default>(bytes: &[u8]) -> Result<M, TestCaseError> {
    let m = M::decode(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(m.encode_to_vec(), bytes);
    Ok(m)
}

/// `bytes` with bit `bit` of the byte at `at` (wrapped to its length) flipped.
fn flip(bytes: &mut [u8], at: prop::sample::Index, bit: u8) {
    if !bytes.is_empty() {
        bytes[at.index(bytes.len())] ^= 1 << (bit % 8);
    }
}

/// Real values the typed round trips and the decoders use, made once.
struct Fixture {
    bob: IdentityKeyPair,
    bob_group_state: Vec<u8>,
    mls_message: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(77);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut a = GroupClient::new(&alice, GroupConfig::default()).expect("client");
        let mut b = GroupClient::new(&bob, GroupConfig::default()).expect("client");
        let kp = b.generate_key_packages(&mut rng, 1).expect("key package");
        let g = a.create_group(&mut rng).expect("group");
        let add = a.add_members(&mut rng, &g, &[&kp[0]]).expect("add");
        a.process(&mut rng, &g, &add.commit).expect("commit");
        b.join(&mut rng, &add.welcome_for(0).expect("welcome"), None)
            .expect("join");
        let mls_message = a.encrypt(&mut rng, &g, b"hello").expect("encrypt");
        Fixture {
            bob_group_state: b.to_bytes().expect("state").to_vec(),
            bob,
            mls_message,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(data in bytes(600)) {
        let _ = wire::IdentityPublicKey::decode(data.as_slice());
        let _ = wire::SignedPreKeyPublic::decode(data.as_slice());
        let _ = wire::OneTimePreKeyPublic::decode(data.as_slice());
        let _ = wire::PreKeyBundle::decode(data.as_slice());
        let _ = wire::RatchetMessage::decode(data.as_slice());
        let _ = wire::PreKeyMessage::decode(data.as_slice());
        let _ = wire::HushMessage::decode(data.as_slice());
        let _ = wire::SealedContent::decode(data.as_slice());
        let _ = state::IdentityKeyPairState::decode(data.as_slice());
        let _ = state::PreKeyStoreState::decode(data.as_slice());
        let _ = state::SessionState::decode(data.as_slice());
        let _ = state::GroupClientState::decode(data.as_slice());
        let _ = IdentityPublicKey::from_bytes(&data);
        let _ = IdentityKeyPair::from_bytes(&data);
        let _ = SignedPreKeyPublic::from_bytes(&data);
        let _ = OneTimePreKeyPublic::from_bytes(&data);
        let _ = PreKeyBundle::from_bytes(&data);
        let _ = PreKeyStore::from_bytes(&data);
        let _ = Session::from_bytes(&data);
        let _ = message_kind(&data);
        let f = fixture();
        let _ = envelope::open(&f.bob, &data);
        let _ = MlsWireMessage::from_bytes(&data);
        let _ = inspect(&data);
        let _ = MlsRatchetTree::from_bytes(&data);
        let _ = GroupClient::from_bytes(&f.bob, &data);
        let _ = GroupClient::interop_from_bytes(&data);
    }

    /// Arbitrary prost values of the state types, encoded, are refused or restored: the typed
    /// decoders check every field and never panic on a well-formed but meaningless message.
    #[test]
    fn typed_decoders_never_panic_on_structured_input(
        i in identity_state(),
        p in prekey_store_state(),
        s in session_state(),
        g in group_client_state(),
        b in bundle(),
        h in hush_message(),
    ) {
        let _ = IdentityKeyPair::from_bytes(&i.encode_to_vec());
        let _ = PreKeyStore::from_bytes(&p.encode_to_vec());
        if let Ok(session) = Session::from_bytes(&s.encode_to_vec()) {
            prop_assert!(Session::from_bytes(&session.to_bytes()).is_ok());
        }
        let _ = GroupClient::from_bytes(&fixture().bob, &g.encode_to_vec());
        let _ = PreKeyBundle::from_bytes(&b.encode_to_vec());
        let _ = message_kind(&h.encode_to_vec());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Hush's encoders write the spec's messages canonically, with the typed values' parts.
    #[test]
    fn hush_encoders_write_the_spec_schema(
        seed in any::<u64>(),
        header_encryption in any::<bool>(),
        opks in 1u32..4,
        plaintext in bytes(64),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);

        let id: wire::IdentityPublicKey = canonical(&bob.public().to_bytes())?;
        prop_assert_eq!(id.signing_key.len(), 32);
        prop_assert_eq!(id.dh_key.len(), 32);
        prop_assert_eq!(id.dh_key_signature.len(), 64);
        let secret: state::IdentityKeyPairState = canonical(&bob.to_bytes())?;
        prop_assert_eq!(secret.signing_secret.len(), 32);
        prop_assert_eq!(secret.dh_secret.len(), 32);

        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob);
        let keys = store.generate_one_time_prekeys(&mut rng, opks as usize);
        let w_spk: wire::SignedPreKeyPublic = canonical(&spk.to_bytes())?;
        prop_assert_eq!(w_spk.id, spk.id());
        prop_assert_eq!(w_spk.public_key.clone(), spk.public_key_bytes().to_vec());
        prop_assert_eq!(w_spk.offers_pqxdh, spk.offers_pqxdh());
        prop_assert_eq!(w_spk.identity.as_ref(), Some(&id));
        prop_assert_eq!(w_spk.signature.len(), 64);
        let w_opk: wire::OneTimePreKeyPublic = canonical(&keys[0].to_bytes())?;
        prop_assert_eq!(w_opk.id, keys[0].id());
        prop_assert_eq!(w_opk.public_key.clone(), keys[0].public_key_bytes().to_vec());
        let bundle = PreKeyBundle::new(spk, keys.first().copied());
        let w_bundle: wire::PreKeyBundle = canonical(&bundle.to_bytes())?;
        prop_assert_eq!(w_bundle.version, BUNDLE_VERSION);
        prop_assert_eq!(w_bundle.signed_prekey.as_ref(), Some(&w_spk));
        prop_assert_eq!(w_bundle.one_time_prekey.as_ref(), Some(&w_opk));
        let w_store: state::PreKeyStoreState = canonical(&store.to_bytes())?;
        prop_assert_eq!(w_store.one_time_prekeys.len(), opks as usize);
        prop_assert!(w_store.signed_prekeys.iter().any(|k| k.id == w_spk.id));

        let config = SessionConfig { header_encryption, ..SessionConfig::default() };
        let mut a = Session::initiate(&mut rng, &alice, &bundle, config)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let first = a.encrypt(&mut rng, &plaintext).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let w_session: state::SessionState = canonical(&a.to_bytes())?;
        prop_assert!(w_session.initiator);
        prop_assert_eq!(w_session.header_encryption, header_encryption);
        prop_assert_eq!(w_session.local_identity.as_ref().map(|i| i.encode_to_vec()),
            Some(alice.public().to_bytes()));
        prop_assert_eq!(w_session.remote_identity.as_ref(), Some(&id));
        let w_message: wire::HushMessage = canonical(&first)?;
        match w_message.body {
            Some(wire::hush_message::Body::Prekey(p)) => {
                prop_assert_eq!(p.signed_prekey_id, w_spk.id);
                prop_assert_eq!(p.one_time_prekey_id, Some(w_opk.id));
                prop_assert_eq!(p.header_encryption, header_encryption);
                prop_assert_eq!(p.identity.map(|i| i.encode_to_vec()), Some(alice.public().to_bytes()));
            }
            other => prop_assert!(false, "a first message is a prekey message: {:?}", other),
        }
    }

    /// Hush's decoders refuse a signed prekey, an identity or a bundle with one field changed.
    #[test]
    fn hush_decoders_refuse_tampered_fields(
        seed in any::<u64>(),
        field in 0u8..7,
        at in any::<prop::sample::Index>(),
        bit in any::<u8>(),
        version in 2u32..,
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob);
        let mut w = wire::SignedPreKeyPublic::decode(spk.to_bytes().as_slice())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(SignedPreKeyPublic::from_bytes(&w.encode_to_vec()).is_ok());
        let mut id = w.identity.clone().unwrap_or_default();
        match field {
            0 => flip(&mut w.public_key, at, bit),
            1 => flip(&mut w.signature, at, bit),
            2 => w.id ^= 1 << (bit % 32),
            3 => w.offers_pqxdh = !w.offers_pqxdh,
            4 => flip(&mut id.signing_key, at, bit),
            5 => flip(&mut id.dh_key, at, bit),
            _ => flip(&mut id.dh_key_signature, at, bit),
        }
        if field >= 4 {
            prop_assert!(IdentityPublicKey::from_bytes(&id.encode_to_vec()).is_err());
            w.identity = Some(id);
        }
        let tampered = w.encode_to_vec();
        prop_assert!(SignedPreKeyPublic::from_bytes(&tampered).is_err());
        let bundle = wire::PreKeyBundle {
            version: BUNDLE_VERSION,
            signed_prekey: Some(w),
            one_time_prekey: None,
            kem_prekey: None,
        };
        prop_assert!(PreKeyBundle::from_bytes(&bundle.encode_to_vec()).is_err());
        // The untouched prekey: accepted in a bundle of this version, refused in another.
        let mut other = wire::PreKeyBundle {
            version: BUNDLE_VERSION,
            signed_prekey: Some(spk_wire(&spk)?),
            one_time_prekey: None,
            kem_prekey: None,
        };
        prop_assert!(PreKeyBundle::from_bytes(&other.encode_to_vec()).is_ok());
        other.version = version;
        prop_assert!(PreKeyBundle::from_bytes(&other.encode_to_vec()).is_err());
    }
}

fn spk_wire(spk: &SignedPreKeyPublic) -> Result<wire::SignedPreKeyPublic, TestCaseError> {
    wire::SignedPreKeyPublic::decode(spk.to_bytes().as_slice())
        .map_err(|e| TestCaseError::fail(e.to_string()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    /// Real keys, bundles, stores, sessions and envelopes round-trip through their bytes.
    #[test]
    fn typed_values_round_trip(
        seed in any::<u64>(),
        header_encryption in any::<bool>(),
        opks in 0u32..4,
        plaintexts in vec(bytes(64), 1..4),
        kind in 0u8..3,
        reply_to in bytes(40),
    ) {
        let mut rng = StdRng::seed_from_u64(seed);
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let back = IdentityKeyPair::from_bytes(&alice.to_bytes())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back.public(), alice.public());
        prop_assert_eq!(
            &IdentityPublicKey::from_bytes(&alice.public().to_bytes()).ok(),
            &Some(alice.public().clone())
        );

        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob);
        let keys = store.generate_one_time_prekeys(&mut rng, opks as usize);
        prop_assert_eq!(SignedPreKeyPublic::from_bytes(&spk.to_bytes()).ok(), Some(spk.clone()));
        for k in &keys {
            prop_assert_eq!(OneTimePreKeyPublic::from_bytes(&k.to_bytes()).ok(), Some(*k));
        }
        let bundle = PreKeyBundle::new(spk, keys.first().copied());
        prop_assert_eq!(PreKeyBundle::from_bytes(&bundle.to_bytes()).ok(), Some(bundle.clone()));
        let store_bytes = store.to_bytes();
        let restored = PreKeyStore::from_bytes(&store_bytes)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&*restored.to_bytes(), &*store_bytes);

        let config = SessionConfig { header_encryption, ..SessionConfig::default() };
        let mut a = Session::initiate(&mut rng, &alice, &bundle, config)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut first = None;
        for p in &plaintexts {
            let m = a.encrypt(&mut rng, p).map_err(|e| TestCaseError::fail(e.to_string()))?;
            first.get_or_insert(m);
        }
        let a_bytes = a.to_bytes();
        let a2 = Session::from_bytes(&a_bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&*a2.to_bytes(), &*a_bytes);
        let mut store = PreKeyStore::from_bytes(&store_bytes)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let initial = first.unwrap_or_default();
        let (b, plain) = Session::respond(&mut rng, &bob, &mut store, &initial, config)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&plain, &plaintexts[0]);
        let b_bytes = b.to_bytes();
        let b2 = Session::from_bytes(&b_bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&*b2.to_bytes(), &*b_bytes);

        let kind = [ContentKind::SessionMessage, ContentKind::GroupWelcome, ContentKind::Application]
            [usize::from(kind)];
        let env = envelope::seal(&mut rng, &alice, bob.public(), kind, &initial, &reply_to)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let opened = envelope::open(&bob, &env).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&opened.sender, alice.public());
        prop_assert_eq!(opened.kind, kind);
        prop_assert_eq!(&opened.payload, &initial);
        prop_assert_eq!(&opened.reply_to, &reply_to);
    }
}

#[test]
fn mls_wire_forms_round_trip() {
    let f = fixture();
    let m = MlsWireMessage::from_bytes(&f.mls_message).expect("decodes");
    assert_eq!(m.to_bytes().expect("encodes"), f.mls_message);
    assert_eq!(inspect(&f.mls_message).expect("inspects"), m.info());
    let client = GroupClient::from_bytes(&f.bob, &f.bob_group_state).expect("restores");
    assert_eq!(
        client.to_bytes().expect("serializes").as_slice(),
        f.bob_group_state.as_slice()
    );
}
