//! The fixture of the `device_link` target: a person with two devices, a link request of a
//! third device that is still waiting, and its secret (deterministic, from a fixed seed).

use hush_protocol::IdentityKeyPair;
use hush_protocol::devices::{Device, DeviceList, LinkRequest, LinkSecret};
use hush_protocol::directory::DirectorySecret;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The time the fixture's request is read at (Unix seconds).
pub const NOW: u64 = 1_800_000_000;

pub struct DevicesFixture {
    pub person: IdentityKeyPair,
    pub list: DeviceList,
    pub request: LinkRequest,
    #[allow(dead_code)] // the seed generator does not open approvals
    pub secret: LinkSecret,
}

fn device(identity: &IdentityKeyPair, mailbox: u8) -> Device {
    Device {
        identity: identity.public().clone(),
        mailbox: [mailbox; 32],
        directory_secret: DirectorySecret::from_bytes([mailbox ^ 0x5a; 32]),
        relay: "hush://relay.example".into(),
    }
}

/// A generator for what runs need at random (approvals' ephemeral keys).
pub fn rng() -> StdRng {
    StdRng::seed_from_u64(0x5345_4544)
}

pub fn devices_fixture() -> DevicesFixture {
    let mut rng = StdRng::seed_from_u64(0x4855_5348);
    let person = IdentityKeyPair::generate(&mut rng);
    let phone = DeviceList::first(&person, device(&person, 1)).expect("first list");
    let laptop = IdentityKeyPair::generate(&mut rng);
    let (list, _) = phone
        .with_device(&person, device(&laptop, 2))
        .expect("second list");
    let tablet = IdentityKeyPair::generate(&mut rng);
    let (request, secret) =
        LinkRequest::new(&mut rng, &tablet, device(&tablet, 3), NOW, 300).expect("request");
    DevicesFixture {
        person,
        list,
        request,
        secret,
    }
}
