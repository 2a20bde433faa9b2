//! A home restored from an older copy must never reuse a message key (issue 13): it finds out
//! from its relay's state generation, sets its sessions aside and starts new ones; its
//! groups wait for a re-add. And `backup` / `restore` carry a home without its sessions.

mod common;

use std::path::Path;

use common::*;

/// Copies the folder `from` to `to` (files only, one level: a home has no subfolders).
fn copy_home(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
        }
    }
}

/// Puts the copy back in place of the home.
fn put_back(copy: &Path, home: &Path) {
    std::fs::remove_dir_all(home).unwrap();
    copy_home(copy, home);
}

const NOTICE: &str = "restored from an older copy";

#[test]
fn copy_send_restore_send_delivers_both_without_reusing_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    // A session in both directions before the copy.
    alice.ok(&["send", "bob", "hello"]);
    assert_eq!(messages(&bob.recv_json()).len(), 1);
    bob.ok(&["send", "alice", "hi"]);
    assert_eq!(messages(&alice.recv_json()).len(), 1);

    let copy = dir.path().join("alice-copy");
    copy_home(&alice.home, &copy);
    let out = alice.run(&["send", "bob", "sent by the original"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(NOTICE));

    put_back(&copy, &alice.home);
    // The restored home would encrypt with the very chain key that made the last message;
    // instead it notices, says so, and starts a new session. The send itself succeeds.
    let out = alice.run(&["send", "bob", "sent by the restored copy"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(NOTICE), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    // Both arrive and decrypt: a reused message key would have been refused as a replay of
    // the first (same chain, same counter), or both texts would be the same message.
    assert_eq!(
        messages(&bob.recv_json()),
        vec![
            ("alice".into(), None, "sent by the original".into()),
            ("alice".into(), None, "sent by the restored copy".into())
        ]
    );

    // The new session works both ways, and the notice is not repeated.
    bob.ok(&["send", "alice", "got both"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![("bob".into(), None, "got both".into())]
    );
    let out = alice.run(&["send", "bob", "good"]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains(NOTICE));
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "good".into())]
    );

    // A copy of a copy: put the stale one back once more; it is caught again.
    put_back(&copy, &alice.home);
    let out = alice.run(&["send", "bob", "third life"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(NOTICE));
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "third life".into())]
    );
}

#[test]
fn a_rolled_back_home_refuses_group_sends_until_re_added() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    bob.ok(&["group", "create", "team"]);
    bob.ok(&["group", "add", "team", "alice"]);
    assert_eq!(alice.recv_json()[0]["event"], "joined");

    let copy = dir.path().join("alice-copy");
    copy_home(&alice.home, &copy);
    alice.ok(&["group", "send", "team", "before"]);
    put_back(&copy, &alice.home);

    let out = alice.run(&["group", "send", "team", "stale"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(NOTICE), "{stderr}");
    assert!(stderr.contains("remove and re-add"), "{stderr}");
    // Refused for good, not only the first time; and said plainly.
    let line = alice.fails(&["group", "send", "team", "stale again"]);
    assert!(line.contains("re-add"), "{line}");
    let list = alice.ok(&["group", "list"]);
    assert!(list.contains("team\t(needs to be re-added"), "{list}");
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), Some("team".into()), "before".into())]
    );

    // Bob removes and re-adds Alice; the Welcome replaces the stale group under its name.
    bob.ok(&["group", "remove", "team", "alice"]);
    bob.ok(&["group", "add", "team", "alice"]);
    let events = alice.recv_json();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "joined" && e["group"] == "team"),
        "{events:?}"
    );
    alice.ok(&["group", "send", "team", "back again"]);
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), Some("team".into()), "back again".into())]
    );
}

#[test]
fn backup_and_restore_keep_identity_and_contacts_but_no_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    alice.ok(&["send", "bob", "before the backup"]);
    assert_eq!(messages(&bob.recv_json()).len(), 1);
    alice.ok(&["group", "create", "team"]);
    alice.ok(&["group", "add", "team", "bob"]);
    assert_eq!(bob.recv_json()[0]["event"], "joined");

    let file = dir.path().join("alice.backup");
    let out = alice.ok(&["backup", file.to_str().unwrap()]);
    assert!(out.contains("1 contacts and 1 groups"), "{out}");
    // Sealed: neither names nor keys in the clear, and the wrong passphrase opens nothing.
    let bytes = std::fs::read(&file).unwrap();
    // (The JSON key with its quotes and the card text: three bare bytes would turn up in
    // random ciphertext now and then.)
    assert!(!bytes.windows(5).any(|w| w == b"\"bob\""));
    let card = bob.card();
    assert!(!bytes.windows(card.len()).any(|w| w == card.as_bytes()));
    let mut wrong = User::new(dir.path(), "wrong");
    wrong.pass = "not the passphrase".into();
    wrong.fails(&["restore", file.to_str().unwrap()]);

    let restored = User::new(dir.path(), "alice-restored");
    let out = restored.run(&["restore", file.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(restored.card(), alice.card());
    assert!(restored.ok(&["contact", "list"]).starts_with("bob\tBob\t"));
    // Bob's bundle offered PQXDH before the backup: the restored home still holds him to it.
    let listed: serde_json::Value =
        serde_json::from_str(restored.ok(&["--json", "contact", "list"]).trim()).unwrap();
    assert_eq!(listed["offers_pqxdh"], true, "{listed}");
    let list = restored.ok(&["group", "list"]);
    assert!(list.contains("team\t(needs to be re-added"), "{list}");
    let line = restored.fails(&["group", "send", "team", "too early"]);
    assert!(line.contains("re-add"), "{line}");
    // An existing home is not overwritten by accident.
    let line = restored.fails(&["restore", file.to_str().unwrap()]);
    assert!(line.contains("--force"), "{line}");
    // A state file is not a backup.
    let line = restored.fails(&[
        "restore",
        "--force",
        alice.home.join("state.hush").to_str().unwrap(),
    ]);
    assert!(line.contains("not a Hush backup"), "{line}");

    // A fresh session: Bob reads it, and answers on it.
    restored.ok(&["send", "bob", "from the restored home"]);
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "from the restored home".into())]
    );
    bob.ok(&["send", "alice", "welcome back"]);
    assert_eq!(
        messages(&restored.recv_json()),
        vec![("bob".into(), None, "welcome back".into())]
    );

    // Re-added, the restored home takes part in the group again.
    bob.ok(&["group", "remove", "team", "alice"]);
    bob.ok(&["group", "add", "team", "alice"]);
    let events = restored.recv_json();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "joined" && e["group"] == "team"),
        "{events:?}"
    );
    restored.ok(&["group", "send", "team", "back in"]);
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), Some("team".into()), "back in".into())]
    );

    // The old home is now behind (the restored one sent since): its next send sets its
    // sessions aside too, and still arrives.
    let out = alice.run(&["send", "bob", "from the old home"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(NOTICE));
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "from the old home".into())]
    );
}
