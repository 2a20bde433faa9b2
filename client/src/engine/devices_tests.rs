//! Device lists as they arrive (`apply_list`), without a relay: a newer list, the same
//! one, an older one (a rollback), another one with the same counter (equivocation), a
//! list that does not name its sender, and a stranger's list.
use super::*;
use crate::account::Account;
use crate::store::MemoryStore;
use hush_protocol::IdentityKeyPair;
use hush_relay_client::RelayUrl;
use rand::RngExt as _;

fn url() -> RelayUrl {
    "hush://0000000000000000000000000000000000000000000000000000000000000000@127.0.0.1:4433"
        .parse()
        .unwrap()
}

fn device(rng: &mut rand::rngs::StdRng) -> (IdentityKeyPair, Device) {
    let k = IdentityKeyPair::generate(rng);
    let d = Device {
        identity: k.public().clone(),
        mailbox: rng.random(),
        directory_secret: hush_protocol::directory::DirectorySecret::generate(rng),
        relay: url().to_string(),
    };
    (k, d)
}

/// Bob's engine, with Alice (her account) as a contact.
fn bob_and_alice() -> (Engine<MemoryStore>, Account<MemoryStore>) {
    let mut rng = rand::rng();
    let alice = Account::create(MemoryStore::new(), &mut rng, "Alice", url()).unwrap();
    let bob = Account::create(MemoryStore::new(), &mut rng, "Bob", url()).unwrap();
    let mut bob = Engine::new(bob).unwrap();
    bob.account_mut()
        .add_contact("alice", &alice.card().encode().unwrap())
        .unwrap();
    (bob, alice)
}

fn own(alice: &Account<MemoryStore>) -> Device {
    Device {
        identity: alice.identity().clone(),
        mailbox: *alice.mailbox().as_bytes(),
        directory_secret: alice.secrets().1,
        relay: alice.relay().to_string(),
    }
}

/// Applies `list` as sent by `sender`, commits, and returns the events.
fn apply(
    bob: &mut Engine<MemoryStore>,
    sender: &IdentityPublicKey,
    list: &DeviceList,
) -> Result<Vec<EventKind>, Error> {
    let mut b = Batch::new();
    let (events, _) = bob.apply_list(sender, list.to_bytes(), &mut b)?;
    bob.account.store.commit(b)?;
    Ok(events)
}

#[test]
fn lists_replace_older_ones_and_never_go_back() {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(7);
    let (mut bob, alice) = bob_and_alice();
    let me = alice.identity().clone();
    let kp = alice.identity_key_pair();
    let v1 = DeviceList::first(kp, own(&alice)).unwrap();
    let (laptop_key, laptop) = device(&mut rng);
    let (v2, _) = v1.with_device(kp, laptop.clone()).unwrap();

    // The first list that arrives: the laptop is new.
    let events = apply(&mut bob, &me, &v2).unwrap();
    assert!(
        matches!(&events[..], [EventKind::DevicesChanged { contact: Some(c), added, removed, .. }]
            if c == "alice" && added == &[laptop.identity.fingerprint()] && removed.is_empty()),
        "{}",
        events.len()
    );
    assert_eq!(bob.contact_devices("alice").unwrap(), Some(v2.clone()));
    assert_eq!(
        bob.person_of(laptop_key.public()).unwrap(),
        Some(me.clone())
    );
    // The same list again: nothing.
    assert!(
        apply(&mut bob, laptop_key.public(), &v2)
            .unwrap()
            .is_empty()
    );
    // An older list (counter 1): ignored, the newer one stays.
    assert!(apply(&mut bob, &me, &v1).unwrap().is_empty());
    assert_eq!(bob.contact_devices("alice").unwrap(), Some(v2.clone()));
    // Another list with counter 2 (a tablet instead of the laptop): a conflict, the list
    // held stays.
    let (_, tablet) = device(&mut rng);
    let (other, _) = v1.with_device(kp, tablet).unwrap();
    let events = apply(&mut bob, &me, &other).unwrap();
    assert!(
        matches!(
            &events[..],
            [EventKind::DeviceListConflict { counter: 2, .. }]
        ),
        "{}",
        events.len()
    );
    assert_eq!(bob.contact_devices("alice").unwrap(), Some(v2.clone()));
    // The laptop revoked: it no longer belongs to Alice for Bob.
    let v3 = v2.without_device(kp, 2).unwrap();
    let events = apply(&mut bob, &me, &v3).unwrap();
    assert!(
        matches!(&events[..], [EventKind::DevicesChanged { added, removed, .. }]
            if added.is_empty() && removed == &[laptop.identity.fingerprint()]),
        "{}",
        events.len()
    );
    assert_eq!(bob.person_of(laptop_key.public()).unwrap(), None);
    // The revoked laptop sends the old list that names it: ignored, it stays unknown.
    assert!(
        apply(&mut bob, laptop_key.public(), &v2)
            .unwrap()
            .is_empty()
    );
    assert_eq!(bob.person_of(laptop_key.public()).unwrap(), None);
    assert_eq!(bob.contact_devices("alice").unwrap(), Some(v3));
}

#[test]
fn a_list_must_name_its_sender_and_a_strangers_is_not_kept() {
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(8);
    let (mut bob, alice) = bob_and_alice();
    let kp = alice.identity_key_pair();
    let v1 = DeviceList::first(kp, own(&alice)).unwrap();
    let (other, _) = device(&mut rng);
    assert!(matches!(
        apply(&mut bob, other.public(), &v1),
        Err(Error::Invalid { .. })
    ));
    assert_eq!(bob.contact_devices("alice").unwrap(), None);
    // Someone who is not a contact: their list is not kept.
    let (carol, carol_device) = device(&mut rng);
    let (_, carol_laptop) = device(&mut rng);
    let c1 = DeviceList::first(&carol, carol_device).unwrap();
    let (c2, _) = c1.with_device(&carol, carol_laptop.clone()).unwrap();
    assert!(apply(&mut bob, carol.public(), &c2).unwrap().is_empty());
    assert_eq!(bob.person_of(&carol_laptop.identity).unwrap(), None);
    // A malformed list: refused.
    let mut b = Batch::new();
    assert!(
        bob.apply_list(carol.public(), b"not a list", &mut b)
            .is_err()
    );
    assert!(b.is_empty());
}
