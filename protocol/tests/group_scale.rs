//! Scale: one commit adds 1000 members; every tenth joins from the Welcome and decrypts.

mod group_common;

use std::time::Instant;

use group_common::*;
use hush_protocol::group::GroupEvent;

const NEW_MEMBERS: usize = 1000;

#[test]
fn one_commit_adds_1000_members() {
    let mut rng = rng(40);
    let t0 = Instant::now();
    let mut alice = Member::new(&mut rng);
    let mut joiners: Vec<Member> = (0..NEW_MEMBERS).map(|_| Member::new(&mut rng)).collect();
    let kps: Vec<Vec<u8>> = joiners
        .iter_mut()
        .map(|m| m.key_package(&mut rng))
        .collect();
    let t_kp = t0.elapsed();

    let g = alice.client.create_group(&mut rng).unwrap();
    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
    let t1 = Instant::now();
    let add = alice.client.add_members(&mut rng, &g, &refs).unwrap();
    let t_commit = t1.elapsed();
    assert_eq!(add.new_members.len(), NEW_MEMBERS);
    assert_eq!(
        alice.client.process(&mut rng, &g, &add.commit).unwrap(),
        vec![GroupEvent::OwnCommitApplied { epoch: 1 }]
    );
    assert_eq!(alice.client.member_count(&g).unwrap(), NEW_MEMBERS + 1);
    let msg = alice
        .client
        .encrypt(&mut rng, &g, b"welcome, thousand")
        .unwrap();
    let auth = alice.client.epoch_authenticator(&g).unwrap();

    let t2 = Instant::now();
    let mut joined = 0;
    for (i, m) in joiners.iter_mut().enumerate().step_by(10) {
        let w = add.welcome_for(i).unwrap();
        assert_eq!(m.client.join(&mut rng, &w, None).unwrap(), g);
        assert_eq!(m.client.epoch_authenticator(&g).unwrap(), auth);
        assert_eq!(
            m.read(&mut rng, &g, &msg),
            vec![b"welcome, thousand".to_vec()]
        );
        joined += 1;
    }
    assert_eq!(joined, NEW_MEMBERS / 10);
    // A member who joined can talk back to everyone.
    let reply = joiners[990]
        .client
        .encrypt(&mut rng, &g, b"hi from 990")
        .unwrap();
    assert_eq!(
        alice.read(&mut rng, &g, &reply),
        vec![b"hi from 990".to_vec()]
    );
    assert_eq!(
        joiners[0].read(&mut rng, &g, &reply),
        vec![b"hi from 990".to_vec()]
    );
    eprintln!(
        "scale: {NEW_MEMBERS} KeyPackages {t_kp:?}, add commit {t_commit:?}, {joined} joins + decrypt {:?}, Welcome {} bytes, per-member Welcome {} bytes",
        t2.elapsed(),
        add.welcome.as_ref().map_or(0, Vec::len),
        add.welcome_for(0).unwrap().len()
    );
}
