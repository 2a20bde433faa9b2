//! Groups under a crash at every write boundary: adding a member, sending to a group and
//! reading a group's log. A "crash" is a commit that fails (what was committed before
//! stays); the engine is then dropped and opened again on the same store. Nothing is lost,
//! nothing is read twice, and the group stays one group.

mod common;

use common::crashing::{crashing, restart};
use common::{engine, introduce, relay, texts};
use hush_client::store::{MemoryStore, Store};
use hush_client::{Engine, EventKind};

/// The texts of the events `e` holds, confirmed.
fn drain<S: Store>(e: &mut Engine<S>) -> Vec<String> {
    let ev = e.pending_events().unwrap();
    let ids: Vec<u64> = ev.iter().map(|e| e.id).collect();
    e.confirm(&ids).unwrap();
    texts(&ev).into_iter().map(|(_, t)| t).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_commit_of_adding_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let (store, knobs) = crashing(MemoryStore::new());
    let mut a = engine(store, "Alice", &url);
    let mut b = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    b.receive().await.unwrap();

    a.start().await.unwrap();
    // How many commits adding a member makes.
    a.create_group("g0").unwrap();
    knobs.arm(usize::MAX);
    a.add_members("g0", &["bob"]).await.unwrap();
    let n = knobs.commits();
    assert!(n >= 2, "{n}");
    b.receive().await.unwrap();
    drain(&mut b);

    for k in 1..=n {
        let g = format!("g{k}");
        a.create_group(&g).unwrap();
        knobs.arm(k);
        assert!(a.add_members(&g, &["bob"]).await.is_err(), "crash {k}");
        a = restart(a).await;
        knobs.disarm();
        a.start().await.unwrap();
        // Reading settles a commit that was saved; one that was not is made again.
        a.receive().await.unwrap();
        if a.group(&g).unwrap().members.len() == 1 {
            a.add_members(&g, &["bob"]).await.unwrap();
        }
        assert_eq!(a.group(&g).unwrap().members.len(), 2, "crash {k}");
        b.receive().await.unwrap();
        assert_eq!(drain(&mut b), [format!("joined {g}")], "crash {k}");
        // One group: they read each other.
        a.send_to_group(&g, b"hi").await.unwrap();
        b.receive().await.unwrap();
        assert_eq!(drain(&mut b), [format!("[{g}] hi")], "crash {k}");
        b.send_to_group(&g, b"back").await.unwrap();
        a.receive().await.unwrap();
        assert_eq!(drain(&mut a), [format!("[{g}] back")], "crash {k}");
    }
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_commit_of_sending_to_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let (store, knobs) = crashing(MemoryStore::new());
    let mut a = engine(store, "Alice", &url);
    let mut b = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    b.receive().await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    b.receive().await.unwrap();
    drain(&mut b);

    a.start().await.unwrap();
    // The first send also moves the cursor over the add commit; after it, a send commits
    // twice: the queued message with the group's state, then its move to `sent` (with the
    // cursor past it).
    a.send_to_group("g", b"first").await.unwrap();
    knobs.arm(usize::MAX);
    a.send_to_group("g", b"warm-up").await.unwrap();
    let n = knobs.commits();
    assert_eq!(n, 2);
    // Crash before it is queued: not sent, an error.
    knobs.arm(1);
    assert!(a.send_to_group("g", b"never").await.is_err());
    a = restart(a).await;
    knobs.disarm();
    a.start().await.unwrap();
    assert!(a.outbox().unwrap().is_empty());
    // Crash after the relay appended it: the retry appends it again; Bob reads it once.
    knobs.arm(2);
    a.send_to_group("g", b"twice-appended").await.unwrap();
    a = restart(a).await;
    knobs.disarm();
    a.start().await.unwrap();
    assert_eq!(a.outbox().unwrap().len(), 1);
    a.flush_outbox().await.unwrap();
    a.send_to_group("g", b"after").await.unwrap();
    b.receive().await.unwrap();
    assert_eq!(
        drain(&mut b),
        [
            "[g] first",
            "[g] warm-up",
            "[g] twice-appended",
            "[g] after"
        ]
    );
    // Alice reads none of her own messages back.
    a.receive().await.unwrap();
    assert!(drain(&mut a).is_empty());
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_commit_of_reading_a_group_log() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut a = engine(MemoryStore::new(), "Alice", &url);
    let (store, knobs) = crashing(MemoryStore::new());
    let mut b = engine(store, "Bob", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    b.receive().await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    b.receive().await.unwrap();
    drain(&mut b);

    let sent = ["m1", "m2", "m3"];
    for m in sent {
        a.send_to_group("g", m.as_bytes()).await.unwrap();
    }
    let want: Vec<String> = sent.iter().map(|m| format!("[g] {m}")).collect();
    // The three entries come in one page, saved in one batch: a crash at any commit of the
    // read keeps the page whole or not at all (its MLS state with it, so a page read again
    // decrypts once), and the next run goes on from there.
    let mut got: Vec<String> = Vec::new();
    let mut crashes = 0;
    for k in 1..=20 {
        knobs.arm(k);
        let done = b.receive().await.is_ok();
        b = restart(b).await;
        knobs.disarm();
        got.extend(drain(&mut b));
        assert!(
            got.is_empty() || got == want,
            "crash at commit {k}: {got:?}"
        );
        if k == 1 {
            assert!(
                got.is_empty(),
                "the page's batch is the read's first commit"
            );
        }
        if done {
            break;
        }
        crashes += 1;
    }
    assert!(crashes >= 1, "the read was interrupted at least once");
    b.receive().await.unwrap();
    got.extend(drain(&mut b));
    assert_eq!(got, want);
    b.receive().await.unwrap();
    assert!(drain(&mut b).is_empty());
    // The group goes on.
    b.send_to_group("g", b"ok").await.unwrap();
    let ev = a.receive().await.unwrap();
    assert!(matches!(&ev[0].kind, EventKind::GroupMessage { body, .. } if body == b"ok"));
    r.shutdown().await.unwrap();
}

/// A page of group messages is saved in one batch: reading 200 messages takes a handful of
/// commits (one per page of the log, and the receive's own), not one per message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_group_messages_is_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut a = engine(MemoryStore::new(), "Alice", &url);
    let (store, knobs) = crashing(MemoryStore::new());
    let mut b = engine(store, "Bob", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    b.receive().await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    b.receive().await.unwrap();
    drain(&mut b);
    for _ in 0..2 {
        for i in 0..200 {
            a.send_to_group("g", format!("m{i}").as_bytes())
                .await
                .unwrap();
        }
        knobs.arm(0);
        let got = b.receive().await.unwrap();
        assert_eq!(got.len(), 200);
        let commits = knobs.commits();
        assert!(commits <= 6, "{commits} commits to read 200 messages");
        let want: Vec<String> = (0..200).map(|i| format!("[g] m{i}")).collect();
        assert_eq!(drain(&mut b), want);
    }
    r.shutdown().await.unwrap();
}
