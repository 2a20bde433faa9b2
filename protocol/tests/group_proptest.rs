//! Random sequences of add/remove/update/send among up to 8 members, delivered in relay
//! order: every member ends on the same epoch authenticator, and every application message
//! decrypts for exactly the members of its epoch.

mod group_common;

use std::collections::BTreeSet;

use group_common::*;
use hush_protocol::group::{GroupError, GroupEvent};
use proptest::prelude::*;

const POOL: usize = 8;

#[derive(Clone, Debug)]
enum Op {
    /// Member `actor` (index into current members) adds pool member `who` if absent.
    Add { actor: usize, who: usize },
    /// Member `actor` removes member `target` (indices into current members).
    Remove { actor: usize, target: usize },
    /// Member `actor` updates its leaf.
    Update { actor: usize },
    /// Member `actor` sends.
    Send { actor: usize },
    /// Two members commit in the same epoch; the relay keeps the first.
    Race { a: usize, b: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..POOL, 0..POOL).prop_map(|(actor, who)| Op::Add { actor, who }),
        2 => (0..POOL, 0..POOL).prop_map(|(actor, target)| Op::Remove { actor, target }),
        2 => (0..POOL).prop_map(|actor| Op::Update { actor }),
        4 => (0..POOL).prop_map(|actor| Op::Send { actor }),
        1 => (0..POOL, 0..POOL).prop_map(|(a, b)| Op::Race { a, b }),
    ]
}

/// The relay's log for the group, and a cursor per pool member.
struct World {
    pool: Vec<Member>,
    members: BTreeSet<usize>,
    log: Vec<(Vec<u8>, usize)>, // (message, sender)
    cursor: Vec<usize>,
    rng: rand::rngs::StdRng,
    g: hush_protocol::group::GroupId,
    /// (plaintext, the set of members when sent)
    sent: Vec<(Vec<u8>, BTreeSet<usize>)>,
    received: Vec<Vec<usize>>,
}

impl World {
    /// Every current member reads the log up to its end.
    fn sync(&mut self) {
        for &i in &self.members.clone() {
            while self.cursor[i] < self.log.len() {
                let (msg, sender) = self.log[self.cursor[i]].clone();
                self.cursor[i] += 1;
                let ev = self.pool[i]
                    .client
                    .process(&mut self.rng, &self.g, &msg)
                    .expect("log message");
                for e in ev {
                    if let GroupEvent::Application { plaintext, .. } = e {
                        let n = usize::from_le_bytes(plaintext[..8].try_into().unwrap());
                        self.received[n].push(i);
                    }
                }
                let _ = sender;
            }
        }
    }

    fn member(&self, k: usize) -> usize {
        let v: Vec<_> = self.members.iter().copied().collect();
        v[k % v.len()]
    }

    fn accept(&mut self, actor: usize, c: &hush_protocol::group::CommitOutput) {
        self.log.push((c.commit.clone(), actor));
    }
}

fn run(ops: Vec<Op>, seed: u64) {
    let mut rng = rng(seed);
    let mut pool: Vec<Member> = (0..POOL).map(|_| Member::new(&mut rng)).collect();
    let g = pool[0].client.create_group(&mut rng).unwrap();
    let mut w = World {
        pool: Vec::new(),
        members: BTreeSet::from([0]),
        log: Vec::new(),
        cursor: vec![0; POOL],
        rng,
        g,
        sent: Vec::new(),
        received: Vec::new(),
    };
    w.pool = std::mem::take(&mut pool);
    for op in ops {
        w.sync();
        match op {
            Op::Add { actor, who } => {
                if w.members.contains(&who) {
                    continue;
                }
                let actor = w.member(actor);
                let kp = w.pool[who].key_package(&mut w.rng);
                let c = w.pool[actor]
                    .client
                    .add_members(&mut w.rng, &w.g.clone(), &[&kp])
                    .unwrap();
                w.accept(actor, &c);
                w.sync();
                // The new member joins at the log's current end.
                w.pool[who]
                    .client
                    .join(&mut w.rng, &c.welcome_for(0).unwrap(), None)
                    .unwrap();
                w.cursor[who] = w.log.len();
                w.members.insert(who);
            }
            Op::Remove { actor, target } => {
                let actor = w.member(actor);
                let target = w.member(target);
                if actor == target {
                    continue;
                }
                let id = w.pool[target].id.public().clone();
                let c = w.pool[actor]
                    .client
                    .remove_members(&mut w.rng, &w.g.clone(), &[id])
                    .unwrap();
                w.accept(actor, &c);
                // The removed member reads up to and including its removal.
                let (msg, _) = w.log.last().unwrap().clone();
                while w.cursor[target] < w.log.len() - 1 {
                    let (m, _) = w.log[w.cursor[target]].clone();
                    w.cursor[target] += 1;
                    for e in w.pool[target]
                        .client
                        .process(&mut w.rng, &w.g.clone(), &m)
                        .unwrap()
                    {
                        if let GroupEvent::Application { plaintext, .. } = e {
                            let n = usize::from_le_bytes(plaintext[..8].try_into().unwrap());
                            w.received[n].push(target);
                        }
                    }
                }
                let ev = w.pool[target]
                    .client
                    .process(&mut w.rng, &w.g.clone(), &msg)
                    .unwrap();
                assert!(matches!(&ev[..], [GroupEvent::RemovedFromGroup { .. }]));
                w.cursor[target] = w.log.len();
                w.members.remove(&target);
            }
            Op::Update { actor } => {
                let actor = w.member(actor);
                let c = w.pool[actor]
                    .client
                    .self_update(&mut w.rng, &w.g.clone())
                    .unwrap();
                w.accept(actor, &c);
            }
            Op::Send { actor } => {
                let actor = w.member(actor);
                let n = w.sent.len();
                let mut pt = n.to_le_bytes().to_vec();
                pt.extend_from_slice(b" payload");
                let m = w.pool[actor]
                    .client
                    .encrypt(&mut w.rng, &w.g.clone(), &pt)
                    .unwrap();
                let mut readers = w.members.clone();
                readers.remove(&actor);
                w.sent.push((pt, readers));
                w.received.push(Vec::new());
                w.log.push((m, actor));
            }
            Op::Race { a, b } => {
                let (a, b) = (w.member(a), w.member(b));
                if a == b {
                    continue;
                }
                let ca = w.pool[a]
                    .client
                    .self_update(&mut w.rng, &w.g.clone())
                    .unwrap();
                let cb = w.pool[b]
                    .client
                    .self_update(&mut w.rng, &w.g.clone())
                    .unwrap();
                // Both commit in the same epoch; the relay keeps A's, B resolves the
                // conflict and its retry wins the next epoch.
                assert_eq!(ca.epoch, cb.epoch);
                w.accept(a, &ca);
                w.cursor[b] = w.log.len();
                let g = w.g.clone();
                assert_eq!(
                    w.pool[b].client.process(&mut w.rng, &g, &ca.commit),
                    Err(GroupError::PendingCommit)
                );
                let res = w.pool[b]
                    .client
                    .resolve_conflict(&mut w.rng, &g, &ca.commit)
                    .unwrap();
                let retry = res.retry.expect("update is always retried");
                w.accept(b, &retry);
                w.cursor[b] = w.log.len() - 1;
            }
        }
    }
    w.sync();
    // Same epoch authenticator everywhere.
    let members: Vec<&Member> = w.members.iter().map(|&i| &w.pool[i]).collect();
    assert_agree(&members, &w.g);
    // Each message decrypted for exactly the members of its epoch (minus its sender).
    for (n, (_, readers)) in w.sent.iter().enumerate() {
        let got: BTreeSet<usize> = w.received[n].iter().copied().collect();
        assert_eq!(
            got.len(),
            w.received[n].len(),
            "message {n} decrypted twice"
        );
        assert_eq!(&got, readers, "message {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_group_histories_converge(ops in proptest::collection::vec(op(), 1..30), seed in any::<u64>()) {
        run(ops, seed);
    }
}
