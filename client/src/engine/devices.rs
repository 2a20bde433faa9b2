//! Multi-device, linking (`spec/multi-device.md` §3 and §4.1): the new device's request, the
//! primary's approval sent through the relay, and the new device completing the link when
//! the approval arrives.

use super::Engine;
use super::fanout::announced_key;
use super::outbox::new_entry;
use crate::contacts::write_contact;
use crate::error::Error;
use crate::event::EventKind;
use crate::records::{ContactRecord, LinkPending, LinkTransfer, TransferContact};
use crate::store::{Batch, Store, Table};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hush_protocol::devices::{Device, DeviceList, LinkRequest, LinkSecret};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{Fingerprint, IdentityPublicKey};
use prost::Message;
use zeroize::Zeroizing;

/// The account record holding this person's device list, once it differs from the first.
pub(crate) const DEVICE_LIST: &[u8] = b"device_list";
/// The account record of a linked device: the person's public identity.
pub(crate) const PERSON: &[u8] = b"person";
/// The account record of a link asked for and not completed ([`LinkPending`]).
pub(crate) const LINK_PENDING: &[u8] = b"link_pending";
/// How long a link request lives, seconds (at most 600, `spec/multi-device.md` §3.1).
pub const LINK_LIFETIME_SECS: u64 = 600;
/// The text form of a link request starts with this.
pub const LINK_PREFIX: &str = "hush-link:";

impl<S: Store> Engine<S> {
    /// This device as a device list names it.
    fn own_device(&self) -> Device {
        Device {
            identity: self.account.identity().clone(),
            mailbox: *self.account.mailbox().as_bytes(),
            directory_secret: self.account.secrets().1,
            relay: self.account.relay().to_string(),
        }
    }

    /// The person this device belongs to: the one recorded when it was linked, else its own
    /// identity (the device that made the account).
    pub fn person(&self) -> Result<IdentityPublicKey, Error> {
        let Some(b) = self.account.store.get(Table::Account, PERSON)? else {
            return Ok(self.account.identity().clone());
        };
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bytes, person)) = &verified.person
            && bytes.as_slice() == b.as_slice()
        {
            return Ok(person.clone());
        }
        let person = IdentityPublicKey::from_bytes(&b).map_err(|_| Error::Corrupt("person"))?;
        verified.person = Some((b.to_vec(), person.clone()));
        Ok(person)
    }

    /// The person's device list as this device knows it. An account that never linked a
    /// device has one device, itself (the list is made, not stored: signatures are
    /// deterministic, so it is the same list every time).
    pub fn device_list(&self) -> Result<DeviceList, Error> {
        match self.stored_list()? {
            Some(list) => Ok(list),
            None => Ok(DeviceList::first(
                self.account.identity_key_pair(),
                self.own_device(),
            )?),
        }
    }

    /// This person's device list when one is stored (`None`: this device is their only one),
    /// verified once and then kept by its bytes ([`Engine::verified`]).
    pub(crate) fn stored_list(&self) -> Result<Option<DeviceList>, Error> {
        let Some(b) = self.account.store.get(Table::Account, DEVICE_LIST)? else {
            return Ok(None);
        };
        let person = self.person()?;
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = &verified.list
            && list.to_bytes() == b.as_slice()
            && *list.person() == person
        {
            return Ok(Some(list.clone()));
        }
        let list =
            DeviceList::from_bytes_of(&b, &person).map_err(|_| Error::Corrupt("device list"))?;
        verified.list = Some(list.clone());
        Ok(Some(list))
    }

    /// On a new device: asks to be linked to a person's account. Returns the one-line request
    /// to show (or make a QR code of) for `approve_link` on a device of that person; the link
    /// completes when [`Engine::receive`] finds the approval. Valid [`LINK_LIFETIME_SECS`];
    /// asking again replaces an earlier request. Refused on a device that is already linked or
    /// that has contacts (a link replaces the contacts with the person's).
    pub fn link_request(&mut self) -> Result<String, Error> {
        if self.account.store.get(Table::Account, PERSON)?.is_some()
            || self
                .account
                .store
                .get(Table::Account, DEVICE_LIST)?
                .is_some()
        {
            return Err(Error::Link(
                "this device already belongs to a person".into(),
            ));
        }
        if !self.account.contacts()?.is_empty() {
            return Err(Error::Link(
                "this account has contacts: link a new account instead".into(),
            ));
        }
        let mut rng = self.child_rng();
        let now = self.now_ms() / 1000;
        let (request, secret) = LinkRequest::new(
            &mut rng,
            self.account.identity_key_pair(),
            self.own_device(),
            now,
            LINK_LIFETIME_SECS,
        )?;
        let pending = LinkPending {
            request: request.to_bytes().to_vec(),
            secret: secret.to_bytes().to_vec(),
        };
        let mut b = Batch::new();
        b.put(
            Table::Account,
            LINK_PENDING,
            Zeroizing::new(pending.encode_to_vec()),
        );
        self.account.store.commit(b)?;
        Ok(format!(
            "{LINK_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(request.to_bytes())
        ))
    }

    /// On the device holding the person's identity: approves a link request (its text form).
    /// The new device is added to the device list, and the approval (the list and this
    /// person's name and contacts) goes to the new device's mailbox through the outbox.
    /// Returns the new device's id. Refused: a request that is malformed, expired, approved
    /// before, or from a device already on the list; and on a linked device (only the device
    /// that made the account holds the person's identity).
    pub async fn approve_link(&mut self, text: &str) -> Result<u32, Error> {
        if self.account.store.get(Table::Account, PERSON)?.is_some() {
            return Err(Error::Link(
                "only the device that made the account can approve a link".into(),
            ));
        }
        let bytes = text
            .trim()
            .strip_prefix(LINK_PREFIX)
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .ok_or_else(|| {
                Error::Link(format!("not a link request (it starts with {LINK_PREFIX})"))
            })?;
        let request = LinkRequest::from_bytes(&bytes, self.now_ms() / 1000)?;
        let seen_key = [b"link:".as_slice(), &request.hash()].concat();
        if self.account.store.get(Table::Seen, &seen_key)?.is_some() {
            return Err(Error::Link("this link request was approved before".into()));
        }
        self.check_generation().await?;
        let current = self.device_list()?;
        let transfer = LinkTransfer {
            name: self.account.name().to_string(),
            contacts: self
                .account
                .contacts()?
                .into_iter()
                .map(|c| {
                    Ok(TransferContact {
                        devices: self
                            .contact_list(&c.card.identity)?
                            .map(|l| l.to_bytes().to_vec())
                            .unwrap_or_default(),
                        alias: c.alias.clone(),
                        record: Some(ContactRecord {
                            card: c.card.encode()?,
                            verified: c.verified,
                            offers_pqxdh: c.offers_pqxdh,
                        }),
                    })
                })
                .collect::<Result<_, Error>>()?,
        };
        let transfer = Zeroizing::new(transfer.encode_to_vec());
        let mut rng = self.child_rng();
        let (list, sealed) = request.approve(
            &mut rng,
            self.account.identity_key_pair(),
            &current,
            &transfer,
        )?;
        let device_id = list
            .id_of(&request.device().identity)
            .ok_or(Error::Corrupt("device list"))?;
        let reply_to = self.account.card().encode()?;
        let envelope = envelope::seal(
            &mut rng,
            self.account.identity_key_pair(),
            &request.device().identity,
            ContentKind::LinkApproval,
            &sealed,
            reply_to.as_bytes(),
        )?;
        let (envelope_id, rec) = new_entry(
            &mut rng,
            request.device().relay.clone(),
            request.device().mailbox.to_vec(),
            envelope,
            format!("device {device_id}"),
            self.now_ms(),
        )?;
        let mut b = Batch::new();
        b.put(
            Table::Account,
            DEVICE_LIST,
            Zeroizing::new(list.to_bytes().to_vec()),
        )
        .put(
            Table::Seen,
            seen_key,
            Zeroizing::new(self.now_ms().to_be_bytes().to_vec()),
        )
        .put(
            Table::Outbox,
            envelope_id.as_bytes().to_vec(),
            Zeroizing::new(rec.encode_to_vec()),
        );
        self.account.store.commit(b)?;
        self.deliver(envelope_id, rec, false).await;
        // Contacts and our other devices learn of the new device now; one that cannot be
        // reached gets the list with the next message to it. The device joins our groups.
        self.announce_list().await?;
        self.add_own_devices().await?;
        Ok(device_id)
    }

    /// On a new device: an approval arrived (a sealed envelope of kind `LINK_APPROVAL` from
    /// `sender`). Opens and checks it against the pending request; the person, the list, the
    /// name and the contacts go into `batch`.
    pub(crate) fn complete_link(
        &mut self,
        sender: &IdentityPublicKey,
        sealed: &[u8],
        batch: &mut Batch,
    ) -> Result<EventKind, Error> {
        let pending = self
            .account
            .store
            .get(Table::Account, LINK_PENDING)?
            .ok_or_else(|| Error::Link("a link approval, but no link was asked for".into()))?;
        let pending =
            LinkPending::decode(pending.as_slice()).map_err(|_| Error::Corrupt("link pending"))?;
        let request = LinkRequest::reopen(&pending.request)?;
        let secret: [u8; 32] = pending
            .secret
            .as_slice()
            .try_into()
            .map_err(|_| Error::Corrupt("link secret"))?;
        let approval = request.open_approval(&LinkSecret::from_bytes(&secret), sealed)?;
        if approval.list.id_of(sender).is_none() {
            return Err(Error::Link(
                "the approval came from a device not on the person's list".into(),
            ));
        }
        let transfer = LinkTransfer::decode(approval.transfer.as_slice())
            .map_err(|_| Error::Link("the approval's account transfer does not decode".into()))?;
        crate::account::check_name(&transfer.name)?;
        for c in &transfer.contacts {
            let rec = c
                .record
                .clone()
                .ok_or(Error::Link("a contact without its card".into()))?;
            crate::contacts::check_alias(&c.alias)?;
            let contact = crate::Contact {
                alias: c.alias.clone(),
                card: crate::card::Card::parse(&rec.card)?,
                verified: rec.verified,
                offers_pqxdh: rec.offers_pqxdh,
            };
            if !c.devices.is_empty() {
                let list = DeviceList::from_bytes_of(&c.devices, &contact.card.identity)
                    .map_err(|_| Error::Link("a contact's device list does not verify".into()))?;
                put_contact_list(batch, &list, None);
            }
            write_contact(batch, &contact)?;
        }
        let person = approval.list.person().clone();
        batch
            .put(Table::Account, PERSON, Zeroizing::new(person.to_bytes()))
            .put(
                Table::Account,
                DEVICE_LIST,
                Zeroizing::new(approval.list.to_bytes().to_vec()),
            )
            .delete(Table::Account, LINK_PENDING.to_vec());
        self.account.set_name_in(batch, &transfer.name);
        // Our group credential names the person from now on (§5): KeyPackages made before
        // the link are replaced at the end of this receive, and a group joined with one
        // gets our leaf updated ([`Engine::refresh_credentials`]).
        if let Some(device_of) = approval.device_of.clone() {
            self.groups.set_device_of(device_of)?;
            batch.put(
                Table::Account,
                super::stock::KEY_PACKAGES_STALE,
                Zeroizing::new(vec![1]),
            );
        }
        Ok(EventKind::Linked {
            person: person.fingerprint(),
            device: approval.device_id,
        })
    }
}

/// `Table::Devices` key of a contact's latest accepted list.
fn list_key(person: &IdentityPublicKey) -> Vec<u8> {
    [b"list:".as_slice(), &person.fingerprint().0].concat()
}

/// `Table::Devices` key of the person a device belongs to.
fn device_key(device: &Fingerprint) -> Vec<u8> {
    [b"device:".as_slice(), &device.0].concat()
}

/// Puts a contact's list and the person of each of its devices in `batch`, and forgets the
/// devices of `older` it no longer names (with our sessions with them).
fn put_contact_list(batch: &mut Batch, list: &DeviceList, older: Option<&DeviceList>) {
    let person = list.person().fingerprint();
    batch.put(
        Table::Devices,
        list_key(list.person()),
        Zeroizing::new(list.to_bytes().to_vec()),
    );
    for (_, d) in list.devices() {
        batch.put(
            Table::Devices,
            device_key(&d.identity.fingerprint()),
            Zeroizing::new(person.0.to_vec()),
        );
    }
    for (_, d) in older.into_iter().flat_map(|o| o.devices()) {
        if list.id_of(&d.identity).is_none() {
            forget_device(batch, &d.identity);
        }
    }
}

/// Forgets a device that left its person's list: who it belongs to, our sessions with it,
/// and what it was sent of our list.
fn forget_device(batch: &mut Batch, device: &IdentityPublicKey) {
    let fp = device.fingerprint();
    batch
        .delete(Table::Devices, device_key(&fp))
        .delete(Table::Sessions, fp.0.to_vec())
        .delete(Table::Devices, announced_key(device));
}

/// The fingerprints of the devices `ids` of `list`.
fn fingerprints_of(list: &DeviceList, ids: &[u32]) -> Vec<Fingerprint> {
    ids.iter()
        .filter_map(|id| list.device(*id))
        .map(|d| d.identity.fingerprint())
        .collect()
}

impl<S: Store> Engine<S> {
    /// The latest device list of the contact whose identity is `person` that arrived (`None`:
    /// none did; their card's identity is their one device).
    pub(crate) fn contact_list(
        &self,
        person: &IdentityPublicKey,
    ) -> Result<Option<DeviceList>, Error> {
        self.account
            .store
            .get(Table::Devices, &list_key(person))?
            .map(|b| {
                DeviceList::from_bytes_of(&b, person).map_err(|_| Error::Corrupt("device list"))
            })
            .transpose()
    }

    /// The device list of the contact `alias` as it last arrived (`None`: none did, their
    /// card names their one device).
    pub fn contact_devices(&self, alias: &str) -> Result<Option<DeviceList>, Error> {
        let contact = self.account.contact(alias)?;
        self.contact_list(&contact.card.identity)
    }

    /// The person `device` belongs to, when that is a contact's device on the latest list of
    /// theirs, or one of our own devices.
    pub(crate) fn person_of(
        &self,
        device: &IdentityPublicKey,
    ) -> Result<Option<IdentityPublicKey>, Error> {
        // Without a stored list this device is the person's only one (no list is made, which
        // would cost a signature per message).
        let own = match self.stored_list()? {
            Some(list) => list.id_of(device).is_some(),
            None => device == self.account.identity(),
        };
        if own {
            return Ok(Some(self.person()?));
        }
        let Some(person) = self
            .account
            .store
            .get(Table::Devices, &device_key(&device.fingerprint()))?
        else {
            return Ok(None);
        };
        let person = Fingerprint(
            person
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt("device index"))?,
        );
        match self.account.alias_by_fingerprint(&person)? {
            Some(alias) => Ok(Some(self.account.contact(&alias)?.card.identity)),
            None => Ok(None),
        }
    }

    /// A device list arrived from `sender` (`spec/multi-device.md` §2.2, §4.1): ours, or a
    /// contact's. A newer one replaces the one held (its changes become events), the same
    /// one or an older one changes nothing, and another list with the same counter is a
    /// conflict the user is told of. A list of someone who is not a contact is not kept.
    pub(crate) fn apply_list(
        &mut self,
        sender: &IdentityPublicKey,
        bytes: &[u8],
        batch: &mut Batch,
    ) -> Result<(Vec<EventKind>, Option<IdentityPublicKey>), Error> {
        let list = DeviceList::from_bytes(bytes)?;
        if list.id_of(sender).is_none() {
            return Err(Error::Invalid {
                what: "device list",
                why: "the device that sent it is not on it".into(),
            });
        }
        let person = list.person().clone();
        let (held, contact) = if person == self.person()? {
            (Some(self.device_list()?), None)
        } else {
            match self.account.alias_of(&person)? {
                Some(alias) => (self.contact_list(&person)?, Some(alias)),
                None => return Ok((Vec::new(), None)),
            }
        };
        let change = match &held {
            Some(h) => match h.check_update(&list) {
                Ok(c) => c,
                // A list older than the one held: a replay, or one that crossed a newer one.
                // The sender is known by the list held, not by this one.
                Err(hush_protocol::Error::DeviceListRollback { .. }) => {
                    return Ok((Vec::new(), self.person_of(sender)?));
                }
                Err(hush_protocol::Error::DeviceListEquivocation(counter)) => {
                    let conflict = EventKind::DeviceListConflict {
                        person: person.fingerprint(),
                        contact,
                        counter,
                    };
                    return Ok((vec![conflict], self.person_of(sender)?));
                }
                Err(e) => return Err(e.into()),
            },
            // The first list of a contact: every device beside their card's is new.
            None => hush_protocol::devices::DeviceListChange {
                added: list
                    .devices()
                    .filter(|(_, d)| d.identity != person)
                    .map(|(id, _)| id)
                    .collect(),
                ..Default::default()
            },
        };
        if held
            .as_ref()
            .is_some_and(|h| h.to_bytes() == list.to_bytes())
        {
            return Ok((Vec::new(), Some(person)));
        }
        let removed = held
            .as_ref()
            .map(|h| fingerprints_of(h, &change.removed))
            .unwrap_or_default();
        if contact.is_some() {
            put_contact_list(batch, &list, held.as_ref());
        } else {
            batch.put(
                Table::Account,
                DEVICE_LIST,
                Zeroizing::new(list.to_bytes().to_vec()),
            );
            for (_, d) in held.iter().flat_map(|h| h.devices()) {
                if list.id_of(&d.identity).is_none() {
                    forget_device(batch, &d.identity);
                }
            }
        }
        let added = fingerprints_of(&list, &change.added);
        if contact.is_some() && !added.is_empty() {
            self.announce_due = true;
        }
        if added.is_empty() && removed.is_empty() {
            return Ok((Vec::new(), Some(person)));
        }
        let changed = EventKind::DevicesChanged {
            person: person.fingerprint(),
            contact,
            added,
            removed,
        };
        Ok((vec![changed], Some(person)))
    }

    /// On the device that made the account: removes device `id` from the person's list
    /// (`spec/multi-device.md` §6). The newer list goes to every contact and to our other
    /// devices at once (whoever cannot be reached now gets it with the next message), and
    /// no message of ours goes to the revoked device from now on. Refused on a linked device,
    /// for this device itself, and for an id not on the list.
    pub async fn revoke_device(&mut self, id: u32) -> Result<(), Error> {
        if self.account.store.get(Table::Account, PERSON)?.is_some() {
            return Err(Error::Link(
                "only the device that made the account can revoke a device".into(),
            ));
        }
        let list = self.device_list()?;
        let device = list
            .device(id)
            .ok_or_else(|| Error::Link(format!("there is no device {id} on the list")))?
            .identity
            .clone();
        if device == *self.account.identity() {
            return Err(Error::Link("this device cannot revoke itself".into()));
        }
        self.check_generation().await?;
        let newer = list.without_device(self.account.identity_key_pair(), id)?;
        let mut b = Batch::new();
        b.put(
            Table::Account,
            DEVICE_LIST,
            Zeroizing::new(newer.to_bytes().to_vec()),
        );
        forget_device(&mut b, &device);
        self.account.store.commit(b)?;
        self.announce_list().await?;
        self.remove_device_everywhere(&device).await?;
        Ok(())
    }
}

#[cfg(test)]
#[path = "devices_tests.rs"]
mod tests;
