//! `recv --wait` does not keep the home from other commands: while it waits, `card`, `send`
//! and `status` run at once, and what they change (sessions) is what the waiting command
//! continues from.

mod common;

use std::time::{Duration, Instant};

use common::{Pair, messages, pair, spawn_recv_wait};

#[test]
fn other_commands_run_while_recv_waits_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());
    // Sessions both ways first (so no message below starts a second one).
    alice.ok(&["send", "bob", "hello"]);
    assert_eq!(messages(&bob.recv_json()).len(), 1);
    bob.ok(&["send", "alice", "hi"]);
    assert_eq!(messages(&alice.recv_json()).len(), 1);

    let (mut child, rx) = spawn_recv_wait(&bob, 90);
    let next_event = || -> serde_json::Value {
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("recv --wait printed nothing within 30 s");
        serde_json::from_str(&line).unwrap()
    };
    std::thread::sleep(Duration::from_secs(1));

    // Before, each of these waited 30 s for the lock and failed.
    let start = Instant::now();
    assert!(bob.card().starts_with("hush1:"));
    let id = bob.ok(&["send", "alice", "w1"]);
    let status = bob.ok(&["status", id.trim()]);
    assert!(status.contains("stored"), "{status}");
    let took = start.elapsed();
    assert!(took < Duration::from_secs(20), "commands waited {took:?}");

    // Pushes are still handled, from the state the other commands left.
    alice.ok(&["send", "bob", "p1"]);
    let ev = next_event();
    assert_eq!(messages(&[ev]), vec![("alice".into(), None, "p1".into())]);
    bob.ok(&["send", "alice", "w2"]);
    alice.ok(&["send", "bob", "p2"]);
    let ev = next_event();
    assert_eq!(messages(&[ev]), vec![("alice".into(), None, "p2".into())]);
    bob.ok(&["contact", "list"]);
    let _ = child.kill();
    let _ = child.wait();

    // Bob's session went on across both writers: every message reads, none twice.
    bob.ok(&["send", "alice", "w3"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![
            ("bob".into(), None, "w1".into()),
            ("bob".into(), None, "w2".into()),
            ("bob".into(), None, "w3".into()),
        ]
    );
    assert!(messages(&bob.recv_json()).is_empty());
}
