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
