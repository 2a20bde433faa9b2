//! Random interleavings of 1:1 sends, group sends, receives, restarts and group operations
//! (key updates, removals, additions) across three users keep every user's view consistent:
//! every 1:1 message arrives exactly once; no group message arrives twice or from nowhere;
//! a user who was never removed gets every group message; the members agree on the group.

mod common;

use common::relay;
use hush_client::store::MemoryStore;
use hush_client::{Account, Engine, EventKind, GroupStatus};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 3] = ["alice", "bob", "carol"];

#[derive(Debug, Clone)]
enum Op {
    Send(usize, usize),
    GroupSend(usize),
    Receive(usize),
    Restart(usize),
    Update(usize),
    Remove(usize, usize),
    Add(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let u = 0usize..3;
    prop_oneof![
        3 => (u.clone(), u.clone()).prop_filter("to someone else", |(a, b)| a != b).prop_map(|(a, b)| Op::Send(a, b)),
        3 => u.clone().prop_map(Op::GroupSend),
        3 => u.clone().prop_map(Op::Receive),
        1 => u.clone().prop_map(Op::Restart),
        1 => u.clone().prop_map(Op::Update),
        1 => (u.clone(), u.clone()).prop_filter("someone else", |(a, b)| a != b).prop_map(|(a, b)| Op::Remove(a, b)),
        1 => (u.clone(), u).prop_filter("someone else", |(a, b)| a != b).prop_map(|(a, b)| Op::Add(a, b)),
    ]
}

/// What each user received: 1:1 texts and group texts, in order.
#[derive(Default, Debug)]
struct Seen {
    direct: Vec<String>,
    group: Vec<String>,
}

fn take(e: &mut Engine<MemoryStore>, events: Vec<hush_client::Event>, seen: &mut Seen) {
    e.confirm(&events.iter().map(|x| x.id).collect::<Vec<_>>())
        .unwrap();
    for ev in events {
        match ev.kind {
            EventKind::Message { body, .. } => {
                seen.direct.push(String::from_utf8(body).unwrap());
            }
            EventKind::GroupMessage { body, .. } => {
                seen.group.push(String::from_utf8(body).unwrap());
            }
            _ => {}
        }
    }
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut users: Vec<Engine<MemoryStore>> = NAMES
        .iter()
        .map(|n| {
            let a = Account::create(MemoryStore::new(), &mut rand::rng(), n, url.clone()).unwrap();
            Engine::new(a).unwrap()
        })
        .collect();
    let cards: Vec<String> = users
        .iter()
        .map(|u| u.account().card().encode().unwrap())
        .collect();
    for (i, u) in users.iter_mut().enumerate() {
        for (j, card) in cards.iter().enumerate() {
            if i != j {
                u.account_mut().add_contact(NAMES[j], card).unwrap();
            }
        }
        u.receive().await.unwrap();
    }
    let mut seen: Vec<Seen> = (0..3).map(|_| Seen::default()).collect();
    users[0].create_group("g").unwrap();
    users[0].add_members("g", &["bob", "carol"]).await.unwrap();
    for i in 1..3 {
        let ev = users[i].receive().await.unwrap();
        take(&mut users[i], ev, &mut seen[i]);
    }
    let mut direct: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    // Each group message sent, and by whom.
    let mut group_sent: BTreeMap<String, usize> = BTreeMap::new();
    let mut ever_removed: BTreeSet<usize> = BTreeSet::new();
    for (n, op) in ops.into_iter().enumerate() {
        let text = format!("m{n}");
        match op {
            Op::Send(a, b) => {
                users[a].send(NAMES[b], text.as_bytes()).await.unwrap();
                direct.entry(b).or_default().push(text);
            }
            Op::GroupSend(a) => {
                if users[a].send_to_group("g", text.as_bytes()).await.is_ok() {
                    group_sent.insert(text, a);
                }
            }
            Op::Receive(a) => {
                let ev = users[a].receive().await.unwrap();
                take(&mut users[a], ev, &mut seen[a]);
            }
            Op::Restart(a) => {
                let e = std::mem::replace(
                    &mut users[a],
                    Engine::new(
                        Account::create(MemoryStore::new(), &mut rand::rng(), "x", url.clone())
                            .unwrap(),
                    )
                    .unwrap(),
                );
                let store = e.shutdown().await.into_store();
                users[a] = Engine::new(Account::open(store).unwrap()).unwrap();
            }
            Op::Update(a) => {
                let _ = users[a].update_keys("g").await;
            }
            Op::Remove(a, b) => {
                if users[a].remove_members("g", &[NAMES[b]]).await.is_ok() {
                    ever_removed.insert(b);
                }
            }
            Op::Add(a, b) => {
                let _ = users[a].add_members("g", &[NAMES[b]]).await;
            }
        }
    }
    // Quiesce: everyone reads until nothing changes.
    for _ in 0..3 {
        for (i, u) in users.iter_mut().enumerate() {
            let ev = u.receive().await.unwrap();
            take(u, ev, &mut seen[i]);
        }
    }
    let none = Vec::new();
    for (i, s) in seen.iter().enumerate() {
        // 1:1: exactly what was sent, once, in order.
        prop_assert_eq!(&s.direct, direct.get(&i).unwrap_or(&none), "user {}", i);
        // Group: nothing twice, nothing that was not sent, nothing of one's own.
        let set: BTreeSet<&String> = s.group.iter().collect();
        prop_assert_eq!(
            set.len(),
            s.group.len(),
            "user {} read a group message twice",
            i
        );
        for m in &set {
            prop_assert!(
                group_sent.get(*m).is_some_and(|from| *from != i),
                "user {} read {}",
                i,
                m
            );
        }
    }
    // Whoever was never removed read every group message of the others who were never
    // removed either (a removed member's last messages may come after its removal).
    for i in (0..3).filter(|i| !ever_removed.contains(i)) {
        let mine: BTreeSet<&String> = seen[i].group.iter().collect();
        for (m, from) in &group_sent {
            if *from != i && !ever_removed.contains(from) {
                prop_assert!(mine.contains(m), "user {} missed {} from {}", i, m, from);
            }
        }
    }
    // The members agree on the group.
    let views: Vec<(u64, Vec<_>)> = users
        .iter()
        .filter_map(|u| u.group("g").ok())
        .filter(|g| g.status == GroupStatus::Member)
        .map(|g| {
            let mut m: Vec<_> = g.members.iter().map(|m| m.identity).collect();
            m.sort_by_key(|f| f.0);
            (g.epoch.unwrap(), m)
        })
        .collect();
    prop_assert!(!views.is_empty());
    prop_assert!(views.windows(2).all(|w| w[0] == w[1]), "{:?}", views);
    prop_assert_eq!(views[0].1.len(), views.len());
    r.shutdown().await.unwrap();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10, ..ProptestConfig::default() })]

    #[test]
    fn three_users_stay_consistent(ops in proptest::collection::vec(op(), 1..24)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(ops))?;
    }
}
