//! The engine between users through a real relay (QUIC on 127.0.0.1): sessions started from
//! sealed directories, replies, persistence across restarts, the outbox, and "persist, then
//! ack" (a redelivered envelope is never processed twice).

use hush_client::store::{KeySource, MemoryStore, SqliteStore};
mod common;

use common::{CHEAP, engine, introduce, quick, relay, relay_config, texts};
use hush_client::{Account, Engine, Error, EventKind, OutgoingState};
use hush_relay::server::{Relay, RelayConfig};

fn stored(o: &hush_client::Outgoing) -> bool {
    matches!(o.state, OutgoingState::Stored(_))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_users_talk_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let store = |n: &str| {
        SqliteStore::create_with(&dir.path().join(n), KeySource::Passphrase(b"pw"), CHEAP).unwrap()
    };
    let mut alice = engine(store("alice.db"), "Alice", &url);
    let mut bob = engine(store("bob.db"), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    // Bob publishes his sealed directory on his first contact with the relay.
    assert!(bob.receive().await.unwrap().is_empty());

    let o = alice.send("bob", b"hello bob").await.unwrap();
    assert!(stored(&o), "{o:?}");
    assert_eq!(o.to, "bob");
    let got = bob.receive().await.unwrap();
    assert_eq!(texts(&got), [(Some("alice".into()), "hello bob".into())]);
    // Received events stay until confirmed, across a restart.
    let bob_account = bob.shutdown().await;
    let mut bob = Engine::new(Account::open(bob_account.into_store()).unwrap()).unwrap();
    assert_eq!(texts(&bob.pending_events().unwrap()), texts(&got));
    bob.confirm(&[got[0].id]).unwrap();
    assert!(bob.pending_events().unwrap().is_empty());

    // Bob answers on the session Alice started; Alice reopens her store from disk first.
    assert!(stored(&bob.send("alice", b"hi alice").await.unwrap()));
    assert!(stored(&bob.send("alice", b"twice").await.unwrap()));
    drop(alice.shutdown().await);
    let alice_store =
        SqliteStore::open(&dir.path().join("alice.db"), KeySource::Passphrase(b"pw")).unwrap();
    let mut alice = Engine::new(Account::open(alice_store).unwrap()).unwrap();
    let got = alice.receive().await.unwrap();
    assert_eq!(
        texts(&got),
        [
            (Some("bob".into()), "hi alice".into()),
            (Some("bob".into()), "twice".into())
        ]
    );
    assert!(alice.receive().await.unwrap().is_empty());
    r.shutdown().await.unwrap();
}

/// A stranger's message arrives with their identity and no alias; unknown senders cannot
/// start sessions without the card (its fetch token).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_who_is_not_a_contact_and_a_stale_card() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    bob.receive().await.unwrap();
    let bob_card = bob.account().card().encode().unwrap();
    alice.account_mut().add_contact("bob", &bob_card).unwrap();
    alice.send("bob", b"who am I?").await.unwrap();
    let got = bob.receive().await.unwrap();
    let EventKind::Message { from, body } = &got[0].kind else {
        panic!("not a message: {:?}", got[0]);
    };
    assert_eq!(from.alias, None);
    assert_eq!(from.identity, alice.account().identity().fingerprint());
    assert_eq!(body, b"who am I?");
    // Their message carried their card: Bob can answer by adding it.
    let card = from.card.clone().expect("the sender's card");
    bob.account_mut().add_contact("alice", &card).unwrap();
    assert!(stored(&bob.send("alice", b"you are alice").await.unwrap()));
    let back = alice.receive().await.unwrap();
    assert_eq!(texts(&back), [(Some("bob".into()), "you are alice".into())]);

    // A card whose directory secret is wrong: the relay refuses the fetch token.
    let mut carol = engine(MemoryStore::new(), "Carol", &url);
    let mut forged = bob.account().card();
    forged.directory = Some(hush_protocol::directory::DirectorySecret::from_bytes(
        [3; 32],
    ));
    carol
        .account_mut()
        .add_contact("bob", &forged.encode().unwrap())
        .unwrap();
    assert!(matches!(
        carol.send("bob", b"x").await,
        Err(Error::StaleCard(a)) if a == "bob"
    ));
    assert!(carol.outbox().unwrap().is_empty());
    r.shutdown().await.unwrap();
}

/// A message queued while the relay is down is sent by the next flush with the same
/// envelope id, and arrives once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_survives_an_unreachable_relay() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let r = relay(&data).await;
    let url = r.url();
    let quick = quick();
    let account = Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url.clone());
    let mut alice = Engine::with_options(account.unwrap(), quick).unwrap();
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    assert!(stored(&alice.send("bob", b"one").await.unwrap()));
    let addr = r.local_addr();
    r.shutdown().await.unwrap();

    let o = alice.send("bob", b"two").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Queued(_)), "{o:?}");
    assert_eq!(alice.outbox().unwrap().len(), 1);
    assert_eq!(alice.flush_outbox().await.unwrap().len(), 1);
    assert_eq!(alice.outbox().unwrap().len(), 1);

    // The same relay (same data, same address) comes back.
    let r = Relay::start(relay_config(&data, addr))
        .await
        .expect("relay restarts");
    alice.close().await;
    let flushed = alice.flush_outbox().await.unwrap();
    assert_eq!(flushed.len(), 1);
    assert!(stored(&flushed[0]), "{flushed:?}");
    assert_eq!(flushed[0].envelope_id, o.envelope_id);
    assert!(alice.outbox().unwrap().is_empty());
    bob.close().await;
    let got = bob.receive().await.unwrap();
    assert_eq!(
        texts(&got),
        [
            (Some("alice".into()), "one".into()),
            (Some("alice".into()), "two".into())
        ]
    );
    r.shutdown().await.unwrap();
}

/// Someone with a contact's name writing from another identity (a reinstall) is told once,
/// before their message; the contact is unchanged until the user updates it with the card.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_identity_with_a_contacts_name_is_noticed_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    let old = alice.account().identity().fingerprint();
    // Alice reinstalls: a new identity, the same name.
    let mut again = engine(MemoryStore::new(), " alice ", &url);
    let bob_card = bob.account().card().encode().unwrap();
    again.account_mut().add_contact("bob", &bob_card).unwrap();
    again.send("bob", b"it's me, new phone").await.unwrap();
    again.send("bob", b"second").await.unwrap();
    let got = bob.receive().await.unwrap();
    assert_eq!(got.len(), 3, "{got:?}");
    let EventKind::IdentityChanged {
        contact,
        old: o,
        new,
        card,
    } = &got[0].kind
    else {
        panic!("{got:?}")
    };
    assert_eq!(contact, "alice");
    assert_eq!(*o, old);
    assert_eq!(*new, again.account().identity().fingerprint());
    assert!(matches!(&got[1].kind, EventKind::Message { from, .. } if from.alias.is_none()));
    // The contact is unchanged until the user decides.
    assert_eq!(
        bob.account()
            .contact("alice")
            .unwrap()
            .card
            .identity
            .fingerprint(),
        old
    );
    bob.account_mut().update_contact("alice", card).unwrap();
    again.send("bob", b"now?").await.unwrap();
    assert_eq!(
        texts(&bob.receive().await.unwrap()),
        [(Some("alice".to_string()), "now?".to_string())]
    );
    // Someone whose name is no contact's is not a notice.
    let mut carol = engine(MemoryStore::new(), "Carol", &url);
    carol.account_mut().add_contact("bob", &bob_card).unwrap();
    carol.send("bob", b"hi").await.unwrap();
    let got = bob.receive().await.unwrap();
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0].kind, EventKind::Message { .. }));
    r.shutdown().await.unwrap();
}

/// A queued message goes out with the next `receive`, which says so with a `Delivery`
/// event; a message the relay refuses for good leaves the outbox as `Failed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_retries_the_outbox_and_reports_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let config = RelayConfig {
        max_envelope_bytes: 4096,
        ..relay_config(&data, "127.0.0.1:0".parse().unwrap())
    };
    let r = Relay::start(config.clone()).await.unwrap();
    let url = r.url();
    let quick = quick();
    let account = Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url.clone());
    let mut alice = Engine::with_options(account.unwrap(), quick).unwrap();
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    alice.send("bob", b"one").await.unwrap();

    // Too large for this relay: refused for good, not queued.
    let big = alice.send("bob", &vec![b'x'; 8192]).await.unwrap();
    assert!(matches!(big.state, OutgoingState::Failed(_)), "{big:?}");
    assert!(alice.outbox().unwrap().is_empty());

    let addr = r.local_addr();
    r.shutdown().await.unwrap();
    let o = alice.send("bob", b"two").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Queued(_)), "{o:?}");
    let r = Relay::start(RelayConfig {
        listen: addr,
        ..config
    })
    .await
    .unwrap();
    alice.close().await;
    let got = alice.receive().await.unwrap();
    assert_eq!(got.len(), 1, "{got:?}");
    let EventKind::Delivery {
        envelope_id,
        to,
        status,
    } = &got[0].kind
    else {
        panic!("{got:?}")
    };
    assert_eq!(*envelope_id, o.envelope_id);
    assert_eq!(to, "bob");
    assert!(matches!(status, hush_client::DeliveryStatus::Stored(_)));
    assert!(alice.outbox().unwrap().is_empty());
    bob.close().await;
    assert_eq!(
        texts(&bob.receive().await.unwrap()),
        [
            (Some("alice".into()), "one".into()),
            (Some("alice".into()), "two".into())
        ]
    );
    r.shutdown().await.unwrap();
}

/// A contact's relay that is down does not hold up every `receive`: after one failed retry
/// it is left alone for a while (by the engine's clock), then tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_relay_is_retried_with_backoff() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let home = relay(&dir.path().join("home")).await;
    let other_dir = dir.path().join("other");
    let other = relay(&other_dir).await;
    let now = Arc::new(AtomicU64::new(hush_relay_client::wire::types::now_ms()));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let account = Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", home.url());
    let mut alice = Engine::with_options(account.unwrap(), quick())
        .unwrap()
        .with_clock(clock);
    let mut carol = engine(MemoryStore::new(), "Carol", &other.url());
    introduce(&mut alice, "alice", &mut carol, "carol");
    carol.receive().await.unwrap();
    alice.send("carol", b"one").await.unwrap();
    let addr = other.local_addr();
    other.shutdown().await.unwrap();
    alice.close().await;
    let o = alice.send("carol", b"two").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Queued(_)), "{o:?}");

    // The first receive tries Carol's relay once; the next ones leave it alone.
    alice.receive().await.unwrap();
    let t = std::time::Instant::now();
    for _ in 0..3 {
        assert!(alice.receive().await.unwrap().is_empty());
    }
    assert!(
        t.elapsed() < std::time::Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(alice.outbox().unwrap().len(), 1);

    // Carol's relay is back; once the delay has passed, the next receive delivers.
    let other = Relay::start(relay_config(&other_dir, addr)).await.unwrap();
    assert!(alice.receive().await.unwrap().is_empty());
    now.fetch_add(31_000, Ordering::SeqCst);
    let got = alice.receive().await.unwrap();
    assert!(
        matches!(&got[..], [ev] if matches!(ev.kind, EventKind::Delivery { .. })),
        "{got:?}"
    );
    carol.close().await;
    let got = texts(&carol.receive().await.unwrap());
    assert_eq!(
        got,
        [
            (Some("alice".into()), "one".into()),
            (Some("alice".into()), "two".into())
        ]
    );
    other.shutdown().await.unwrap();
    home.shutdown().await.unwrap();
}

/// A sent message's relay says what became of it, receipts verified: stored, then
/// delivered once the recipient read it; an envelope it never stored is `NOT_FOUND`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_says_what_became_of_a_sent_message() {
    use hush_relay_client::{EnvelopeId, ErrorCode, Status};
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut alice = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    let o = alice.send("bob", b"did you get it?").await.unwrap();
    let sent = alice.sent_message(&o.envelope_id).unwrap().expect("sent");
    assert_eq!(sent.to, "bob");
    let before = sent.ask_relay(&o.envelope_id, quick()).await.unwrap();
    assert!(matches!(before.report.status, Status::Stored), "{before:?}");
    assert_eq!(before.report.stored.stored_at_ms, sent.stored_at_ms);
    assert!(before.ttl_ms > 0 && before.now_ms >= sent.stored_at_ms);
    bob.receive().await.unwrap();
    let after = sent.ask_relay(&o.envelope_id, quick()).await.unwrap();
    match after.report.status {
        Status::Delivered(d) => assert!(d.delivered_at_ms >= sent.stored_at_ms),
        other => panic!("not delivered: {other:?}"),
    }
    let unknown = EnvelopeId::new(vec![0xAB; 16]).unwrap();
    match sent.ask_relay(&unknown, quick()).await {
        Err(Error::Relay(e)) => assert_eq!(e.relay_code(), Some(ErrorCode::NotFound)),
        other => panic!("expected NOT_FOUND: {other:?}"),
    }
    r.shutdown().await.unwrap();
}
