//! 1:1 messaging end to end: real `hush` processes and a relay.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

#[test]
fn cards_safety_numbers_and_messages_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");

    let card = alice.card();
    assert!(card.starts_with("hush1:") && card.is_ascii() && !card.contains(' '));
    assert_eq!(card.lines().count(), 1);
    introduce(&alice, "bob", &bob, "alice");
    let list = alice.ok(&["contact", "list"]);
    assert!(list.starts_with("bob\tBob\t"), "{list}");
    // No session yet: the last column is `-`.
    assert!(list.trim_end().ends_with("\t-"), "{list}");

    let sa = alice.ok(&["safety", "bob"]);
    let sb = bob.ok(&["safety", "alice"]);
    assert_eq!(sa, sb);
    let mut lines = sa.lines();
    assert_eq!(lines.next().unwrap().replace(' ', "").len(), 60);
    assert!(
        lines.next().unwrap().starts_with("session: none yet"),
        "{sa}"
    );

    // The first message starts the session from Bob's prekey bundle: PQXDH, since both
    // publish KEM prekeys.
    let id = alice.ok(&["send", "bob", "hello Bob"]).trim().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(alice.ok(&["status", &id]).starts_with("stored since "));
    let got = messages(&bob.recv_json());
    assert_eq!(got, vec![("alice".into(), None, "hello Bob".into())]);
    assert!(alice.ok(&["status", &id]).starts_with("delivered "));
    for (user, peer) in [(&alice, "bob"), (&bob, "alice")] {
        let list = user.ok(&["contact", "list"]);
        assert!(list.trim_end().ends_with("\tPQXDH"), "{list}");
        let safety = user.ok(&["safety", peer]);
        assert_eq!(safety.lines().nth(1), Some("session: PQXDH"), "{safety}");
        let v: serde_json::Value =
            serde_json::from_str(&user.ok(&["--json", "safety", peer])).unwrap();
        assert_eq!(v["session"], "PQXDH", "{v}");
        let v: serde_json::Value =
            serde_json::from_str(&user.ok(&["--json", "contact", "list"])).unwrap();
        assert_eq!(v["session"], "PQXDH", "{v}");
    }

    // Bob's reply completes it.
    bob.ok(&["send", "alice", "hi Alice"]);
    alice.ok(&["send", "bob", "how are you?"]);
    let got = messages(&alice.recv_json());
    assert_eq!(got, vec![("bob".into(), None, "hi Alice".into())]);
    let got = bob.ok(&["recv"]);
    assert_eq!(got, "alice: how are you?\n");
    // Nothing is shown twice.
    assert!(bob.recv_json().is_empty());

    // Bob is offline while Alice sends five messages; they all arrive, in order.
    let texts: Vec<String> = (1..=5).map(|i| format!("offline message {i}")).collect();
    let ids: Vec<String> = texts
        .iter()
        .map(|t| alice.ok(&["send", "bob", t]).trim().to_string())
        .collect();
    for id in &ids {
        let v: serde_json::Value =
            serde_json::from_str(&alice.ok(&["--json", "status", id])).unwrap();
        assert_eq!(v["status"], "stored", "{v}");
        assert_eq!(v["to"], "bob");
        let (stored, expires) = (
            v["stored_at_ms"].as_u64().unwrap(),
            v["expires_at_ms"].as_u64().unwrap(),
        );
        assert_eq!(expires - stored, 30 * 86_400_000, "the default TTL");
    }
    let got = messages(&bob.recv_json());
    let expected: Vec<_> = texts
        .iter()
        .map(|t| ("alice".to_string(), None, t.clone()))
        .collect();
    assert_eq!(got, expected);
    for id in &ids {
        let v: serde_json::Value =
            serde_json::from_str(&alice.ok(&["status", id, "--json"])).unwrap();
        assert_eq!(v["status"], "delivered", "{v}");
        assert!(v["delivered_at_ms"].as_u64().unwrap() >= v["stored_at_ms"].as_u64().unwrap());
    }

    // Neither the relay's data folder nor the homes hold any plaintext.
    let mut plaintexts = vec!["hello Bob", "hi Alice", "how are you?"];
    plaintexts.extend(texts.iter().map(String::as_str));
    assert_absent(&relay.data, &plaintexts);
    assert_absent(&alice.home, &plaintexts);
    assert_absent(&bob.home, &plaintexts);
}

#[test]
fn unknown_sender_is_shown_by_fingerprint_and_can_be_added() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    // Only Alice knows Bob.
    alice.ok(&["contact", "add", "bob", &bob.card()]);
    alice.ok(&["send", "bob", "you don't know me yet"]);
    let events = bob.recv_json();
    let got = messages(&events);
    assert_eq!(got.len(), 1);
    let fpr = got[0].0.clone();
    assert_eq!(fpr.len(), 64, "{fpr}");
    assert!(fpr.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(got[0].2, "you don't know me yet");
    // The card travelled inside the envelope: Bob can add Alice by that fingerprint and answer.
    bob.ok(&["contact", "add", "alice", &fpr]);
    assert_eq!(bob.ok(&["safety", "alice"]), alice.ok(&["safety", "bob"]));
    bob.ok(&["send", "alice", "now I do"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![("bob".into(), None, "now I do".into())]
    );
}

#[test]
fn recv_wait_prints_messages_as_they_are_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());

    let (mut child, rx) = spawn_recv_wait(&bob, 60);
    // Give the listener a moment to subscribe; messages sent earlier arrive anyway.
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    alice.ok(&["send", "bob", "pushed 1"]);
    alice.ok(&["send", "bob", "pushed 2"]);
    let mut lines = Vec::new();
    while lines.len() < 2 {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(l) => lines.push(l),
            Err(_) => break,
        }
    }
    let received = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    let events: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        messages(&events),
        vec![
            ("alice".into(), None, "pushed 1".into()),
            ("alice".into(), None, "pushed 2".into())
        ]
    );
    // Pushed while the command was still waiting, not printed at its end.
    assert!(received < Duration::from_secs(55), "{received:?}");
}

#[test]
fn hostile_text_cannot_fake_a_line_or_drive_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());

    let hostile = "ok\ncarol: send me the code\r\x1b[2J\x1b]0;title\x07\u{202e}gnp.exe";
    alice.ok(&["send", "bob", hostile]);
    let shown = bob.ok(&["recv"]);
    assert_eq!(
        shown,
        "alice: ok\n    carol: send me the code\u{240d}\u{241b}[2J\u{241b}]0;title\u{2407}<U+202E>gnp.exe\n"
    );
    // Exactly one line starts at the left edge: the real sender's.
    assert_eq!(
        shown.lines().filter(|l| !l.starts_with(' ')).count(),
        1,
        "{shown}"
    );
    assert!(!shown.contains('\x1b') && !shown.contains('\r'));

    // --json carries the text exactly.
    alice.ok(&["send", "bob", hostile]);
    let got = messages(&bob.recv_json());
    assert_eq!(got, vec![("alice".into(), None, hostile.to_string())]);
}

/// Runs `hush ARGS` with `input` on standard input.
fn run_with_stdin(user: &User, args: &[&str], input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut child = user
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refused message may be refused before all of it is read: ignore a broken pipe.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn message_text_from_standard_input_up_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());

    // Exactly the limit, several lines, sent from a pipe, arrives exactly.
    let line = "0123456789abcdefghijklmnopqrstuvwxyz éè\n";
    let mut text = line.repeat(1_000_000 / line.len() + 1);
    text.truncate(1_000_000);
    assert_eq!(text.len(), 1_000_000);
    let out = run_with_stdin(&alice, &["send", "bob", "-"], text.as_bytes());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = messages(&bob.recv_json());
    assert_eq!(got.len(), 1);
    assert!(got[0].2 == text, "the text arrived changed");

    // One byte more is refused with the limit named, and nothing is sent or saved.
    let before = alice.state_bytes();
    let out = run_with_stdin(&alice, &["send", "bob", "-"], format!("{text}x").as_bytes());
    assert_eq!(out.status.code(), Some(2), "a usage error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the limit is 1000000 bytes"), "{err}");
    let out = run_with_stdin(&alice, &["send", "bob", "-"], b"\xff\xfe not text");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
    assert_eq!(alice.state_bytes(), before);
    assert!(bob.recv_json().is_empty());
}

#[test]
fn both_starting_a_session_at_once_loses_no_message() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());
    // Each sends a first message before reading the other's: two sessions are started.
    bob.ok(&["send", "alice", "w1"]);
    alice.ok(&["send", "bob", "p1"]);
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "p1".into())]
    );
    bob.ok(&["send", "alice", "w2"]);
    alice.ok(&["send", "bob", "p2"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![
            ("bob".into(), None, "w1".into()),
            ("bob".into(), None, "w2".into())
        ]
    );
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "p2".into())]
    );
    for round in 0..2 {
        let text = format!("w{}", round + 3);
        bob.ok(&["send", "alice", &text]);
        assert_eq!(
            messages(&alice.recv_json()),
            vec![("bob".into(), None, text)]
        );
        let text = format!("p{}", round + 3);
        alice.ok(&["send", "bob", &text]);
        assert_eq!(
            messages(&bob.recv_json()),
            vec![("alice".into(), None, text)]
        );
    }
}
