//! Shared helpers for the group tests: members and a relay that orders each group's log.

#![allow(dead_code)]

use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{CommitOutput, GroupClient, GroupConfig, GroupEvent, GroupId};
use rand::SeedableRng;
use rand::rngs::StdRng;

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

pub struct Member {
    pub id: IdentityKeyPair,
    pub client: GroupClient,
}

impl Member {
    pub fn new(rng: &mut StdRng) -> Self {
        Self::with_config(rng, GroupConfig::default())
    }

    pub fn with_config(rng: &mut StdRng, config: GroupConfig) -> Self {
        let id = IdentityKeyPair::generate(rng);
        let client = GroupClient::new(&id, config).expect("client");
        Self { id, client }
    }

    pub fn key_package(&mut self, rng: &mut StdRng) -> Vec<u8> {
        self.client
            .generate_key_packages(rng, 1)
            .expect("key package")
            .remove(0)
    }

    /// Processes a message and returns the plaintexts of application messages it yielded.
    pub fn read(&mut self, rng: &mut StdRng, g: &GroupId, msg: &[u8]) -> Vec<Vec<u8>> {
        self.client
            .process(rng, g, msg)
            .expect("process")
            .into_iter()
            .filter_map(|e| match e {
                GroupEvent::Application { plaintext, .. } => Some(plaintext),
                _ => None,
            })
            .collect()
    }
}

/// Applies an accepted commit at every listed member (the committer included: the relay
/// echoes the log to everyone).
pub fn deliver_commit(
    rng: &mut StdRng,
    members: &mut [&mut Member],
    g: &GroupId,
    c: &CommitOutput,
) {
    for m in members.iter_mut() {
        m.client.process(rng, g, &c.commit).expect("commit applies");
    }
}

/// Asserts every listed member is on the same epoch with the same authenticator.
pub fn assert_agree(members: &[&Member], g: &GroupId) {
    let first = members[0].client.epoch_authenticator(g).expect("auth");
    let epoch = members[0].client.epoch(g).expect("epoch");
    for m in members {
        assert_eq!(m.client.epoch(g).expect("epoch"), epoch);
        assert_eq!(m.client.epoch_authenticator(g).expect("auth"), first);
    }
}
