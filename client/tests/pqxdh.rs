//! PQXDH through the engine and the in-process relay (`spec/pqxdh.md`, `spec/client.md`):
//! sessions start with PQXDH when the peer's bundle offers it and with X3DH otherwise, each
//! one-time KEM prekey is used once (then the last-resort one), and a relay that strips the
//! KEM prekey from a bundle that promises one is refused.

mod common;

use common::{introduce, relay, texts};
use ed25519_dalek::SigningKey;
use hush_client::card::Card;
use hush_client::store::{Batch, MemoryStore, Store, Table};
use hush_client::{Account, Engine, Error, Handshake};
use hush_protocol::directory::{DirectoryKeys, EntryKind};
use hush_protocol::envelope;
use hush_protocol::{IdentityKeyPair, PreKeyStore, Session, SessionConfig};
use hush_relay_client::{Client, OneTimePrekey, SignedPrekey, Stock};

fn engine(name: &str, url: &hush_relay_client::RelayUrl) -> Engine<MemoryStore> {
    common::engine(MemoryStore::new(), name, url)
}

/// The directory stock of `e`'s mailbox, asked as its owner.
async fn stock(e: &Engine<MemoryStore>) -> Stock {
    let c = Client::connect(e.account().relay()).await.unwrap();
    let m = c.authenticate(e.account().mailbox_key()).await.unwrap();
    c.directory_stock(&m).await.unwrap()
}

/// One-time KEM prekeys the engine still holds the secrets of.
fn kem_secrets(e: &Engine<MemoryStore>) -> usize {
    e.account().prekeys().unwrap().one_time_kem_prekey_count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engines_talk_over_pqxdh() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine("Alice", &url);
    let mut bob = engine("Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    assert!(bob.receive().await.unwrap().is_empty());
    let s = stock(&bob).await;
    assert_eq!(
        (s.one_time_kem_prekeys, s.has_last_resort_kem_prekey, s.low),
        (25, true, false)
    );
    assert_eq!(kem_secrets(&bob), 25);
    assert_eq!(alice.account().session_handshake("bob").unwrap(), None);

    alice.send("bob", b"post-quantum hello").await.unwrap();
    assert_eq!(
        alice.account().session_handshake("bob").unwrap(),
        Some(Handshake::Pqxdh)
    );
    assert_eq!(stock(&bob).await.one_time_kem_prekeys, 24);
    let got = bob.receive().await.unwrap();
    assert_eq!(
        texts(&got),
        [(Some("alice".into()), "post-quantum hello".into())]
    );
    assert_eq!(
        bob.account().session_handshake("alice").unwrap(),
        Some(Handshake::Pqxdh)
    );
    // The one-time KEM prekey Alice used is gone from Bob's store.
    assert_eq!(kem_secrets(&bob), 24);
    bob.send("alice", b"and back").await.unwrap();
    let got = alice.receive().await.unwrap();
    assert_eq!(texts(&got), [(Some("bob".into()), "and back".into())]);
    assert_eq!(Handshake::Pqxdh.to_string(), "PQXDH");
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_kem_prekeys_once_then_the_last_resort_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine("Alice", &url);
    let mut carol = engine("Carol", &url);
    let mut bob = engine("Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    introduce(&mut carol, "carol", &mut bob, "bob");
    assert!(bob.receive().await.unwrap().is_empty());
    // Others take all but one of Bob's one-time KEM prekeys (each one once).
    let card = bob.account().card();
    let keys = card.directory_keys().unwrap();
    let c = Client::connect(&url).await.unwrap();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..24 {
        let b = c
            .fetch_prekey_bundle_with_token(&card.mailbox, Some(keys.fetch_token().as_bytes()))
            .await
            .unwrap();
        assert!(!b.kem_prekey_last_resort);
        assert!(ids.insert(b.kem_prekey.unwrap().id));
    }
    assert_eq!(stock(&bob).await.one_time_kem_prekeys, 1);
    // Alice gets the last one-time KEM prekey, Carol the last-resort one.
    alice.send("bob", b"from alice").await.unwrap();
    assert_eq!(stock(&bob).await.one_time_kem_prekeys, 0);
    carol.send("bob", b"from carol").await.unwrap();
    for (e, to) in [(&alice, "bob"), (&carol, "bob")] {
        assert_eq!(
            e.account().session_handshake(to).unwrap(),
            Some(Handshake::Pqxdh)
        );
    }
    let mut got = texts(&bob.receive().await.unwrap());
    got.sort();
    assert_eq!(
        got,
        [
            (Some("alice".into()), "from alice".into()),
            (Some("carol".into()), "from carol".into())
        ]
    );
    for peer in ["alice", "carol"] {
        assert_eq!(
            bob.account().session_handshake(peer).unwrap(),
            Some(Handshake::Pqxdh)
        );
    }
    // Only Alice's one-time KEM prekey was used up (the last-resort one stays); the relay's
    // low stock made Bob upload a new batch.
    assert_eq!(kem_secrets(&bob), 25 - 1 + 25);
    let s = stock(&bob).await;
    assert_eq!(
        (s.one_time_kem_prekeys, s.has_last_resort_kem_prekey),
        (25, true)
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_kem_prekeys_gets_x3dh() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut rng = rand::rng();
    // An older client: X3DH prekeys only, plaintext directory, version 1 card.
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut store = PreKeyStore::new();
    let spk = store.rotate_signed_prekey(&mut rng, &bob_id);
    let opks = store.generate_one_time_prekeys(&mut rng, 2);
    let bob_key = SigningKey::from_bytes(&[9; 32]);
    let c = Client::connect(&url).await.unwrap();
    let mailbox = c.authenticate(&bob_key).await.unwrap();
    let entries = opks
        .iter()
        .map(|k| OneTimePrekey {
            id: u64::from(k.id()),
            blob: k.to_bytes(),
        })
        .collect();
    let signed = SignedPrekey {
        id: spk.id(),
        blob: spk.to_bytes(),
    };
    c.upload_prekeys(&mailbox, Some(signed), entries)
        .await
        .unwrap();
    let bob_card = Card {
        name: "Bob".into(),
        identity: bob_id.public().clone(),
        mailbox,
        relay: url.clone(),
        directory: None,
    };
    let mut alice = engine("Alice", &url);
    alice
        .account_mut()
        .add_contact("bob", &bob_card.encode().unwrap())
        .unwrap();
    alice.send("bob", b"hello old bob").await.unwrap();
    assert_eq!(
        alice.account().session_handshake("bob").unwrap(),
        Some(Handshake::X3dh)
    );
    // The older client opens it with X3DH.
    let page = c.fetch(&mailbox, 0, 0).await.unwrap();
    assert_eq!(page.envelopes.len(), 1);
    let content = envelope::open(&bob_id, &page.envelopes[0].ciphertext).unwrap();
    let (session, plaintext) = Session::respond(
        &mut rng,
        &bob_id,
        &mut store,
        &content.payload,
        SessionConfig::default(),
    )
    .unwrap();
    assert!(!session.is_post_quantum());
    assert!(
        plaintext
            .windows(b"hello old bob".len())
            .any(|w| w == b"hello old bob")
    );
    r.shutdown().await.unwrap();
}

/// `card` with its mailbox replaced by another one whose directory holds only the signed
/// prekey `signed` (id `id`): what a relay serves when it hands out that signed prekey and
/// nothing else in the name of `card`'s owner.
async fn serve_elsewhere(
    url: &hush_relay_client::RelayUrl,
    card: Card,
    id: u32,
    signed: &[u8],
) -> Card {
    let c = Client::connect(url).await.unwrap();
    let ds = card.directory.clone().unwrap();
    let evil = c
        .authenticate(&SigningKey::from_bytes(&[7; 32]))
        .await
        .unwrap();
    let evil_keys = DirectoryKeys::derive(&ds, evil.as_bytes());
    let blob = evil_keys
        .seal(&mut rand::rng(), EntryKind::SignedPrekey, signed)
        .unwrap();
    c.upload_prekeys(&evil, Some(SignedPrekey { id, blob }), Vec::new())
        .await
        .unwrap();
    c.register_fetch_verifier(&evil, evil_keys.fetch_token().verifier())
        .await
        .unwrap();
    Card {
        mailbox: evil,
        ..card
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_that_strips_the_kem_prekey_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine("Alice", &url);
    let mut bob = engine("Bob", &url);
    assert!(bob.receive().await.unwrap().is_empty());
    // The relay serves Bob's genuine signed prekey (which offers PQXDH) without a KEM
    // prekey: here, from another mailbox whose directory holds nothing else.
    let card = bob.account().card();
    let keys = card.directory_keys().unwrap();
    let c = Client::connect(&url).await.unwrap();
    let b = c
        .fetch_prekey_bundle_with_token(&card.mailbox, Some(keys.fetch_token().as_bytes()))
        .await
        .unwrap();
    let signed = keys
        .open(EntryKind::SignedPrekey, &b.signed_prekey.blob)
        .unwrap();
    let stripped = serve_elsewhere(&url, card, b.signed_prekey.id, &signed).await;
    alice
        .account_mut()
        .add_contact("bob", &stripped.encode().unwrap())
        .unwrap();
    let e = alice.send("bob", b"must not go out over X3DH").await;
    match e {
        Err(Error::PqxdhDowngrade(alias)) => assert_eq!(alias, "bob"),
        other => panic!("expected PqxdhDowngrade, got {other:?}"),
    }
    assert_eq!(alice.account().session_handshake("bob").unwrap(), None);
    assert!(alice.outbox().unwrap().is_empty());
    r.shutdown().await.unwrap();
}

/// The sticky rule (spec/client.md §3): once Bob's bundle offered PQXDH, Alice refuses a
/// bundle of his without it — here an X3DH signed prekey Bob really signed (before he offered
/// PQXDH, say) that the relay serves again when Alice needs a new session. A new contact with
/// no such memory accepts that bundle (X3DH), so the memory is what refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_seen_offering_pqxdh_is_held_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine("Alice", &url);
    let mut bob = engine("Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    assert!(bob.receive().await.unwrap().is_empty());
    assert!(!alice.account().contact("bob").unwrap().offers_pqxdh);
    alice.send("bob", b"first").await.unwrap();
    assert!(alice.account().contact("bob").unwrap().offers_pqxdh);

    let bob_id = IdentityKeyPair::from_bytes(&bob.backup().unwrap().identity).unwrap();
    let old = PreKeyStore::new().rotate_signed_prekey(&mut rand::rng(), &bob_id);
    assert!(!old.offers_pqxdh());
    let served = serve_elsewhere(&url, bob.account().card(), old.id(), &old.to_bytes()).await;
    let served = served.encode().unwrap();
    // Same identity: the card update keeps what Alice learned.
    alice.update_contact("bob", &served).unwrap();
    assert!(alice.account().contact("bob").unwrap().offers_pqxdh);
    // Alice's session goes (as when a restored store sets its sessions aside).
    let mut store = alice.shutdown().await.into_store();
    let mut b = Batch::new();
    b.delete(Table::Sessions, bob_id.public().fingerprint().0.to_vec());
    store.commit(b).unwrap();
    let mut alice = Engine::new(Account::open(store).unwrap()).unwrap();
    assert_eq!(alice.account().session_handshake("bob").unwrap(), None);
    match alice.send("bob", b"must not go out over X3DH").await {
        Err(Error::PqxdhDowngrade(alias)) => assert_eq!(alias, "bob"),
        other => panic!("expected PqxdhDowngrade, got {other:?}"),
    }
    assert_eq!(alice.account().session_handshake("bob").unwrap(), None);
    assert!(alice.outbox().unwrap().is_empty());

    // Carol never saw Bob offer PQXDH: the same bundle starts an X3DH session.
    let mut carol = engine("Carol", &url);
    carol.account_mut().add_contact("bob", &served).unwrap();
    carol.send("bob", b"hello over X3DH").await.unwrap();
    assert_eq!(
        carol.account().session_handshake("bob").unwrap(),
        Some(Handshake::X3dh)
    );
    assert!(!carol.account().contact("bob").unwrap().offers_pqxdh);
    // Another identity for "bob" is another person's device: the memory goes with the old one.
    let other = carol.account().card().encode().unwrap();
    assert_eq!(
        alice.update_contact("bob", &other).unwrap(),
        hush_client::CardUpdate::NewIdentity
    );
    assert!(!alice.account().contact("bob").unwrap().offers_pqxdh);
    r.shutdown().await.unwrap();
}
