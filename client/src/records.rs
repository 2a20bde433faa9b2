//! Encodings of the engine's records (protobuf via `prost` derive; field numbers are part of
//! the store format, see `spec/client.md`).

use prost::Message;

/// The account's public profile (table `account`, key `profile`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct Profile {
    /// Display name put on the card.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The home relay's `hush://` URL.
    #[prost(string, tag = "2")]
    pub relay: String,
}

/// A contact (table `contacts`, key = alias).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ContactRecord {
    /// The card as text (`hush1:...`).
    #[prost(string, tag = "1")]
    pub card: String,
    /// True once the user compared safety numbers.
    #[prost(bool, tag = "2")]
    pub verified: bool,
}

/// The sessions with one peer (table `sessions`, key = the peer's identity fingerprint).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct SessionsRecord {
    /// `Session::to_bytes` of the current session (empty: none).
    #[prost(bytes = "vec", tag = "1")]
    pub current: Vec<u8>,
    /// Replaced sessions, oldest first.
    #[prost(bytes = "vec", repeated, tag = "2")]
    pub previous: Vec<Vec<u8>>,
}

impl Drop for SessionsRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.current.zeroize();
        self.previous.zeroize();
    }
}

/// A sealed envelope not yet stored by its relay (table `outbox`, key = envelope id).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct OutboxRecord {
    /// The relay's `hush://` URL.
    #[prost(string, tag = "1")]
    pub relay: String,
    /// The recipient's mailbox address.
    #[prost(bytes = "vec", tag = "2")]
    pub mailbox: Vec<u8>,
    /// The sealed envelope, sent as is on every retry.
    #[prost(bytes = "vec", tag = "3")]
    pub envelope: Vec<u8>,
    /// The contact's alias.
    #[prost(string, tag = "4")]
    pub to: String,
    /// When it was queued, Unix ms.
    #[prost(uint64, tag = "5")]
    pub queued_at_ms: u64,
}

/// An envelope the relay stored (table `sent`, key = envelope id).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct SentRecord {
    /// The relay's `hush://` URL.
    #[prost(string, tag = "1")]
    pub relay: String,
    /// The contact's alias.
    #[prost(string, tag = "2")]
    pub to: String,
    /// When the relay stored it (its receipt), Unix ms.
    #[prost(uint64, tag = "3")]
    pub stored_at_ms: u64,
}

/// An event not yet confirmed by the app (table `events`, key = big-endian u64 id).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct EventRecord {
    /// 1 message, 2 undecryptable.
    #[prost(uint32, tag = "1")]
    pub kind: u32,
    /// The sender's identity fingerprint (32 bytes; empty when unknown).
    #[prost(bytes = "vec", tag = "2")]
    pub sender: Vec<u8>,
    /// The sender's alias when a contact.
    #[prost(string, optional, tag = "3")]
    pub alias: Option<String>,
    /// The message body (kind 1) or the reason (kind 2, UTF-8).
    #[prost(bytes = "vec", tag = "4")]
    pub body: Vec<u8>,
    /// The envelope id.
    #[prost(bytes = "vec", tag = "5")]
    pub envelope_id: Vec<u8>,
    /// When it was received, Unix ms.
    #[prost(uint64, tag = "6")]
    pub received_at_ms: u64,
    /// The sender's card as their message carried it (`reply_to`), when it names them.
    #[prost(string, optional, tag = "7")]
    pub card: Option<String>,
}

impl Drop for EventRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.body.zeroize();
    }
}
