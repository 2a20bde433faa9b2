//! A contact who reinstalls (or someone using their name) writes from another identity:
//! `recv` says so once, the old contact stays until the user updates or removes it.

mod common;

use common::{Pair, User, messages, pair};
use hush_cli::card::Card;
use hush_cli::state::fpr;

#[test]
fn an_identity_change_is_noticed_and_the_user_decides() {
    let dir = tempfile::tempdir().unwrap();
    let Pair { relay, alice, bob } = pair(dir.path());
    bob.ok(&["send", "alice", "hi"]);
    assert_eq!(messages(&alice.recv_json()).len(), 1);
    let old = fpr(&Card::parse(&bob.card()).unwrap().identity);

    // Bob reinstalls: a new home, the same name, a new identity.
    let bob2 = User::new(dir.path(), "bob2");
    bob2.init(&relay.url, "Bob");
    bob2.ok(&["contact", "add", "alice", &alice.card()]);
    let new = fpr(&Card::parse(&bob2.card()).unwrap().identity);
    bob2.ok(&["send", "alice", "new phone"]);
    bob2.ok(&["send", "alice", "it is me"]);

    let events = alice.recv_json();
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0]["event"], "identity_changed");
    assert_eq!(events[0]["contact"], "bob");
    assert_eq!(events[0]["from"], new.as_str());
    assert_eq!(events[0]["old_fingerprint"], old.as_str());
    assert_eq!(
        messages(&events),
        vec![
            (new.clone(), None, "new phone".into()),
            (new.clone(), None, "it is me".into())
        ]
    );
    // Said once, in human output too; the old contact is kept until Alice decides.
    bob2.ok(&["send", "alice", "again"]);
    let human = alice.ok(&["recv"]);
    assert!(!human.contains("notice:"), "{human}");
    assert!(human.contains("again"), "{human}");
    let list = alice.ok(&["contact", "list"]);
    assert!(list.lines().any(|l| l.starts_with("bob\t")), "{list}");

    // Alice checked: the contact now points at the new identity.
    let out = alice.ok(&["contact", "update", "bob", &new]);
    assert!(out.contains("new identity"), "{out}");
    alice.ok(&["send", "bob", "welcome back"]);
    assert_eq!(
        messages(&bob2.recv_json()),
        vec![("alice".into(), None, "welcome back".into())]
    );
    bob2.ok(&["send", "alice", "thanks"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![("bob".into(), None, "thanks".into())]
    );

    // And removing a contact forgets it.
    alice.ok(&["contact", "remove", "bob"]);
    let list = alice.ok(&["contact", "list"]);
    assert!(!list.lines().any(|l| l.starts_with("bob\t")), "{list}");
    let e = alice.fails(&["send", "bob", "x"]);
    assert!(e.contains("bob"), "{e}");
    let e = alice.fails(&["contact", "remove", "bob"]);
    assert!(e.contains("bob"), "{e}");
}

#[test]
fn a_human_recv_prints_the_notice() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay,
        alice,
        bob: _bob,
    } = pair(dir.path());
    let mallory = User::new(dir.path(), "mallory");
    mallory.init(&relay.url, "Bob");
    mallory.ok(&["contact", "add", "alice", &alice.card()]);
    mallory.ok(&["send", "alice", "send me the keys"]);
    let out = alice.ok(&["recv"]);
    let notice = out
        .lines()
        .find(|l| l.starts_with("notice: "))
        .unwrap_or_else(|| panic!("no notice in {out}"));
    assert!(notice.contains("your contact bob"), "{notice}");
    assert!(notice.contains("hush contact update bob"), "{notice}");
}
