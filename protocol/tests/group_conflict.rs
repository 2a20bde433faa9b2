//! Commit conflicts (the relay keeps one commit per epoch) and the future-epoch buffer.

mod group_common;

use group_common::*;
use hush_protocol::group::{ContentKind, GroupConfig, GroupError, GroupEvent, inspect};

/// Alice, Bob and Carol in one group at epoch 1.
fn three(
    rng: &mut rand::rngs::StdRng,
    config: GroupConfig,
) -> (Member, Member, Member, hush_protocol::group::GroupId) {
    let mut alice = Member::with_config(rng, config);
    let mut bob = Member::with_config(rng, config);
    let mut carol = Member::with_config(rng, config);
    let g = alice.client.create_group(rng).unwrap();
    let (kb, kc) = (bob.key_package(rng), carol.key_package(rng));
    let add = alice.client.add_members(rng, &g, &[&kb, &kc]).unwrap();
    alice.client.process(rng, &g, &add.commit).unwrap();
    bob.client
        .join(rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    carol
        .client
        .join(rng, &add.welcome_for(1).unwrap(), None)
        .unwrap();
    (alice, bob, carol, g)
}

#[test]
fn losing_commit_is_discarded_winner_applied_and_change_retried() {
    let mut rng = rng(10);
    let (mut alice, mut bob, mut carol, g) = three(&mut rng, GroupConfig::default());
    let mut dave = Member::new(&mut rng);
    let kd = dave.key_package(&mut rng);

    // Both commit in epoch 1: Alice adds Dave, Bob updates. The relay takes Bob's.
    let a = alice.client.add_members(&mut rng, &g, &[&kd]).unwrap();
    let b = bob.client.self_update(&mut rng, &g).unwrap();
    assert_eq!((a.epoch, b.epoch), (1, 1));
    let info = inspect(&b.commit).unwrap();
    assert_eq!(
        (info.epoch, info.content),
        (Some(1), Some(ContentKind::Commit))
    );
    assert_eq!(info.group_id.as_deref(), Some(g.as_slice()));

    bob.client.process(&mut rng, &g, &b.commit).unwrap();
    carol.client.process(&mut rng, &g, &b.commit).unwrap();
    // Alice sees the winner while her own commit is pending: process refuses to guess.
    assert_eq!(
        alice.client.process(&mut rng, &g, &b.commit),
        Err(GroupError::PendingCommit)
    );
    assert!(alice.client.has_pending_commit(&g).unwrap());
    let res = alice
        .client
        .resolve_conflict(&mut rng, &g, &b.commit)
        .unwrap();
    assert!(matches!(
        &res.events[..],
        [GroupEvent::Commit { epoch: 2, .. }]
    ));
    assert_agree(&[&alice, &bob, &carol], &g);
    let retry = res.retry.expect("Alice's add is redone");
    assert_eq!(retry.epoch, 2);
    assert_eq!(retry.new_members[0].identity, *dave.id.public());

    // The retried commit wins epoch 2.
    deliver_commit(
        &mut rng,
        &mut [&mut alice, &mut bob, &mut carol],
        &g,
        &retry,
    );
    assert_eq!(
        dave.client
            .join(&mut rng, &retry.welcome_for(0).unwrap(), None)
            .unwrap(),
        g
    );
    assert_agree(&[&alice, &bob, &carol, &dave], &g);
    let m = carol.client.encrypt(&mut rng, &g, b"four of us").unwrap();
    assert_eq!(dave.read(&mut rng, &g, &m), vec![b"four of us".to_vec()]);
    assert_eq!(alice.read(&mut rng, &g, &m), vec![b"four of us".to_vec()]);
}

#[test]
fn retry_is_skipped_when_the_winner_already_made_the_change() {
    let mut rng = rng(11);
    let (mut alice, mut bob, mut carol, g) = three(&mut rng, GroupConfig::default());
    // Both remove Carol; Bob's commit wins.
    let a = alice
        .client
        .remove_members(&mut rng, &g, &[carol.id.public().clone()])
        .unwrap();
    let b = bob
        .client
        .remove_members(&mut rng, &g, &[carol.id.public().clone()])
        .unwrap();
    bob.client.process(&mut rng, &g, &b.commit).unwrap();
    carol.client.process(&mut rng, &g, &b.commit).unwrap();
    let res = alice
        .client
        .resolve_conflict(&mut rng, &g, &b.commit)
        .unwrap();
    assert!(res.retry.is_none());
    assert!(!alice.client.has_pending_commit(&g).unwrap());
    assert_agree(&[&alice, &bob], &g);
    assert!(!carol.client.is_active(&g).unwrap());
    // The losing commit, should it ever arrive, is for a past epoch.
    assert!(matches!(
        bob.client.process(&mut rng, &g, &a.commit),
        Err(GroupError::StaleEpoch {
            message_epoch: 1,
            group_epoch: 2
        })
    ));
}

#[test]
fn invalid_winner_leaves_pending_commit_in_place() {
    let mut rng = rng(12);
    let (mut alice, mut bob, _carol, g) = three(&mut rng, GroupConfig::default());
    let a = alice.client.self_update(&mut rng, &g).unwrap();
    let b = bob.client.self_update(&mut rng, &g).unwrap();
    let mut bad = b.commit.clone();
    let n = bad.len();
    bad[n - 10] ^= 0x40;
    assert!(alice.client.resolve_conflict(&mut rng, &g, &bad).is_err());
    assert!(alice.client.has_pending_commit(&g).unwrap());
    assert_eq!(alice.client.epoch(&g).unwrap(), 1);
    // Our own commit coming back wins after all.
    let res = alice
        .client
        .resolve_conflict(&mut rng, &g, &a.commit)
        .unwrap();
    assert_eq!(res.events, vec![GroupEvent::OwnCommitApplied { epoch: 2 }]);
    assert!(res.retry.is_none());
}

#[test]
fn discard_and_confirm_pending_commit() {
    let mut rng = rng(13);
    let (mut alice, mut bob, _carol, g) = three(&mut rng, GroupConfig::default());
    assert_eq!(
        alice.client.discard_pending_commit(&g),
        Err(GroupError::NoPendingCommit)
    );
    let a = alice.client.self_update(&mut rng, &g).unwrap();
    assert_eq!(
        alice.client.self_update(&mut rng, &g).unwrap_err(),
        GroupError::PendingCommit
    );
    alice.client.discard_pending_commit(&g).unwrap();
    assert_eq!(alice.client.epoch(&g).unwrap(), 1);
    // After discarding, a fresh commit can be made; confirm applies it without an echo.
    let a2 = alice.client.self_update(&mut rng, &g).unwrap();
    assert_ne!(a.commit, a2.commit);
    assert_eq!(
        alice.client.confirm_commit(&mut rng, &g).unwrap(),
        vec![GroupEvent::OwnCommitApplied { epoch: 2 }]
    );
    bob.client.process(&mut rng, &g, &a2.commit).unwrap();
    assert_agree(&[&alice, &bob], &g);
}

#[test]
fn future_epoch_messages_are_buffered_until_their_epoch() {
    let mut rng = rng(14);
    let (mut alice, mut bob, mut carol, g) = three(&mut rng, GroupConfig::default());
    // Alice updates (epoch 1 -> 2) and then sends in epoch 2, then Bob updates (2 -> 3) and
    // sends in epoch 3. Carol receives everything in reverse order.
    let c1 = alice.client.self_update(&mut rng, &g).unwrap();
    alice.client.process(&mut rng, &g, &c1.commit).unwrap();
    bob.client.process(&mut rng, &g, &c1.commit).unwrap();
    let m2 = alice.client.encrypt(&mut rng, &g, b"in epoch 2").unwrap();
    let c2 = bob.client.self_update(&mut rng, &g).unwrap();
    bob.client.process(&mut rng, &g, &c2.commit).unwrap();
    alice.client.process(&mut rng, &g, &c2.commit).unwrap();
    let m3 = bob.client.encrypt(&mut rng, &g, b"in epoch 3").unwrap();

    assert_eq!(
        carol.client.process(&mut rng, &g, &m3).unwrap(),
        vec![GroupEvent::Buffered { epoch: 3 }]
    );
    assert_eq!(
        carol.client.process(&mut rng, &g, &c2.commit).unwrap(),
        vec![GroupEvent::Buffered { epoch: 2 }]
    );
    assert_eq!(
        carol.client.process(&mut rng, &g, &m2).unwrap(),
        vec![GroupEvent::Buffered { epoch: 2 }]
    );
    assert_eq!(carol.client.buffered_messages(&g).unwrap(), 3);
    // The epoch-2 commit arrives: everything buffered drains in order.
    let ev = carol.client.process(&mut rng, &g, &c1.commit).unwrap();
    let plaintexts: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Application {
                epoch, plaintext, ..
            } => Some((*epoch, plaintext.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        plaintexts,
        vec![(2, b"in epoch 2".to_vec()), (3, b"in epoch 3".to_vec())]
    );
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, GroupEvent::Commit { .. }))
            .count(),
        2
    );
    assert_eq!(carol.client.buffered_messages(&g).unwrap(), 0);
    assert_agree(&[&alice, &bob, &carol], &g);
}

#[test]
fn future_buffer_is_bounded() {
    let mut rng = rng(15);
    let config = GroupConfig {
        future_buffer_capacity: 2,
        ..GroupConfig::default()
    };
    let (mut alice, mut bob, mut carol, g) = three(&mut rng, config);
    let c = alice.client.self_update(&mut rng, &g).unwrap();
    alice.client.process(&mut rng, &g, &c.commit).unwrap();
    bob.client.process(&mut rng, &g, &c.commit).unwrap();
    let msgs: Vec<_> = (0..3)
        .map(|i| {
            alice
                .client
                .encrypt(&mut rng, &g, format!("m{i}").as_bytes())
                .unwrap()
        })
        .collect();
    carol.client.process(&mut rng, &g, &msgs[0]).unwrap();
    carol.client.process(&mut rng, &g, &msgs[1]).unwrap();
    assert_eq!(
        carol.client.process(&mut rng, &g, &msgs[2]),
        Err(GroupError::FutureBufferFull { capacity: 2 })
    );
    assert_eq!(carol.client.buffered_messages(&g).unwrap(), 2);
    let ev = carol.client.process(&mut rng, &g, &c.commit).unwrap();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, GroupEvent::Application { .. }))
            .count(),
        2
    );
    // The refused message can be delivered again now that its epoch is here.
    assert_eq!(carol.read(&mut rng, &g, &msgs[2]), vec![b"m2".to_vec()]);
}
