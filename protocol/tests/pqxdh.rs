//! PQXDH (spec/pqxdh.md) through the public API: round trips, every refusal, the downgrade
//! rule, one-time KEM prekeys used once, and saved state.

use hush_protocol::proto::{state, wire};
use hush_protocol::{
    Error, IdentityKeyPair, KEM_CIPHERTEXT_LEN, KEM_PREKEY_CONTEXT, KemPreKeyKind, KemPreKeyPublic,
    MessageKind, PreKeyBundle, PreKeyStore, Session, SessionConfig, SignedPreKeyPublic,
    message_kind,
};
use proptest::prelude::*;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Bob {
    id: IdentityKeyPair,
    store: PreKeyStore,
    spk: Vec<u8>,
    opk: Vec<u8>,
    kem_one_time: Vec<Vec<u8>>,
    kem_last_resort: Vec<u8>,
}

fn bob(rng: &mut StdRng, offers_pqxdh: bool) -> Bob {
    let id = IdentityKeyPair::generate(rng);
    let mut store = PreKeyStore::new();
    let spk = if offers_pqxdh {
        store.rotate_signed_prekey_pqxdh(rng, &id)
    } else {
        store.rotate_signed_prekey(rng, &id)
    };
    let opk = store.generate_one_time_prekeys(rng, 2)[0];
    let kem_one_time = store
        .generate_one_time_kem_prekeys(rng, &id, 2)
        .iter()
        .map(KemPreKeyPublic::to_bytes)
        .collect();
    let kem_last_resort = store.rotate_last_resort_kem_prekey(rng, &id).to_bytes();
    Bob {
        id,
        store,
        spk: spk.to_bytes(),
        opk: opk.to_bytes(),
        kem_one_time,
        kem_last_resort,
    }
}

fn he() -> SessionConfig {
    SessionConfig {
        header_encryption: true,
        ..SessionConfig::default()
    }
}

fn prekey_message(bytes: &[u8]) -> wire::PreKeyMessage {
    match wire::HushMessage::decode(bytes).unwrap().body.unwrap() {
        wire::hush_message::Body::Prekey(p) => p,
        wire::hush_message::Body::Ratchet(_) => panic!("not an initial message"),
    }
}

fn with_prekey_message(bytes: &[u8], edit: impl FnOnce(&mut wire::PreKeyMessage)) -> Vec<u8> {
    let mut p = prekey_message(bytes);
    edit(&mut p);
    wire::HushMessage {
        version: 1,
        body: Some(wire::hush_message::Body::Prekey(p)),
    }
    .encode_to_vec()
}

#[test]
fn round_trip_every_kind_of_kem_prekey_and_config() {
    for config in [SessionConfig::default(), he()] {
        for offers in [false, true] {
            for (kem_index, with_opk) in [(0, true), (1, false), (2, true)] {
                let mut rng = StdRng::seed_from_u64(kem_index as u64 + 10 * u64::from(offers));
                let alice_id = IdentityKeyPair::generate(&mut rng);
                let mut b = bob(&mut rng, offers);
                let kem = if kem_index < 2 {
                    b.kem_one_time[kem_index].clone()
                } else {
                    b.kem_last_resort.clone()
                };
                let bundle = PreKeyBundle::from_parts_pqxdh(
                    &b.spk,
                    with_opk.then_some(&b.opk[..]),
                    Some(&kem),
                )
                .unwrap();
                assert_eq!(bundle.signed_prekey().offers_pqxdh(), offers);
                // The bundle survives its own encoding.
                assert_eq!(
                    PreKeyBundle::from_bytes(&bundle.to_bytes()).unwrap(),
                    bundle
                );
                let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, config).unwrap();
                assert!(alice.is_post_quantum());
                let m1 = alice.encrypt(&mut rng, b"post-quantum hello").unwrap();
                let p = prekey_message(&m1);
                assert_eq!(p.kem_ciphertext.len(), KEM_CIPHERTEXT_LEN);
                assert!(matches!(
                    message_kind(&m1).unwrap(),
                    MessageKind::PreKey { .. }
                ));
                let (mut bob_s, pt) =
                    Session::respond(&mut rng, &b.id, &mut b.store, &m1, config).unwrap();
                assert_eq!(pt, b"post-quantum hello");
                assert!(bob_s.is_post_quantum());
                let r = bob_s.encrypt(&mut rng, b"reply").unwrap();
                assert_eq!(alice.decrypt(&mut rng, &r).unwrap(), b"reply");
                assert!(!alice.is_awaiting_reply());
                let m2 = alice.encrypt(&mut rng, b"again").unwrap();
                assert_eq!(bob_s.decrypt(&mut rng, &m2).unwrap(), b"again");
                assert_eq!(alice.safety_number(), bob_s.safety_number());
            }
        }
    }
}

#[test]
fn bundles_without_kem_prekey_still_give_x3dh() {
    let mut rng = StdRng::seed_from_u64(1);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let mut b = bob(&mut rng, false);
    let bundle = PreKeyBundle::from_parts(&b.spk, Some(&b.opk)).unwrap();
    let mut alice =
        Session::initiate(&mut rng, &alice_id, &bundle, SessionConfig::default()).unwrap();
    assert!(!alice.is_post_quantum());
    let m1 = alice.encrypt(&mut rng, b"x3dh").unwrap();
    assert_eq!(prekey_message(&m1).kem_prekey_id, None);
    let (bob_s, _) =
        Session::respond(&mut rng, &b.id, &mut b.store, &m1, SessionConfig::default()).unwrap();
    assert!(!bob_s.is_post_quantum());
}

#[test]
fn bad_kem_prekey_signatures_are_refused() {
    let mut rng = StdRng::seed_from_u64(2);
    let b = bob(&mut rng, false);
    let other = IdentityKeyPair::generate(&mut rng);
    let mut other_store = PreKeyStore::new();
    let foreign = other_store.generate_one_time_kem_prekeys(&mut rng, &other, 1)[0].to_bytes();
    // Signed by another identity.
    assert_eq!(
        PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&foreign)),
        Err(Error::BadSignature("KEM prekey"))
    );
    // Each part valid for its own identity, put together: refused by the assembly itself.
    let foreign_verified = KemPreKeyPublic::from_bytes(&foreign, other.public()).unwrap();
    let signed = SignedPreKeyPublic::from_bytes(&b.spk).unwrap();
    assert_eq!(
        PreKeyBundle::new_pqxdh(signed.clone(), None, Some(foreign_verified)),
        Err(Error::BadSignature("KEM prekey"))
    );
    let own = KemPreKeyPublic::from_bytes(&b.kem_one_time[0], b.id.public()).unwrap();
    assert!(PreKeyBundle::new_pqxdh(signed, None, Some(own)).is_ok());
    // Any flipped field: signature, key bytes, id, kind.
    let good = wire::KemPreKeyPublic::decode(&b.kem_one_time[0][..]).unwrap();
    let edits: [fn(&mut wire::KemPreKeyPublic); 4] = [
        |k| k.signature[5] ^= 1,
        |k| k.public_key[100] ^= 1,
        |k| k.id += 1,
        |k| k.last_resort = !k.last_resort,
    ];
    for edit in edits {
        let mut k = good.clone();
        edit(&mut k);
        assert_eq!(
            PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&k.encode_to_vec())),
            Err(Error::BadSignature("KEM prekey"))
        );
    }
    let mut short = good.clone();
    short.signature.pop();
    assert_eq!(
        PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&short.encode_to_vec())),
        Err(Error::Malformed("KEM prekey signature"))
    );
}

#[test]
fn signed_but_invalid_kem_key_is_refused() {
    let mut rng = StdRng::seed_from_u64(3);
    let b = bob(&mut rng, false);
    // Coefficients >= q fail the FIPS 203 modulus check; a wrong length fails too.
    for key in [vec![0xFFu8; 1184], vec![0u8; 1183]] {
        let mut msg = KEM_PREKEY_CONTEXT.to_vec();
        msg.push(0);
        msg.extend_from_slice(&7u32.to_be_bytes());
        msg.extend_from_slice(&key);
        let k = wire::KemPreKeyPublic {
            id: 7,
            last_resort: false,
            public_key: key,
            signature: b.id.sign(&msg).to_vec(),
        };
        assert_eq!(
            KemPreKeyPublic::from_bytes(&k.encode_to_vec(), b.id.public()),
            Err(Error::InvalidKey("KEM prekey"))
        );
    }
}

/// Alice's first message to Bob over his first one-time KEM prekey.
fn first_message(rng: &mut StdRng, b: &Bob, config: SessionConfig) -> Vec<u8> {
    let alice_id = IdentityKeyPair::generate(rng);
    let bundle =
        PreKeyBundle::from_parts_pqxdh(&b.spk, Some(&b.opk), Some(&b.kem_one_time[0])).unwrap();
    let mut alice = Session::initiate(rng, &alice_id, &bundle, config).unwrap();
    alice.encrypt(rng, b"first").unwrap()
}

#[test]
fn wrong_kem_prekey_id_is_refused_and_store_unchanged() {
    let mut rng = StdRng::seed_from_u64(4);
    let mut b = bob(&mut rng, true);
    let m = first_message(&mut rng, &b, SessionConfig::default());
    let before = b.store.to_bytes();
    let bad = with_prekey_message(&m, |p| p.kem_prekey_id = Some(999));
    assert_eq!(
        Session::respond(
            &mut rng,
            &b.id,
            &mut b.store,
            &bad,
            SessionConfig::default()
        )
        .err(),
        Some(Error::UnknownKemPreKey(999))
    );
    // The id of the other one-time KEM prekey: it decapsulates to another secret.
    let other = with_prekey_message(&m, |p| p.kem_prekey_id = Some(1));
    assert_eq!(
        Session::respond(
            &mut rng,
            &b.id,
            &mut b.store,
            &other,
            SessionConfig::default()
        )
        .err(),
        Some(Error::DecryptionFailed)
    );
    assert_eq!(*before, *b.store.to_bytes());
    Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).unwrap();
}

#[test]
fn tampered_or_stripped_ciphertext_is_refused_and_store_unchanged() {
    for (config, err) in [
        (SessionConfig::default(), Error::DecryptionFailed),
        (he(), Error::HeaderDecryptionFailed),
    ] {
        let mut rng = StdRng::seed_from_u64(5);
        let mut b = bob(&mut rng, false);
        let m = first_message(&mut rng, &b, config);
        let before = b.store.to_bytes();
        let tampered = with_prekey_message(&m, |p| p.kem_ciphertext[17] ^= 0x40);
        assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &tampered, config).err(),
            Some(err.clone())
        );
        let short = with_prekey_message(&m, |p| {
            p.kem_ciphertext.pop();
        });
        assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &short, config).err(),
            Some(Error::Malformed("KEM ciphertext"))
        );
        // A ciphertext without a KEM prekey id, or an id without a ciphertext.
        let no_id = with_prekey_message(&m, |p| p.kem_prekey_id = None);
        assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &no_id, config).err(),
            Some(Error::Malformed("prekey message"))
        );
        let no_ct = with_prekey_message(&m, |p| p.kem_ciphertext.clear());
        assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &no_ct, config).err(),
            Some(Error::Malformed("KEM ciphertext"))
        );
        // Stripping the KEM fields leaves an X3DH message whose key and AD differ.
        let stripped = with_prekey_message(&m, |p| {
            p.kem_prekey_id = None;
            p.kem_ciphertext.clear();
        });
        assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &stripped, config).err(),
            Some(err)
        );
        assert_eq!(*before, *b.store.to_bytes());
        let (s, pt) = Session::respond(&mut rng, &b.id, &mut b.store, &m, config).unwrap();
        assert_eq!(pt, b"first");
        assert!(s.is_post_quantum());
    }
}

#[test]
fn one_time_kem_prekey_is_used_once_last_resort_many_times() {
    let mut rng = StdRng::seed_from_u64(6);
    let mut b = bob(&mut rng, true);
    assert_eq!(b.store.one_time_kem_prekey_count(), 2);
    let m = first_message(&mut rng, &b, SessionConfig::default());
    Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).unwrap();
    assert_eq!(b.store.one_time_kem_prekey_count(), 1);
    // A second initiator given the same one-time KEM prekey (a relay handing it out twice),
    // without the used one-time prekey.
    let m2 = {
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bundle =
            PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&b.kem_one_time[0])).unwrap();
        let mut a =
            Session::initiate(&mut rng, &alice_id, &bundle, SessionConfig::default()).unwrap();
        a.encrypt(&mut rng, b"second").unwrap()
    };
    let id = prekey_message(&m2).kem_prekey_id.unwrap();
    assert_eq!(
        Session::respond(&mut rng, &b.id, &mut b.store, &m2, SessionConfig::default()).err(),
        Some(Error::UnknownKemPreKey(id))
    );
    // The last-resort KEM prekey serves any number of initiators.
    let last = b.store.current_last_resort_kem_prekey(&b.id).unwrap();
    assert_eq!(last.kind(), KemPreKeyKind::LastResort);
    assert_eq!(last.to_bytes(), b.kem_last_resort);
    for _ in 0..3 {
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bundle =
            PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&b.kem_last_resort)).unwrap();
        let mut a =
            Session::initiate(&mut rng, &alice_id, &bundle, SessionConfig::default()).unwrap();
        let m = a.encrypt(&mut rng, b"hi").unwrap();
        Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).unwrap();
    }
    assert_eq!(b.store.one_time_kem_prekey_count(), 1);
    // The initial message replayed is still refused (base key remembered).
    assert_eq!(
        Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).err(),
        Some(Error::ReplayedInitialMessage)
    );
}

#[test]
fn last_resort_kem_prekeys_rotate_out() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut b = bob(&mut rng, false);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&b.kem_last_resort)).unwrap();
    let mut a = Session::initiate(&mut rng, &alice_id, &bundle, SessionConfig::default()).unwrap();
    let m = a.encrypt(&mut rng, b"late").unwrap();
    for _ in 0..hush_protocol::LAST_RESORT_KEM_PREKEYS_KEPT - 1 {
        b.store.rotate_last_resort_kem_prekey(&mut rng, &b.id);
    }
    let mut kept = PreKeyStore::from_bytes(&b.store.to_bytes()).unwrap();
    Session::respond(&mut rng, &b.id, &mut kept, &m, SessionConfig::default()).unwrap();
    b.store.rotate_last_resort_kem_prekey(&mut rng, &b.id);
    let id = prekey_message(&m).kem_prekey_id.unwrap();
    assert_eq!(
        Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).err(),
        Some(Error::UnknownKemPreKey(id))
    );
    assert_eq!(b.store.one_time_kem_prekey_count(), 2);
}

#[test]
fn stripped_kem_prekey_is_detected_as_downgrade() {
    let mut rng = StdRng::seed_from_u64(8);
    let mut b = bob(&mut rng, true);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    // The blobs without the KEM prekey.
    assert_eq!(
        PreKeyBundle::from_parts(&b.spk, Some(&b.opk)),
        Err(Error::PqxdhDowngrade)
    );
    assert_eq!(
        PreKeyBundle::from_parts_pqxdh(&b.spk, Some(&b.opk), None),
        Err(Error::PqxdhDowngrade)
    );
    // An encoded bundle with its KEM prekey removed.
    let full = PreKeyBundle::from_parts_pqxdh(&b.spk, Some(&b.opk), Some(&b.kem_last_resort))
        .unwrap()
        .to_bytes();
    let mut p = wire::PreKeyBundle::decode(&full[..]).unwrap();
    p.kem_prekey = None;
    assert_eq!(
        PreKeyBundle::from_bytes(&p.encode_to_vec()),
        Err(Error::PqxdhDowngrade)
    );
    // The offer flag cleared as well: the signed prekey's signature no longer verifies.
    p.signed_prekey.as_mut().unwrap().offers_pqxdh = false;
    assert_eq!(
        PreKeyBundle::from_bytes(&p.encode_to_vec()),
        Err(Error::BadSignature("signed prekey"))
    );
    // A bundle assembled by hand from verified parts is refused at initiation.
    let spk = hush_protocol::SignedPreKeyPublic::from_bytes(&b.spk).unwrap();
    let stripped = PreKeyBundle::new(spk, None);
    assert_eq!(
        Session::initiate(&mut rng, &alice_id, &stripped, SessionConfig::default()).err(),
        Some(Error::PqxdhDowngrade)
    );
    // The responder refuses an X3DH initial message made with a signed prekey that offers PQXDH.
    let m = first_message(&mut rng, &b, SessionConfig::default());
    let before = b.store.to_bytes();
    let x3dh_only = with_prekey_message(&m, |p| {
        p.kem_prekey_id = None;
        p.kem_ciphertext.clear();
    });
    assert_eq!(
        Session::respond(
            &mut rng,
            &b.id,
            &mut b.store,
            &x3dh_only,
            SessionConfig::default()
        )
        .err(),
        Some(Error::PqxdhDowngrade)
    );
    assert_eq!(*before, *b.store.to_bytes());
}

#[test]
fn saved_state_keeps_kem_prekeys_and_pending_ciphertext() {
    let mut rng = StdRng::seed_from_u64(9);
    let b = bob(&mut rng, true);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bundle = PreKeyBundle::from_parts_pqxdh(&b.spk, None, Some(&b.kem_one_time[1])).unwrap();
    let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, he()).unwrap();
    let m1 = alice.encrypt(&mut rng, b"one").unwrap();
    // A saved-and-restored initiator keeps sending the same KEM prekey id and ciphertext.
    let mut alice = Session::from_bytes(&alice.to_bytes()).unwrap();
    assert!(alice.is_post_quantum());
    let m2 = alice.encrypt(&mut rng, b"two").unwrap();
    let (p1, p2) = (prekey_message(&m1), prekey_message(&m2));
    assert_eq!(p1.kem_prekey_id, p2.kem_prekey_id);
    assert_eq!(p1.kem_ciphertext, p2.kem_ciphertext);
    // A saved-and-restored store still opens it, and so does a restored responder session.
    let mut store = PreKeyStore::from_bytes(&b.store.to_bytes()).unwrap();
    assert_eq!(store.one_time_kem_prekey_count(), 2);
    let (bob_s, _) = Session::respond(&mut rng, &b.id, &mut store, &m1, he()).unwrap();
    let mut bob_s = Session::from_bytes(&bob_s.to_bytes()).unwrap();
    assert!(bob_s.is_post_quantum());
    assert_eq!(bob_s.decrypt(&mut rng, &m2).unwrap(), b"two");
    let r = bob_s.encrypt(&mut rng, b"three").unwrap();
    assert_eq!(alice.decrypt(&mut rng, &r).unwrap(), b"three");
    // A repeat of the initial message with its KEM fields stripped is not this session's.
    let stripped = with_prekey_message(&m1, |p| {
        p.kem_prekey_id = None;
        p.kem_ciphertext.clear();
    });
    assert_eq!(
        bob_s.decrypt(&mut rng, &stripped).err(),
        Some(Error::SessionMismatch)
    );
    // Inconsistent pending KEM fields in a saved session are an error.
    let mut st = state::SessionState::decode(&alice.to_bytes()[..]).unwrap();
    assert!(st.pending_prekey.is_none());
    st.pqxdh_binding.pop();
    assert_eq!(
        Session::from_bytes(&st.encode_to_vec()).err(),
        Some(Error::InvalidKey("KEM binding"))
    );
}

#[test]
fn store_saved_before_pqxdh_still_opens() {
    // What a version-1 store written before PQXDH holds: no KEM fields at all.
    let mut rng = StdRng::seed_from_u64(10);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &id);
    store.generate_one_time_prekeys(&mut rng, 1);
    let st = state::PreKeyStoreState::decode(&store.to_bytes()[..]).unwrap();
    assert!(st.kem_prekeys.is_empty() && st.next_kem_prekey_id == 0);
    let old = state::PreKeyStoreState {
        version: 1,
        signed_prekeys: st.signed_prekeys.clone(),
        one_time_prekeys: st.one_time_prekeys.clone(),
        next_signed_prekey_id: st.next_signed_prekey_id,
        next_one_time_prekey_id: st.next_one_time_prekey_id,
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(old, *store.to_bytes());
    let mut restored = PreKeyStore::from_bytes(&old).unwrap();
    assert_eq!(restored.one_time_kem_prekey_count(), 0);
    assert!(restored.current_last_resort_kem_prekey(&id).is_none());
    assert_eq!(restored.current_signed_prekey(&id), Some(spk));
    // It can start offering PQXDH.
    let kem = restored.rotate_last_resort_kem_prekey(&mut rng, &id);
    assert_eq!(kem.id(), 0);
    let mut bad = state::PreKeyStoreState::decode(&restored.to_bytes()[..]).unwrap();
    bad.kem_prekeys[0].seed.pop();
    assert_eq!(
        PreKeyStore::from_bytes(&bad.encode_to_vec()).err(),
        Some(Error::InvalidKey("KEM prekey seed"))
    );
}

#[test]
fn debug_output_never_shows_kem_secrets() {
    let mut rng = StdRng::seed_from_u64(11);
    let b = bob(&mut rng, true);
    let kem = KemPreKeyPublic::from_bytes(&b.kem_one_time[0], b.id.public()).unwrap();
    let text = format!("{kem:?} {:?}", b.store);
    assert!(text.contains("KemPreKeyPublic(OneTime 0)"), "{text}");
    let st = state::PreKeyStoreState::decode(&b.store.to_bytes()[..]).unwrap();
    for k in &st.kem_prekeys {
        assert!(!text.contains(&format!("{:?}", &k.seed[..8])));
        assert!(!text.contains(&hex::encode(&k.seed[..8])));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// Any single bit flipped in the ciphertext is refused and leaves the store unchanged.
    #[test]
    fn any_ciphertext_bit_flip_is_refused(seed in any::<u64>(), byte in 0..KEM_CIPHERTEXT_LEN, bit in 0u8..8) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut b = bob(&mut rng, false);
        let m = first_message(&mut rng, &b, SessionConfig::default());
        let before = b.store.to_bytes();
        let bad = with_prekey_message(&m, |p| p.kem_ciphertext[byte] ^= 1 << bit);
        prop_assert_eq!(
            Session::respond(&mut rng, &b.id, &mut b.store, &bad, SessionConfig::default()).err(),
            Some(Error::DecryptionFailed)
        );
        prop_assert_eq!(&*before, &*b.store.to_bytes());
        let (_, pt) = Session::respond(&mut rng, &b.id, &mut b.store, &m, SessionConfig::default()).unwrap();
        prop_assert_eq!(pt, b"first".to_vec());
    }
}
