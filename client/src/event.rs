//! What the engine tells the app: events, each kept in the store until the app confirms it.

use crate::error::Error;
use crate::records::EventRecord;
use hush_protocol::Fingerprint;
use hush_relay_client::EnvelopeId;
use prost::Message;
use zeroize::Zeroizing;

const KIND_MESSAGE: u32 = 1;
const KIND_UNREADABLE: u32 = 2;
const KIND_GROUP_MESSAGE: u32 = 3;
const KIND_JOINED: u32 = 4;
const KIND_REMOVED: u32 = 5;
const KIND_MEMBERS_CHANGED: u32 = 6;
const KIND_IDENTITY_CHANGED: u32 = 7;
const KIND_RESTORED: u32 = 8;
const KIND_DELIVERY: u32 = 9;
const KIND_LINKED: u32 = 10;
const KIND_SENT_COPY: u32 = 11;
const KIND_DEVICES_CHANGED: u32 = 12;
const KIND_DEVICE_LIST_CONFLICT: u32 = 13;

/// Who sent a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// Their identity fingerprint.
    pub identity: Fingerprint,
    /// Their alias, when they are a contact.
    pub alias: Option<String>,
    /// Their card as their message carried it, when it names them: what
    /// [`crate::Account::add_contact`] takes to answer someone who is not a contact yet.
    pub card: Option<String>,
}

/// What became of a message that had waited in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The recipient's relay stored it, at this time (Unix ms, from its receipt).
    Stored(u64),
    /// The group's relay appended it to the group's log at this position.
    InLog(u64),
    /// The relay refused it for good (the reason); it will not be sent.
    Failed(String),
}

/// Something that happened, for the app.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id: increasing; give it to [`crate::Engine::confirm`] once handled.
    pub id: u64,
    /// When it was received, Unix ms.
    pub received_at_ms: u64,
    /// The mailbox envelope it came in (`None` for what came from a group's log).
    pub envelope_id: Option<EnvelopeId>,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// A 1:1 message.
    Message {
        /// Who sent it (authenticated by the session).
        from: Sender,
        /// The bytes they sent (the CLI sends UTF-8 text).
        body: Vec<u8>,
    },
    /// A message to a group we are in.
    GroupMessage {
        /// The group's local name.
        group: String,
        /// Who sent it (authenticated by the group; `card` is always `None`).
        from: Sender,
        /// The bytes they sent.
        body: Vec<u8>,
    },
    /// Someone added us to a group.
    Joined {
        /// The local name the group got (the inviter's name for it, made unique).
        group: String,
        /// Who added us.
        by: Sender,
    },
    /// A commit removed us from a group: it can no longer be read or sent to.
    Removed {
        /// The group's local name.
        group: String,
    },
    /// Another member's commit changed a group's membership.
    MembersChanged {
        /// The group's local name.
        group: String,
        /// The committer, when known.
        by: Option<Fingerprint>,
        /// Members added.
        added: Vec<Fingerprint>,
        /// Members removed.
        removed: Vec<Fingerprint>,
    },
    /// Someone who is not a contact, but whose card carries the name of one, wrote from
    /// another identity than that contact's: a reinstall, or an impersonation. The contact
    /// is kept as it is; their messages show under their own identity until the user
    /// compares safety numbers and calls [`crate::Account::update_contact`] with `card` (or
    /// ignores them). Said once per new identity.
    IdentityChanged {
        /// The contact whose name the card carries.
        contact: String,
        /// The contact's identity.
        old: Fingerprint,
        /// The identity that wrote.
        new: Fingerprint,
        /// Its card, as its message carried it.
        card: String,
    },
    /// This store was restored from an older copy (another copy of the account went further):
    /// its 1:1 sessions were set aside (the next message starts a new one) and its state of
    /// these groups forgotten; a member of each must remove and re-add this account.
    Restored {
        /// The groups that need a re-add.
        groups: Vec<String>,
    },
    /// This device was linked to a person's account (`spec/multi-device.md` §3.3): it now
    /// holds their contacts and sends and receives as one of their devices. Show `person` for
    /// the user to compare with the fingerprint on the device that approved.
    Linked {
        /// The person's identity.
        person: Fingerprint,
        /// This device's id on the person's list.
        device: u32,
    },
    /// A message this person sent from another of their devices (`spec/multi-device.md`
    /// §4.1): show it in the conversation with `to` as sent by the user.
    SentCopy {
        /// The person it was sent to (`card` is always `None`).
        to: Sender,
        /// The bytes sent.
        body: Vec<u8>,
    },
    /// A contact's device list (or our own) changed: devices were linked or revoked. Shown
    /// as a key change is, but expected; safety numbers stay those of the person.
    DevicesChanged {
        /// The person whose list it is.
        person: Fingerprint,
        /// Their alias; `None` when the list is this person's own.
        contact: Option<String>,
        /// The identities of the devices added.
        added: Vec<Fingerprint>,
        /// The identities of the devices revoked (they get nothing more from us).
        removed: Vec<Fingerprint>,
    },
    /// Two different device lists of one person with the same counter arrived: the person's
    /// identity signed both (a cloned or stolen identity key). The list held is kept.
    DeviceListConflict {
        /// The person.
        person: Fingerprint,
        /// Their alias; `None` when the lists are this person's own.
        contact: Option<String>,
        /// The counter both lists carry.
        counter: u64,
    },
    /// A message that waited in the outbox ([`crate::OutgoingState::Queued`]) went out, or
    /// was refused for good, on a later try.
    Delivery {
        /// Its envelope id (as [`crate::Outgoing::envelope_id`] gave it).
        envelope_id: EnvelopeId,
        /// The contact or group it was for.
        to: String,
        /// What became of it.
        status: DeliveryStatus,
    },
    /// An envelope or group message that could not be read (not for us, a session we do not
    /// have, a kind of content this engine does not handle); it was removed from the relay
    /// (or passed over in the group's log).
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Event");
        d.field("id", &self.id)
            .field("envelope_id", &self.envelope_id);
        match &self.kind {
            EventKind::Message { from, body } => {
                d.field("message_from", from).field("body_len", &body.len())
            }
            EventKind::GroupMessage { group, from, body } => d
                .field("group", group)
                .field("message_from", from)
                .field("body_len", &body.len()),
            EventKind::Joined { group, by } => d.field("joined", group).field("by", by),
            EventKind::Removed { group } => d.field("removed_from", group),
            EventKind::MembersChanged {
                group,
                by,
                added,
                removed,
            } => d
                .field("members_changed", group)
                .field("by", by)
                .field("added", added)
                .field("removed", removed),
            EventKind::IdentityChanged {
                contact, old, new, ..
            } => d
                .field("identity_changed", contact)
                .field("old", old)
                .field("new", new),
            EventKind::Restored { groups } => d.field("restored_needs_re_add", groups),
            EventKind::Linked { person, device } => {
                d.field("linked_to", person).field("device", device)
            }
            EventKind::SentCopy { to, body } => {
                d.field("sent_copy_to", to).field("body_len", &body.len())
            }
            EventKind::DevicesChanged {
                person,
                contact,
                added,
                removed,
            } => d
                .field("devices_changed", person)
                .field("contact", contact)
                .field("added", added)
                .field("removed", removed),
            EventKind::DeviceListConflict {
                person,
                contact,
                counter,
            } => d
                .field("device_list_conflict", person)
                .field("contact", contact)
                .field("counter", counter),
            EventKind::Delivery {
                envelope_id,
                to,
                status,
            } => d
                .field("delivery_of", envelope_id)
                .field("to", to)
                .field("status", status),
            EventKind::Unreadable { reason } => d.field("unreadable", reason),
        };
        d.finish()
    }
}

fn fingerprints(list: &[Fingerprint]) -> Vec<Vec<u8>> {
    list.iter().map(|f| f.0.to_vec()).collect()
}

fn fingerprint_list(list: &[Vec<u8>]) -> Result<Vec<Fingerprint>, Error> {
    list.iter().map(|f| fingerprint(f)).collect()
}

fn fingerprint(bytes: &[u8]) -> Result<Fingerprint, Error> {
    Ok(Fingerprint(
        bytes.try_into().map_err(|_| Error::Corrupt("event"))?,
    ))
}

impl Event {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut rec = EventRecord::default();
        rec.envelope_id = self
            .envelope_id
            .as_ref()
            .map(|e| e.as_bytes().to_vec())
            .unwrap_or_default();
        rec.received_at_ms = self.received_at_ms;
        let sender = |rec: &mut EventRecord, s: &Sender| {
            rec.sender = s.identity.0.to_vec();
            rec.alias = s.alias.clone();
            rec.card = s.card.clone();
        };
        match &self.kind {
            EventKind::Message { from, body } => {
                rec.kind = KIND_MESSAGE;
                sender(&mut rec, from);
                rec.body = body.clone();
            }
            EventKind::GroupMessage { group, from, body } => {
                rec.kind = KIND_GROUP_MESSAGE;
                sender(&mut rec, from);
                rec.group = Some(group.clone());
                rec.body = body.clone();
            }
            EventKind::Joined { group, by } => {
                rec.kind = KIND_JOINED;
                sender(&mut rec, by);
                rec.group = Some(group.clone());
            }
            EventKind::Removed { group } => {
                rec.kind = KIND_REMOVED;
                rec.group = Some(group.clone());
            }
            EventKind::MembersChanged {
                group,
                by,
                added,
                removed,
            } => {
                rec.kind = KIND_MEMBERS_CHANGED;
                rec.group = Some(group.clone());
                rec.sender = by.map(|f| f.0.to_vec()).unwrap_or_default();
                rec.added = fingerprints(added);
                rec.removed = fingerprints(removed);
            }
            EventKind::IdentityChanged {
                contact,
                old,
                new,
                card,
            } => {
                rec.kind = KIND_IDENTITY_CHANGED;
                rec.alias = Some(contact.clone());
                rec.body = old.0.to_vec();
                rec.sender = new.0.to_vec();
                rec.card = Some(card.clone());
            }
            EventKind::Linked { person, device } => {
                rec.kind = KIND_LINKED;
                rec.sender = person.0.to_vec();
                rec.value = u64::from(*device);
            }
            EventKind::SentCopy { to, body } => {
                rec.kind = KIND_SENT_COPY;
                sender(&mut rec, to);
                rec.body = body.clone();
            }
            EventKind::DevicesChanged {
                person,
                contact,
                added,
                removed,
            } => {
                rec.kind = KIND_DEVICES_CHANGED;
                rec.sender = person.0.to_vec();
                rec.alias = contact.clone();
                rec.added = fingerprints(added);
                rec.removed = fingerprints(removed);
            }
            EventKind::DeviceListConflict {
                person,
                contact,
                counter,
            } => {
                rec.kind = KIND_DEVICE_LIST_CONFLICT;
                rec.sender = person.0.to_vec();
                rec.alias = contact.clone();
                rec.value = *counter;
            }
            EventKind::Delivery {
                envelope_id,
                to,
                status,
            } => {
                rec.kind = KIND_DELIVERY;
                rec.envelope_id = envelope_id.as_bytes().to_vec();
                rec.alias = Some(to.clone());
                match status {
                    DeliveryStatus::Stored(at) => {
                        rec.status = 1;
                        rec.value = *at;
                    }
                    DeliveryStatus::InLog(seq) => {
                        rec.status = 2;
                        rec.value = *seq;
                    }
                    DeliveryStatus::Failed(why) => {
                        rec.status = 3;
                        rec.body = why.clone().into_bytes();
                    }
                }
            }
            EventKind::Restored { groups } => {
                rec.kind = KIND_RESTORED;
                rec.added = groups.iter().map(|g| g.as_bytes().to_vec()).collect();
            }
            EventKind::Unreadable { reason } => {
                rec.kind = KIND_UNREADABLE;
                rec.body = reason.clone().into_bytes();
            }
        }
        Zeroizing::new(rec.encode_to_vec())
    }

    pub(crate) fn decode(id: u64, bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Corrupt("event");
        let mut rec = EventRecord::decode(bytes).map_err(|_| bad())?;
        let sender = |rec: &mut EventRecord| -> Result<Sender, Error> {
            Ok(Sender {
                identity: fingerprint(&rec.sender)?,
                alias: rec.alias.take(),
                card: rec.card.take(),
            })
        };
        let group = |rec: &mut EventRecord| rec.group.take().ok_or_else(bad);
        let kind = match rec.kind {
            KIND_MESSAGE => EventKind::Message {
                from: sender(&mut rec)?,
                body: std::mem::take(&mut rec.body),
            },
            KIND_GROUP_MESSAGE => EventKind::GroupMessage {
                group: group(&mut rec)?,
                from: sender(&mut rec)?,
                body: std::mem::take(&mut rec.body),
            },
            KIND_JOINED => EventKind::Joined {
                group: group(&mut rec)?,
                by: sender(&mut rec)?,
            },
            KIND_REMOVED => EventKind::Removed {
                group: group(&mut rec)?,
            },
            KIND_MEMBERS_CHANGED => EventKind::MembersChanged {
                group: group(&mut rec)?,
                by: if rec.sender.is_empty() {
                    None
                } else {
                    Some(fingerprint(&rec.sender)?)
                },
                added: fingerprint_list(&rec.added)?,
                removed: fingerprint_list(&rec.removed)?,
            },
            KIND_IDENTITY_CHANGED => EventKind::IdentityChanged {
                contact: rec.alias.take().ok_or_else(bad)?,
                old: fingerprint(&rec.body)?,
                new: fingerprint(&rec.sender)?,
                card: rec.card.take().ok_or_else(bad)?,
            },
            KIND_RESTORED => EventKind::Restored {
                groups: rec
                    .added
                    .iter()
                    .map(|g| String::from_utf8(g.clone()).map_err(|_| bad()))
                    .collect::<Result<_, _>>()?,
            },
            KIND_DELIVERY => EventKind::Delivery {
                envelope_id: EnvelopeId::new(rec.envelope_id.clone()).map_err(|_| bad())?,
                to: rec.alias.take().ok_or_else(bad)?,
                status: match rec.status {
                    1 => DeliveryStatus::Stored(rec.value),
                    2 => DeliveryStatus::InLog(rec.value),
                    3 => DeliveryStatus::Failed(String::from_utf8_lossy(&rec.body).into_owned()),
                    _ => return Err(bad()),
                },
            },
            KIND_LINKED => EventKind::Linked {
                person: fingerprint(&rec.sender)?,
                device: u32::try_from(rec.value).map_err(|_| bad())?,
            },
            KIND_SENT_COPY => EventKind::SentCopy {
                to: sender(&mut rec)?,
                body: std::mem::take(&mut rec.body),
            },
            KIND_DEVICES_CHANGED => EventKind::DevicesChanged {
                person: fingerprint(&rec.sender)?,
                contact: rec.alias.take(),
                added: fingerprint_list(&rec.added)?,
                removed: fingerprint_list(&rec.removed)?,
            },
            KIND_DEVICE_LIST_CONFLICT => EventKind::DeviceListConflict {
                person: fingerprint(&rec.sender)?,
                contact: rec.alias.take(),
                counter: rec.value,
            },
            KIND_UNREADABLE => EventKind::Unreadable {
                reason: String::from_utf8_lossy(&rec.body).into_owned(),
            },
            _ => return Err(bad()),
        };
        let envelope_id = if rec.envelope_id.is_empty() {
            None
        } else {
            Some(EnvelopeId::new(std::mem::take(&mut rec.envelope_id)).map_err(|_| bad())?)
        };
        Ok(Self {
            id,
            received_at_ms: rec.received_at_ms,
            envelope_id,
            kind,
        })
    }
}
