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
