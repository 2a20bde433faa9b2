//! Linking a device (`spec/multi-device.md` §3, §4.1) through a real relay: the new device's
//! request, the approval from the device that made the account, the new device taking on the
//! person's name, contacts and device list; replays, expiry and refusals.

mod common;

use common::{engine, introduce, quick_engine, relay, relay_config};
use hush_client::OutgoingState;
use hush_client::store::MemoryStore;
use hush_client::{Engine, Error, EventKind, GroupStatus, LINK_PREFIX};
use hush_relay::server::{Relay, RelayHandle};
use hush_relay_client::RelayUrl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_linked_and_takes_on_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut phone = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut phone, "alice", &mut bob, "bob");
    phone.account_mut().set_verified("bob", true).unwrap();
    assert_eq!(phone.device_list().unwrap().devices().count(), 1);

    // The laptop asks; the text is one line the phone reads.
    let mut laptop = engine(MemoryStore::new(), "laptop", &url);
    assert!(laptop.receive().await.unwrap().is_empty()); // publishes its mailbox
    let request = laptop.link_request().unwrap();
    assert!(request.starts_with(LINK_PREFIX) && !request.contains('\n'));

    let id = phone.approve_link(&request).await.unwrap();
    assert_eq!(id, 2);
    let list = phone.device_list().unwrap();
    assert_eq!(
        list.devices().map(|(i, _)| i).collect::<Vec<_>>(),
        vec![1, 2]
    );
    // The same request again: refused, nothing changed.
    let again = phone.approve_link(&request).await.unwrap_err();
    assert!(matches!(again, Error::Link(_)), "{again}");
    assert_eq!(phone.device_list().unwrap(), list);

    let events = laptop.receive().await.unwrap();
    let linked = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::Linked { person, device } => Some((*person, *device)),
            _ => None,
        })
        .expect("a Linked event");
    assert_eq!(linked, (phone.account().identity().fingerprint(), 2));
    assert_eq!(laptop.person().unwrap(), *phone.account().identity());
    assert_eq!(laptop.device_list().unwrap(), list);
    assert_eq!(laptop.account().name(), "Alice");
    let contacts = laptop.account().contacts().unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].alias, "bob");
    assert!(contacts[0].verified);
    assert_eq!(contacts[0].card.identity, *bob.account().identity());
    // A linked device neither asks again nor approves.
    assert!(matches!(laptop.link_request(), Err(Error::Link(_))));
    let mut tablet = engine(MemoryStore::new(), "tablet", &url);
    let other = tablet.link_request().unwrap();
    assert!(matches!(
        laptop.approve_link(&other).await,
        Err(Error::Link(_))
    ));
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_expired_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut phone = engine(MemoryStore::new(), "Alice", &url);
    let before = phone.device_list().unwrap();
    for bad in [
        "",
        "hush-link:",
        "hush-link:!!!",
        "hush1:abc",
        "hush-link:AAAA",
    ] {
        assert!(phone.approve_link(bad).await.is_err(), "{bad:?} accepted");
    }
    // A request read after its expiry and the clock allowance (the phone 12 minutes ahead).
    let mut laptop = engine(MemoryStore::new(), "laptop", &url);
    let request = laptop.link_request().unwrap();
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 12 * 60 * 1000;
    let mut phone = phone.with_clock(std::sync::Arc::new(move || later));
    let e = phone.approve_link(&request).await.unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
    assert_eq!(phone.device_list().unwrap(), before);
    // An account with contacts cannot become a linked device.
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut phone, "alice", &mut bob, "bob");
    assert!(matches!(bob.link_request(), Err(Error::Link(_))));
    r.shutdown().await.unwrap();
}

/// A person's first device that has linked another one (its list stored, no contacts) cannot
/// ask to be linked to someone else's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_with_a_linked_device_cannot_be_linked() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut phone = engine(MemoryStore::new(), "Alice", &url);
    assert!(phone.receive().await.unwrap().is_empty());
    assert!(phone.account().contacts().unwrap().is_empty());
    let _laptop = link(&mut phone, &url, "laptop").await;
    let e = phone.link_request().unwrap_err();
    assert!(matches!(e, Error::Link(_)), "{e}");
    r.shutdown().await.unwrap();
}

/// Links a new device to the person of `primary` (the new device publishes its directory
/// first, as `hush link` does), and returns it once the approval arrived.
async fn link(
    primary: &mut Engine<MemoryStore>,
    url: &RelayUrl,
    name: &str,
) -> Engine<MemoryStore> {
    let mut device = engine(MemoryStore::new(), name, url);
    assert!(device.receive().await.unwrap().is_empty());
    let request = device.link_request().unwrap();
    primary.approve_link(&request).await.unwrap();
    let events = device.receive().await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Linked { .. })),
        "{events:?}"
    );
    device
}

/// Receives, confirms, and returns what came in a form to compare: `message <alias>:
/// <text>`, `sent <alias>: <text>`, `[<group>] <alias>: <text>`, `joined <group> by <alias>`,
/// `devices <alias> +added -removed` (`me` for this person), other kinds by their `Debug`.
async fn got(e: &mut Engine<MemoryStore>) -> Vec<String> {
    let events = e.receive().await.unwrap();
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    e.confirm(&ids).unwrap();
    let who = |alias: &Option<String>| alias.clone().unwrap_or_else(|| "me".into());
    events
        .iter()
        .map(|ev| match &ev.kind {
            EventKind::Message { from, body } => {
                format!(
                    "message {}: {}",
                    who(&from.alias),
                    String::from_utf8_lossy(body)
                )
            }
            EventKind::SentCopy { to, body } => {
                format!("sent {}: {}", who(&to.alias), String::from_utf8_lossy(body))
            }
            EventKind::GroupMessage { group, from, body } => {
                format!(
                    "[{group}] {}: {}",
                    who(&from.alias),
                    String::from_utf8_lossy(body)
                )
            }
            EventKind::Joined { group, by } => format!("joined {group} by {}", who(&by.alias)),
            EventKind::Removed { group } => format!("removed from {group}"),
            EventKind::MembersChanged {
                group,
                added,
                removed,
                ..
            } => format!("{group}: +{} -{}", added.len(), removed.len()),
            EventKind::DevicesChanged {
                contact,
                added,
                removed,
                ..
            } => format!(
                "devices {} +{} -{}",
                who(contact),
                added.len(),
                removed.len()
            ),
            _ => format!("{ev:?}"),
        })
        .collect()
}

/// A relay, and Alice and Bob (one device each, contacts of each other, directories
/// published).
async fn alice_and_bob(
    dir: &std::path::Path,
) -> (
    RelayHandle,
    RelayUrl,
    Engine<MemoryStore>,
    Engine<MemoryStore>,
) {
    let r = relay(&dir.join("relay")).await;
    let url = r.url();
    let mut alice = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    assert!(got(&mut alice).await.is_empty() && got(&mut bob).await.is_empty());
    (r, url, alice, bob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_with_two_devices_each() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url, mut a_phone, mut b_phone) = alice_and_bob(dir.path()).await;
    // Sessions exist before any device is linked.
    a_phone.send("bob", b"before").await.unwrap();
    assert_eq!(got(&mut b_phone).await, ["message alice: before"]);

    let mut a_laptop = link(&mut a_phone, &url, "a-laptop").await;
    // Bob's phone learns of Alice's laptop (the list the approval announced).
    assert_eq!(got(&mut b_phone).await, ["devices alice +1 -0"]);
    let mut b_laptop = link(&mut b_phone, &url, "b-laptop").await;
    // Bob's laptop got Alice's list with the contacts: it sends to both of her devices.
    assert_eq!(
        b_laptop
            .contact_devices("alice")
            .unwrap()
            .unwrap()
            .devices()
            .count(),
        2
    );
    assert_eq!(got(&mut a_phone).await, ["devices bob +1 -0"]);
    assert_eq!(got(&mut a_laptop).await, ["devices bob +1 -0"]);

    // Alice's phone to Bob: both of Bob's devices read it, her laptop reads it as sent.
    a_phone.send("bob", b"hi from the phone").await.unwrap();
    assert_eq!(
        got(&mut b_phone).await,
        ["message alice: hi from the phone"]
    );
    assert_eq!(
        got(&mut b_laptop).await,
        ["message alice: hi from the phone"]
    );
    assert_eq!(got(&mut a_laptop).await, ["sent bob: hi from the phone"]);
    assert!(got(&mut a_phone).await.is_empty());

    // Bob's laptop answers: both of Alice's devices, and Bob's phone as sent.
    b_laptop
        .send("alice", b"hello from the laptop")
        .await
        .unwrap();
    assert_eq!(
        got(&mut a_phone).await,
        ["message bob: hello from the laptop"]
    );
    assert_eq!(
        got(&mut a_laptop).await,
        ["message bob: hello from the laptop"]
    );
    assert_eq!(
        got(&mut b_phone).await,
        ["sent alice: hello from the laptop"]
    );

    // The message names the person, not the device.
    a_laptop.send("bob", b"and from the laptop").await.unwrap();
    let events = b_phone.receive().await.unwrap();
    match &events[..] {
        [e] => match &e.kind {
            EventKind::Message { from, body } => {
                assert_eq!(body, b"and from the laptop");
                assert_eq!(from.identity, a_phone.account().identity().fingerprint());
                assert_eq!(from.alias.as_deref(), Some("alice"));
            }
            _ => panic!("{e:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got(&mut b_laptop).await,
        ["message alice: and from the laptop"]
    );
    assert_eq!(got(&mut a_phone).await, ["sent bob: and from the laptop"]);
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_reads_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url, mut a_phone, mut bob) = alice_and_bob(dir.path()).await;
    let mut a_laptop = link(&mut a_phone, &url, "a-laptop").await;
    assert_eq!(got(&mut bob).await, ["devices alice +1 -0"]);
    bob.send("alice", b"one").await.unwrap();
    assert_eq!(got(&mut a_laptop).await, ["message bob: one"]);
    assert_eq!(got(&mut a_phone).await, ["message bob: one"]);

    // Refusals first: a linked device does not revoke, nor does the phone revoke itself or
    // an id that is not on the list.
    assert!(matches!(
        a_laptop.revoke_device(1).await,
        Err(Error::Link(_))
    ));
    assert!(matches!(
        a_phone.revoke_device(1).await,
        Err(Error::Link(_))
    ));
    assert!(matches!(
        a_phone.revoke_device(7).await,
        Err(Error::Link(_))
    ));

    a_phone.revoke_device(2).await.unwrap();
    assert_eq!(a_phone.device_list().unwrap().devices().count(), 1);
    assert_eq!(got(&mut bob).await, ["devices alice +0 -1"]);
    bob.send("alice", b"two").await.unwrap();
    a_phone.send("bob", b"three").await.unwrap();
    assert_eq!(got(&mut a_phone).await, ["message bob: two"]);
    assert_eq!(got(&mut bob).await, ["message alice: three"]);
    // The laptop: nothing sent after the revocation reached it.
    assert!(got(&mut a_laptop).await.is_empty());
    // What it still sends does not show as Alice.
    a_laptop
        .send("bob", b"from the revoked laptop")
        .await
        .unwrap();
    let events = bob.receive().await.unwrap();
    assert!(
        events.iter().all(|e| match &e.kind {
            EventKind::Message { from, .. } => from.alias.is_none(),
            _ => true,
        }),
        "{events:?}"
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_list_update_is_noticed_at_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url, mut a_phone, mut bob) = alice_and_bob(dir.path()).await;
    bob.send("alice", b"hi").await.unwrap();
    assert_eq!(got(&mut a_phone).await, ["message bob: hi"]);

    // The relay drops the list update that names the laptop: Bob never reads it.
    let mut a_laptop = link(&mut a_phone, &url, "a-laptop").await;
    let raw = hush_relay_client::Client::connect(&url).await.unwrap();
    let mailbox = raw.authenticate(bob.account().mailbox_key()).await.unwrap();
    let page = raw.fetch(&mailbox, 0, 0).await.unwrap();
    assert_eq!(page.envelopes.len(), 1);
    let seqs: Vec<u64> = page.envelopes.iter().map(|e| e.seq).collect();
    raw.ack(&mailbox, &seqs).await.unwrap();
    raw.close().await;
    // Bob still sends to the phone alone: the laptop is hidden from him.
    bob.send("alice", b"only the phone").await.unwrap();
    assert_eq!(got(&mut a_phone).await, ["message bob: only the phone"]);
    assert!(got(&mut a_laptop).await.is_empty());

    // The next list (a tablet) names both: Bob notices the device he was not told of.
    let mut a_tablet = link(&mut a_phone, &url, "a-tablet").await;
    assert_eq!(got(&mut bob).await, ["devices alice +2 -0"]);
    bob.send("alice", b"all three").await.unwrap();
    assert_eq!(got(&mut a_phone).await, ["message bob: all three"]);
    assert_eq!(got(&mut a_tablet).await, ["message bob: all three"]);
    // The laptop also learns of the tablet, from the phone.
    assert_eq!(
        got(&mut a_laptop).await,
        ["devices me +1 -0", "message bob: all three"]
    );
    r.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_hold_every_device_of_each_person() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    let mut a_phone = engine(MemoryStore::new(), "Alice", &url);
    let mut b_phone = engine(MemoryStore::new(), "Bob", &url);
    let mut carol = engine(MemoryStore::new(), "Carol", &url);
    introduce(&mut a_phone, "alice", &mut b_phone, "bob");
    introduce(&mut a_phone, "alice", &mut carol, "carol");
    introduce(&mut b_phone, "bob", &mut carol, "carol");
    for e in [&mut a_phone, &mut b_phone, &mut carol] {
        assert!(got(e).await.is_empty());
    }
    let mut a_laptop = link(&mut a_phone, &url, "a-laptop").await;
    let mut b_laptop = link(&mut b_phone, &url, "b-laptop").await;
    // Bob's phone approved before it read Alice's newer list: once it does, it sends its
    // own list to the device of hers it did not know.
    assert_eq!(got(&mut b_phone).await, ["devices alice +1 -0"]);
    assert_eq!(got(&mut a_laptop).await, ["devices bob +1 -0"]);
    assert_eq!(got(&mut a_phone).await, ["devices bob +1 -0"]);
    assert_eq!(
        got(&mut carol).await,
        ["devices alice +1 -0", "devices bob +1 -0"]
    );
    // Bob's laptop took Alice's list as Bob's phone had it (one device); Alice's phone,
    // reading Bob's newer list, sends hers to the laptop.
    assert_eq!(got(&mut b_laptop).await, ["devices alice +1 -0"]);

    // Adding Bob adds both of his devices, and Alice's laptop comes along.
    a_phone.create_group("team").unwrap();
    a_phone
        .add_members("team", &["bob", "carol"])
        .await
        .unwrap();
    assert_eq!(a_phone.group("team").unwrap().members.len(), 5);
    assert_eq!(got(&mut a_laptop).await, ["joined team by me"]);
    assert_eq!(got(&mut b_phone).await, ["joined team by alice"]);
    assert_eq!(got(&mut b_laptop).await, ["joined team by alice"]);
    assert_eq!(got(&mut carol).await, ["joined team by alice"]);
    // Members show the person of each device.
    let members = carol.group("team").unwrap().members;
    let named = |who: &str| {
        members
            .iter()
            .filter(|m| m.alias.as_deref() == Some(who))
            .count()
    };
    assert_eq!((named("alice"), named("bob")), (2, 2));

    // A message from any device shows its person.
    b_laptop
        .send_to_group("team", b"from bob's laptop")
        .await
        .unwrap();
    assert_eq!(got(&mut carol).await, ["[team] bob: from bob's laptop"]);
    assert_eq!(got(&mut a_phone).await, ["[team] bob: from bob's laptop"]);
    assert_eq!(got(&mut a_laptop).await, ["[team] bob: from bob's laptop"]);
    assert_eq!(got(&mut b_phone).await, ["[team] me: from bob's laptop"]);

    // A device linked later joins through its own person's device.
    let mut b_tablet = link(&mut b_phone, &url, "b-tablet").await;
    // (its Welcome came with the approval, in the receive that completed the link)
    assert_eq!(b_tablet.group("team").unwrap().status, GroupStatus::Member);
    assert_eq!(b_tablet.group("team").unwrap().members.len(), 6);
    a_laptop
        .send_to_group("team", b"hello tablet")
        .await
        .unwrap();
    assert_eq!(got(&mut b_tablet).await, ["[team] alice: hello tablet"]);
    for e in [&mut b_phone, &mut b_laptop, &mut carol] {
        let seen = got(e).await;
        assert!(
            seen.contains(&"[team] alice: hello tablet".to_string()),
            "{seen:?}"
        );
    }
    // Alice's phone reads what her laptop sent as her own.
    let seen = got(&mut a_phone).await;
    assert!(
        seen.contains(&"[team] me: hello tablet".to_string()),
        "{seen:?}"
    );

    // Revocation: the laptop is removed from the group and reads nothing new.
    a_phone.revoke_device(2).await.unwrap();
    assert_eq!(a_phone.group("team").unwrap().members.len(), 5);
    a_phone
        .send_to_group("team", b"after the revocation")
        .await
        .unwrap();
    let seen = got(&mut a_laptop).await;
    assert!(seen.contains(&"removed from team".to_string()), "{seen:?}");
    assert!(
        !seen.iter().any(|s| s.contains("after the revocation")),
        "{seen:?}"
    );
    let seen = got(&mut carol).await;
    assert!(
        seen.contains(&"[team] alice: after the revocation".to_string()),
        "{seen:?}"
    );
    r.shutdown().await.unwrap();
}

/// A member who is not the person's contact, and holds no list of theirs, names the person
/// from the device's credential (`spec/multi-device.md` §5): a device linked before the group
/// joins with a KeyPackage that names the person, and one linked after it brings its leaf
/// up to date with a self-update.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_in_a_group_sees_the_person_of_each_device() {
    let dir = tempfile::tempdir().unwrap();
    let (r, url, mut a_phone, mut bob) = alice_and_bob(dir.path()).await;
    let mut carol = engine(MemoryStore::new(), "Carol", &url);
    introduce(&mut bob, "bob", &mut carol, "carol");
    assert!(got(&mut bob).await.is_empty() && got(&mut carol).await.is_empty());
    let alice = a_phone.person().unwrap().fingerprint();
    let mut a_laptop = link(&mut a_phone, &url, "a-laptop").await;
    assert_ne!(a_laptop.account().identity().fingerprint(), alice);
    assert_eq!(got(&mut bob).await, ["devices alice +1 -0"]);

    bob.create_group("team").unwrap();
    bob.add_members("team", &["alice", "carol"]).await.unwrap();
    assert_eq!(bob.group("team").unwrap().members.len(), 4);
    for e in [&mut a_phone, &mut a_laptop, &mut carol] {
        assert_eq!(got(e).await, ["joined team by bob"]);
    }
    // Carol knows neither Alice nor her list: each of Alice's devices shows Alice's person.
    let from_alice = |e: &mut Engine<MemoryStore>| {
        let events = e.pending_events().unwrap();
        let froms: Vec<_> = events
            .iter()
            .filter_map(|ev| match &ev.kind {
                EventKind::GroupMessage { from, .. } => Some((from.identity, from.alias.clone())),
                _ => None,
            })
            .collect();
        e.confirm(&events.iter().map(|ev| ev.id).collect::<Vec<_>>())
            .unwrap();
        froms
    };
    a_laptop
        .send_to_group("team", b"from the laptop")
        .await
        .unwrap();
    carol.receive().await.unwrap();
    assert_eq!(from_alice(&mut carol), [(alice, None)]);

    // A tablet linked now joins with a KeyPackage made before the link: its first receive
    // updates its leaf, and from then on its messages show Alice to Carol too.
    let mut a_tablet = link(&mut a_phone, &url, "a-tablet").await;
    assert_eq!(a_tablet.group("team").unwrap().status, GroupStatus::Member);
    got(&mut carol).await;
    a_tablet
        .send_to_group("team", b"from the tablet")
        .await
        .unwrap();
    carol.receive().await.unwrap();
    assert_eq!(from_alice(&mut carol), [(alice, None)]);
    // The member list names the person too, for Bob who holds Alice's list.
    got(&mut bob).await;
    let members = bob.group("team").unwrap().members;
    assert_eq!(
        members
            .iter()
            .filter(|m| m.alias.as_deref() == Some("alice"))
            .count(),
        3
    );
    r.shutdown().await.unwrap();
}

/// One of the recipient's devices on a relay that is down: the send reaches the others at
/// once, the envelope for that device waits in the outbox, and goes when the relay is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_whose_relay_is_down_gets_the_message_later() {
    let dir = tempfile::tempdir().unwrap();
    let r = relay(&dir.path().join("relay")).await;
    let url = r.url();
    // Alice gives up on a relay that is down within seconds.
    let mut alice = quick_engine(MemoryStore::new(), "Alice", &url);
    let mut b_phone = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut b_phone, "bob");
    assert!(got(&mut alice).await.is_empty() && got(&mut b_phone).await.is_empty());
    let other_dir = dir.path().join("other");
    let other = relay(&other_dir).await;
    let (other_url, addr) = (other.url(), other.local_addr());
    let mut b_laptop = link(&mut b_phone, &other_url, "b-laptop").await;
    assert_eq!(got(&mut alice).await, ["devices bob +1 -0"]);
    alice.send("bob", b"both up").await.unwrap();
    assert_eq!(got(&mut b_phone).await, ["message alice: both up"]);
    assert_eq!(got(&mut b_laptop).await, ["message alice: both up"]);

    other.shutdown().await.unwrap();
    let o = alice.send("bob", b"one down").await.unwrap();
    assert!(matches!(o.state, OutgoingState::Stored(_)), "{o:?}");
    assert_eq!(alice.outbox().unwrap().len(), 1);
    assert_eq!(got(&mut b_phone).await, ["message alice: one down"]);

    let other = Relay::start(relay_config(&other_dir, addr)).await.unwrap();
    alice.close().await;
    b_laptop.close().await;
    let flushed = alice.flush_outbox().await.unwrap();
    assert!(
        matches!(&flushed[..], [o] if matches!(o.state, OutgoingState::Stored(_))),
        "{flushed:?}"
    );
    assert_eq!(got(&mut b_laptop).await, ["message alice: one down"]);
    other.shutdown().await.unwrap();
    r.shutdown().await.unwrap();
}
