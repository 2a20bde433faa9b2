//! A store restored from an older copy never reuses a key: the engine finds out from the
//! state generation its relay keeps, sets its 1:1 sessions aside (the next message starts a
//! new one), forgets its groups (a member re-adds it) and says so with a `Restored` event.

mod common;

use common::{CHEAP, engine, relay, texts};
use hush_client::store::{KeySource, MemoryStore, SqliteStore, Store};
use hush_client::{Account, Engine, Error, Event, EventKind, GroupStatus};
use std::path::Path;

fn open(path: &Path) -> Engine<SqliteStore> {
    let store = SqliteStore::open(path, KeySource::Passphrase(b"pw")).unwrap();
    Engine::new(Account::open(store).unwrap()).unwrap()
}

fn said(who: &str, text: &str) -> (Option<String>, String) {
    (Some(who.to_string()), text.to_string())
}

async fn recv<S: Store>(e: &mut Engine<S>) -> Vec<Event> {
    let got = e.receive().await.unwrap();
    e.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
        .unwrap();
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_copy_sets_its_keys_aside_and_is_re_added() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let path = dir.path().join("alice.db");
    let backup = dir.path().join("alice-backup.db");
    let store = SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP).unwrap();
    let mut a = engine(store, "Alice", &url);
    let mut b = engine(MemoryStore::new(), "Bob", &url);
    let (ac, bc) = (
        a.account().card().encode().unwrap(),
        b.account().card().encode().unwrap(),
    );
    a.account_mut().add_contact("bob", &bc).unwrap();
    b.account_mut().add_contact("alice", &ac).unwrap();
    b.receive().await.unwrap();
    a.send("bob", b"one").await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    recv(&mut b).await;

    // A backup is taken; the original goes on (its chains move past the backup's).
    drop(a.shutdown().await);
    std::fs::copy(&path, &backup).unwrap();
    let mut a = open(&path);
    a.send("bob", b"two").await.unwrap();
    a.send_to_group("g", b"g-two").await.unwrap();
    drop(a.shutdown().await);
    assert_eq!(
        texts(&b.receive().await.unwrap()),
        [said("alice", "two"), said("alice", "[g] g-two")]
    );

    // The backup is restored and used: it notices before it encrypts anything.
    std::fs::copy(&backup, &path).unwrap();
    let mut a = open(&path);
    a.send("bob", b"three").await.unwrap();
    let ev = recv(&mut a).await;
    assert!(
        ev.iter().any(
            |k| matches!(&k.kind, EventKind::Restored { groups } if groups == &["g".to_string()])
        ),
        "{ev:?}"
    );
    assert_eq!(a.group("g").unwrap().status, GroupStatus::NeedsReAdd);
    assert!(matches!(
        a.send_to_group("g", b"x").await,
        Err(Error::NeedsReAdd(_))
    ));
    // Bob reads "three" on a new session: no key was used twice.
    let got = texts(&b.receive().await.unwrap());
    assert_eq!(got, [said("alice", "three")]);
    b.send("alice", b"answer").await.unwrap();
    assert!(
        recv(&mut a)
            .await
            .iter()
            .any(|k| matches!(&k.kind, EventKind::Message { body, .. } if body == b"answer"))
    );

    // Bob re-adds Alice: her group keeps its name and works again.
    b.remove_members("g", &["alice"]).await.unwrap();
    b.add_members("g", &["alice"]).await.unwrap();
    let ev = recv(&mut a).await;
    assert!(
        ev.iter()
            .any(|k| matches!(&k.kind, EventKind::Joined { group, .. } if group == "g")),
        "{ev:?}"
    );
    assert_eq!(a.group("g").unwrap().status, GroupStatus::Member);
    a.send_to_group("g", b"back").await.unwrap();
    assert_eq!(
        texts(&b.receive().await.unwrap()),
        [said("alice", "[g] back")]
    );

    // Opening the current store again is not a rollback.
    drop(a.shutdown().await);
    let mut a = open(&path);
    a.start().await.unwrap();
    assert!(
        !recv(&mut a)
            .await
            .iter()
            .any(|k| matches!(&k.kind, EventKind::Restored { .. }))
    );
    r.shutdown().await.unwrap();
}
