//! A group state blob written by an earlier release (openmls' in-memory store, state
//! version 1) still loads, and the group goes on from it.
//!
//! `group_state_v1.bin` holds Alice's and Bob's identities and group state blobs, and a
//! message Alice encrypted that Bob has not read yet. It was written by
//! `write_v1_fixture` (ignored; run it with `--ignored` to rewrite the fixture with the
//! current code, which then writes the current state version instead).

mod group_common;

use group_common::*;
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupClient, GroupId};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/group_state_v1.bin");

fn put(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&u32::try_from(field.len()).unwrap().to_be_bytes());
    out.extend_from_slice(field);
}

fn fields(mut bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (len, rest) = bytes.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (field, rest) = rest.split_at(len);
        out.push(field.to_vec());
        bytes = rest;
    }
    out
}

#[test]
#[ignore = "writes tests/group_state_v1.bin"]
fn write_v1_fixture() {
    let mut rng = rng(90);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let kb = bob.key_package(&mut rng);
    // An unused KeyPackage stays in Bob's store.
    let _spare = bob.key_package(&mut rng);
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    let up = bob.client.self_update(&mut rng, &g).unwrap();
    deliver_commit(&mut rng, &mut [&mut alice, &mut bob], &g, &up);
    let m = alice
        .client
        .encrypt(&mut rng, &g, b"across versions")
        .unwrap();

    let mut out = Vec::new();
    put(&mut out, &alice.id.to_bytes());
    put(&mut out, &alice.client.to_bytes().unwrap());
    put(&mut out, &bob.id.to_bytes());
    put(&mut out, &bob.client.to_bytes().unwrap());
    put(&mut out, &m);
    put(&mut out, g.as_slice());
    std::fs::write(FIXTURE, out).unwrap();
}

#[test]
fn v1_blob_loads_and_the_group_goes_on() {
    let f = fields(&std::fs::read(FIXTURE).unwrap());
    let alice_id = IdentityKeyPair::from_bytes(&f[0]).unwrap();
    let mut alice = Member {
        client: GroupClient::from_bytes(&alice_id, &f[1]).unwrap(),
        id: alice_id,
    };
    let bob_id = IdentityKeyPair::from_bytes(&f[2]).unwrap();
    let mut bob = Member {
        client: GroupClient::from_bytes(&bob_id, &f[3]).unwrap(),
        id: bob_id,
    };
    let g = GroupId::from_slice(&f[5]);
    let mut rng = rng(91);
    assert_eq!(alice.client.epoch(&g).unwrap(), 2);
    assert_agree(&[&alice, &bob], &g);
    assert_eq!(
        bob.read(&mut rng, &g, &f[4]),
        vec![b"across versions".to_vec()]
    );

    // The state written now loads too, and both go on committing and talking.
    let up = alice.client.self_update(&mut rng, &g).unwrap();
    deliver_commit(&mut rng, &mut [&mut alice, &mut bob], &g, &up);
    for m in [&mut alice, &mut bob] {
        let blob = m.client.to_bytes().unwrap();
        m.client = GroupClient::from_bytes(&m.id, &blob).unwrap();
    }
    assert_agree(&[&alice, &bob], &g);
    let m = bob.client.encrypt(&mut rng, &g, b"still talking").unwrap();
    assert_eq!(
        alice.read(&mut rng, &g, &m),
        vec![b"still talking".to_vec()]
    );
}
