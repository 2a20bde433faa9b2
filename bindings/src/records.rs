//! The plain records the bindings hand to the foreign language: events, contacts, groups,
//! sent messages. None holds key bytes: an attachment's key stays in the engine's store, and
//! the app names an attachment by its event's id ([`crate::Client::save_attachment`]).

use hush_client::{
    Contact, DeliveryStatus, Event, EventKind, Group, GroupStatus, Member, Outgoing, OutgoingState,
    Sender,
};

/// What kind of thing an [`EventRecord`] tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum EventType {
    /// A 1:1 message (`text`, or `attachment`; `sender`).
    Message,
    /// A message to a group we are in (`group`, `sender`, `text` or `attachment`).
    GroupMessage,
    /// Someone (`sender`) added us to `group`.
    Joined,
    /// A commit removed us from `group`.
    Removed,
    /// Another member's commit changed `group`'s membership (`added`, `removed`).
    MembersChanged,
    /// Someone who is not a contact wrote from another identity under a contact's name
    /// (`sender_alias` is that contact, `sender_card` the new identity's card).
    IdentityChanged,
    /// This store was restored from an older copy; `added` lists the groups that need a
    /// re-add.
    Restored,
    /// This device was linked to a person's account: `sender_fingerprint` is the person's
    /// fingerprint (show it for the user to compare), `detail` this device's id (`device N`).
    Linked,
    /// A message this person sent from another of their devices (`sender_alias` and
    /// `sender_fingerprint` name the person it went to, `text` or `attachment` as for a
    /// message): show it as sent by the user.
    SentCopy,
    /// A device list changed (`sender_alias`: the contact, none for this person's own;
    /// `sender_fingerprint`: the person; `added` and `removed`: device fingerprints).
    DevicesChanged,
    /// Two different device lists of one person with the same counter arrived
    /// (`sender_alias`, `sender_fingerprint` as for `DevicesChanged`; `detail` the counter).
    DeviceListConflict,
    /// A queued message went out or was refused (`envelope_id`; `sender_alias` names the
    /// contact or group it was for; `detail` the outcome).
    Delivery,
    /// An envelope or group message that could not be read (`detail` says why).
    Unreadable,
    /// An event of a kind these bindings do not know yet (`detail` describes it).
    Other,
}

/// An attachment a message carries: what the app may show before saving it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AttachmentInfo {
    /// The file name as the sender gave it (not safe as a path; saving makes a safe one).
    pub name: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The media type the sender gave, empty if unknown.
    pub media_type: String,
}

/// Something that happened, for the app: keep its `id` and give it to
/// [`crate::Client::confirm`] once handled (until then it stays in the store).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EventRecord {
    /// Increasing id.
    pub id: u64,
    /// What happened.
    pub kind: EventType,
    /// When it was received, Unix ms.
    pub received_at_ms: u64,
    /// The sender's (or adder's, or committer's) alias, when they are a contact.
    pub sender_alias: Option<String>,
    /// The sender's identity fingerprint (64 hex digits), when known.
    pub sender_fingerprint: Option<String>,
    /// The sender's card as their message carried it (what `add_contact` takes to answer
    /// someone who is not a contact yet).
    pub sender_card: Option<String>,
    /// The group's local name, for group events.
    pub group: Option<String>,
    /// The message as text, when its body is UTF-8 and not an attachment.
    pub text: Option<String>,
    /// The message's bytes, when it is not an attachment (empty otherwise).
    pub body: Vec<u8>,
    /// The attachment the message carries, if any.
    pub attachment: Option<AttachmentInfo>,
    /// Fingerprints added to a group, or the groups that need a re-add after a restore.
    pub added: Vec<String>,
    /// Fingerprints removed from a group.
    pub removed: Vec<String>,
    /// The mailbox envelope it came in, or the envelope a delivery report is about (hex).
    pub envelope_id: Option<String>,
    /// A reason (unreadable), or a delivery's outcome (`stored at MS`, `in log at SEQ`,
    /// `failed: WHY`), or an identity change's old fingerprint.
    pub detail: Option<String>,
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ContactRecord {
    /// The alias the user chose.
    pub alias: String,
    /// The display name their card gives.
    pub name: String,
    /// Their identity fingerprint (64 hex digits).
    pub fingerprint: String,
    /// True once the user compared safety numbers with them.
    pub verified: bool,
    /// True once a prekey bundle of theirs offered PQXDH: a later bundle without it is
    /// refused as a downgrade.
    pub offers_pqxdh: bool,
}

/// Where this account stands in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum GroupState {
    /// A member: can read and send.
    Member,
    /// We asked to leave; no member committed it yet.
    Leaving,
    /// A commit removed us.
    Removed,
    /// This store was restored from an older copy: a member must remove and re-add us.
    NeedsReAdd,
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MemberRecord {
    /// Their identity fingerprint (64 hex digits).
    pub fingerprint: String,
    /// Their alias, when they are a contact.
    pub alias: Option<String>,
    /// True for this account.
    pub me: bool,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct GroupRecord {
    /// Its local name.
    pub name: String,
    /// Where we stand in it.
    pub state: GroupState,
    /// Its current epoch, when we hold its state.
    pub epoch: Option<u64>,
    /// Its members in leaf order (empty when we hold no state of it).
    pub members: Vec<MemberRecord>,
}

/// Where a sent message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum SentState {
    /// The recipient's relay stored it (receipt verified).
    Stored,
    /// The group's relay appended it to the group's log.
    InLog,
    /// Waiting in the outbox (the relay could not be reached); a later receive retries it
    /// and a `Delivery` event tells the outcome.
    Queued,
    /// Refused for good; it will not be sent.
    Failed,
}

/// A message just sent.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SentRecord {
    /// Its envelope id (hex): for a group message, the outbox's id for it.
    pub envelope_id: String,
    /// The contact or group it went to.
    pub to: String,
    /// Where it is.
    pub state: SentState,
    /// The reason, when queued or failed.
    pub detail: Option<String>,
}

fn hex_fp(f: &hush_client::card::Card) -> String {
    hex::encode(f.identity.fingerprint().0)
}

impl From<&Contact> for ContactRecord {
    fn from(c: &Contact) -> Self {
        Self {
            alias: c.alias.clone(),
            name: c.card.name.clone(),
            fingerprint: hex_fp(&c.card),
            verified: c.verified,
            offers_pqxdh: c.offers_pqxdh,
        }
    }
}

impl From<&Member> for MemberRecord {
    fn from(m: &Member) -> Self {
        Self {
            fingerprint: hex::encode(m.identity.0),
            alias: m.alias.clone(),
            me: m.me,
        }
    }
}

impl From<&Group> for GroupRecord {
    fn from(g: &Group) -> Self {
        Self {
            name: g.name.clone(),
            state: match g.status {
                GroupStatus::Member => GroupState::Member,
                GroupStatus::Leaving => GroupState::Leaving,
                GroupStatus::Removed => GroupState::Removed,
                GroupStatus::NeedsReAdd => GroupState::NeedsReAdd,
            },
            epoch: g.epoch,
            members: g.members.iter().map(MemberRecord::from).collect(),
        }
    }
}

impl From<&Outgoing> for SentRecord {
    fn from(o: &Outgoing) -> Self {
        let (state, detail) = match &o.state {
            OutgoingState::Stored(_) => (SentState::Stored, None),
            OutgoingState::InLog { .. } => (SentState::InLog, None),
            OutgoingState::Queued(why) => (SentState::Queued, Some(why.clone())),
            OutgoingState::Failed(why) => (SentState::Failed, Some(why.clone())),
        };
        Self {
            envelope_id: hex::encode(o.envelope_id.as_bytes()),
            to: o.to.clone(),
            state,
            detail,
        }
    }
}

impl EventRecord {
    fn empty(e: &Event, kind: EventType) -> Self {
        Self {
            id: e.id,
            kind,
            received_at_ms: e.received_at_ms,
            sender_alias: None,
            sender_fingerprint: None,
            sender_card: None,
            group: None,
            text: None,
            body: Vec::new(),
            attachment: None,
            added: Vec::new(),
            removed: Vec::new(),
            envelope_id: e.envelope_id.as_ref().map(|id| hex::encode(id.as_bytes())),
            detail: None,
        }
    }

    fn sender(&mut self, s: &Sender) {
        self.sender_alias = s.alias.clone();
        self.sender_fingerprint = Some(hex::encode(s.identity.0));
        self.sender_card = s.card.clone();
    }

    /// The message's content: an attachment's public fields, or its bytes (and text).
    fn content(&mut self, kind: &EventKind, body: &[u8]) {
        if let Some(a) = kind.attachment() {
            self.attachment = Some(AttachmentInfo {
                name: a.name().to_string(),
                size: a.size(),
                media_type: a.reference.media_type.clone(),
            });
        } else {
            self.text = std::str::from_utf8(body).ok().map(str::to_string);
            self.body = body.to_vec();
        }
    }
}

impl From<&Event> for EventRecord {
    fn from(e: &Event) -> Self {
        match &e.kind {
            EventKind::Message { from, body } => {
                let mut r = Self::empty(e, EventType::Message);
                r.sender(from);
                r.content(&e.kind, body);
                r
            }
            EventKind::GroupMessage { group, from, body } => {
                let mut r = Self::empty(e, EventType::GroupMessage);
                r.sender(from);
                r.group = Some(group.clone());
                r.content(&e.kind, body);
                r
            }
            EventKind::SentCopy { to, body } => {
                let mut r = Self::empty(e, EventType::SentCopy);
                r.sender(to);
                r.content(&e.kind, body);
                r
            }
            EventKind::Joined { group, by } => {
                let mut r = Self::empty(e, EventType::Joined);
                r.sender(by);
                r.group = Some(group.clone());
                r
            }
            EventKind::Removed { group } => {
                let mut r = Self::empty(e, EventType::Removed);
                r.group = Some(group.clone());
                r
            }
            EventKind::MembersChanged {
                group,
                by,
                added,
                removed,
            } => {
                let mut r = Self::empty(e, EventType::MembersChanged);
                r.group = Some(group.clone());
                r.sender_fingerprint = by.map(|f| hex::encode(f.0));
                r.added = added.iter().map(|f| hex::encode(f.0)).collect();
                r.removed = removed.iter().map(|f| hex::encode(f.0)).collect();
                r
            }
            EventKind::IdentityChanged {
                contact,
                old,
                new,
                card,
            } => {
                let mut r = Self::empty(e, EventType::IdentityChanged);
                r.sender_alias = Some(contact.clone());
                r.sender_fingerprint = Some(hex::encode(new.0));
                r.sender_card = Some(card.clone());
                r.detail = Some(hex::encode(old.0));
                r
            }
            EventKind::Restored { groups } => {
                let mut r = Self::empty(e, EventType::Restored);
                r.added = groups.clone();
                r
            }
            EventKind::Linked { person, device } => {
                let mut r = Self::empty(e, EventType::Linked);
                r.sender_fingerprint = Some(hex::encode(person.0));
                r.detail = Some(format!("device {device}"));
                r
            }
            EventKind::DevicesChanged {
                person,
                contact,
                added,
                removed,
            } => {
                let mut r = Self::empty(e, EventType::DevicesChanged);
                r.sender_alias = contact.clone();
                r.sender_fingerprint = Some(hex::encode(person.0));
                r.added = added.iter().map(|f| hex::encode(f.0)).collect();
                r.removed = removed.iter().map(|f| hex::encode(f.0)).collect();
                r
            }
            EventKind::DeviceListConflict {
                person,
                contact,
                counter,
            } => {
                let mut r = Self::empty(e, EventType::DeviceListConflict);
                r.sender_alias = contact.clone();
                r.sender_fingerprint = Some(hex::encode(person.0));
                r.detail = Some(format!("counter {counter}"));
                r
            }
            EventKind::Delivery {
                envelope_id,
                to,
                status,
            } => {
                let mut r = Self::empty(e, EventType::Delivery);
                r.envelope_id = Some(hex::encode(envelope_id.as_bytes()));
                r.sender_alias = Some(to.clone());
                r.detail = Some(match status {
                    DeliveryStatus::Stored(at) => format!("stored at {at}"),
                    DeliveryStatus::InLog(seq) => format!("in log at {seq}"),
                    DeliveryStatus::Failed(why) => format!("failed: {why}"),
                });
                r
            }
            EventKind::Unreadable { reason } => {
                let mut r = Self::empty(e, EventType::Unreadable);
                r.detail = Some(reason.clone());
                r
            }
            other => {
                let mut r = Self::empty(e, EventType::Other);
                r.detail = Some(format!(
                    "{:?}",
                    Event {
                        kind: other.clone(),
                        ..e.clone()
                    }
                ));
                r
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_client::{Attachment, AttachmentRef};
    use hush_protocol::Fingerprint;
    use hush_protocol::attachment::AttachmentKey;

    fn message(body: Vec<u8>) -> Event {
        Event {
            id: 7,
            received_at_ms: 1_000,
            envelope_id: None,
            kind: EventKind::Message {
                from: Sender {
                    identity: Fingerprint([0xab; 32]),
                    alias: Some("alice".into()),
                    card: None,
                },
                body,
            },
        }
    }

    #[test]
    fn an_attachment_shows_its_name_and_size_and_never_its_key_or_body() {
        let attachment = Attachment {
            reference: AttachmentRef {
                blob_id: [0x11; 32],
                key: AttachmentKey::from_bytes([0x5c; 32]),
                digest: [0x22; 32],
                size: 1234,
                name: "photo.jpg".into(),
                media_type: "image/jpeg".into(),
            },
            relay: "hush://0000000000000000000000000000000000000000000000000000000000000000@127.0.0.1:4433"
                .parse()
                .unwrap(),
        };
        let r = EventRecord::from(&message(attachment.to_body().unwrap().to_vec()));
        assert_eq!(r.kind, EventType::Message);
        assert_eq!(
            r.attachment,
            Some(AttachmentInfo {
                name: "photo.jpg".into(),
                size: 1234,
                media_type: "image/jpeg".into()
            })
        );
        assert!(r.body.is_empty() && r.text.is_none());
        let shown = format!("{r:?}");
        assert!(!shown.contains(&"5c".repeat(32)) && !shown.contains("92, 92, 92"));
        assert!(
            !shown.contains(&"11".repeat(32)),
            "the blob id is a read capability"
        );
    }

    #[test]
    fn a_text_message_has_its_text_bytes_and_sender() {
        let r = EventRecord::from(&message(b"hi".to_vec()));
        assert_eq!((r.id, r.received_at_ms), (7, 1_000));
        assert_eq!(r.text.as_deref(), Some("hi"));
        assert_eq!(r.body, b"hi");
        assert_eq!(r.sender_alias.as_deref(), Some("alice"));
        assert_eq!(r.sender_fingerprint, Some("ab".repeat(32)));
        let bytes = EventRecord::from(&message(vec![0xff, 0x00]));
        assert!(bytes.text.is_none() && bytes.body == [0xff, 0x00]);
    }
}
