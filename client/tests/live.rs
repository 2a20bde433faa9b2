//! Live delivery: `next_events` returns messages, invitations and group messages as they
//! arrive, following groups joined meanwhile, and starts again after the relay restarts.

mod common;

use common::{quick_engine as engine, relay, relay_config, texts};
use hush_client::Engine;
use hush_client::store::MemoryStore;
use hush_relay::server::Relay;
use std::time::Duration;

/// Collects `n` events from `next_events` (each call bounded), confirming them.
async fn collect(mut e: Engine<MemoryStore>, n: usize) -> (Engine<MemoryStore>, Vec<String>) {
    let mut got = Vec::new();
    for _ in 0..50 {
        if got.len() >= n {
            break;
        }
        let ev = tokio::time::timeout(Duration::from_secs(10), e.next_events())
            .await
            .expect("events in time")
            .expect("events");
        e.confirm(&ev.iter().map(|x| x.id).collect::<Vec<_>>())
            .unwrap();
        got.extend(texts(&ev).into_iter().map(|(_, t)| t));
    }
    (e, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_invitations_and_group_messages_arrive_live() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut a = engine(MemoryStore::new(), "Alice", &url);
    let mut b = engine(MemoryStore::new(), "Bob", &url);
    let (ac, bc) = (
        a.account().card().encode().unwrap(),
        b.account().card().encode().unwrap(),
    );
    a.account_mut().add_contact("bob", &bc).unwrap();
    b.account_mut().add_contact("alice", &ac).unwrap();
    b.receive().await.unwrap();
    a.send("bob", b"before").await.unwrap();

    // Bob's first call returns what waited; the next ones what arrives while he waits.
    let (b, got) = collect(b, 1).await;
    assert_eq!(got, ["before"]);
    let waiting = tokio::spawn(collect(b, 4));
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.send("bob", b"one").await.unwrap();
    a.create_group("g").unwrap();
    a.add_members("g", &["bob"]).await.unwrap();
    // Bob follows the group once he has joined it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.send_to_group("g", b"hi group").await.unwrap();
    a.send("bob", b"two").await.unwrap();
    let (mut b, mut got) = waiting.await.unwrap();
    got.sort();
    assert_eq!(got, ["[g] hi group", "joined g", "one", "two"]);

    // The relay restarts: the subscription ends with an error, the next call subscribes again.
    let listen = r.local_addr();
    r.shutdown().await.unwrap();
    let ended = tokio::time::timeout(Duration::from_secs(10), b.next_events()).await;
    assert!(matches!(ended, Ok(Err(_))), "{ended:?}");
    let r = Relay::start(relay_config(dir.path(), listen))
        .await
        .unwrap();
    a.close().await;
    let waiting = tokio::spawn(collect(b, 1));
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.send_to_group("g", b"after restart").await.unwrap();
    let (_b, got) = waiting.await.unwrap();
    assert_eq!(got, ["[g] after restart"]);
    r.shutdown().await.unwrap();
}
