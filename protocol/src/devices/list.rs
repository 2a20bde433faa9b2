//! The signed, versioned device list of a person (`spec/multi-device.md`, section 2).

use prost::Message;
use sha2::{Digest, Sha256};

use super::{signature_of, signed_message};
use crate::directory::DirectorySecret;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::proto::{key32, wire};
use crate::{Error, Result};

/// Context prefixed to a device list's content before the person's identity signs it.
pub const DEVICE_LIST_CONTEXT: &[u8] = b"Hush-v1-DeviceList";
/// Version of [`DeviceList`]'s signed content.
pub const DEVICE_LIST_VERSION: u32 = 1;
/// Most devices one person may have on a list.
pub const MAX_DEVICES: usize = 32;
/// Longest relay URL a device entry may carry, in bytes.
pub const MAX_RELAY_URL_LEN: usize = 512;
/// Largest encoded device list accepted (the 32 devices of [`MAX_DEVICES`] fit with room).
pub const MAX_DEVICE_LIST_LEN: usize = 32 * 1024;

/// One device of a person: its own identity and how to reach it (as a contact card does).
#[derive(Clone, PartialEq, Eq)]
pub struct Device {
    /// The device's identity: sessions with the device are made with it.
    pub identity: IdentityPublicKey,
    /// The device's mailbox address on `relay`.
    pub mailbox: [u8; 32],
    /// The secret that seals and fetches the device's directory entries.
    pub directory_secret: DirectorySecret,
    /// The `hush://` URL of the relay holding the mailbox.
    pub relay: String,
}

impl core::fmt::Debug for Device {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Device")
            .field("identity", &self.identity)
            .field("mailbox", &hex_prefix(&self.mailbox))
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().take(8).map(|x| format!("{x:02x}")).collect()
}

impl Device {
    pub(crate) fn to_proto(&self, id: u32) -> wire::DeviceEntry {
        wire::DeviceEntry {
            id,
            identity: Some(self.identity.to_proto()),
            mailbox_address: self.mailbox.to_vec(),
            directory_secret: self.directory_secret.as_bytes().to_vec(),
            relay: self.relay.clone(),
        }
    }

    /// Checks the fields any device must have right.
    pub(crate) fn check(&self) -> Result<()> {
        if self.relay.is_empty() || self.relay.len() > MAX_RELAY_URL_LEN {
            return Err(Error::InvalidDeviceList("relay URL empty or too long"));
        }
        Ok(())
    }

    pub(crate) fn from_parts(
        identity: &Option<wire::IdentityPublicKey>,
        mailbox: &[u8],
        directory_secret: &[u8],
        relay: &str,
        what: &'static str,
    ) -> Result<Self> {
        let identity =
            IdentityPublicKey::from_proto(identity.as_ref().ok_or(Error::Malformed(what))?)?;
        let device = Device {
            identity,
            mailbox: key32(mailbox, "mailbox address")?,
            directory_secret: DirectorySecret::from_slice(directory_secret)?,
            relay: relay.to_owned(),
        };
        device.check()?;
        Ok(device)
    }
}

/// A person's device list, signed by the person's identity. A value of this type has always
/// had its signature and every rule of `spec/multi-device.md` section 2 checked.
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceList {
    person: IdentityPublicKey,
    counter: u64,
    devices: Vec<(u32, Device)>,
    next_id: u32,
    /// The encoded `SignedDeviceList` this was read from or signed as.
    encoded: Vec<u8>,
}

impl core::fmt::Debug for DeviceList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceList")
            .field("person", &self.person)
            .field("counter", &self.counter)
            .field(
                "ids",
                &self.devices.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            )
            .field("next_id", &self.next_id)
            .finish()
    }
}

/// What a newer device list changes, by device id ([`DeviceList::check_update`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceListChange {
    /// Devices on the newer list only.
    pub added: Vec<u32>,
    /// Devices on the held list only (revoked).
    pub removed: Vec<u32>,
    /// Devices on both whose mailbox, directory secret or relay changed.
    pub moved: Vec<u32>,
}

impl DeviceListChange {
    /// True when the lists are the same one.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.moved.is_empty()
    }
}

impl DeviceList {
    /// The first list of a person: one device, id 1, counter 1. The device may be the
    /// person's identity itself (an account made before multi-device: its one device).
    pub fn first(person: &IdentityKeyPair, device: Device) -> Result<Self> {
        Self::sign(person, 1, vec![(1, device)], 2)
    }

    /// Signs a list from its parts, after checking every rule of a single list.
    pub fn sign(
        person: &IdentityKeyPair,
        counter: u64,
        devices: Vec<(u32, Device)>,
        next_id: u32,
    ) -> Result<Self> {
        let content = wire::DeviceListContent {
            version: DEVICE_LIST_VERSION,
            person: Some(person.public().to_proto()),
            counter,
            devices: devices.iter().map(|(id, d)| d.to_proto(*id)).collect(),
            next_id,
        }
        .encode_to_vec();
        let signature = person.sign(&signed_message(DEVICE_LIST_CONTEXT, &content));
        let encoded = wire::SignedDeviceList {
            content,
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        Self::from_bytes(&encoded)
    }

    /// Decodes a list and checks its signature and rules; the person is whoever signed it.
    /// Use [`DeviceList::from_bytes_of`] when the person is known.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_DEVICE_LIST_LEN {
            return Err(Error::InvalidDeviceList("larger than 32 KiB"));
        }
        let signed =
            wire::SignedDeviceList::decode(bytes).map_err(|_| Error::Malformed("device list"))?;
        let content = wire::DeviceListContent::decode(signed.content.as_slice())
            .map_err(|_| Error::Malformed("device list content"))?;
        if content.version != DEVICE_LIST_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "device list",
                version: content.version,
            });
        }
        let person = IdentityPublicKey::from_proto(
            content
                .person
                .as_ref()
                .ok_or(Error::Malformed("device list person"))?,
        )?;
        let signature = signature_of(&signed.signature, "device list signature")?;
        person
            .verify(
                &signed_message(DEVICE_LIST_CONTEXT, &signed.content),
                &signature,
            )
            .map_err(|_| Error::BadSignature("device list"))?;
        if content.counter == 0 {
            return Err(Error::InvalidDeviceList("counter 0"));
        }
        if content.devices.is_empty() || content.devices.len() > MAX_DEVICES {
            return Err(Error::InvalidDeviceList("no devices, or more than 32"));
        }
        let mut devices: Vec<(u32, Device)> = Vec::with_capacity(content.devices.len());
        for e in &content.devices {
            if e.id == 0 || e.id >= content.next_id {
                return Err(Error::InvalidDeviceList("device id 0 or not below next_id"));
            }
            if devices.last().is_some_and(|(last, _)| *last >= e.id) {
                return Err(Error::InvalidDeviceList(
                    "device ids not strictly increasing",
                ));
            }
            let d = Device::from_parts(
                &e.identity,
                &e.mailbox_address,
                &e.directory_secret,
                &e.relay,
                "device identity",
            )?;
            if devices.iter().any(|(_, o)| o.identity == d.identity) {
                return Err(Error::InvalidDeviceList("one identity on two devices"));
            }
            if devices.iter().any(|(_, o)| o.mailbox == d.mailbox) {
                return Err(Error::InvalidDeviceList("one mailbox for two devices"));
            }
            devices.push((e.id, d));
        }
        Ok(Self {
            person,
            counter: content.counter,
            devices,
            next_id: content.next_id,
            encoded: bytes.to_vec(),
        })
    }

    /// [`DeviceList::from_bytes`], refusing a list signed by anyone but `person`.
    pub fn from_bytes_of(bytes: &[u8], person: &IdentityPublicKey) -> Result<Self> {
        let list = Self::from_bytes(bytes)?;
        if &list.person != person {
            return Err(Error::DeviceListPerson);
        }
        Ok(list)
    }

    /// The encoded, signed list (what is sent and stored).
    pub fn to_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// SHA-256 of [`DeviceList::to_bytes`].
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.encoded).into()
    }

    /// The person whose list this is.
    pub fn person(&self) -> &IdentityPublicKey {
        &self.person
    }

    /// The list's counter: a newer list has a higher one.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// Every id below this one has been used; the next device added gets it.
    pub fn next_id(&self) -> u32 {
        self.next_id
    }

    /// The devices with their ids, in increasing id order.
    pub fn devices(&self) -> impl Iterator<Item = (u32, &Device)> {
        self.devices.iter().map(|(id, d)| (*id, d))
    }

    /// The device with this id.
    pub fn device(&self, id: u32) -> Option<&Device> {
        self.devices.iter().find(|(i, _)| *i == id).map(|(_, d)| d)
    }

    /// The id of the device with this identity.
    pub fn id_of(&self, identity: &IdentityPublicKey) -> Option<u32> {
        self.devices
            .iter()
            .find(|(_, d)| &d.identity == identity)
            .map(|(id, _)| *id)
    }

    /// The next list, with `device` added under id [`DeviceList::next_id`]; returns it and
    /// the id. Signed by `person`, which must be this list's person.
    pub fn with_device(&self, person: &IdentityKeyPair, device: Device) -> Result<(Self, u32)> {
        self.check_signer(person)?;
        if self.id_of(&device.identity).is_some() {
            return Err(Error::InvalidDeviceList("device already on the list"));
        }
        let id = self.next_id;
        let next_id = id
            .checked_add(1)
            .ok_or(Error::InvalidDeviceList("device ids exhausted"))?;
        let mut devices = self.devices.clone();
        devices.push((id, device));
        let counter = self.next_counter()?;
        Ok((Self::sign(person, counter, devices, next_id)?, id))
    }

    /// The next list, with device `id` removed (revoked). The last device cannot be removed.
    pub fn without_device(&self, person: &IdentityKeyPair, id: u32) -> Result<Self> {
        self.check_signer(person)?;
        if self.device(id).is_none() {
            return Err(Error::InvalidDeviceList("no device with that id"));
        }
        let devices: Vec<_> = self
            .devices
            .iter()
            .filter(|(i, _)| *i != id)
            .cloned()
            .collect();
        Self::sign(person, self.next_counter()?, devices, self.next_id)
    }

    fn check_signer(&self, person: &IdentityKeyPair) -> Result<()> {
        if person.public() != &self.person {
            return Err(Error::DeviceListPerson);
        }
        Ok(())
    }

    fn next_counter(&self) -> Result<u64> {
        self.counter
            .checked_add(1)
            .ok_or(Error::InvalidDeviceList("counter exhausted"))
    }

    /// Checks that `newer` may replace this list (`spec/multi-device.md` section 2.2) and
    /// says what it changes. Refused: another person's list; a lower counter (a rollback);
    /// a different list with the same counter; a lower `next_id`; an id of this list given
    /// to another identity, or a new device under an id that was already used.
    pub fn check_update(&self, newer: &DeviceList) -> Result<DeviceListChange> {
        if newer.person != self.person {
            return Err(Error::DeviceListPerson);
        }
        if newer.counter < self.counter {
            return Err(Error::DeviceListRollback {
                have: self.counter,
                got: newer.counter,
            });
        }
        if newer.counter == self.counter {
            return if newer.encoded == self.encoded {
                Ok(DeviceListChange::default())
            } else {
                Err(Error::DeviceListEquivocation(self.counter))
            };
        }
        if newer.next_id < self.next_id {
            return Err(Error::InvalidDeviceList("next_id went down"));
        }
        let mut change = DeviceListChange::default();
        for (id, d) in newer.devices() {
            match self.device(id) {
                Some(old) if old.identity != d.identity => return Err(Error::DeviceIdReused(id)),
                Some(old) if old != d => change.moved.push(id),
                Some(_) => {}
                None if id < self.next_id => return Err(Error::DeviceIdReused(id)),
                None => change.added.push(id),
            }
        }
        for (id, _) in self.devices() {
            if newer.device(id).is_none() {
                change.removed.push(id);
            }
        }
        Ok(change)
    }
}
