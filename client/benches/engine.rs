//! What a message costs the engine as the account grows: sending and receiving 1:1 messages
//! through a relay on 127.0.0.1 with an account of 1 contact against one of 10,000, on the
//! encrypted SQLite store, in the same run (alternating rounds), so the ratio is what counts.
//!
//! `cargo bench -p hush-client --bench engine` (env `ROUNDS`, `MESSAGES` to change the size).

use hush_client::store::{KeySource, MemoryStore, SqliteStore};
use hush_client::{Account, Engine, OutgoingState};
use hush_relay::server::{Relay, RelayConfig};
use std::time::{Duration, Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let rounds = env("ROUNDS", 3);
    let messages = env("MESSAGES", 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().join("relay"),
            rate_limit_per_sec: 1e9,
            rate_limit_burst: 1e9,
            shutdown_grace: Duration::from_secs(5),
            ..RelayConfig::default()
        })
        .await
        .expect("relay starts");
        let url = relay.url();
        let mut setups = Vec::new();
        for contacts in [1usize, 10_000] {
            let path = dir.path().join(format!("alice-{contacts}.db"));
            let store = SqliteStore::create(&path, KeySource::Key(&[7; 32])).expect("store");
            let account =
                Account::create(store, &mut rand::rng(), "Alice", url.clone()).expect("account");
            let mut alice = Engine::new(account).expect("engine");
            let bob_account =
                Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url.clone())
                    .expect("account");
            let mut bob = Engine::new(bob_account).expect("engine");
            let card = bob.account().card().encode().expect("card");
            let alice_card = alice.account().card().encode().expect("card");
            bob.account_mut()
                .add_contact("alice", &alice_card)
                .expect("contact");
            let mut book = vec![("bob".to_string(), card)];
            for i in 1..contacts {
                let other = Account::create(MemoryStore::new(), &mut rand::rng(), "X", url.clone())
                    .expect("account");
                book.push((format!("c{i}"), other.card().encode().expect("card")));
            }
            alice.account_mut().import_contacts(&book).expect("import");
            bob.receive().await.expect("bob publishes");
            // The session is started outside the measurement.
            alice.send("bob", b"warm-up").await.expect("send");
            bob.receive().await.expect("receive");
            setups.push((contacts, alice, bob));
        }
        let body = vec![b'x'; 256];
        let mut send: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
        let mut recv: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
        for _ in 0..rounds {
            for (i, (_, alice, bob)) in setups.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..messages {
                    let o = alice.send("bob", &body).await.expect("send");
                    assert!(matches!(o.state, OutgoingState::Stored(_)), "{o:?}");
                }
                send[i].push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
                let t = Instant::now();
                let got = bob.receive().await.expect("receive");
                recv[i].push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
                assert_eq!(got.len(), messages);
                let ids: Vec<u64> = got.iter().map(|e| e.id).collect();
                bob.confirm(&ids).expect("confirm");
            }
        }
        println!("engine, 1:1, 256 B, {messages} messages x {rounds} rounds (median of rounds)");
        println!("contacts | send µs/msg | receive µs/msg");
        for (i, (contacts, _, _)) in setups.iter().enumerate() {
            println!(
                "{contacts:>8} | {:>11.0} | {:>14.0}",
                median(send[i].clone()),
                median(recv[i].clone())
            );
        }
        println!(
            "ratio 10,000 / 1 contacts: send {:.2}x, receive {:.2}x",
            median(send[1].clone()) / median(send[0].clone()),
            median(recv[1].clone()) / median(recv[0].clone())
        );
        relay.shutdown().await.expect("relay stops");
    });
}
