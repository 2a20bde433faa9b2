//! Every mistake a person can make is a clear one-line error, a non-zero exit, and no state
//! change.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn wrong_passphrase_unknown_alias_bad_cards_and_more() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    let before = alice.state_bytes();

    // Wrong passphrase.
    let mut wrong = User::new(dir.path(), "alice");
    wrong.pass = "not the passphrase".into();
    for args in [
        &["card"][..],
        &["send", "bob", "x"],
        &["recv"],
        &["contact", "list"],
    ] {
        let e = wrong.fails_with(5, args);
        assert!(e.contains("wrong passphrase"), "{e}");
    }
    // No passphrase at all, and no terminal to ask on.
    let out = alice
        .cmd(&["card"])
        .env_remove("HUSH_PASSPHRASE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("HUSH_PASSPHRASE"), "{e}");

    // Unknown alias.
    for args in [&["send", "carol", "hi"][..], &["safety", "carol"]] {
        let e = alice.fails_with(6, args);
        assert!(e.contains("unknown alias 'carol'"), "{e}");
    }
    // Malformed cards: not a card, bad base64, a typo, cut short, own card, taken alias.
    let card = bob.card();
    let mut typo: Vec<char> = card.chars().collect();
    typo[20] = if typo[20] == 'x' { 'y' } else { 'x' };
    let typo: String = typo.into_iter().collect();
    for (bad, why) in [
        ("hello", "starts with hush1:"),
        ("hush1:@@@", "base64url"),
        (typo.as_str(), "checksum"),
        (&card[..card.len() - 10], "bad contact card"),
        ("", "starts with hush1:"),
    ] {
        let e = alice.fails(&["contact", "add", "bob2", bad]);
        assert!(
            e.contains("bad contact card") && e.contains(why),
            "{why}: {e}"
        );
    }
    let e = alice.fails(&["contact", "add", "me", &alice.card()]);
    assert!(e.contains("own card"), "{e}");
    let e = alice.fails(&["contact", "add", "bob", &card]);
    assert!(e.contains("already taken"), "{e}");
    let e = alice.fails_with(2, &["contact", "add", "bad alias!", &card]);
    assert!(e.contains("invalid name"), "{e}");
    // Unknown envelope id and group.
    let e = alice.fails_with(6, &["status", "00112233445566778899aabbccddeeff"]);
    assert!(e.contains("no message with id"), "{e}");
    let e = alice.fails_with(2, &["status", "zz"]);
    assert!(e.contains("not an envelope id"), "{e}");
    let e = alice.fails_with(6, &["group", "send", "nope", "hi"]);
    assert!(e.contains("unknown group 'nope'"), "{e}");
    // Home mistakes.
    let e = alice.fails(&["init", "--relay", &relay.url, "--name", "Again"]);
    assert!(e.contains("already holds a Hush identity"), "{e}");
    let nobody = User::new(dir.path(), "nobody");
    let e = nobody.fails_with(6, &["card"]);
    assert!(e.contains("not a Hush home"), "{e}");
    let e = nobody.fails_with(2, &["init", "--relay", "http://example", "--name", "X"]);
    assert!(e.contains("invalid relay URL"), "{e}");
    assert!(!nobody.home.join("state.hush").exists());

    assert_eq!(
        alice.state_bytes(),
        before,
        "a failed command changed the state"
    );
    // And the state still opens with the right passphrase.
    assert!(alice.ok(&["contact", "list"]).contains("bob"));
}

#[test]
fn stopped_relay_is_a_clear_error_and_state_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    let id = alice
        .ok(&["send", "bob", "before the stop"])
        .trim()
        .to_string();
    let url = relay.url.clone();
    relay.stop();

    let before = alice.state_bytes();
    let mut alice = alice;
    alice.connect_timeout = "3".into();
    for args in [
        &["send", "bob", "into the void"][..],
        &["recv"],
        &["status", &id],
    ] {
        let e = alice.fails_with(3, args);
        assert!(e.contains("unreachable"), "{args:?}: {e}");
    }
    assert_eq!(alice.state_bytes(), before);
    let mut carol = User::new(dir.path(), "carol");
    carol.connect_timeout = "3".into();
    let e = carol.fails_with(3, &["init", "--relay", &url, "--name", "Carol"]);
    assert!(e.contains("unreachable"), "{e}");
    assert!(!carol.home.join("state.hush").exists());

    // The relay comes back on the same address with the same data folder: nothing was lost
    // on either side.
    let addr = url.rsplit('@').next().unwrap().parse().unwrap();
    let relay = TestRelay::start_on(&dir.path().join("relay"), addr);
    assert_eq!(relay.url, url, "same certificate and address");
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "before the stop".into())]
    );
    alice.connect_timeout = "20".into();
    assert!(alice.ok(&["status", &id]).starts_with("delivered "));
}

#[test]
fn killing_hush_at_any_point_never_corrupts_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    alice.ok(&["send", "bob", "message start"]);
    let mut sent = vec!["message start".to_string()];
    for i in 0..16u64 {
        let text = format!("message {i}");
        let mut child = alice
            .cmd(&["send", "bob", &text])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kills over the whole run of the command (about 100 to 200 ms).
        std::thread::sleep(Duration::from_millis(i * 13));
        let _ = child.kill();
        child.wait().unwrap();
        sent.push(text);
        // Whatever happened, the state opens.
        assert!(alice.ok(&["contact", "list"]).contains("bob"));
    }
    alice.ok(&["send", "bob", "after the kills"]);
    sent.push("after the kills".into());
    let out = bob.run(&["recv", "--json"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.is_empty(), "{stderr}");
    let got: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["text"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // Killed sends may be lost, never garbled, duplicated or reordered.
    let mut it = sent.iter();
    for g in &got {
        assert!(
            it.any(|s| s == g),
            "{g:?} out of order or unknown in {got:?}"
        );
    }
    assert_eq!(got.first().map(String::as_str), Some("message start"));
    assert_eq!(got.last().map(String::as_str), Some("after the kills"));
}
