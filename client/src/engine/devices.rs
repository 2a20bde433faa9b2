//! Multi-device, linking (`spec/multi-device.md` §3 and §4.1): the new device's request, the
//! primary's approval sent through the relay, and the new device completing the link when
//! the approval arrives.

use super::Engine;
use super::outbox::ENVELOPE_ID_LEN;
use crate::contacts::write_contact;
use crate::error::Error;
use crate::event::EventKind;
use crate::records::{ContactRecord, LinkPending, LinkTransfer, OutboxRecord, TransferContact};
use crate::store::{Batch, Store, Table};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hush_protocol::IdentityPublicKey;
use hush_protocol::devices::{Device, DeviceList, LinkRequest, LinkSecret};
use hush_protocol::envelope::{self, ContentKind};
use hush_relay_client::EnvelopeId;
use prost::Message;
use rand::Rng as _;
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
        match self.account.store.get(Table::Account, PERSON)? {
            Some(b) => IdentityPublicKey::from_bytes(&b).map_err(|_| Error::Corrupt("person")),
            None => Ok(self.account.identity().clone()),
        }
    }

    /// The person's device list as this device knows it. An account that never linked a
    /// device has one device, itself (the list is made, not stored: signatures are
    /// deterministic, so it is the same list every time).
    pub fn device_list(&self) -> Result<DeviceList, Error> {
        match self.account.store.get(Table::Account, DEVICE_LIST)? {
            Some(b) => DeviceList::from_bytes_of(&b, &self.person()?)
                .map_err(|_| Error::Corrupt("device list")),
            None => Ok(DeviceList::first(
                self.account.identity_key_pair(),
                self.own_device(),
            )?),
        }
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
        let mut id = [0u8; ENVELOPE_ID_LEN];
        rng.fill_bytes(&mut id);
        let envelope_id =
            EnvelopeId::new(id.to_vec()).map_err(|_| Error::Corrupt("envelope id"))?;
        let rec = OutboxRecord {
            relay: request.device().relay.clone(),
            mailbox: request.device().mailbox.to_vec(),
            envelope,
            to: format!("device {device_id}"),
            queued_at_ms: self.now_ms(),
            group_id: Vec::new(),
            epoch: 0,
        };
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
        Ok(EventKind::Linked {
            person: person.fingerprint(),
            device: approval.device_id,
        })
    }
}
