//! `test-vectors/devices.json` (spec/multi-device.md sections 2 and 3): a person's device
//! lists through an addition and a revocation, a link request and its sealed approval with
//! every intermediate value, the person's word for the linked device and the group
//! credential identity that carries it (section 5), and the refusals.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use prost::Message;
use serde_json::{Value, json};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use super::{VectorRng, refused, render};
use crate::devices::{
    DEVICE_OF_CONTEXT, Device, DeviceList, DeviceOf, LINK_SEAL_INFO, LinkRequest,
};
use crate::directory::DirectorySecret;
use crate::identity::IdentityKeyPair;
use crate::proto::wire;

/// The time the vectors' link request is made at (Unix seconds).
const NOW: u64 = 1_800_000_000;

fn device(rng: &mut VectorRng, identity: &IdentityKeyPair, relay: &str) -> Device {
    let mut mailbox = [0u8; 32];
    rng.fill(&mut mailbox);
    let mut ds = [0u8; 32];
    rng.fill(&mut ds);
    Device {
        identity: identity.public().clone(),
        mailbox,
        directory_secret: DirectorySecret::from_bytes(ds),
        relay: relay.into(),
    }
}

fn list_json(list: &DeviceList) -> Value {
    let signed = wire::SignedDeviceList::decode(list.to_bytes()).expect("a list's own encoding");
    json!({
        "counter": list.counter(),
        "next_id": list.next_id(),
        "devices": list.devices().map(|(id, d)| json!({
            "id": id,
            "identity": hex::encode(d.identity.to_bytes()),
            "mailbox_address": hex::encode(d.mailbox),
            "directory_secret": hex::encode(d.directory_secret.as_bytes()),
            "relay": d.relay,
        })).collect::<Vec<_>>(),
        "content": hex::encode(&signed.content),
        "signature": hex::encode(&signed.signature),
        "encoded": hex::encode(list.to_bytes()),
        "hash": hex::encode(list.hash()),
    })
}

/// Re-signs `list`'s content as `edit` changes it (for the refusals).
fn resign(
    list: &DeviceList,
    signer: &IdentityKeyPair,
    edit: impl FnOnce(&mut wire::DeviceListContent),
) -> Vec<u8> {
    let signed = wire::SignedDeviceList::decode(list.to_bytes()).expect("a list's own encoding");
    let mut content =
        wire::DeviceListContent::decode(signed.content.as_slice()).expect("its own content");
    edit(&mut content);
    let content = content.encode_to_vec();
    let signature = signer.sign(&[crate::devices::DEVICE_LIST_CONTEXT, &content].concat());
    wire::SignedDeviceList {
        content,
        signature: signature.to_vec(),
    }
    .encode_to_vec()
}

fn update_case(name: &str, held: &DeviceList, offered: &[u8]) -> Value {
    let result = DeviceList::from_bytes(offered).and_then(|o| held.check_update(&o));
    let mut v = match result {
        Ok(change) => {
            json!({"result": "ok", "added": change.added, "removed": change.removed, "moved": change.moved})
        }
        Err(e) => refused(&e),
    };
    v["name"] = name.into();
    v["held_counter"] = held.counter().into();
    v["offered"] = hex::encode(offered).into();
    v
}

/// The device-list and link vectors.
pub fn devices_vectors() -> String {
    let seed = "devices";
    let mut rng = VectorRng::new(seed.as_bytes());
    let person = IdentityKeyPair::generate(&mut rng);
    let laptop = IdentityKeyPair::generate(&mut rng);
    let tablet = IdentityKeyPair::generate(&mut rng);
    let relay = "hush://relay.example:4433";
    let phone_device = device(&mut rng, &person, relay);
    let laptop_device = device(&mut rng, &laptop, relay);
    let tablet_device = device(&mut rng, &tablet, relay);

    let v1 = DeviceList::first(&person, phone_device).expect("vector list");
    let (v2, _) = v1.with_device(&person, laptop_device).expect("vector list");
    let v3 = v2.without_device(&person, 2).expect("vector list");

    // The tablet asks to be linked; the person approves on top of v3.
    let (request, secret) = LinkRequest::new(&mut rng, &tablet, tablet_device.clone(), NOW, 300)
        .expect("vector request");
    let signed_request = wire::LinkRequest::decode(request.to_bytes()).expect("its own encoding");
    let mut peek = rng.clone();
    let mut eph = [0u8; 32];
    peek.fill(&mut eph);
    let transfer = b"account transfer (the client engine's encoding)";
    let (v4, sealed) = request
        .approve(&mut rng, &person, &v3, transfer)
        .expect("vector approval");
    let link_key = PublicKey::from(&StaticSecret::from(*secret.to_bytes())).to_bytes();
    let eph_secret = StaticSecret::from(eph);
    let eph_public = PublicKey::from(&eph_secret).to_bytes();
    let shared = eph_secret
        .diffie_hellman(&PublicKey::from(link_key))
        .to_bytes();
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(&[eph_public, link_key].concat()), &shared)
        .expand(LINK_SEAL_INFO, &mut okm)
        .expect("44-byte HKDF output");
    let plain = ChaCha20Poly1305::new_from_slice(&okm[..32])
        .expect("32-byte key")
        .decrypt(
            &Nonce::from(<[u8; 12]>::try_from(&okm[32..]).expect("12 bytes")),
            Payload {
                msg: &sealed[33..],
                aad: &request.hash(),
            },
        )
        .expect("the vector approval opens");
    let approval = wire::LinkApproval::decode(plain.as_slice()).expect("its own encoding");
    let opened = request.open_approval(&secret, &sealed).expect("opens");
    assert_eq!(opened.list, v4, "the approval carries v4");
    // The person's word for the tablet, and the group credential identity carrying it.
    let device_of = DeviceOf::sign(&person, tablet.public());
    assert_eq!(opened.device_of.as_ref(), Some(&device_of));
    let device_of_signed = [
        DEVICE_OF_CONTEXT,
        &tablet.public().signing_key_bytes(),
        &tablet.public().dh_key_bytes(),
    ]
    .concat();
    let member_identity = crate::group::member_identity(tablet.public(), Some(&device_of));
    assert_eq!(
        crate::group::member_identity(tablet.public(), None),
        tablet.public().to_bytes(),
        "without the person's word, a credential is the identity's encoding"
    );

    // Refusals.
    let fork = v1
        .with_device(&person, tablet_device.clone())
        .expect("vector list")
        .0;
    let stranger = IdentityKeyPair::generate(&mut rng);
    let reused = resign(&v3, &person, |c| {
        c.counter = 4;
        let mut e = c.devices[0].clone();
        e.id = 2;
        e.identity = Some(tablet.public().to_proto());
        e.mailbox_address = tablet_device.mailbox.to_vec();
        c.devices.push(e);
    });
    let updates = vec![
        update_case("added", &v1, v2.to_bytes()),
        update_case("revoked", &v2, v3.to_bytes()),
        update_case("same list", &v2, v2.to_bytes()),
        update_case("rollback", &v3, v2.to_bytes()),
        update_case("equivocation", &v2, fork.to_bytes()),
        update_case("id reused", &v3, &reused),
        update_case(
            "signed by another key",
            &v1,
            &resign(&v2, &stranger, |_| {}),
        ),
        update_case("counter 0", &v1, &resign(&v1, &person, |c| c.counter = 0)),
        update_case(
            "id not below next_id",
            &v1,
            &resign(&v2, &person, |c| c.next_id = 2),
        ),
    ];
    let request_refusals: Vec<Value> = [
        ("expired", NOW + 300 + 61),
        ("expiry too far ahead", NOW - 400),
    ]
    .into_iter()
    .map(|(name, now)| {
        let mut v = match LinkRequest::from_bytes(request.to_bytes(), now) {
            Ok(_) => json!({"result": "ok"}),
            Err(e) => refused(&e),
        };
        v["name"] = name.into();
        v["now"] = now.into();
        v
    })
    .collect();

    render(json!({
        "description": "Hush multi-device vectors (spec/multi-device.md sections 2, 3 and 5): device lists v1 (the person's own identity as device 1), v2 (a laptop added), v3 (the laptop revoked), v4 (a tablet linked by the approval); the link request and its sealed approval with every intermediate value; the person's DeviceOf signature for the tablet (carried in the approval) and the tablet's MLS BasicCredential identity (hush.v1.MemberIdentity) carrying it; update and request refusals with their errors.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order: person, laptop and tablet identities (64 each: Ed25519 seed, X25519 secret), then per device (phone, laptop, tablet) its mailbox address (32) and directory secret (32), the link secret (32), the approval's ephemeral secret (32), the stranger's identity (64)",
        "seed": hex::encode(seed.as_bytes()),
        "person": hex::encode(person.public().to_bytes()),
        "lists": [list_json(&v1), list_json(&v2), list_json(&v3), list_json(&v4)],
        "link": {
            "now": NOW,
            "expires_at": request.expires_at(),
            "link_secret": hex::encode(*secret.to_bytes()),
            "link_key": hex::encode(link_key),
            "request_content": hex::encode(&signed_request.content),
            "request_signature": hex::encode(&signed_request.signature),
            "request": hex::encode(request.to_bytes()),
            "request_hash": hex::encode(request.hash()),
            "transfer": hex::encode(transfer),
            "approval_content": hex::encode(&approval.content),
            "approval_signature": hex::encode(&approval.signature),
            "approval": hex::encode(&plain),
            "ephemeral_secret": hex::encode(eph),
            "ephemeral_public": hex::encode(eph_public),
            "x25519": hex::encode(shared),
            "seal_key": hex::encode(&okm[..32]),
            "seal_nonce": hex::encode(&okm[32..]),
            "sealed": hex::encode(&sealed),
            "device_id": 3,
        },
        "device_of": {
            "device": hex::encode(tablet.public().to_bytes()),
            "signed": hex::encode(&device_of_signed),
            "signature": hex::encode(device_of.signature()),
            "member_identity": hex::encode(&member_identity),
        },
        "update_cases": updates,
        "request_refusals": request_refusals,
    }))
}
