//! Importing an account into a store: a backup carries identity, contacts, peers and group
//! membership but no session and no epoch secret; the imported account talks again (new
//! sessions, re-added to its groups). A refused import writes nothing.

mod common;

use common::{CHEAP, engine, introduce, relay, texts};
use hush_client::store::{KeySource, MemoryStore, SqliteStore, Store, Table};
use hush_client::{Account, Engine, Error, EventKind, GroupStatus, Import, ImportContact};

async fn recv<S: Store>(e: &mut Engine<S>) -> Vec<hush_client::Event> {
    let got = e.receive().await.unwrap();
    e.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
        .unwrap();
    got
}

fn said(who: &str, text: &str) -> (Option<String>, String) {
    (Some(who.to_string()), text.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_imported_elsewhere_talks_again_and_is_re_added() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut a = engine(MemoryStore::new(), "Alice", &url);
    let mut b = engine(MemoryStore::new(), "Bob", &url);
    let mut c = engine(MemoryStore::new(), "Carol", &url);
    introduce(&mut a, "alice", &mut b, "bob");
    a.receive().await.unwrap();
    b.receive().await.unwrap();
    c.receive().await.unwrap();
    // Carol writes to Alice without being her contact: Alice keeps Carol's card.
    c.account_mut()
        .add_contact("alice", &a.account().card().encode().unwrap())
        .unwrap();
    c.send("alice", b"from a stranger").await.unwrap();
    a.send("bob", b"one").await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    recv(&mut a).await;
    recv(&mut b).await;

    a.account_mut().set_verified("bob", true).unwrap();
    let bob_before = a.account().contact("bob").unwrap();
    assert!(bob_before.offers_pqxdh, "Bob's bundle offered PQXDH");
    let backup: Import = a.backup().unwrap();
    assert!(backup.sessions.is_empty(), "a backup carries no session");
    assert_eq!(backup.peers.len(), 1, "Carol's card");
    let card = a.account().card().encode().unwrap();
    drop(a.shutdown().await);

    let mut a2 =
        Engine::new(Account::import(MemoryStore::new(), &mut rand::rng(), backup).unwrap())
            .unwrap();
    assert_eq!(a2.account().card().encode().unwrap(), card, "the same card");
    assert_eq!(a2.account().contacts().unwrap().len(), 1);
    // What the user verified and the sticky PQXDH rule come back with the contact.
    let bob_after = a2.account().contact("bob").unwrap();
    assert!(bob_after.verified, "still verified");
    assert!(bob_after.offers_pqxdh, "still held to PQXDH");
    assert_eq!(
        bob_after.card.encode().unwrap(),
        bob_before.card.encode().unwrap()
    );
    assert_eq!(a2.account().peers().unwrap().len(), 1);
    assert_eq!(a2.group("g").unwrap().status, GroupStatus::NeedsReAdd);
    assert!(matches!(
        a2.send_to_group("g", b"too early").await,
        Err(Error::NeedsReAdd(_))
    ));

    // A new session each way.
    a2.send("bob", b"from the import").await.unwrap();
    assert_eq!(
        texts(&recv(&mut b).await),
        [said("alice", "from the import")]
    );
    b.send("alice", b"welcome back").await.unwrap();
    let got = recv(&mut a2).await;
    assert!(
        texts(&got).contains(&said("bob", "welcome back")),
        "{:?}",
        texts(&got)
    );

    // Re-added, the imported account reads and writes the group again.
    b.remove_members("g", &["alice"]).await.unwrap();
    b.add_members("g", &["alice"]).await.unwrap();
    let got = recv(&mut a2).await;
    assert!(
        got.iter()
            .any(|e| matches!(&e.kind, EventKind::Joined { group, .. } if group == "g")),
        "{:?}",
        texts(&got)
    );
    a2.send_to_group("g", b"back in").await.unwrap();
    assert!(texts(&recv(&mut b).await).contains(&said("alice", "[g] back in")));
    r.shutdown().await.unwrap();
}

#[test]
fn a_refused_import_writes_nothing() {
    let url = format!("hush://{}@127.0.0.1:4433", "ab".repeat(32))
        .parse()
        .unwrap();
    let a = Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url).unwrap();
    let e = Engine::new(a).unwrap();
    let other = Account::create(
        MemoryStore::new(),
        &mut rand::rng(),
        "Bob",
        e.account().relay().clone(),
    )
    .unwrap();
    let bob = other.card().encode().unwrap();
    let own = e.account().card().encode().unwrap();

    type Spoil = fn(&mut Import, &str, &str);
    let cases: [(&str, Spoil); 5] = [
        ("own card", |i, _, own| {
            i.contacts.push(ImportContact::new("me", own))
        }),
        ("alias twice", |i, bob, _| {
            i.contacts.push(ImportContact::new("bob", bob));
            i.contacts.push(ImportContact::new("bob", bob));
        }),
        ("identity twice", |i, bob, _| {
            i.contacts.push(ImportContact::new("bob", bob));
            i.contacts.push(ImportContact::new("bob2", bob));
        }),
        ("bad identity", |i, _, _| {
            i.identity = zeroize::Zeroizing::new(vec![1, 2, 3])
        }),
        ("bad prekeys", |i, _, _| {
            i.prekeys = zeroize::Zeroizing::new(vec![9; 7])
        }),
    ];
    for (what, spoil) in cases {
        let mut import = e.backup().unwrap();
        spoil(&mut import, &bob, &own);
        let store = MemoryStore::new();
        let err = Account::import(store, &mut rand::rng(), import);
        assert!(err.is_err(), "{what} was taken");
    }
    // Nothing is written by a refusal: the store still holds no account afterwards.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP).unwrap();
    let mut import = e.backup().unwrap();
    import.contacts.push(ImportContact::new("me", own.clone()));
    let refused = Account::import(store, &mut rand::rng(), import);
    assert!(matches!(refused, Err(Error::OwnCard)));
    let store = SqliteStore::open(&path, KeySource::Passphrase(b"pw")).unwrap();
    assert!(store.get(Table::Account, b"identity").unwrap().is_none());
    assert!(store.scan(Table::Contacts).unwrap().is_empty());
    // A store that holds an account refuses an import.
    let taken = Account::create(
        MemoryStore::new(),
        &mut rand::rng(),
        "X",
        e.account().relay().clone(),
    )
    .unwrap()
    .into_store();
    assert!(matches!(
        Account::import(taken, &mut rand::rng(), e.backup().unwrap()),
        Err(Error::AccountExists)
    ));
}
