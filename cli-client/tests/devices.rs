//! `hush link`, `hush device approve` and `hush device list` end to end: real `hush`
//! processes and a relay (`spec/multi-device.md` §3).

mod common;

use common::*;

#[test]
fn a_new_home_is_linked_to_a_person() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");

    let laptop = User::new(dir.path(), "alice-laptop");
    let out = laptop.ok(&["link", "--relay", &relay.url]);
    let request = out.lines().next().unwrap().trim().to_string();
    assert!(request.starts_with("hush-link:"), "{out}");

    let approved = alice.ok(&["device", "approve", &request]);
    assert!(approved.starts_with("approved: device 2"), "{approved}");
    // A replay: refused, nothing changed.
    alice.fails(&["device", "approve", &request]);
    let list = alice.ok(&["device", "list"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.lines().next().unwrap().ends_with("(this device)"), "{list}");

    let got = laptop.ok(&["recv"]);
    assert!(got.contains("linked: this home is device 2"), "{got}");
    let contacts = laptop.ok(&["contact", "list"]);
    assert!(contacts.starts_with("bob\tBob\t"), "{contacts}");
    let list = laptop.ok(&["device", "list"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.lines().nth(1).unwrap().ends_with("(this device)"), "{list}");
    // Only the first device approves; a linked home does not link again.
    let tablet = User::new(dir.path(), "alice-tablet");
    let other = tablet.ok(&["link", "--relay", &relay.url]);
    laptop.fails(&["device", "approve", other.lines().next().unwrap()]);
    laptop.fails(&["link", "--relay", &relay.url]);
}
