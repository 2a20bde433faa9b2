//! Persisting a group client record by record: the records a client hands out, applied to a
//! key-value store after each call, restore exactly the client (its `to_bytes` is identical),
//! and a call touching one group writes records of that group only.

mod group_common;

use std::collections::BTreeMap;

use group_common::*;
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupChanges, GroupClient, GroupError, GroupId};
use proptest::prelude::*;
use zeroize::Zeroizing;

/// What an app's store would hold.
#[derive(Default)]
struct Records {
    header: Option<Vec<u8>>,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    groups: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl Records {
    fn apply(&mut self, c: GroupChanges) {
        if let Some(h) = c.header {
            self.header = Some(h.to_vec());
        }
        for (k, v) in c.entries {
            match v {
                Some(v) => self.entries.insert(k, v.to_vec()),
                None => self.entries.remove(&k),
            };
        }
        for (g, v) in c.groups {
            match v {
                Some(v) => self.groups.insert(g.as_slice().to_vec(), v.to_vec()),
                None => self.groups.remove(g.as_slice()),
            };
        }
    }

    fn restore(&self, id: &IdentityKeyPair) -> Result<GroupClient, GroupError> {
        let entries = self
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), Zeroizing::new(v.clone())))
            .collect();
        let groups: Vec<_> = self
            .groups
            .values()
            .map(|v| Zeroizing::new(v.clone()))
            .collect();
        GroupClient::from_records(id, self.header.as_deref().unwrap_or(&[]), entries, &groups)
    }
}

/// Saves `m`'s changes into `r` and checks that they restore exactly `m`'s client.
fn save_and_check(m: &mut Member, r: &mut Records) {
    let c = m.client.take_changes().unwrap();
    r.apply(c);
    let restored = r.restore(&m.id).unwrap();
    assert_eq!(
        *restored.to_bytes().unwrap(),
        *m.client.to_bytes().unwrap(),
        "the records restore another state than the live client's"
    );
}

#[test]
fn records_restore_the_client_through_a_group_life() {
    let mut rng = rng(70);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let (mut ra, mut rb) = (Records::default(), Records::default());
    let kb = bob.key_package(&mut rng);
    save_and_check(&mut alice, &mut ra);
    save_and_check(&mut bob, &mut rb);
    assert!(ra.header.is_some());
    // Nothing changed since: nothing to write.
    assert!(alice.client.take_changes().unwrap().is_empty());

    let g = alice.client.create_group(&mut rng).unwrap();
    save_and_check(&mut alice, &mut ra);
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    // A pending commit is part of the group's record.
    save_and_check(&mut alice, &mut ra);
    assert!(
        ra.restore(&alice.id)
            .unwrap()
            .has_pending_commit(&g)
            .unwrap()
    );
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    save_and_check(&mut alice, &mut ra);
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    save_and_check(&mut bob, &mut rb);

    // Restart Bob from his records; the group goes on both ways.
    bob.client = rb.restore(&bob.id).unwrap();
    let m = alice.client.encrypt(&mut rng, &g, b"one").unwrap();
    save_and_check(&mut alice, &mut ra);
    assert_eq!(bob.read(&mut rng, &g, &m), vec![b"one".to_vec()]);
    save_and_check(&mut bob, &mut rb);
    let m = bob.client.encrypt(&mut rng, &g, b"two").unwrap();
    save_and_check(&mut bob, &mut rb);
    alice.client = ra.restore(&alice.id).unwrap();
    assert_eq!(alice.read(&mut rng, &g, &m), vec![b"two".to_vec()]);
    save_and_check(&mut alice, &mut ra);

    // Bob is removed, then forgets the group: its records and entries go.
    let rm = alice
        .client
        .remove_members(&mut rng, &g, &[bob.id.public().clone()])
        .unwrap();
    alice.client.process(&mut rng, &g, &rm.commit).unwrap();
    save_and_check(&mut alice, &mut ra);
    bob.client.process(&mut rng, &g, &rm.commit).unwrap();
    save_and_check(&mut bob, &mut rb);
    let before = rb.entries.len();
    bob.client.delete_group(&g).unwrap();
    save_and_check(&mut bob, &mut rb);
    assert!(rb.groups.is_empty());
    assert!(rb.entries.len() < before);
}

/// Sending in one group of many writes only that group's records, as many as with one.
#[test]
fn a_send_writes_the_same_records_with_one_group_or_twenty() {
    let mut counts = Vec::new();
    for groups in [1usize, 20] {
        let mut rng = rng(71);
        let mut alice = Member::new(&mut rng);
        let ids: Vec<GroupId> = (0..groups)
            .map(|_| alice.client.create_group(&mut rng).unwrap())
            .collect();
        alice.client.take_changes().unwrap();
        alice.client.encrypt(&mut rng, &ids[0], b"hi").unwrap();
        let c = alice.client.take_changes().unwrap();
        assert!(c.header.is_none());
        assert!(c.groups.iter().all(|(g, _)| *g == ids[0]));
        counts.push((
            c.entries.len(),
            c.entries
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()))
                .sum::<usize>(),
        ));
    }
    assert_eq!(
        counts[0], counts[1],
        "a send's records grew with the groups"
    );
    assert!(
        counts[0].0 >= 1,
        "a send must persist the advanced secret tree"
    );
}

#[test]
fn wrong_or_altered_records_are_errors() {
    let mut rng = rng(72);
    let mut alice = Member::new(&mut rng);
    let other = IdentityKeyPair::generate(&mut rng);
    let mut r = Records::default();
    alice.client.create_group(&mut rng).unwrap();
    save_and_check(&mut alice, &mut r);
    // Another identity's header.
    assert!(r.restore(&other).is_err());
    // An altered header.
    let mut bad = Records {
        header: r.header.clone(),
        entries: r.entries.clone(),
        groups: r.groups.clone(),
    };
    if let Some(h) = bad.header.as_mut() {
        let last = h.len() - 1;
        h[last] ^= 1;
    }
    assert!(bad.restore(&alice.id).is_err());
    // A group record without its entries.
    let bad = Records {
        header: r.header.clone(),
        entries: BTreeMap::new(),
        groups: r.groups.clone(),
    };
    assert!(bad.restore(&alice.id).is_err());
    // A record that is not one.
    let mut bad = Records {
        header: r.header.clone(),
        entries: r.entries.clone(),
        groups: r.groups.clone(),
    };
    bad.groups.insert(b"x".to_vec(), vec![0xff; 7]);
    assert!(bad.restore(&alice.id).is_err());
    // No header at all.
    let bad = Records::default();
    assert!(bad.restore(&alice.id).is_err());
}

/// One step of the property test below.
#[derive(Debug, Clone)]
enum Op {
    Send(bool),
    Update(bool),
    /// A commit saved while pending, then applied.
    Pending(bool),
    /// A message that arrives before the commit of its epoch (buffered, saved, then read).
    Early(bool),
    Restart(bool),
    NewGroup,
    KeyPackage,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(Op::Send),
        any::<bool>().prop_map(Op::Update),
        any::<bool>().prop_map(Op::Pending),
        any::<bool>().prop_map(Op::Early),
        any::<bool>().prop_map(Op::Restart),
        Just(Op::NewGroup),
        Just(Op::KeyPackage),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Any sequence of sends, commits, restarts, new groups and KeyPackages, each followed
    /// by saving the changes, leaves records that restore exactly the live clients, and
    /// the two members keep reading each other.
    #[test]
    fn records_track_any_sequence(ops in proptest::collection::vec(op(), 1..14), seed in any::<u64>()) {
        let mut rng = rng(seed);
        let mut m = [Member::new(&mut rng), Member::new(&mut rng)];
        let mut r = [Records::default(), Records::default()];
        let kb = m[1].key_package(&mut rng);
        let g = m[0].client.create_group(&mut rng).unwrap();
        let add = m[0].client.add_members(&mut rng, &g, &[&kb]).unwrap();
        m[0].client.process(&mut rng, &g, &add.commit).unwrap();
        m[1].client.join(&mut rng, &add.welcome_for(0).unwrap(), None).unwrap();
        for i in 0..2 {
            save_and_check(&mut m[i], &mut r[i]);
        }
        for op in ops {
            match op {
                Op::Send(who) => {
                    let (s, o) = if who { (1, 0) } else { (0, 1) };
                    let msg = m[s].client.encrypt(&mut rng, &g, b"x").unwrap();
                    prop_assert_eq!(m[o].read(&mut rng, &g, &msg), vec![b"x".to_vec()]);
                }
                Op::Update(who) => {
                    let (s, o) = if who { (1, 0) } else { (0, 1) };
                    let up = m[s].client.self_update(&mut rng, &g).unwrap();
                    m[s].client.process(&mut rng, &g, &up.commit).unwrap();
                    m[o].client.process(&mut rng, &g, &up.commit).unwrap();
                }
                Op::Pending(who) => {
                    let (s, o) = if who { (1, 0) } else { (0, 1) };
                    let up = m[s].client.self_update(&mut rng, &g).unwrap();
                    save_and_check(&mut m[s], &mut r[s]);
                    m[s].client = r[s].restore(&m[s].id).unwrap();
                    prop_assert!(m[s].client.has_pending_commit(&g).unwrap());
                    m[s].client.process(&mut rng, &g, &up.commit).unwrap();
                    m[o].client.process(&mut rng, &g, &up.commit).unwrap();
                }
                Op::Early(who) => {
                    let (s, o) = if who { (1, 0) } else { (0, 1) };
                    let up = m[s].client.self_update(&mut rng, &g).unwrap();
                    m[s].client.process(&mut rng, &g, &up.commit).unwrap();
                    let msg = m[s].client.encrypt(&mut rng, &g, b"early").unwrap();
                    prop_assert!(m[o].read(&mut rng, &g, &msg).is_empty());
                    save_and_check(&mut m[o], &mut r[o]);
                    m[o].client = r[o].restore(&m[o].id).unwrap();
                    prop_assert_eq!(m[o].client.buffered_messages(&g).unwrap(), 1);
                    let got: Vec<Vec<u8>> = m[o]
                        .client
                        .process(&mut rng, &g, &up.commit)
                        .unwrap()
                        .into_iter()
                        .filter_map(|e| match e {
                            hush_protocol::group::GroupEvent::Application { plaintext, .. } => {
                                Some(plaintext)
                            }
                            _ => None,
                        })
                        .collect();
                    prop_assert_eq!(got, vec![b"early".to_vec()]);
                }
                Op::Restart(who) => {
                    let i = usize::from(who);
                    m[i].client = r[i].restore(&m[i].id).unwrap();
                }
                Op::NewGroup => {
                    m[0].client.create_group(&mut rng).unwrap();
                }
                Op::KeyPackage => {
                    m[1].key_package(&mut rng);
                }
            }
            for i in 0..2 {
                save_and_check(&mut m[i], &mut r[i]);
            }
        }
        assert_agree(&[&m[0], &m[1]], &g);
    }
}

#[test]
fn welcome_group_id_reads_the_id_and_changes_nothing() {
    let mut rng = rng(73);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let kb = bob.key_package(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    let w = add.welcome_for(0).unwrap();
    let before = bob.client.to_bytes().unwrap();
    assert_eq!(bob.client.welcome_group_id(&mut rng, &w).unwrap(), g);
    assert_eq!(*bob.client.to_bytes().unwrap(), *before);
    assert!(
        bob.client
            .welcome_group_id(&mut rng, b"not a welcome")
            .is_err()
    );
    assert_eq!(bob.client.join(&mut rng, &w, None).unwrap(), g);
    // Held and active: join refuses, the id still reads.
    assert!(matches!(
        bob.client.join(&mut rng, &w, None),
        Err(GroupError::GroupExists) | Err(GroupError::NoMatchingKeyPackage)
    ));
}
