//! What multi-device costs a send (`spec/multi-device.md` §4.1): Alice sends 1:1 messages to
//! Bob when each of them has 1, 2 and 5 devices, through a relay on 127.0.0.1, from an
//! encrypted SQLite store, in the same run (alternating rounds), so the ratios are what count.
//! With `n` devices each, a send is `n` envelopes to Bob's devices and `n - 1` copies to
//! Alice's other devices, all in one store commit before the first leaves.
//!
//! `cargo bench -p hush-client --bench devices` (env `ROUNDS`, `MESSAGES` to change the size).

mod common;

use hush_client::store::{KeySource, MemoryStore, SqliteStore, Store};
use hush_client::{Account, Engine, OutgoingState};
use hush_relay::server::Relay;
use hush_relay_client::RelayUrl;
use std::path::Path;
use std::time::Instant;

/// A new device linked to `primary`'s person, its directory published first.
async fn link<S: Store>(
    primary: &mut Engine<S>,
    url: &RelayUrl,
    name: &str,
) -> Engine<MemoryStore> {
    let account =
        Account::create(MemoryStore::new(), &mut rand::rng(), name, url.clone()).expect("account");
    let mut device = Engine::new(account).expect("engine");
    device.receive().await.expect("publish");
    let request = device.link_request().expect("request");
    primary.approve_link(&request).await.expect("approve");
    device.receive().await.expect("linked");
    device
}

/// Alice (`n` devices, the first on SQLite) and Bob (`n` devices), every session started.
struct People {
    n: usize,
    alice: Engine<SqliteStore>,
    others: Vec<Engine<MemoryStore>>,
}

impl People {
    async fn new(url: &RelayUrl, dir: &Path, n: usize) -> People {
        let store =
            SqliteStore::create(&dir.join(format!("alice-{n}.db")), KeySource::Key(&[7; 32]))
                .expect("store");
        let account =
            Account::create(store, &mut rand::rng(), "Alice", url.clone()).expect("account");
        let mut alice = Engine::new(account).expect("engine");
        let account = Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url.clone())
            .expect("account");
        let mut bob = Engine::new(account).expect("engine");
        let (a, b) = (
            alice.account().card().encode().expect("card"),
            bob.account().card().encode().expect("card"),
        );
        alice.account_mut().add_contact("bob", &b).expect("contact");
        bob.account_mut().add_contact("alice", &a).expect("contact");
        alice.receive().await.expect("publish");
        bob.receive().await.expect("publish");
        let mut others = Vec::new();
        for i in 1..n {
            let d = link(&mut bob, url, &format!("bob-{i}")).await;
            others.push(d);
        }
        let mut bobs = vec![bob];
        bobs.append(&mut others);
        for i in 1..n {
            others.push(link(&mut alice, url, &format!("alice-{i}")).await);
        }
        let mut people = People {
            n,
            alice,
            others: bobs.into_iter().chain(others).collect(),
        };
        // Every session is started outside the measurement (the first send to a device
        // fetches its prekeys).
        people.alice.send("bob", b"warm-up").await.expect("send");
        people.drain().await;
        people
    }

    /// Every other device reads its mailbox (not measured).
    async fn drain(&mut self) {
        for d in &mut self.others {
            let events = d.receive().await.expect("receive");
            let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
            d.confirm(&ids).expect("confirm");
        }
    }
}

fn main() {
    let rounds = common::env("ROUNDS", 3);
    let messages = common::env("MESSAGES", 100);
    let rt = common::runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(common::relay_config(dir.path()))
            .await
            .expect("relay starts");
        let url = relay.url();
        let mut people = Vec::new();
        for n in [1usize, 2, 5] {
            people.push(People::new(&url, dir.path(), n).await);
        }
        let body = vec![b'x'; 256];
        let mut send: Vec<Vec<f64>> = vec![Vec::new(); people.len()];
        for _ in 0..rounds {
            for (k, p) in people.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..messages {
                    let out = p.alice.send("bob", &body).await.expect("send");
                    assert!(
                        matches!(out.state, OutgoingState::Stored(_)),
                        "{:?}",
                        out.state
                    );
                }
                send[k].push(t.elapsed().as_secs_f64() * 1e3 / messages as f64);
                p.drain().await;
            }
        }
        let base = common::median(send[0].clone());
        println!("devices per person   envelopes per send   send (median ms)   vs 1 device");
        for (k, p) in people.iter().enumerate() {
            let m = common::median(send[k].clone());
            println!(
                "{:>18}   {:>18}   {:>16.3}   {:>10.2}x",
                p.n,
                2 * p.n - 1,
                m,
                m / base
            );
        }
        for p in people {
            drop(p.alice.shutdown().await);
            for d in p.others {
                drop(d.shutdown().await);
            }
        }
        relay.shutdown().await.expect("relay stops");
    });
}
