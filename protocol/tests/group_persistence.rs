//! A member's group state survives a restart; wrong or truncated blobs are errors.

mod group_common;

use group_common::*;
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupClient, GroupError, GroupEvent};

#[test]
fn state_survives_restart_mid_life() {
    let mut rng = rng(20);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let mut carol = Member::new(&mut rng);
    // Bob's unused KeyPackage must survive the restart too.
    let kc = carol.key_package(&mut rng);
    let kb = bob.key_package(&mut rng);
    let bob_blob = bob.client.to_bytes().unwrap();
    bob.client = GroupClient::from_bytes(&bob.id, &bob_blob).unwrap();

    let g = alice.client.create_group(&mut rng).unwrap();
    let add = alice.client.add_members(&mut rng, &g, &[&kb, &kc]).unwrap();
    // Restart Alice while her commit is pending: it is still recognised when echoed.
    let blob = alice.client.to_bytes().unwrap();
    alice.client = GroupClient::from_bytes(&alice.id, &blob).unwrap();
    assert!(alice.client.has_pending_commit(&g).unwrap());
    assert_eq!(
        alice.client.process(&mut rng, &g, &add.commit).unwrap(),
        vec![GroupEvent::OwnCommitApplied { epoch: 1 }]
    );
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    carol
        .client
        .join(&mut rng, &add.welcome_for(1).unwrap(), None)
        .unwrap();

    // Carol buffers a future message, then restarts: the buffer is persisted.
    let up = alice.client.self_update(&mut rng, &g).unwrap();
    alice.client.process(&mut rng, &g, &up.commit).unwrap();
    bob.client.process(&mut rng, &g, &up.commit).unwrap();
    let m = alice
        .client
        .encrypt(&mut rng, &g, b"after restart")
        .unwrap();
    carol.client.process(&mut rng, &g, &m).unwrap();
    let blob = carol.client.to_bytes().unwrap();
    carol.client = GroupClient::from_bytes(&carol.id, &blob).unwrap();
    assert_eq!(carol.client.buffered_messages(&g).unwrap(), 1);
    let ev = carol.client.process(&mut rng, &g, &up.commit).unwrap();
    assert!(ev.iter().any(
        |e| matches!(e, GroupEvent::Application { plaintext, .. } if plaintext == b"after restart")
    ));

    // Restart everyone; the group goes on.
    for mem in [&mut alice, &mut bob, &mut carol] {
        let blob = mem.client.to_bytes().unwrap();
        mem.client = GroupClient::from_bytes(&mem.id, &blob).unwrap();
    }
    assert_agree(&[&alice, &bob, &carol], &g);
    let m = bob.client.encrypt(&mut rng, &g, b"still here").unwrap();
    assert_eq!(alice.read(&mut rng, &g, &m), vec![b"still here".to_vec()]);
    assert_eq!(carol.read(&mut rng, &g, &m), vec![b"still here".to_vec()]);
    // Encoding is deterministic for the same state.
    assert_eq!(
        *alice.client.to_bytes().unwrap(),
        *alice.client.to_bytes().unwrap()
    );
}

#[test]
fn wrong_truncated_or_altered_blobs_are_errors() {
    let mut rng = rng(21);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let kb = bob.key_package(&mut rng);
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    let blob = alice.client.to_bytes().unwrap();

    // Another identity.
    let other = IdentityKeyPair::generate(&mut rng);
    assert!(matches!(
        GroupClient::from_bytes(&other, &blob),
        Err(GroupError::InvalidCredential(_))
    ));
    // Every truncation (sampled across the blob, plus the last bytes).
    let n = blob.len();
    let mut cuts: Vec<usize> = (0..n).step_by((n / 300).max(1)).collect();
    cuts.extend(n.saturating_sub(40)..n);
    for cut in cuts {
        assert!(
            GroupClient::from_bytes(&alice.id, &blob[..cut]).is_err(),
            "truncated at {cut} of {n} accepted"
        );
    }
    // Single altered bytes.
    for i in (0..n).step_by((n / 200).max(1)) {
        let mut bad = blob.to_vec();
        bad[i] ^= 0x01;
        assert!(
            GroupClient::from_bytes(&alice.id, &bad).is_err(),
            "flip at {i} accepted"
        );
    }
    // Garbage and an interop reader.
    assert!(GroupClient::from_bytes(&alice.id, b"not a group state").is_err());
    assert!(GroupClient::interop_from_bytes(&blob).is_err());
    // The original still loads.
    let back = GroupClient::from_bytes(&alice.id, &blob).unwrap();
    assert_eq!(
        back.epoch_authenticator(&g).unwrap(),
        alice.client.epoch_authenticator(&g).unwrap()
    );
}
