//! 1:1 session behaviour through the public API.

use hush_protocol::{
    Error, IdentityKeyPair, MessageKind, PreKeyBundle, PreKeyStore, SafetyNumber, Session,
    SessionConfig, message_kind,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

struct Pair {
    rng: StdRng,
    alice_id: IdentityKeyPair,
    bob_id: IdentityKeyPair,
    bob_store: PreKeyStore,
    alice: Session,
    bob: Option<Session>,
}

fn setup(seed: u64, config: SessionConfig, with_opk: bool) -> (Pair, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut bob_store = PreKeyStore::new();
    let spk = bob_store.rotate_signed_prekey(&mut rng, &bob_id);
    let opks = bob_store.generate_one_time_prekeys(&mut rng, 3);
    let opk = with_opk.then(|| opks[1].to_bytes());
    let bundle = PreKeyBundle::from_parts(&spk.to_bytes(), opk.as_deref()).unwrap();
    let mut alice = Session::initiate(&mut rng, &alice_id, &bundle, config).unwrap();
    let first = alice.encrypt(&mut rng, b"first").unwrap();
    (
        Pair {
            rng,
            alice_id,
            bob_id,
            bob_store,
            alice,
            bob: None,
        },
        first,
    )
}

fn established(seed: u64, config: SessionConfig) -> Pair {
    let (mut p, first) = setup(seed, config, true);
    let (bob, pt) =
        Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &first, config).unwrap();
    assert_eq!(pt, b"first");
    p.bob = Some(bob);
    p
}

fn configs() -> [SessionConfig; 2] {
    [
        SessionConfig::default(),
        SessionConfig {
            header_encryption: true,
            ..SessionConfig::default()
        },
    ]
}

#[test]
fn round_trip_both_directions_with_ratchet_steps() {
    for config in configs() {
        let mut p = established(1, config);
        let bob = p.bob.as_mut().unwrap();
        for round in 0..5u8 {
            for i in 0..3u8 {
                let m = bob.encrypt(&mut p.rng, &[round, i, 1]).unwrap();
                assert_eq!(p.alice.decrypt(&mut p.rng, &m).unwrap(), [round, i, 1]);
            }
            for i in 0..2u8 {
                let m = p.alice.encrypt(&mut p.rng, &[round, i, 2]).unwrap();
                assert_eq!(bob.decrypt(&mut p.rng, &m).unwrap(), [round, i, 2]);
            }
        }
        assert!(!p.alice.is_awaiting_reply());
        assert_eq!(p.alice.header_encryption(), config.header_encryption);
        assert_eq!(bob.header_encryption(), config.header_encryption);
    }
}

#[test]
fn safety_numbers_match_on_both_sides() {
    let p = established(2, SessionConfig::default());
    let bob = p.bob.as_ref().unwrap();
    assert_eq!(p.alice.safety_number(), bob.safety_number());
    assert_eq!(
        p.alice.safety_number(),
        SafetyNumber::new(p.bob_id.public(), p.alice_id.public())
    );
    assert_eq!(p.alice.safety_number().digits().len(), 60);
    let other = IdentityKeyPair::generate(&mut rand::rng());
    assert_ne!(
        SafetyNumber::new(p.alice_id.public(), other.public()),
        p.alice.safety_number()
    );
}

#[test]
fn out_of_order_and_lost_messages() {
    for config in configs() {
        let mut p = established(3, config);
        let bob = p.bob.as_mut().unwrap();
        let msgs: Vec<_> = (0..10u8)
            .map(|i| bob.encrypt(&mut p.rng, &[i]).unwrap())
            .collect();
        // Deliver 5, then 1, skip 3 (lost), then 9, 0, 2, 4...
        for &i in &[5usize, 1, 9, 0, 2, 4, 6, 7, 8] {
            assert_eq!(p.alice.decrypt(&mut p.rng, &msgs[i]).unwrap(), [i as u8]);
        }
        assert_eq!(
            p.alice.skipped_key_count(),
            1,
            "only the lost message's key is kept"
        );
        // A reply, a new chain from Bob, and the old chain's lost message arrives late.
        let r = p.alice.encrypt(&mut p.rng, b"reply").unwrap();
        assert_eq!(bob.decrypt(&mut p.rng, &r).unwrap(), b"reply");
        let n = bob.encrypt(&mut p.rng, b"new chain").unwrap();
        assert_eq!(p.alice.decrypt(&mut p.rng, &n).unwrap(), b"new chain");
        assert_eq!(p.alice.decrypt(&mut p.rng, &msgs[3]).unwrap(), [3]);
        assert_eq!(p.alice.skipped_key_count(), 0);
    }
}

#[test]
fn replay_and_tamper_rejected_without_state_change() {
    for config in configs() {
        let mut p = established(4, config);
        let bob = p.bob.as_mut().unwrap();
        let m0 = bob.encrypt(&mut p.rng, b"zero").unwrap();
        let m1 = bob.encrypt(&mut p.rng, b"one").unwrap();
        assert_eq!(p.alice.decrypt(&mut p.rng, &m0).unwrap(), b"zero");
        assert_eq!(
            p.alice.decrypt(&mut p.rng, &m0).unwrap_err(),
            Error::DuplicateMessage
        );
        let before = p.alice.to_bytes();
        for i in 0..m1.len() {
            let mut bad = m1.clone();
            bad[i] ^= 0x40;
            assert!(p.alice.decrypt(&mut p.rng, &bad).is_err(), "byte {i}");
            assert_eq!(
                *p.alice.to_bytes(),
                *before,
                "state changed by tampered byte {i}"
            );
        }
        assert_eq!(p.alice.decrypt(&mut p.rng, &m1).unwrap(), b"one");
    }
}

#[test]
fn too_far_ahead_is_rejected_then_normal_messages_work() {
    let config = SessionConfig {
        max_skip: 5,
        max_skipped_total: 10,
        header_encryption: false,
    };
    let mut p = established(5, config);
    let bob = p.bob.as_mut().unwrap();
    let msgs: Vec<_> = (0..8u8)
        .map(|i| bob.encrypt(&mut p.rng, &[i]).unwrap())
        .collect();
    let before = p.alice.to_bytes();
    assert!(matches!(
        p.alice.decrypt(&mut p.rng, &msgs[7]),
        Err(Error::TooFarAhead {
            skip: 7,
            max_skip: 5
        })
    ));
    assert_eq!(*p.alice.to_bytes(), *before);
    assert_eq!(p.alice.decrypt(&mut p.rng, &msgs[5]).unwrap(), [5]);
    assert_eq!(p.alice.decrypt(&mut p.rng, &msgs[7]).unwrap(), [7]);
}

#[test]
fn skipped_keys_are_bounded_in_total_oldest_evicted() {
    let config = SessionConfig {
        max_skip: 10,
        max_skipped_total: 12,
        header_encryption: false,
    };
    let mut p = established(6, config);
    let bob = p.bob.as_mut().unwrap();
    let mut all = Vec::new();
    for _round in 0..2 {
        let msgs: Vec<_> = (0..11u8)
            .map(|i| bob.encrypt(&mut p.rng, &[i]).unwrap())
            .collect();
        // Only the last of each chain arrives: 10 keys skipped per chain.
        p.alice.decrypt(&mut p.rng, &msgs[10]).unwrap();
        let r = p.alice.encrypt(&mut p.rng, b"r").unwrap();
        bob.decrypt(&mut p.rng, &r).unwrap();
        all.push(msgs);
    }
    assert_eq!(p.alice.skipped_key_count(), 12);
    // The oldest chain's first 8 keys were evicted; its last two are still there.
    assert_eq!(
        p.alice.decrypt(&mut p.rng, &all[0][0]).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(p.alice.decrypt(&mut p.rng, &all[0][9]).unwrap(), [9]);
    assert_eq!(p.alice.decrypt(&mut p.rng, &all[1][0]).unwrap(), [0]);
}

#[test]
fn initial_message_replay_does_not_open_second_session() {
    for with_opk in [true, false] {
        let config = SessionConfig::default();
        let (mut p, first) = setup(7, config, with_opk);
        let opks_before = p.bob_store.one_time_prekey_count();
        let (mut bob, _) =
            Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &first, config).unwrap();
        assert_eq!(
            p.bob_store.one_time_prekey_count(),
            opks_before - usize::from(with_opk),
            "one-time prekey deleted after use"
        );
        let again = Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &first, config);
        assert_eq!(again.unwrap_err(), Error::ReplayedInitialMessage);
        // The established session treats the replay as a duplicate message.
        assert_eq!(
            bob.decrypt(&mut p.rng, &first).unwrap_err(),
            Error::DuplicateMessage
        );
        // Second initial-form message (Alice has not heard back) goes to the existing session.
        let second = p.alice.encrypt(&mut p.rng, b"second").unwrap();
        assert!(matches!(
            message_kind(&second).unwrap(),
            MessageKind::PreKey { .. }
        ));
        assert_eq!(bob.decrypt(&mut p.rng, &second).unwrap(), b"second");
        let reply = bob.encrypt(&mut p.rng, b"reply").unwrap();
        assert_eq!(message_kind(&reply).unwrap(), MessageKind::Ratchet);
        p.alice.decrypt(&mut p.rng, &reply).unwrap();
        let third = p.alice.encrypt(&mut p.rng, b"third").unwrap();
        assert_eq!(message_kind(&third).unwrap(), MessageKind::Ratchet);
    }
}

#[test]
fn failed_respond_leaves_store_unchanged() {
    let config = SessionConfig::default();
    let (mut p, first) = setup(8, config, true);
    let before = p.bob_store.to_bytes();
    let mut bad = first.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert!(Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &bad, config).is_err());
    assert_eq!(*p.bob_store.to_bytes(), *before);
    Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &first, config).unwrap();
}

#[test]
fn bundle_with_bad_signature_is_rejected() {
    let mut rng = StdRng::seed_from_u64(9);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob).to_bytes();
    for i in 0..spk.len() {
        let mut bad = spk.clone();
        bad[i] ^= 0x01;
        assert!(PreKeyBundle::from_parts(&bad, None).is_err(), "byte {i}");
    }
}

#[test]
fn state_round_trips_and_bad_blobs_are_errors() {
    for config in configs() {
        let mut p = established(10, config);
        let bob = p.bob.take().unwrap();
        let mut bob = Session::from_bytes(&bob.to_bytes()).unwrap();
        let m = bob.encrypt(&mut p.rng, b"persisted").unwrap();
        let mut alice = Session::from_bytes(&p.alice.to_bytes()).unwrap();
        assert_eq!(alice.decrypt(&mut p.rng, &m).unwrap(), b"persisted");
        let blob = alice.to_bytes();
        for cut in [0, 1, blob.len() / 2, blob.len() - 1] {
            assert!(Session::from_bytes(&blob[..cut]).is_err(), "cut at {cut}");
        }
        assert!(Session::from_bytes(b"not a session at all").is_err());
        let id = IdentityKeyPair::from_bytes(&p.alice_id.to_bytes()).unwrap();
        assert_eq!(id.public(), p.alice_id.public());
        let store = PreKeyStore::from_bytes(&p.bob_store.to_bytes()).unwrap();
        assert_eq!(*store.to_bytes(), *p.bob_store.to_bytes());
    }
}

#[test]
fn wrong_version_is_rejected() {
    let (_p, first) = setup(11, SessionConfig::default(), true);
    // Field 1 (version) is the first byte pair: 0x08 0x01.
    assert_eq!(&first[..2], &[0x08, 0x01]);
    let mut v2 = first.clone();
    v2[1] = 2;
    assert_eq!(
        message_kind(&v2).unwrap_err(),
        Error::UnsupportedVersion {
            what: "message",
            version: 2
        }
    );
}

#[test]
fn debug_output_never_shows_secret_bytes() {
    let p = established(12, SessionConfig::default());
    let state = p.alice.to_bytes();
    let identity_state = p.alice_id.to_bytes();
    let shown = format!(
        "{:?} {:?} {:?} {:?}",
        p.alice, p.alice_id, p.bob_store, p.bob
    );
    // No 8-byte window of any serialized secret state appears in hex in the Debug output.
    for blob in [&state[..], &identity_state[..], &p.bob_store.to_bytes()[..]] {
        for w in blob.windows(8).step_by(8) {
            let hex: String = w.iter().map(|b| format!("{b:02x}")).collect();
            assert!(!shown.contains(&hex), "Debug output leaks {hex}");
        }
    }
    assert!(shown.contains("IdentityPublicKey("));
}

#[test]
fn base_key_with_top_bit_flipped_is_not_a_new_session() {
    use hush_protocol::proto::wire;
    use prost::Message;
    let config = SessionConfig::default();
    let (mut p, first) = setup(13, config, false);
    Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &first, config).unwrap();
    let mut m = wire::HushMessage::decode(&first[..]).unwrap();
    let Some(wire::hush_message::Body::Prekey(pk)) = m.body.as_mut() else {
        panic!("expected a prekey message");
    };
    pk.base_key[31] ^= 0x80;
    let flipped = m.encode_to_vec();
    assert_eq!(
        Session::respond(&mut p.rng, &p.bob_id, &mut p.bob_store, &flipped, config).unwrap_err(),
        Error::InvalidKey("base")
    );
}

/// The three newest signed prekeys stay usable ([`hush_protocol::SIGNED_PREKEYS_KEPT`]): an
/// initial message made from a bundle two rotations old is accepted, and one made from a
/// bundle three rotations old is refused as an unknown signed prekey.
#[test]
fn the_newest_signed_prekeys_are_kept_and_no_more() {
    assert_eq!(hush_protocol::SIGNED_PREKEYS_KEPT, 3);
    let mut rng = StdRng::seed_from_u64(41);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let first = store.rotate_signed_prekey(&mut rng, &bob);
    let bundle = PreKeyBundle::from_parts(&first.to_bytes(), None).unwrap();
    let initial = |rng: &mut StdRng| {
        let mut s = Session::initiate(rng, &alice, &bundle, SessionConfig::default()).unwrap();
        s.encrypt(rng, b"hi").unwrap()
    };
    store.rotate_signed_prekey(&mut rng, &bob);
    store.rotate_signed_prekey(&mut rng, &bob);
    let m = initial(&mut rng);
    let (_, pt) = Session::respond(&mut rng, &bob, &mut store, &m, SessionConfig::default())
        .expect("two rotations later, the first signed prekey is still held");
    assert_eq!(pt, b"hi");
    store.rotate_signed_prekey(&mut rng, &bob);
    let m = initial(&mut rng);
    assert_eq!(
        Session::respond(&mut rng, &bob, &mut store, &m, SessionConfig::default()).err(),
        Some(Error::UnknownSignedPreKey(first.id()))
    );
}

/// Public prekeys and the prekey store show what they are in `Debug`, and no secret.
#[test]
fn prekey_debug_names_the_type() {
    let mut rng = StdRng::seed_from_u64(42);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob);
    let opk = store.generate_one_time_prekeys(&mut rng, 1).remove(0);
    assert!(
        format!("{spk:?}").starts_with("SignedPreKeyPublic"),
        "{spk:?}"
    );
    assert!(
        format!("{opk:?}").starts_with("OneTimePreKeyPublic"),
        "{opk:?}"
    );
    assert!(format!("{store:?}").starts_with("PreKeyStore"), "{store:?}");
}
