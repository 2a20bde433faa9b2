//! What the engine tells the app: events, each kept in the store until the app confirms it.

use crate::error::Error;
use crate::records::EventRecord;
use hush_protocol::Fingerprint;
use hush_relay_client::EnvelopeId;
use prost::Message;
use zeroize::Zeroizing;

const KIND_MESSAGE: u32 = 1;
const KIND_UNREADABLE: u32 = 2;

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

/// Something that happened, for the app.
#[derive(Clone, PartialEq, Eq)]
pub struct Event {
    /// Its id: increasing; give it to [`crate::Engine::confirm`] once handled.
    pub id: u64,
    /// When it was received, Unix ms.
    pub received_at_ms: u64,
    /// The envelope it came in.
    pub envelope_id: EnvelopeId,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`Event`].
#[derive(Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A 1:1 message.
    Message {
        /// Who sent it (authenticated by the session).
        from: Sender,
        /// The bytes they sent (the CLI sends UTF-8 text).
        body: Vec<u8>,
    },
    /// An envelope that could not be read (not for us, a session we do not have, a kind of
    /// content this engine does not handle yet); it was removed from the relay.
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
            EventKind::Unreadable { reason } => d.field("unreadable", reason),
        };
        d.finish()
    }
}

impl Event {
    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let (kind, sender, alias, card, body) = match &self.kind {
            EventKind::Message { from, body } => (
                KIND_MESSAGE,
                from.identity.0.to_vec(),
                from.alias.clone(),
                from.card.clone(),
                body.clone(),
            ),
            EventKind::Unreadable { reason } => (
                KIND_UNREADABLE,
                Vec::new(),
                None,
                None,
                reason.clone().into_bytes(),
            ),
        };
        let rec = EventRecord {
            kind,
            sender,
            alias,
            body,
            envelope_id: self.envelope_id.as_bytes().to_vec(),
            received_at_ms: self.received_at_ms,
            card,
        };
        Zeroizing::new(rec.encode_to_vec())
    }

    pub(crate) fn decode(id: u64, bytes: &[u8]) -> Result<Self, Error> {
        let bad = || Error::Corrupt("event");
        let mut rec = EventRecord::decode(bytes).map_err(|_| bad())?;
        let kind = match rec.kind {
            KIND_MESSAGE => EventKind::Message {
                from: Sender {
                    identity: Fingerprint(rec.sender.as_slice().try_into().map_err(|_| bad())?),
                    alias: rec.alias.take(),
                    card: rec.card.take(),
                },
                body: std::mem::take(&mut rec.body),
            },
            KIND_UNREADABLE => EventKind::Unreadable {
                reason: String::from_utf8_lossy(&rec.body).into_owned(),
            },
            _ => return Err(bad()),
        };
        Ok(Self {
            id,
            received_at_ms: rec.received_at_ms,
            envelope_id: EnvelopeId::new(std::mem::take(&mut rec.envelope_id))
                .map_err(|_| bad())?,
            kind,
        })
    }
}
