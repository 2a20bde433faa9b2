//! Groups through the engine and a real relay (QUIC on 127.0.0.1): three users create,
//! invite, talk, remove, leave, race their commits, restart and flush a queued message.

mod common;

use common::{CHEAP, engine, introduce, quick, relay, relay_config, texts};
use hush_client::store::{KeySource, MemoryStore, SqliteStore, Store};
use hush_client::{Account, Engine, Error, EventKind, GroupStatus, OutgoingState};
use hush_relay::server::Relay;
use hush_relay_client::RelayUrl;

/// Receives and confirms; returns the texts.
async fn recv<S: Store>(e: &mut Engine<S>) -> Vec<(Option<String>, String)> {
    let got = e.receive().await.unwrap();
    let ids: Vec<u64> = got.iter().map(|e| e.id).collect();
    e.confirm(&ids).unwrap();
    texts(&got)
}

fn said(who: &str, text: &str) -> (Option<String>, String) {
    (Some(who.to_string()), text.to_string())
}

type Trio = (
    Engine<MemoryStore>,
    Engine<MemoryStore>,
    Engine<MemoryStore>,
);

/// Alice, Bob and Carol, all contacts of each other, directories published.
async fn trio(url: &RelayUrl) -> Trio {
    let mut a = engine(MemoryStore::new(), "Alice", url);
    let mut b = engine(MemoryStore::new(), "Bob", url);
    let mut c = engine(MemoryStore::new(), "Carol", url);
    introduce(&mut a, "alice", &mut b, "bob");
    introduce(&mut a, "alice", &mut c, "carol");
    introduce(&mut b, "bob", &mut c, "carol");
    for e in [&mut a, &mut b, &mut c] {
        e.receive().await.unwrap();
    }
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_users_create_invite_talk_remove_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let (mut a, mut b, mut c) = trio(&r.url()).await;

    let g = a.create_group("team").unwrap();
    assert_eq!(g.status, GroupStatus::Member);
    assert_eq!(g.members.len(), 1);
    assert!(matches!(
        a.create_group("team"),
        Err(Error::GroupNameTaken(_))
    ));
    a.add_members("team", &["bob", "carol"]).await.unwrap();
    assert!(matches!(
        a.add_members("team", &["bob"]).await,
        Err(Error::AlreadyMember { .. })
    ));
    assert_eq!(recv(&mut b).await, [said("alice", "joined team")]);
    assert_eq!(recv(&mut c).await, [said("alice", "joined team")]);
    let members = b.group("team").unwrap().members;
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m.me).count(), 1);

    let o = a.send_to_group("team", b"hello team").await.unwrap();
    assert!(matches!(o.state, OutgoingState::InLog { .. }), "{o:?}");
    b.send_to_group("team", b"hi from bob").await.unwrap();
    // Nobody reads their own message back.
    assert_eq!(recv(&mut a).await, [said("bob", "[team] hi from bob")]);
    assert_eq!(recv(&mut b).await, [said("alice", "[team] hello team")]);
    assert_eq!(
        recv(&mut c).await,
        [
            said("alice", "[team] hello team"),
            said("bob", "[team] hi from bob")
        ]
    );

    // Carol is removed: she hears it, Bob sees the change, Carol can no longer send.
    a.remove_members("team", &["carol"]).await.unwrap();
    assert_eq!(recv(&mut c).await, [(None, "removed from team".into())]);
    assert_eq!(c.group("team").unwrap().status, GroupStatus::Removed);
    assert!(matches!(
        c.send_to_group("team", b"x").await,
        Err(Error::NotInGroup(_))
    ));
    assert_eq!(recv(&mut b).await, [(None, "team: +0 -1".into())]);
    a.send_to_group("team", b"two of us").await.unwrap();
    assert_eq!(recv(&mut b).await, [said("alice", "[team] two of us")]);
    assert!(recv(&mut c).await.is_empty());

    // Bob leaves: Alice's next read commits his request, then Bob hears he is out.
    b.leave_group("team").await.unwrap();
    assert_eq!(b.group("team").unwrap().status, GroupStatus::Leaving);
    assert_eq!(recv(&mut a).await, Vec::<(Option<String>, String)>::new());
    assert_eq!(a.group("team").unwrap().members.len(), 1);
    assert_eq!(recv(&mut b).await, [(None, "removed from team".into())]);
    assert_eq!(b.group("team").unwrap().status, GroupStatus::Removed);
    b.forget_group("team").unwrap();
    assert!(matches!(b.group("team"), Err(Error::UnknownGroup(_))));

    // Carol can be added back; her group keeps its name.
    a.add_members("team", &["carol"]).await.unwrap();
    assert_eq!(recv(&mut c).await, [said("alice", "joined team")]);
    a.send_to_group("team", b"welcome back").await.unwrap();
    assert_eq!(recv(&mut c).await, [said("alice", "[team] welcome back")]);
    assert_eq!(c.group("team").unwrap().status, GroupStatus::Member);
    r.shutdown().await.unwrap();
}

/// Two members commit at once, round after round: one wins each epoch, the other's change
/// is redone on the new epoch, and every change lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_are_redone_on_the_new_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let (mut a, mut b, mut c) = trio(&r.url()).await;
    a.create_group("g").unwrap();
    a.add_members("g", &["bob", "carol"]).await.unwrap();
    recv(&mut b).await;
    recv(&mut c).await;
    let start = a.group("g").unwrap().epoch.unwrap();
    const ROUNDS: u64 = 5;
    for _ in 0..ROUNDS {
        let (x, y) = tokio::join!(a.update_keys("g"), b.update_keys("g"));
        x.unwrap();
        y.unwrap();
    }
    // The commits did race (both read the log before either committed).
    assert!(a.lost_commits() + b.lost_commits() >= 1);
    for e in [&mut a, &mut b, &mut c] {
        recv(e).await;
    }
    let epochs: Vec<u64> = [&a, &b, &c]
        .iter()
        .map(|e| e.group("g").unwrap().epoch.unwrap())
        .collect();
    assert_eq!(epochs, vec![start + 2 * ROUNDS; 3]);
    // Still one group: everybody reads everybody.
    c.send_to_group("g", b"still one group").await.unwrap();
    assert_eq!(recv(&mut a).await, [said("carol", "[g] still one group")]);
    assert_eq!(recv(&mut b).await, [said("carol", "[g] still one group")]);
    r.shutdown().await.unwrap();
}

/// Group state and records survive a restart of the store; a message queued while the relay
/// is down goes out once on the next flush, and is read once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_survive_restarts_and_queued_messages_go_once() {
    let dir = tempfile::tempdir().unwrap();
    let relay_dir = dir.path().join("relay");
    let r = relay(&relay_dir).await;
    let url = r.url();
    let listen = r.local_addr();
    let store = |n: &str| {
        SqliteStore::create_with(&dir.path().join(n), KeySource::Passphrase(b"pw"), CHEAP).unwrap()
    };
    let quick = quick();
    let open = |n: &str| {
        let store = SqliteStore::open(&dir.path().join(n), KeySource::Passphrase(b"pw")).unwrap();
        Engine::with_options(Account::open(store).unwrap(), quick.clone()).unwrap()
    };
    let a_account = Account::create(store("a.db"), &mut rand::rng(), "Alice", url.clone());
    let mut a = Engine::with_options(a_account.unwrap(), quick.clone()).unwrap();
    let mut b = engine(store("b.db"), "Bob", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    b.receive().await.unwrap();
    a.create_group("pair").unwrap();
    // More groups than the one used: none of them is touched by sending to "pair".
    for i in 0..5 {
        a.create_group(&format!("other{i}")).unwrap();
    }
    a.add_members("pair", &["bob"]).await.unwrap();
    assert_eq!(recv(&mut b).await, [said("alice", "joined pair")]);
    drop(a.shutdown().await);
    drop(b.shutdown().await);
    let mut a = open("a.db");
    let mut b = open("b.db");
    assert_eq!(a.groups().unwrap().len(), 6);
    a.send_to_group("pair", b"after restart").await.unwrap();
    assert_eq!(recv(&mut b).await, [said("alice", "[pair] after restart")]);

    // The relay goes away: the message waits in the outbox, across a restart of Alice.
    r.shutdown().await.unwrap();
    a.close().await;
    let o = a.send_to_group("pair", b"queued").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Queued(_)), "{o:?}");
    drop(a.shutdown().await);
    let mut a = open("a.db");
    assert_eq!(a.outbox().unwrap().len(), 1);
    let r = Relay::start(relay_config(&relay_dir, listen))
        .await
        .unwrap();
    let flushed = a.flush_outbox().await.unwrap();
    assert!(
        matches!(flushed[0].state, OutgoingState::InLog { .. }),
        "{flushed:?}"
    );
    assert!(a.outbox().unwrap().is_empty());
    b.close().await;
    assert_eq!(recv(&mut b).await, [said("alice", "[pair] queued")]);
    assert!(recv(&mut b).await.is_empty());
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_welcome_is_an_event_and_events_name_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let (mut a, mut b, _c) = trio(&r.url()).await;
    // Bob already has a group called "team": Alice's "team" gets another local name.
    b.create_group("team").unwrap();
    a.create_group("team").unwrap();
    a.add_members("team", &["bob"]).await.unwrap();
    let got = b.receive().await.unwrap();
    let EventKind::Joined { group, by } = &got[0].kind else {
        panic!("{got:?}")
    };
    assert_eq!(group, "team-2");
    assert_eq!(by.alias.as_deref(), Some("alice"));
    assert!(got[0].envelope_id.is_some());
    // Unconfirmed, the event survives in the store.
    assert_eq!(b.pending_events().unwrap(), got);
    r.shutdown().await.unwrap();
}
