//! Time and randomness are injectable: an engine seeded twice alike makes the same keys and
//! ids, and a clock the test moves decides when processed envelope ids are forgotten.

mod common;

use common::relay;
use hush_client::store::{MemoryStore, Store, Table};
use hush_client::{Account, Engine};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn the_same_seed_makes_the_same_account_and_group() {
    let url =
        "hush://0000000000000000000000000000000000000000000000000000000000000000@127.0.0.1:4433"
            .parse::<hush_relay_client::RelayUrl>()
            .unwrap();
    let make = |seed: u8| {
        let mut rng = StdRng::from_seed([seed; 32]);
        let account = Account::create(MemoryStore::new(), &mut rng, "A", url.clone()).unwrap();
        let mut e = Engine::new(account).unwrap().with_rng_seed([seed; 32]);
        let g = e.create_group("g").unwrap();
        (e.account().card().encode().unwrap(), g.id)
    };
    assert_eq!(make(1), make(1));
    assert_ne!(make(1).0, make(2).0);
    assert_ne!(make(1).1, make(2).1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_clock_forgets_processed_envelope_ids() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let now = Arc::new(AtomicU64::new(1_800_000_000_000));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let mut a = Engine::new(
        Account::create(MemoryStore::new(), &mut rand::rng(), "A", url.clone()).unwrap(),
    )
    .unwrap();
    let b_account = Account::create(MemoryStore::new(), &mut rand::rng(), "B", url).unwrap();
    let mut b = Engine::new(b_account).unwrap().with_clock(clock);
    a.account_mut()
        .add_contact("b", &b.account().card().encode().unwrap())
        .unwrap();
    b.receive().await.unwrap();
    a.send("b", b"x").await.unwrap();
    let got = b.receive().await.unwrap();
    assert_eq!(got[0].received_at_ms, 1_800_000_000_000);
    assert_eq!(b.account().store().scan(Table::Seen).unwrap().len(), 1);
    // Within the relay's retention and a day: kept.
    now.fetch_add(3_600_000, Ordering::SeqCst);
    b.receive().await.unwrap();
    assert_eq!(b.account().store().scan(Table::Seen).unwrap().len(), 1);
    // Beyond it: forgotten.
    now.fetch_add(400 * 24 * 3_600_000, Ordering::SeqCst);
    b.receive().await.unwrap();
    assert!(b.account().store().scan(Table::Seen).unwrap().is_empty());
    r.shutdown().await.unwrap();
}

/// The signed prekey the relay hands out for `card`.
async fn signed_prekey_id(url: &hush_relay_client::RelayUrl, card: &str) -> u32 {
    let card = hush_client::card::Card::parse(card).unwrap();
    let keys = card.directory_keys().unwrap();
    let c = hush_relay_client::Client::connect(url).await.unwrap();
    let b = c
        .fetch_prekey_bundle_with_token(&card.mailbox, Some(keys.fetch_token().as_bytes()))
        .await
        .unwrap();
    c.close().await;
    b.signed_prekey.id
}

/// The signed prekey is replaced a week after it was made; a session started on the
/// previous one still opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_signed_prekey_rotates_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let now = Arc::new(AtomicU64::new(hush_relay_client::wire::types::now_ms()));
    let clock = {
        let now = now.clone();
        Arc::new(move || now.load(Ordering::SeqCst))
    };
    let a_account = Account::create(MemoryStore::new(), &mut rand::rng(), "A", url.clone());
    let mut a = Engine::new(a_account.unwrap()).unwrap().with_clock(clock);
    let a_card = a.account().card().encode().unwrap();
    a.receive().await.unwrap();
    let first = signed_prekey_id(&url, &a_card).await;
    let mut b = Engine::new(
        Account::create(MemoryStore::new(), &mut rand::rng(), "B", url.clone()).unwrap(),
    )
    .unwrap();
    b.account_mut().add_contact("a", &a_card).unwrap();
    // Six days on: not yet.
    now.fetch_add(6 * 24 * 3_600_000, Ordering::SeqCst);
    a.receive().await.unwrap();
    assert_eq!(signed_prekey_id(&url, &a_card).await, first);
    // B starts a session on the current signed prekey; A reads it a week later.
    b.send("a", b"started before").await.unwrap();
    now.fetch_add(2 * 24 * 3_600_000, Ordering::SeqCst);
    let got = a.receive().await.unwrap();
    assert!(
        matches!(&got[0].kind, hush_client::EventKind::Message { body, .. } if body == b"started before"),
        "{got:?}"
    );
    let second = signed_prekey_id(&url, &a_card).await;
    assert_ne!(second, first);
    // A new contact starts on the new one.
    let mut c = Engine::new(
        Account::create(MemoryStore::new(), &mut rand::rng(), "C", url.clone()).unwrap(),
    )
    .unwrap();
    c.account_mut().add_contact("a", &a_card).unwrap();
    c.send("a", b"after").await.unwrap();
    let got = a.receive().await.unwrap();
    assert!(
        matches!(&got[0].kind, hush_client::EventKind::Message { body, .. } if body == b"after")
    );
    r.shutdown().await.unwrap();
}
