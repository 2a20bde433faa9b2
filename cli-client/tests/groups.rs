//! Groups end to end: create, add, send, read, remove.

mod common;

use common::*;

#[test]
fn group_create_add_send_read_remove() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    let carol = User::new(dir.path(), "carol");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    carol.init(&relay.url, "Carol");
    introduce(&alice, "bob", &bob, "alice");
    introduce(&alice, "carol", &carol, "alice");
    introduce(&bob, "carol", &carol, "bob");

    alice.ok(&["group", "create", "team"]);
    alice.ok(&["group", "add", "team", "bob", "carol"]);
    let list = alice.ok(&["group", "list"]);
    assert!(list.contains("team\t3 members"), "{list}");

    // The Welcome joins silently and says so.
    for (user, alias) in [(&bob, "bob"), (&carol, "carol")] {
        let events = user.recv_json();
        assert_eq!(events.len(), 1, "{alias}: {events:?}");
        assert_eq!(events[0]["event"], "joined");
        assert_eq!(events[0]["group"], "team");
        assert_eq!(events[0]["from"], "alice");
        let list = user.ok(&["group", "list"]);
        assert!(list.contains("team\t3 members"), "{alias}: {list}");
    }

    alice.ok(&["group", "send", "team", "hello team from alice"]);
    bob.ok(&["group", "send", "team", "bob says hi"]);
    carol.ok(&["group", "send", "team", "carol waves"]);
    let g = Some("team".to_string());
    assert_eq!(
        messages(&alice.recv_json()),
        vec![
            ("bob".into(), g.clone(), "bob says hi".into()),
            ("carol".into(), g.clone(), "carol waves".into())
        ]
    );
    // Bob's send read Alice's message on the way (to build on the latest epoch): it is
    // shown by his next recv, before what came after.
    assert_eq!(
        messages(&bob.recv_json()),
        vec![
            ("alice".into(), g.clone(), "hello team from alice".into()),
            ("carol".into(), g.clone(), "carol waves".into())
        ]
    );
    assert_eq!(
        messages(&carol.recv_json()),
        vec![
            ("alice".into(), g.clone(), "hello team from alice".into()),
            ("bob".into(), g.clone(), "bob says hi".into())
        ]
    );

    // Alice removes Carol; Carol cannot read what is sent after.
    alice.ok(&["group", "remove", "team", "carol"]);
    alice.ok(&["group", "send", "team", "after carol left"]);
    bob.ok(&["group", "send", "team", "bob after carol left"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![("bob".into(), g.clone(), "bob after carol left".into())]
    );
    let bob_events = bob.recv_json();
    assert_eq!(
        messages(&bob_events),
        vec![("alice".into(), g.clone(), "after carol left".into())]
    );
    let carol_out = carol.run(&["recv", "--json"]);
    assert!(carol_out.status.success());
    let carol_stdout = String::from_utf8_lossy(&carol_out.stdout);
    assert!(carol_stdout.contains("\"removed\""), "{carol_stdout}");
    assert!(!carol_stdout.contains("after carol left"), "{carol_stdout}");
    assert!(carol.ok(&["group", "list"]).contains("team\t(removed)"));
    let err = carol.fails(&["group", "send", "team", "still here?"]);
    assert!(err.contains("removed from group"), "{err}");
    let list = alice.ok(&["group", "list"]);
    assert!(list.contains("team\t2 members"), "{list}");

    assert_absent(
        &relay.data,
        &[
            "hello team from alice",
            "bob says hi",
            "carol waves",
            "after carol left",
        ],
    );
}

#[test]
fn group_add_in_batches_of_commits() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    alice.init(&relay.url, "Alice");
    let members: Vec<(String, User)> = (1..=6)
        .map(|i| {
            let alias = format!("m{i}");
            let u = User::new(dir.path(), &alias);
            u.init(&relay.url, &format!("Member {i}"));
            introduce(&alice, &alias, &u, "alice");
            (alias, u)
        })
        .collect();
    alice.ok(&["group", "create", "big"]);
    let mut args = vec!["group", "add", "big", "--batch", "4"];
    args.extend(members.iter().map(|(a, _)| a.as_str()));
    alice.ok(&args);
    let e = alice.fails(&["group", "add", "big", "--batch", "0", "m1"]);
    assert!(e.contains("--batch"), "{e}");
    let e = alice.fails(&["group", "add", "big", "m1"]);
    assert!(e.contains("already in group"), "{e}");
    assert!(
        alice
            .ok(&["group", "list"])
            .contains("big\t7 members\tepoch 2")
    );

    alice.ok(&["group", "send", "big", "hello all six"]);
    let g = Some("big".to_string());
    for (alias, u) in &members {
        let events = u.recv_json();
        assert_eq!(events[0]["event"], "joined", "{alias}: {events:?}");
        assert_eq!(
            messages(&events),
            vec![("alice".into(), g.clone(), "hello all six".into())],
            "{alias}"
        );
    }
    // The last one added answers; the first one reads it (as an unknown sender).
    members[5].1.ok(&["group", "send", "big", "thanks from m6"]);
    let got = messages(&members[0].1.recv_json());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, "thanks from m6");
}
