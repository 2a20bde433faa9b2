#![allow(dead_code)]
//! A fixed Alice/Bob pair shared by the targets, built once from a seeded generator.

use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, SessionConfig};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub struct Fixture {
    pub bob_identity: Vec<u8>,
    pub bob_store: Vec<u8>,
    /// Alice's session after a full exchange (both chains exist, one key skipped).
    pub alice_session: Vec<u8>,
    /// Messages from Bob that `alice_session` decrypts, with their plaintexts: the skipped
    /// one, the next in the chain, one further on (skipping keys) and one that starts a new
    /// DH ratchet step.
    pub pending: Vec<(Vec<u8>, Vec<u8>)>,
    /// Bob's session (after sending everything in `pending`).
    pub bob_session: Vec<u8>,
    /// Alice's first message to Bob (an X3DH initial message).
    pub initial: Vec<u8>,
}

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(0x4855_5348)
}

pub fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let mut rng = rng();
        let alice = IdentityKeyPair::generate(&mut rng);
        let bob = IdentityKeyPair::generate(&mut rng);
        let mut store = PreKeyStore::new();
        let spk = store.rotate_signed_prekey(&mut rng, &bob);
        let opks = store.generate_one_time_prekeys(&mut rng, 4);
        let bundle = PreKeyBundle::new(spk, Some(opks[0]));
        let bob_store = store.to_bytes().to_vec();
        let config = SessionConfig::default();
        let mut a = Session::initiate(&mut rng, &alice, &bundle, config).expect("fixture");
        let m = a.encrypt(&mut rng, b"hello").expect("fixture");
        let (mut b, _) = Session::respond(&mut rng, &bob, &mut store, &m, config).expect("fixture");
        let skipped = b.encrypt(&mut rng, b"lost").expect("fixture");
        let r = b.encrypt(&mut rng, b"reply").expect("fixture");
        a.decrypt(&mut rng, &r).expect("fixture");
        let alice_session = a.to_bytes().to_vec();
        let mut pending = vec![(skipped, b"lost".to_vec())];
        let next = b.encrypt(&mut rng, b"next").expect("fixture");
        pending.push((next, b"next".to_vec()));
        for _ in 0..3 {
            b.encrypt(&mut rng, b"dropped").expect("fixture");
        }
        let far = b.encrypt(&mut rng, b"far").expect("fixture");
        pending.push((far, b"far".to_vec()));
        // Alice answers (from a copy: the fixed state has not sent it), Bob turns the ratchet.
        let mut a2 = Session::from_bytes(&alice_session).expect("fixture");
        let answer = a2.encrypt(&mut rng, b"answer").expect("fixture");
        b.decrypt(&mut rng, &answer).expect("fixture");
        let turned = b.encrypt(&mut rng, b"new ratchet").expect("fixture");
        pending.push((turned, b"new ratchet".to_vec()));
        Fixture {
            bob_identity: bob.to_bytes().to_vec(),
            bob_store,
            alice_session,
            pending,
            bob_session: b.to_bytes().to_vec(),
            initial: m,
        }
    })
}
