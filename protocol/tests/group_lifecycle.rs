//! Group lifecycle: create, add, send, remove, re-add, update, leave.

mod group_common;

use group_common::*;
use hush_protocol::SafetyNumber;
use hush_protocol::group::{GroupError, GroupEvent};

#[test]
fn three_members_create_add_send_remove_readd() {
    let mut rng = rng(1);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let mut carol = Member::new(&mut rng);

    let g = alice.client.create_group(&mut rng).unwrap();
    assert_eq!(alice.client.epoch(&g).unwrap(), 0);
    let kb = bob.key_package(&mut rng);
    let kc = carol.key_package(&mut rng);
    let add = alice.client.add_members(&mut rng, &g, &[&kb, &kc]).unwrap();
    assert_eq!(add.epoch, 0);
    assert_eq!(add.new_members.len(), 2);
    assert_eq!(add.new_members[0].identity, *bob.id.public());
    // The relay accepts the commit and echoes it to Alice.
    let ev = alice.client.process(&mut rng, &g, &add.commit).unwrap();
    assert_eq!(ev, vec![GroupEvent::OwnCommitApplied { epoch: 1 }]);
    assert_eq!(
        bob.client
            .join(&mut rng, &add.welcome_for(0).unwrap(), None)
            .unwrap(),
        g
    );
    assert_eq!(
        carol
            .client
            .join(&mut rng, &add.welcome_for(1).unwrap(), None)
            .unwrap(),
        g
    );
    assert_agree(&[&alice, &bob, &carol], &g);

    // Everyone sees the same members, and the safety numbers are the 1:1 layer's.
    let members = bob.client.members(&g).unwrap();
    let ids: Vec<_> = members.iter().map(|m| m.identity.clone()).collect();
    assert_eq!(
        ids,
        vec![
            alice.id.public().clone(),
            bob.id.public().clone(),
            carol.id.public().clone()
        ]
    );
    assert_eq!(
        bob.client.safety_number(alice.id.public()).unwrap(),
        SafetyNumber::new(alice.id.public(), bob.id.public())
    );

    // Messages in both directions, with authenticated data.
    let m1 = alice
        .client
        .encrypt_with_aad(&mut rng, &g, b"hi all", b"ad-1")
        .unwrap();
    let ev = bob.client.process(&mut rng, &g, &m1).unwrap();
    match &ev[..] {
        [
            GroupEvent::Application {
                epoch,
                sender,
                plaintext,
                authenticated_data,
            },
        ] => {
            assert_eq!(*epoch, 1);
            assert_eq!(sender.identity, *alice.id.public());
            assert_eq!(plaintext, b"hi all");
            assert_eq!(authenticated_data, b"ad-1");
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(carol.read(&mut rng, &g, &m1), vec![b"hi all".to_vec()]);
    // Alice's own message echoed back by the relay is recognised, not decrypted.
    assert_eq!(
        alice.client.process(&mut rng, &g, &m1).unwrap(),
        vec![GroupEvent::OwnMessage { epoch: 1 }]
    );
    let m2 = bob.client.encrypt(&mut rng, &g, b"from bob").unwrap();
    assert_eq!(alice.read(&mut rng, &g, &m2), vec![b"from bob".to_vec()]);
    assert_eq!(carol.read(&mut rng, &g, &m2), vec![b"from bob".to_vec()]);

    // Carol's state before her removal, kept to show it cannot read later messages.
    let carol_before = carol.client.to_bytes().unwrap();

    // Alice removes Carol.
    let rm = alice
        .client
        .remove_members(&mut rng, &g, &[carol.id.public().clone()])
        .unwrap();
    assert!(rm.welcome.is_none());
    alice.client.process(&mut rng, &g, &rm.commit).unwrap();
    let ev = bob.client.process(&mut rng, &g, &rm.commit).unwrap();
    match &ev[..] {
        [
            GroupEvent::Commit {
                epoch: 2,
                committer,
                removed,
                added,
            },
        ] => {
            assert_eq!(committer.as_ref().unwrap().identity, *alice.id.public());
            assert_eq!(removed.len(), 1);
            assert_eq!(removed[0].identity, *carol.id.public());
            assert!(added.is_empty());
        }
        other => panic!("unexpected events {other:?}"),
    }
    assert_eq!(
        carol.client.process(&mut rng, &g, &rm.commit).unwrap(),
        vec![GroupEvent::RemovedFromGroup { epoch: 2 }]
    );
    assert!(!carol.client.is_active(&g).unwrap());
    assert_agree(&[&alice, &bob], &g);
    assert_eq!(alice.client.member_count(&g).unwrap(), 2);

    // Sent after the removal: Bob reads it, Carol cannot.
    let m3 = alice
        .client
        .encrypt(&mut rng, &g, b"secret after removal")
        .unwrap();
    assert_eq!(
        bob.read(&mut rng, &g, &m3),
        vec![b"secret after removal".to_vec()]
    );
    assert_eq!(
        carol.client.process(&mut rng, &g, &m3),
        Err(GroupError::NotAMember)
    );
    // Nor can a copy of Carol that never saw the removal: the message is for an epoch she
    // never reaches, and the removal commit ends her membership without yielding it.
    let mut stale =
        hush_protocol::group::GroupClient::from_bytes(&carol.id, &carol_before).unwrap();
    assert_eq!(
        stale.process(&mut rng, &g, &m3).unwrap(),
        vec![GroupEvent::Buffered { epoch: 2 }]
    );
    let ev = stale.process(&mut rng, &g, &rm.commit).unwrap();
    assert_eq!(ev, vec![GroupEvent::RemovedFromGroup { epoch: 2 }]);
    assert!(
        ev.iter()
            .all(|e| !matches!(e, GroupEvent::Application { .. }))
    );

    // Carol is re-added with a fresh KeyPackage and reads again.
    let kc2 = carol.key_package(&mut rng);
    let readd = bob.client.add_members(&mut rng, &g, &[&kc2]).unwrap();
    bob.client.process(&mut rng, &g, &readd.commit).unwrap();
    alice.client.process(&mut rng, &g, &readd.commit).unwrap();
    assert_eq!(
        carol
            .client
            .join(&mut rng, &readd.welcome_for(0).unwrap(), None)
            .unwrap(),
        g
    );
    assert!(carol.client.is_active(&g).unwrap());
    assert_agree(&[&alice, &bob, &carol], &g);
    let m4 = alice.client.encrypt(&mut rng, &g, b"welcome back").unwrap();
    assert_eq!(
        carol.read(&mut rng, &g, &m4),
        vec![b"welcome back".to_vec()]
    );
    assert_eq!(bob.read(&mut rng, &g, &m4), vec![b"welcome back".to_vec()]);
}

#[test]
fn self_update_and_leave() {
    let mut rng = rng(2);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let mut carol = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let (kb, kc) = (bob.key_package(&mut rng), carol.key_package(&mut rng));
    let add = alice.client.add_members(&mut rng, &g, &[&kb, &kc]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    bob.client
        .join(&mut rng, add.welcome.as_ref().unwrap(), None)
        .unwrap();
    carol
        .client
        .join(&mut rng, add.welcome.as_ref().unwrap(), None)
        .unwrap();

    // Bob refreshes his leaf; the epoch authenticator changes and everyone agrees.
    let before = alice.client.epoch_authenticator(&g).unwrap();
    let upd = bob.client.self_update(&mut rng, &g).unwrap();
    assert_eq!(upd.epoch, 1);
    deliver_commit(&mut rng, &mut [&mut alice, &mut bob, &mut carol], &g, &upd);
    assert_ne!(alice.client.epoch_authenticator(&g).unwrap(), before);
    assert_agree(&[&alice, &bob, &carol], &g);

    // Carol leaves: her proposal goes through the log, Alice commits it.
    let leave = carol.client.leave(&mut rng, &g).unwrap();
    let ev = alice.client.process(&mut rng, &g, &leave).unwrap();
    assert!(matches!(
        &ev[..],
        [GroupEvent::Proposal {
            removes: Some(2),
            ..
        }]
    ));
    bob.client.process(&mut rng, &g, &leave).unwrap();
    // Sending is refused while a proposal is pending.
    assert_eq!(
        alice.client.encrypt(&mut rng, &g, b"x"),
        Err(GroupError::PendingProposals)
    );
    let commit = alice.client.commit_pending_proposals(&mut rng, &g).unwrap();
    alice.client.process(&mut rng, &g, &commit.commit).unwrap();
    bob.client.process(&mut rng, &g, &commit.commit).unwrap();
    assert_eq!(
        carol.client.process(&mut rng, &g, &commit.commit).unwrap(),
        vec![GroupEvent::RemovedFromGroup { epoch: 3 }]
    );
    assert_agree(&[&alice, &bob], &g);
    assert_eq!(bob.client.member_count(&g).unwrap(), 2);
    let m = bob.client.encrypt(&mut rng, &g, b"just us").unwrap();
    assert_eq!(alice.read(&mut rng, &g, &m), vec![b"just us".to_vec()]);
    carol.client.delete_group(&g).unwrap();
    assert_eq!(carol.client.epoch(&g), Err(GroupError::UnknownGroup));
}

#[test]
fn mandatory_ciphersuite_works_too() {
    use hush_protocol::group::{GroupCiphersuite, GroupConfig};
    let mut rng = rng(3);
    let config = GroupConfig {
        ciphersuite: GroupCiphersuite::X25519Aes128GcmSha256Ed25519,
        ..GroupConfig::default()
    };
    let mut alice = Member::with_config(&mut rng, config);
    let mut bob = Member::with_config(&mut rng, config);
    let g = alice.client.create_group(&mut rng).unwrap();
    let kb = bob.key_package(&mut rng);
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    let m = bob.client.encrypt(&mut rng, &g, b"suite 1").unwrap();
    assert_eq!(alice.read(&mut rng, &g, &m), vec![b"suite 1".to_vec()]);
    assert_agree(&[&alice, &bob], &g);

    // A KeyPackage of the other suite is refused by a suite-1 group.
    let mut carol = Member::new(&mut rng);
    let kc = carol.key_package(&mut rng);
    assert_eq!(
        alice.client.add_members(&mut rng, &g, &[&kc]).unwrap_err(),
        GroupError::InvalidKeyPackage
    );
}

#[test]
fn key_packages_are_forgotten_after_use_but_last_resort_is_kept() {
    let mut rng = rng(4);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let kps = bob.client.generate_key_packages(&mut rng, 3).unwrap();
    let last = bob.client.last_resort_key_package(&mut rng).unwrap();
    let entries_before = bob.client.storage_entries();

    let g1 = alice.client.create_group(&mut rng).unwrap();
    let add = alice.client.add_members(&mut rng, &g1, &[&kps[0]]).unwrap();
    alice.client.process(&mut rng, &g1, &add.commit).unwrap();
    let welcome = add.welcome.clone().unwrap();
    bob.client.join(&mut rng, &welcome, None).unwrap();
    // Joining again with the same (consumed) KeyPackage fails: its keys are gone.
    bob.client.delete_group(&g1).unwrap();
    assert_eq!(
        bob.client.join(&mut rng, &welcome, None),
        Err(GroupError::NoMatchingKeyPackage)
    );
    assert!(bob.client.storage_entries() < entries_before);

    // The last-resort KeyPackage survives a join and can be used again.
    for _ in 0..2 {
        let g = alice.client.create_group(&mut rng).unwrap();
        let add = alice.client.add_members(&mut rng, &g, &[&last]).unwrap();
        alice.client.process(&mut rng, &g, &add.commit).unwrap();
        assert_eq!(
            bob.client
                .join(&mut rng, &add.welcome_for(0).unwrap(), None)
                .unwrap(),
            g
        );
    }
}
