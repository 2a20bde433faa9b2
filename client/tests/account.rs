//! Accounts and contacts on the encrypted SQLite store: create, reopen, every contact
//! operation and its refusals, and that nothing is lost across a reopen.

use hush_client::store::{
    Batch, KdfParams, KeySource, MemoryStore, SqliteStore, Store, StoreError, Table, Value,
};
use hush_client::{Account, CardUpdate, Error};
use hush_relay_client::RelayUrl;

const CHEAP: KdfParams = KdfParams {
    m_cost: 64,
    t_cost: 1,
    p_cost: 1,
};

fn relay() -> RelayUrl {
    "hush://1111111111111111111111111111111111111111111111111111111111111111@127.0.0.1:4433"
        .parse()
        .unwrap()
}

fn memory_account(name: &str) -> Account<MemoryStore> {
    Account::create(MemoryStore::new(), &mut rand::rng(), name, relay()).unwrap()
}

#[test]
fn create_reopen_and_wrong_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let store = SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP).unwrap();
    let a = Account::create(store, &mut rand::rng(), "Alice", relay()).unwrap();
    let card = a.card().encode().unwrap();
    let identity = a.identity().clone();
    let mailbox = a.mailbox();
    a.prekeys().unwrap();
    drop(a);

    let store = SqliteStore::open(&path, KeySource::Passphrase(b"pw")).unwrap();
    let a = Account::open(store).unwrap();
    assert_eq!(a.identity(), &identity);
    assert_eq!(a.mailbox(), mailbox);
    assert_eq!(a.name(), "Alice");
    assert_eq!(a.relay(), &relay());
    assert_eq!(a.card().encode().unwrap(), card);
    // A second account in the same store is refused, and the first is intact.
    let store = a.into_store();
    assert!(matches!(
        Account::create(store, &mut rand::rng(), "Eve", relay()),
        Err(Error::AccountExists)
    ));
    assert!(matches!(
        SqliteStore::open(&path, KeySource::Passphrase(b"nope")),
        Err(StoreError::WrongKey)
    ));
    assert!(matches!(
        Account::open(MemoryStore::new()),
        Err(Error::NoAccount)
    ));
}

#[test]
fn bad_names_are_refused() {
    for name in ["", "a\nb", &"x".repeat(65)] {
        assert!(matches!(
            Account::create(MemoryStore::new(), &mut rand::rng(), name, relay()),
            Err(Error::Invalid { what: "name", .. })
        ));
    }
}

#[test]
fn contacts_add_update_verify_remove() {
    let mut bob = memory_account("Bob");
    let alice = memory_account("Alice");
    let carol = memory_account("Carol");
    let alice_card = alice.card().encode().unwrap();
    let carol_card = carol.card().encode().unwrap();

    let c = bob
        .add_contact("alice", &format!("  {alice_card}\n"))
        .unwrap();
    assert_eq!(&c.card.identity, alice.identity());
    assert!(!c.verified);
    // Both sides compute the same safety number.
    let mut alice = alice;
    alice
        .add_contact("bob", &bob.card().encode().unwrap())
        .unwrap();
    assert_eq!(
        bob.safety_number("alice").unwrap().to_string(),
        alice.safety_number("bob").unwrap().to_string()
    );

    // Refusals, each leaving the contacts as they were.
    assert!(matches!(
        bob.add_contact("alice", &carol_card),
        Err(Error::AliasTaken(a)) if a == "alice"
    ));
    assert!(matches!(
        bob.add_contact("alice2", &alice_card),
        Err(Error::AlreadyContact(a)) if a == "alice"
    ));
    assert!(matches!(
        bob.add_contact("me", &bob.card().encode().unwrap()),
        Err(Error::OwnCard)
    ));
    assert!(matches!(
        bob.add_contact("bad alias!", &carol_card),
        Err(Error::Invalid { what: "alias", .. })
    ));
    assert!(matches!(
        bob.add_contact("carol", "hush1:AAAA"),
        Err(Error::Card(_))
    ));
    assert!(matches!(
        bob.contact("nobody"),
        Err(Error::UnknownContact(_))
    ));
    assert_eq!(bob.contacts().unwrap().len(), 1);

    bob.set_verified("alice", true).unwrap();
    assert!(bob.contact("alice").unwrap().verified);
    // The same identity again keeps the verification; another identity drops it.
    assert_eq!(
        bob.update_contact("alice", &alice_card).unwrap(),
        CardUpdate::SameIdentity
    );
    assert!(bob.contact("alice").unwrap().verified);
    assert_eq!(
        bob.update_contact("alice", &carol_card).unwrap(),
        CardUpdate::NewIdentity
    );
    let c = bob.contact("alice").unwrap();
    assert!(!c.verified);
    assert_eq!(&c.card.identity, carol.identity());

    bob.add_contact("zed", &alice_card).unwrap();
    let aliases: Vec<String> = bob
        .contacts()
        .unwrap()
        .into_iter()
        .map(|c| c.alias)
        .collect();
    assert_eq!(aliases, ["alice", "zed"]);
    bob.remove_contact("alice").unwrap();
    assert!(matches!(
        bob.remove_contact("alice"),
        Err(Error::UnknownContact(_))
    ));
    assert_eq!(bob.contacts().unwrap().len(), 1);
}

/// Counts what each commit writes.
struct Counting<S> {
    inner: S,
    last_ops: usize,
}

impl<S: Store> Store for Counting<S> {
    fn get(&self, t: Table, k: &[u8]) -> Result<Option<Value>, StoreError> {
        self.inner.get(t, k)
    }
    fn scan(&self, t: Table) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        self.inner.scan(t)
    }
    fn commit(&mut self, b: Batch) -> Result<(), StoreError> {
        self.last_ops = b.ops().len();
        self.inner.commit(b)
    }
}

/// A contact change writes that contact's records (the contact and its index entry) and
/// nothing else, however many contacts there are; all of them are there after a reopen.
#[test]
fn a_change_writes_only_its_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let store = SqliteStore::create_with(&path, KeySource::Key(&[9; 32]), CHEAP).unwrap();
    let store = Counting {
        inner: store,
        last_ops: 0,
    };
    let mut bob = Account::create(store, &mut rand::rng(), "Bob", relay()).unwrap();
    for i in 0..200 {
        let other = memory_account("X").card().encode().unwrap();
        bob.add_contact(&format!("a{i}"), &other).unwrap();
        assert_eq!(bob.store().last_ops, 2);
    }
    bob.set_verified("a0", true).unwrap();
    assert_eq!(bob.store().last_ops, 2);
    drop(bob);
    let bob = Account::open(SqliteStore::open(&path, KeySource::Key(&[9; 32])).unwrap()).unwrap();
    assert_eq!(bob.contacts().unwrap().len(), 200);
    assert!(bob.contact("a0").unwrap().verified);
}

#[test]
fn import_is_all_or_nothing() {
    let mut bob = memory_account("Bob");
    let cards: Vec<String> = (0..3)
        .map(|_| memory_account("X").card().encode().unwrap())
        .collect();
    bob.add_contact("taken", &cards[0]).unwrap();
    let book = |pairs: &[(&str, &String)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, c)| (a.to_string(), (*c).clone()))
            .collect()
    };
    // A taken alias, an identity already a contact, the same identity twice, a bad card:
    // each refuses the whole import.
    for (bad, want) in [
        (
            book(&[("a", &cards[1]), ("taken", &cards[2])]),
            "AliasTaken",
        ),
        (
            book(&[("a", &cards[1]), ("b", &cards[0])]),
            "AlreadyContact",
        ),
        (
            book(&[("a", &cards[1]), ("b", &cards[1])]),
            "AlreadyContact",
        ),
        (
            vec![
                ("a".into(), cards[1].clone()),
                ("b".into(), "hush1:xx".into()),
            ],
            "Card",
        ),
    ] {
        let e = bob.import_contacts(&bad).unwrap_err();
        assert!(format!("{e:?}").starts_with(want), "{e:?}");
        assert_eq!(bob.contacts().unwrap().len(), 1);
    }
    assert_eq!(
        bob.import_contacts(&book(&[("a", &cards[1]), ("b", &cards[2])]))
            .unwrap(),
        2
    );
    assert_eq!(
        bob.alias_of(&bob.contact("b").unwrap().card.identity)
            .unwrap()
            .as_deref(),
        Some("b")
    );
    assert_eq!(bob.contacts().unwrap().len(), 3);
}
