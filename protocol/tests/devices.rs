//! Device lists and linking (`spec/multi-device.md`): every refusal of sections 2 and 3, and
//! the update rules under random sequences of additions and revocations.

use hush_protocol::devices::{
    Device, DeviceList, DeviceListChange, LinkRequest, MAX_DEVICES, MAX_RELAY_URL_LEN,
    MAX_SEALED_APPROVAL_LEN,
};
use hush_protocol::directory::DirectorySecret;
use hush_protocol::proto::wire;
use hush_protocol::{Error, IdentityKeyPair};
use proptest::prelude::*;
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW: u64 = 1_800_000_000;

fn device(identity: &IdentityKeyPair, mailbox: u8) -> Device {
    Device {
        identity: identity.public().clone(),
        mailbox: [mailbox; 32],
        directory_secret: DirectorySecret::from_bytes([mailbox ^ 0x5a; 32]),
        relay: "hush://relay.example".into(),
    }
}

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A person with a list of `n` devices (the first is the person's identity).
fn person_with(n: u8, r: &mut StdRng) -> (IdentityKeyPair, DeviceList) {
    let person = IdentityKeyPair::generate(r);
    let mut list = DeviceList::first(&person, device(&person, 1)).unwrap();
    for i in 2..=n {
        let d = IdentityKeyPair::generate(r);
        list = list.with_device(&person, device(&d, i)).unwrap().0;
    }
    (person, list)
}

/// Re-signs the content `edit` makes of `list`'s content, with `signer`.
fn resign(
    list: &DeviceList,
    signer: &IdentityKeyPair,
    edit: impl FnOnce(&mut wire::DeviceListContent),
) -> Vec<u8> {
    let signed = wire::SignedDeviceList::decode(list.to_bytes()).unwrap();
    let mut content = wire::DeviceListContent::decode(signed.content.as_slice()).unwrap();
    edit(&mut content);
    let content = content.encode_to_vec();
    let mut msg = b"Hush-v1-DeviceList".to_vec();
    msg.extend_from_slice(&content);
    wire::SignedDeviceList {
        content,
        signature: signer.sign(&msg).to_vec(),
    }
    .encode_to_vec()
}

#[test]
fn a_list_round_trips_and_every_byte_is_covered_by_the_signature() {
    let mut r = rng(1);
    let (person, list) = person_with(3, &mut r);
    let again = DeviceList::from_bytes_of(list.to_bytes(), person.public()).unwrap();
    assert_eq!(again, list);
    assert_eq!(
        again.devices().map(|(id, _)| id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!((again.counter(), again.next_id()), (3, 4));
    // Flipping any bit of the encoding is refused (a decode error or a bad signature).
    let bytes = list.to_bytes();
    for i in 0..bytes.len() {
        let mut b = bytes.to_vec();
        b[i] ^= 0x01;
        assert!(
            DeviceList::from_bytes(&b).is_err(),
            "bit flip at byte {i} accepted"
        );
    }
}

#[test]
fn a_list_of_another_person_is_refused() {
    let mut r = rng(2);
    let (_, list) = person_with(2, &mut r);
    let other = IdentityKeyPair::generate(&mut r);
    assert_eq!(
        DeviceList::from_bytes_of(list.to_bytes(), other.public()),
        Err(Error::DeviceListPerson)
    );
    // Signed by another key than the person it names: a bad signature.
    let forged = resign(&list, &other, |_| {});
    assert_eq!(
        DeviceList::from_bytes(&forged),
        Err(Error::BadSignature("device list"))
    );
    // Only the person can make the next list.
    let d = IdentityKeyPair::generate(&mut r);
    assert_eq!(
        list.with_device(&other, device(&d, 9)).err(),
        Some(Error::DeviceListPerson)
    );
    assert_eq!(
        list.without_device(&other, 2).err(),
        Some(Error::DeviceListPerson)
    );
}

type Edit = Box<dyn FnOnce(&mut wire::DeviceListContent)>;

#[test]
fn single_list_rules_are_enforced_even_when_signed() {
    let mut r = rng(3);
    let (person, list) = person_with(2, &mut r);
    let cases: Vec<(&str, Edit)> = vec![
        ("counter 0", Box::new(|c| c.counter = 0)),
        (
            "no devices, or more than 32",
            Box::new(|c| c.devices.clear()),
        ),
        (
            "device id 0 or not below next_id",
            Box::new(|c| c.next_id = 2),
        ),
        (
            "device id 0 or not below next_id",
            Box::new(|c| c.devices[0].id = 0),
        ),
        (
            "device ids not strictly increasing",
            Box::new(|c| c.devices.swap(0, 1)),
        ),
        (
            "one identity on two devices",
            Box::new(|c| c.devices[1].identity = c.devices[0].identity.clone()),
        ),
        (
            "one mailbox for two devices",
            Box::new(|c| c.devices[1].mailbox_address = c.devices[0].mailbox_address.clone()),
        ),
        (
            "relay URL empty or too long",
            Box::new(|c| c.devices[1].relay.clear()),
        ),
    ];
    for (why, edit) in cases {
        let bytes = resign(&list, &person, edit);
        assert_eq!(
            DeviceList::from_bytes(&bytes),
            Err(Error::InvalidDeviceList(why)),
            "{why}"
        );
    }
    let v2 = resign(&list, &person, |c| c.version = 2);
    assert!(matches!(
        DeviceList::from_bytes(&v2),
        Err(Error::UnsupportedVersion { .. })
    ));
    // 32 devices at most.
    let (person, mut full) = person_with(1, &mut r);
    for i in 2..=MAX_DEVICES {
        let d = IdentityKeyPair::generate(&mut r);
        full = full.with_device(&person, device(&d, i as u8)).unwrap().0;
    }
    let d = IdentityKeyPair::generate(&mut r);
    assert_eq!(
        full.with_device(&person, device(&d, 200)).err(),
        Some(Error::InvalidDeviceList("no devices, or more than 32"))
    );
}

#[test]
fn updates_refuse_rollback_equivocation_and_reused_ids() {
    let mut r = rng(4);
    let (person, v1) = person_with(1, &mut r);
    let laptop = IdentityKeyPair::generate(&mut r);
    let (v2, id) = v1.with_device(&person, device(&laptop, 2)).unwrap();
    assert_eq!(id, 2);
    let change = v1.check_update(&v2).unwrap();
    assert_eq!((change.added, change.removed), (vec![2], vec![]));
    assert!(v2.check_update(&v2).unwrap().is_empty());
    // A rollback to the older list.
    assert_eq!(
        v2.check_update(&v1),
        Err(Error::DeviceListRollback { have: 2, got: 1 })
    );
    // Another list with the same counter.
    let tablet = IdentityKeyPair::generate(&mut r);
    let (fork, _) = v1.with_device(&person, device(&tablet, 3)).unwrap();
    assert_eq!(
        v2.check_update(&fork),
        Err(Error::DeviceListEquivocation(2))
    );
    // Revoking the laptop, then a list that gives its id to the tablet.
    let v3 = v2.without_device(&person, 2).unwrap();
    assert_eq!(v2.check_update(&v3).unwrap().removed, vec![2]);
    let reused = resign(&v3, &person, |c| {
        c.counter = 4;
        let mut e = c.devices[0].clone();
        e.id = 2;
        e.identity =
            Some(wire::IdentityPublicKey::decode(tablet.public().to_bytes().as_slice()).unwrap());
        e.mailbox_address = vec![3; 32];
        c.devices.push(e);
    });
    let reused = DeviceList::from_bytes(&reused).unwrap();
    assert_eq!(v3.check_update(&reused), Err(Error::DeviceIdReused(2)));
    // The same id with another identity, without a revocation in between.
    let swapped = resign(&v2, &person, |c| {
        c.counter = 3;
        c.devices[1].identity =
            Some(wire::IdentityPublicKey::decode(tablet.public().to_bytes().as_slice()).unwrap());
    });
    assert_eq!(
        v2.check_update(&DeviceList::from_bytes(&swapped).unwrap()),
        Err(Error::DeviceIdReused(2))
    );
    // next_id going down.
    let down = resign(&v3, &person, |c| {
        c.counter = 4;
        c.next_id = 2;
    });
    assert_eq!(
        v3.check_update(&DeviceList::from_bytes(&down).unwrap()),
        Err(Error::InvalidDeviceList("next_id went down"))
    );
    // A device that moves to another mailbox keeps its id.
    let moved = resign(&v2, &person, |c| {
        c.counter = 3;
        c.devices[1].mailbox_address = vec![7; 32];
    });
    assert_eq!(
        v2.check_update(&DeviceList::from_bytes(&moved).unwrap())
            .unwrap()
            .moved,
        vec![2]
    );
    // The last device cannot be revoked; an unknown id is refused.
    assert!(v1.without_device(&person, 1).is_err());
    assert!(v2.without_device(&person, 9).is_err());
}

#[test]
fn linking_a_device_and_every_refusal() {
    let mut r = rng(5);
    let (person, list) = person_with(1, &mut r);
    let laptop = IdentityKeyPair::generate(&mut r);
    let (request, secret) =
        LinkRequest::new(&mut r, &laptop, device(&laptop, 2), NOW, 300).unwrap();
    let seen = LinkRequest::from_bytes(request.to_bytes(), NOW + 5).unwrap();
    assert_eq!(seen, request);
    let (newer, sealed) = seen.approve(&mut r, &person, &list, b"transfer").unwrap();
    let approval = request.open_approval(&secret, &sealed).unwrap();
    assert_eq!((approval.device_id, &approval.list), (2, &newer));
    assert_eq!(&approval.transfer[..], b"transfer");

    // Expired (past the skew allowance), or living more than 600 s: refused.
    assert_eq!(
        LinkRequest::from_bytes(request.to_bytes(), NOW + 300 + 61),
        Err(Error::LinkExpired)
    );
    assert!(LinkRequest::from_bytes(request.to_bytes(), NOW + 300 + 60).is_ok());
    assert_eq!(
        LinkRequest::from_bytes(request.to_bytes(), NOW - 400).err(),
        Some(Error::InvalidLink("expiry more than 600 s ahead"))
    );
    // The edges: expiring exactly 600 + 60 s ahead is accepted, one second more is not.
    assert!(LinkRequest::from_bytes(request.to_bytes(), NOW + 300 - 660).is_ok());
    assert_eq!(
        LinkRequest::from_bytes(request.to_bytes(), NOW + 300 - 661).err(),
        Some(Error::InvalidLink("expiry more than 600 s ahead"))
    );
    // Size: over 2 KiB is refused before anything is decoded; 2 KiB exactly is decoded.
    assert_eq!(
        LinkRequest::from_bytes(&[0u8; 2049], NOW).err(),
        Some(Error::InvalidLink("request larger than 2 KiB"))
    );
    assert!(matches!(
        LinkRequest::from_bytes(&[0u8; 2048], NOW),
        Err(Error::Malformed(_))
    ));
    assert!(LinkRequest::new(&mut r, &laptop, device(&laptop, 2), NOW, 601).is_err());
    // A request for a device whose identity is not the signer's.
    let other = IdentityKeyPair::generate(&mut r);
    assert!(LinkRequest::new(&mut r, &laptop, device(&other, 2), NOW, 60).is_err());
    // Every bit of the request is signed.
    for i in 0..request.to_bytes().len() {
        let mut b = request.to_bytes().to_vec();
        b[i] ^= 0x01;
        assert!(
            LinkRequest::from_bytes(&b, NOW).is_err(),
            "bit flip at byte {i} accepted"
        );
    }
    // A replay: the device is already on the list.
    assert_eq!(
        seen.approve(&mut r, &person, &newer, b"").err(),
        Some(Error::InvalidLink("the device is already on the list"))
    );
    // The approval opens only with this request's secret, and only for this request.
    let (request2, secret2) =
        LinkRequest::new(&mut r, &laptop, device(&laptop, 2), NOW, 300).unwrap();
    assert_eq!(
        request.open_approval(&secret2, &sealed).err(),
        Some(Error::InvalidLink("secret of another request"))
    );
    assert_eq!(
        request2.open_approval(&secret2, &sealed).err(),
        Some(Error::DecryptionFailed)
    );
    for i in [0, 1, 40, sealed.len() - 1] {
        let mut b = sealed.clone();
        b[i] ^= 0x01;
        assert!(
            request.open_approval(&secret, &b).is_err(),
            "bit flip at byte {i} accepted"
        );
    }
    assert!(request.open_approval(&secret, &sealed[..20]).is_err());
    assert!(request.open_approval(&secret, &[]).is_err());

    // Debug shows what each is, never the link secret's or the transfer's bytes.
    let shown = format!("{secret:?} {request:?} {approval:?}");
    for name in ["LinkSecret", "LinkRequest", "LinkApproval", "transfer_len"] {
        assert!(shown.contains(name), "{shown}");
    }
    assert!(shown.contains("LinkSecret(..)"), "{shown}");
    assert!(!shown.contains("transfer\""), "{shown}");
}

#[test]
fn an_approval_names_its_signer_who_must_have_listed_the_device() {
    let mut r = rng(6);
    let (person, list) = person_with(1, &mut r);
    let laptop = IdentityKeyPair::generate(&mut r);
    let (request, secret) =
        LinkRequest::new(&mut r, &laptop, device(&laptop, 2), NOW, 300).unwrap();
    // Whoever sees the request can approve it as their own account: the approval names that
    // person, which the new device shows for the user to compare (spec section 3.3).
    let (mallory, mallory_list) = person_with(1, &mut r);
    let (_, sealed) = request
        .approve(&mut r, &mallory, &mallory_list, b"")
        .unwrap();
    let approval = request.open_approval(&secret, &sealed).unwrap();
    assert_eq!(approval.list.person(), mallory.public());
    assert_ne!(approval.list.person(), person.public());
    // An approval whose list lacks the device is refused, even when well signed.
    let other = IdentityKeyPair::generate(&mut r);
    let (other_request, _) = LinkRequest::new(&mut r, &other, device(&other, 3), NOW, 300).unwrap();
    let (_, sealed_other) = other_request.approve(&mut r, &person, &list, b"").unwrap();
    assert!(request.open_approval(&secret, &sealed_other).is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Add,
    Revoke(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![Just(Op::Add), (0usize..8).prop_map(Op::Revoke)],
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Along any sequence of additions and revocations, each list is accepted over every older
    /// one (with the right added/removed ids), every older one is refused over it, and no id
    /// is ever given twice.
    #[test]
    fn the_update_rule_holds_along_any_history(ops in ops(), seed in any::<u64>()) {
        let mut r = rng(seed);
        let (person, first) = person_with(1, &mut r);
        let mut history = vec![first];
        let mut given = vec![1u32];
        for (i, op) in ops.iter().enumerate() {
            let cur = history.last().unwrap().clone();
            let next = match op {
                Op::Add => {
                    let d = IdentityKeyPair::generate(&mut r);
                    let (next, id) = cur.with_device(&person, device(&d, 10 + i as u8)).unwrap();
                    prop_assert!(!given.contains(&id));
                    given.push(id);
                    next
                }
                Op::Revoke(k) => {
                    let ids: Vec<u32> = cur.devices().map(|(id, _)| id).collect();
                    if ids.len() < 2 { continue; }
                    cur.without_device(&person, ids[k % ids.len()]).unwrap()
                }
            };
            for old in &history {
                let change = old.check_update(&next).unwrap();
                for id in &change.added { prop_assert!(old.device(*id).is_none() && next.device(*id).is_some()); }
                for id in &change.removed { prop_assert!(old.device(*id).is_some() && next.device(*id).is_none()); }
                let rollback = next.check_update(old).unwrap_err();
                prop_assert!(matches!(rollback, Error::DeviceListRollback { .. }), "{:?}", rollback);
            }
            history.push(next);
        }
    }
}

/// An approval made before approvals carried the person's word (the vectors' approval as it
/// was) still opens: the device is linked, its credential names the device alone.
#[test]
fn an_approval_without_the_persons_word_still_opens() {
    let v: serde_json::Value = serde_json::from_str(include_str!("link_approval_v1.json")).unwrap();
    let unhex = |k: &str| hex::decode(v[k].as_str().unwrap()).unwrap();
    let request = LinkRequest::reopen(&unhex("request")).unwrap();
    let secret =
        hush_protocol::devices::LinkSecret::from_bytes(&unhex("link_secret").try_into().unwrap());
    let approval = request.open_approval(&secret, &unhex("sealed")).unwrap();
    assert_eq!(
        u64::from(approval.device_id),
        v["device_id"].as_u64().unwrap()
    );
    assert!(approval.device_of.is_none());
}

/// A new approval carries the person's word for the device, checked when it is opened.
#[test]
fn an_approval_carries_the_persons_word_for_the_device() {
    let mut r = rng(90);
    let (person, list) = person_with(1, &mut r);
    let laptop = IdentityKeyPair::generate(&mut r);
    let (request, secret) =
        LinkRequest::new(&mut r, &laptop, device(&laptop, 9), NOW, 300).unwrap();
    let (_, sealed) = request.approve(&mut r, &person, &list, b"").unwrap();
    let approval = request.open_approval(&secret, &sealed).unwrap();
    let word = approval.device_of.unwrap();
    assert_eq!(
        (word.person(), word.device()),
        (person.public(), laptop.public())
    );
}

/// The edges of the sizes: a relay URL of exactly 512 bytes, a sealed approval of exactly
/// 4 MiB (sealed and opened; one byte more is refused), a sealed approval one byte too short
/// to hold a key and a tag (malformed) against one that holds them (fails to decrypt); and
/// `Device`'s `Debug`.
#[test]
fn size_edges_and_debug() {
    let mut r = rng(91);
    let (person, list) = person_with(1, &mut r);
    let laptop = IdentityKeyPair::generate(&mut r);
    let mut d = device(&laptop, 7);
    d.relay = format!("hush://{}", "r".repeat(MAX_RELAY_URL_LEN - 7));
    assert_eq!(d.relay.len(), MAX_RELAY_URL_LEN);
    assert!(list.with_device(&person, d.clone()).is_ok());
    d.relay.push('r');
    assert_eq!(
        list.with_device(&person, d).err(),
        Some(Error::InvalidDeviceList("relay URL empty or too long"))
    );

    // A list over 32 KiB is refused before anything is decoded; 32 KiB exactly is decoded.
    assert_eq!(
        DeviceList::from_bytes(&vec![0u8; 32 * 1024 + 1]).err(),
        Some(Error::InvalidDeviceList("larger than 32 KiB"))
    );
    assert!(matches!(
        DeviceList::from_bytes(&vec![0u8; 32 * 1024]),
        Err(Error::Malformed(_))
    ));
    // A change is empty only when nothing was added, removed or moved.
    for change in [
        DeviceListChange {
            added: vec![2],
            ..Default::default()
        },
        DeviceListChange {
            removed: vec![2],
            ..Default::default()
        },
        DeviceListChange {
            moved: vec![2],
            ..Default::default()
        },
    ] {
        assert!(!change.is_empty(), "{change:?}");
    }
    assert!(DeviceListChange::default().is_empty());
    let shown = format!("{list:?}");
    assert!(
        shown.contains("DeviceList") && shown.contains("ids: [1]"),
        "{shown}"
    );
    let laptop_device = device(&laptop, 2);
    let shown = format!("{laptop_device:?}");
    assert!(shown.contains(&"02".repeat(8)), "{shown}");
    assert!(!shown.contains(&"02".repeat(9)), "{shown}");
    let (request, secret) = LinkRequest::new(&mut r, &laptop, laptop_device, NOW, 300).unwrap();
    // The sealed length grows with the transfer one for one at this size: aim at 4 MiB.
    let probe = 4 * 1024 * 1024 - 4096;
    let (_, sealed) = request
        .approve(&mut r, &person, &list, &vec![7; probe])
        .unwrap();
    let exact = probe + MAX_SEALED_APPROVAL_LEN - sealed.len();
    let (_, sealed) = request
        .approve(&mut r, &person, &list, &vec![7; exact])
        .unwrap();
    assert_eq!(sealed.len(), MAX_SEALED_APPROVAL_LEN);
    assert_eq!(
        request
            .open_approval(&secret, &sealed)
            .unwrap()
            .transfer
            .len(),
        exact
    );
    assert_eq!(
        request
            .approve(&mut r, &person, &list, &vec![7; exact + 1])
            .err(),
        Some(Error::InvalidLink("approval larger than 4 MiB"))
    );
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        request.open_approval(&secret, &longer).err(),
        Some(Error::InvalidLink("approval larger than 4 MiB"))
    );
    // Version, ephemeral key and tag: 49 bytes decrypt (and fail), 48 are malformed.
    for n in [49, 100] {
        assert_eq!(
            request.open_approval(&secret, &sealed[..n]).err(),
            Some(Error::DecryptionFailed),
            "{n}"
        );
    }
    assert_eq!(
        request.open_approval(&secret, &sealed[..48]).err(),
        Some(Error::Malformed("sealed approval"))
    );
}
