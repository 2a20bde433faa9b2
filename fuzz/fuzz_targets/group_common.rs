#![allow(dead_code)]
//! A fixed three-member group for the group targets, built once from a seeded generator.

use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupClient, GroupConfig, GroupId};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub struct GroupFixture {
    pub group: GroupId,
    pub bob_identity: Vec<u8>,
    /// Bob's client at epoch 1, right after joining Alice's group.
    pub bob_state: Vec<u8>,
    pub carol_identity: Vec<u8>,
    /// Carol's client: KeyPackages published, no group yet.
    pub carol_state: Vec<u8>,
    /// What Bob can process: an application message of epoch 1, Alice's commit adding Carol
    /// (epoch 1 -> 2) and an application message of epoch 2 (buffered at epoch 1).
    pub for_bob: Vec<Vec<u8>>,
    /// The Welcome that lets Carol join.
    pub welcome: Vec<u8>,
    /// A KeyPackage of Bob's (not a message Bob should process).
    pub key_package: Vec<u8>,
}

pub fn rng() -> StdRng {
    StdRng::seed_from_u64(0x4755_5348)
}

/// The client restored from `state` for `identity`.
pub fn client(identity: &[u8], state: &[u8]) -> (IdentityKeyPair, GroupClient) {
    let id = IdentityKeyPair::from_bytes(identity).expect("fixture identity");
    let c = GroupClient::from_bytes(&id, state).expect("fixture group state");
    (id, c)
}

pub fn group_fixture() -> &'static GroupFixture {
    static F: std::sync::OnceLock<GroupFixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let mut rng = rng();
        let config = GroupConfig::default();
        let alice_id = IdentityKeyPair::generate(&mut rng);
        let bob_id = IdentityKeyPair::generate(&mut rng);
        let carol_id = IdentityKeyPair::generate(&mut rng);
        let mut alice = GroupClient::new(&alice_id, config).expect("fixture");
        let mut bob = GroupClient::new(&bob_id, config).expect("fixture");
        let mut carol = GroupClient::new(&carol_id, config).expect("fixture");
        let kb = bob.generate_key_packages(&mut rng, 2).expect("fixture");
        let kc = carol.generate_key_packages(&mut rng, 2).expect("fixture");
        let group = alice.create_group(&mut rng).expect("fixture");
        let add_bob = alice
            .add_members(&mut rng, &group, &[&kb[0]])
            .expect("fixture");
        alice
            .process(&mut rng, &group, &add_bob.commit)
            .expect("fixture");
        let welcome_bob = add_bob.welcome_for(0).expect("fixture");
        bob.join(&mut rng, &welcome_bob, None).expect("fixture");
        let bob_state = bob.to_bytes().expect("fixture").to_vec();
        let app1 = alice
            .encrypt(&mut rng, &group, b"epoch one")
            .expect("fixture");
        let add_carol = alice
            .add_members(&mut rng, &group, &[&kc[0]])
            .expect("fixture");
        alice
            .process(&mut rng, &group, &add_carol.commit)
            .expect("fixture");
        let app2 = alice
            .encrypt(&mut rng, &group, b"epoch two")
            .expect("fixture");
        let welcome = add_carol.welcome_for(0).expect("fixture");
        GroupFixture {
            group,
            bob_identity: bob_id.to_bytes().to_vec(),
            bob_state,
            carol_identity: carol_id.to_bytes().to_vec(),
            carol_state: carol.to_bytes().expect("fixture").to_vec(),
            for_bob: vec![app1, add_carol.commit, app2],
            welcome,
            key_package: kb[1].clone(),
        }
    })
}
