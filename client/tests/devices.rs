//! Linking a device (`spec/multi-device.md` §3, §4.1) through a real relay: the new device's
//! request, the approval from the device that made the account, the new device taking on the
//! person's name, contacts and device list; replays, expiry and refusals.

mod common;

use common::{engine, introduce, relay};
use hush_client::store::MemoryStore;
use hush_client::{Error, EventKind, LINK_PREFIX};

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
