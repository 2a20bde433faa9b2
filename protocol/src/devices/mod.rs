//! Multi-device (`spec/multi-device.md`): a person is an identity, and its devices are
//! identities it vouches for in a signed, versioned [`DeviceList`]. A new device is linked by
//! a [`LinkRequest`] it signs and shows (as text or a QR code); a device holding the person's
//! identity approves it ([`LinkRequest::approve`]), which yields the next list and an approval
//! sealed to the request's one-time link key, opened by [`LinkRequest::open_approval`]. The
//! approval carries a [`DeviceOf`]: the person's signature a linked device's group credential
//! shows, so that group members can name the person from the leaf.
//!
//! ```
//! use hush_protocol::IdentityKeyPair;
//! use hush_protocol::devices::{Device, DeviceList, LinkRequest};
//! use hush_protocol::directory::DirectorySecret;
//!
//! let mut rng = rand::rng();
//! let person = IdentityKeyPair::generate(&mut rng);
//! let device = |identity: &IdentityKeyPair, mailbox: u8, rng: &mut _| Device {
//!     identity: identity.public().clone(),
//!     mailbox: [mailbox; 32],
//!     directory_secret: DirectorySecret::generate(rng),
//!     relay: "hush://relay.example".into(),
//! };
//! // The first device is the person's own identity.
//! let list = DeviceList::first(&person, device(&person, 1, &mut rng))?;
//!
//! // A laptop asks to be linked (valid for 5 minutes)...
//! let laptop = IdentityKeyPair::generate(&mut rng);
//! let now = 1_800_000_000;
//! let laptop_device = device(&laptop, 2, &mut rng);
//! let (request, secret) = LinkRequest::new(&mut rng, &laptop, laptop_device, now, 300)?;
//! // ...the phone reads the request and approves it...
//! let seen = LinkRequest::from_bytes(request.to_bytes(), now + 10)?;
//! let (newer, sealed) = seen.approve(&mut rng, &person, &list, b"contacts and groups")?;
//! assert_eq!(list.check_update(&newer)?.added, vec![2]);
//! // ...and the laptop opens the approval: it is device 2 of the person.
//! let approval = request.open_approval(&secret, &sealed)?;
//! assert_eq!(approval.device_id, 2);
//! assert_eq!(approval.list.person(), person.public());
//! assert_eq!(&approval.transfer[..], b"contacts and groups");
//! // It carries the person's word that the laptop is theirs, for its group credential.
//! assert_eq!(approval.device_of.as_ref().map(|d| d.person()), Some(person.public()));
//! // An older list is refused from then on.
//! assert!(newer.check_update(&list).is_err());
//! # Ok::<(), hush_protocol::Error>(())
//! ```

mod device_of;
mod link;
mod list;

pub use device_of::{DEVICE_OF_CONTEXT, DeviceOf};

pub use link::{
    LINK_APPROVAL_CONTEXT, LINK_CLOCK_SKEW_SECS, LINK_REQUEST_CONTEXT, LINK_SEAL_INFO,
    LINK_VERSION, LinkApproval, LinkRequest, LinkSecret, MAX_LINK_LIFETIME_SECS,
    MAX_LINK_REQUEST_LEN, MAX_SEALED_APPROVAL_LEN, SEALED_APPROVAL_VERSION,
};
pub use list::{
    DEVICE_LIST_CONTEXT, DEVICE_LIST_VERSION, Device, DeviceList, DeviceListChange,
    MAX_DEVICE_LIST_LEN, MAX_DEVICES, MAX_RELAY_URL_LEN,
};

/// `context ‖ content`: what a signature of this module covers.
fn signed_message(context: &[u8], content: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + content.len());
    m.extend_from_slice(context);
    m.extend_from_slice(content);
    m
}

/// A 64-byte Ed25519 signature field; [`crate::Error::Malformed`] naming `what` otherwise.
fn signature_of(bytes: &[u8], what: &'static str) -> crate::Result<[u8; 64]> {
    bytes.try_into().map_err(|_| crate::Error::Malformed(what))
}
