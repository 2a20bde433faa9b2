//! `hush link`, `hush device approve`, `revoke` and `list`, and messages to and from two
//! devices, end to end: real `hush`
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
    assert!(
        list.lines().next().unwrap().ends_with("(this device)"),
        "{list}"
    );

    let got = laptop.ok(&["recv"]);
    assert!(got.contains("linked: this home is device 2"), "{got}");
    let contacts = laptop.ok(&["contact", "list"]);
    assert!(contacts.starts_with("bob\tBob\t"), "{contacts}");
    let list = laptop.ok(&["device", "list"]);
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.lines().nth(1).unwrap().ends_with("(this device)"),
        "{list}"
    );
    // Only the first device approves; a linked home does not link again.
    let tablet = User::new(dir.path(), "alice-tablet");
    let other = tablet.ok(&["link", "--relay", &relay.url]);
    laptop.fails(&["device", "approve", other.lines().next().unwrap()]);
    laptop.fails(&["link", "--relay", &relay.url]);

    // Bob learns of the laptop; a message from Alice's phone reaches Bob, and the laptop
    // shows it as sent; Bob's answer reaches both of Alice's devices.
    let got = bob.ok(&["recv"]);
    assert!(got.starts_with("alice: new device "), "{got}");
    alice.ok(&["send", "bob", "from the phone"]);
    assert_eq!(bob.ok(&["recv"]).trim(), "alice: from the phone");
    assert_eq!(laptop.ok(&["recv"]).trim(), "(sent to bob): from the phone");
    bob.ok(&["send", "alice", "to both"]);
    assert_eq!(alice.ok(&["recv"]).trim(), "bob: to both");
    assert_eq!(laptop.ok(&["recv"]).trim(), "bob: to both");

    // Revocation: only on the first device, of a device on the list.
    laptop.fails(&["device", "revoke", "1"]);
    alice.fails(&["device", "revoke", "9"]);
    let revoked = alice.ok(&["device", "revoke", "2"]);
    assert!(revoked.starts_with("revoked: device 2"), "{revoked}");
    assert_eq!(alice.ok(&["device", "list"]).lines().count(), 1);
    let got = bob.ok(&["recv"]);
    assert!(
        got.starts_with("alice: device ") && got.contains("revoked"),
        "{got}"
    );
    bob.ok(&["send", "alice", "after the revocation"]);
    assert_eq!(alice.ok(&["recv"]).trim(), "bob: after the revocation");
    assert_eq!(laptop.ok(&["recv"]).trim(), "");
}
