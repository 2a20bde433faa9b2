//! A crash at every write boundary of sending and receiving loses nothing, duplicates nothing
//! and never decrypts a message twice. A "crash" here is a commit that fails (the store keeps
//! what was committed before it); the engine is then dropped and a new one opened on the same
//! store, as after a restart.

use hush_client::store::MemoryStore;
mod common;

use common::crashing::{Crashing, crashing, restart};
use common::{bodies, relay};
use hush_client::{Account, Engine, OutgoingState};

fn pending(e: &Engine<Crashing>) -> Vec<String> {
    bodies(&e.pending_events().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_receive_commit() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let mut alice = Engine::new(
        Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url.clone()).unwrap(),
    )
    .unwrap();
    let (store, knobs) = crashing(MemoryStore::new());
    let mut bob =
        Engine::new(Account::create(store, &mut rand::rng(), "Bob", url.clone()).unwrap()).unwrap();
    let bob_card = bob.account().card().encode().unwrap();
    alice.account_mut().add_contact("bob", &bob_card).unwrap();
    bob.receive().await.unwrap();

    let sent = ["m1", "m2", "m3", "m4"];
    for m in sent {
        alice.send("bob", m.as_bytes()).await.unwrap();
    }
    // A crash at the first commit of a receive keeps nothing; then crashes at the second:
    // each run keeps one more message (saved, not acknowledged: it comes again and is
    // skipped), and the one whose commit failed comes again and is read then.
    knobs.arm(1);
    assert!(bob.receive().await.is_err());
    bob = restart(bob).await;
    assert!(pending(&bob).is_empty());
    for k in 1..sent.len() {
        knobs.arm(2);
        assert!(bob.receive().await.is_err(), "run {k} should crash");
        bob = restart(bob).await;
        knobs.disarm();
        assert_eq!(pending(&bob), sent[..k], "after crash {k}");
    }
    knobs.disarm();
    bob.receive().await.unwrap();
    assert_eq!(pending(&bob), sent);
    // Nothing is left on the relay, and nothing comes twice.
    bob.receive().await.unwrap();
    assert_eq!(pending(&bob), sent);
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_every_send_commit() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(dir.path()).await;
    let url = r.url();
    let (store, knobs) = crashing(MemoryStore::new());
    let mut alice =
        Engine::new(Account::create(store, &mut rand::rng(), "Alice", url.clone()).unwrap())
            .unwrap();
    let mut bob = Engine::new(
        Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url.clone()).unwrap(),
    )
    .unwrap();
    let bob_card = bob.account().card().encode().unwrap();
    alice.account_mut().add_contact("bob", &bob_card).unwrap();
    bob.receive().await.unwrap();

    // The first send of an engine first advances the state generation (one commit, before
    // the relay is asked): a crash there fails the send, and is not taken for a rollback.
    knobs.arm(1);
    assert!(alice.send("bob", b"lost-at-generation").await.is_err());
    alice = restart(alice).await;
    knobs.disarm();
    alice.start().await.unwrap();
    // A send commits twice: session + outbox, then outbox -> sent after the relay stored it.
    knobs.arm(usize::MAX);
    alice.send("bob", b"warm-up").await.unwrap();
    assert_eq!(knobs.commits(), 2);

    // Crash at the first commit: nothing was sent, the send fails.
    knobs.arm(1);
    assert!(alice.send("bob", b"lost-before-queue").await.is_err());
    alice = restart(alice).await;
    knobs.disarm();
    alice.start().await.unwrap();
    assert!(alice.outbox().unwrap().is_empty());

    // Crash at the second: the relay has it, the outbox still says queued; the retry after
    // the restart sends the same id, which the relay does not store twice.
    knobs.arm(2);
    let o = alice.send("bob", b"stored-then-crash").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Queued(_)), "{o:?}");
    alice = restart(alice).await;
    knobs.disarm();
    alice.start().await.unwrap();
    assert_eq!(alice.outbox().unwrap().len(), 1);
    let f = alice.flush_outbox().await.unwrap();
    assert!(matches!(f[0].state, OutgoingState::Stored(_)), "{f:?}");
    assert_eq!(f[0].envelope_id, o.envelope_id);
    assert!(alice.outbox().unwrap().is_empty());

    alice.send("bob", b"after").await.unwrap();
    let got = bodies(&bob.receive().await.unwrap());
    assert_eq!(got, ["warm-up", "stored-then-crash", "after"]);
    // No crash was taken for a restored copy.
    let restored = alice.receive().await.unwrap();
    assert!(
        !restored
            .iter()
            .any(|e| matches!(e.kind, hush_client::EventKind::Restored { .. })),
        "{restored:?}"
    );
    r.shutdown().await.unwrap();
}
