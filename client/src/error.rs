//! The engine's errors: one enum an app can match on.

use crate::card::CardError;
use crate::store::StoreError;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed, or the passphrase or key does not open it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds no account yet ([`crate::Account::create`] makes one).
    #[error("the store holds no account")]
    NoAccount,
    /// The store already holds an account.
    #[error("the store already holds an account")]
    AccountExists,
    /// A record the engine wrote does not decode: the store was damaged.
    #[error("the stored {0} is damaged")]
    Corrupt(&'static str),
    /// A contact card does not parse.
    #[error("invalid contact card: {0}")]
    Card(#[from] CardError),
    /// A display name or alias that is not allowed.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// What was given (`alias`, `name`).
        what: &'static str,
        /// Why it was refused.
        why: String,
    },
    /// No contact by that alias.
    #[error("unknown contact '{0}'")]
    UnknownContact(String),
    /// The alias is taken by another contact.
    #[error("a contact named '{0}' exists already")]
    AliasTaken(String),
    /// The card's identity is a contact already, under another alias.
    #[error("this identity is a contact already, as '{0}'")]
    AlreadyContact(String),
    /// The card is this account's own.
    #[error("that is this account's own card")]
    OwnCard,
    /// The relay refused a request or could not be reached.
    #[error("relay: {0}")]
    Relay(#[from] hush_relay_client::ClientError),
    /// The contact has published no prekeys or KeyPackages on their relay.
    #[error("{alias} has no {what} on their relay (is the card current?)")]
    NotPublished {
        /// The contact.
        alias: String,
        /// `prekeys` or `KeyPackages`.
        what: &'static str,
    },
    /// The contact's relay wants a newer card to hand out their keys.
    #[error("{0}'s relay wants their current contact card: ask them for it")]
    StaleCard(String),
    /// A directory entry does not open with the contact's card, or is malformed.
    #[error("{alias}'s {what} do not open with their card")]
    BadDirectoryEntry {
        /// The contact.
        alias: String,
        /// `prekeys` or `KeyPackages`.
        what: &'static str,
    },
    /// The relay handed out the contact's prekeys without the KEM prekey their signed prekey
    /// promises, or without any KEM prekey although an earlier bundle of theirs offered
    /// PQXDH (`spec/pqxdh.md` section 6, `spec/client.md` section 3): a downgrade from PQXDH
    /// to X3DH, refused.
    #[error(
        "the relay handed out {0}'s prekeys without the post-quantum (KEM) prekey they offer; refusing to fall back to X3DH"
    )]
    PqxdhDowngrade(String),
    /// The relay handed out keys of another identity than the contact's card names.
    #[error("the relay returned keys of another identity than {0}'s card")]
    IdentityMismatch(String),
    /// A message whose sealed sender and session sender differ.
    #[error("the sealed sender and the session sender differ")]
    SenderMismatch,
    /// A message for a session this account does not have.
    #[error("no session with the sender")]
    NoSession,
    /// The end-to-end protocol refused an operation.
    #[error("protocol: {0}")]
    Protocol(#[from] hush_protocol::Error),
    /// A link between devices was refused (`spec/multi-device.md` §3; the reason).
    #[error("link refused: {0}")]
    Link(String),
    /// No group by that name.
    #[error("unknown group '{0}'")]
    UnknownGroup(String),
    /// A group by that name exists already.
    #[error("a group named '{0}' exists already")]
    GroupNameTaken(String),
    /// We are not (or no longer) a member of the group, or asked to leave it.
    #[error("this account is not a member of group '{0}' (any more)")]
    NotInGroup(String),
    /// This store was restored from an older copy and forgot its state of the group: a member
    /// must remove and re-add this account.
    #[error(
        "this account must be re-added to group '{0}' (its store was restored from an older copy)"
    )]
    NeedsReAdd(String),
    /// The contact is in the group already.
    #[error("{alias} is in group '{group}' already")]
    AlreadyMember {
        /// The contact.
        alias: String,
        /// The group.
        group: String,
    },
    /// The contact is not in the group.
    #[error("{alias} is not in group '{group}'")]
    NotMember {
        /// The contact.
        alias: String,
        /// The group.
        group: String,
    },
    /// Other members' commits kept winning the epoch; nothing of ours was committed.
    #[error("group '{0}' keeps changing: try again")]
    GroupBusy(String),
    /// The state generation on the relay kept changing while we advanced it: another copy
    /// of this account is in use at the same time.
    #[error(
        "the state generation on the relay keeps changing: is another copy of this account in use at the same time?"
    )]
    GenerationRace,
    /// The relay ended a live subscription (it is shutting down); the next
    /// [`crate::Engine::next_events`] subscribes again.
    #[error("the relay ended the subscription")]
    SubscriptionEnded,
    /// The group layer refused an operation.
    #[error("groups: {0}")]
    Group(#[from] hush_protocol::group::GroupError),
    /// An attachment was refused: its blob was altered, truncated or extended, does not
    /// match its reference's digest, or the file is too large.
    #[error("attachment: {0}")]
    Attachment(#[from] hush_protocol::attachment::AttachmentError),
    /// Reading or writing a file (an attachment, a download) failed.
    #[error("{what} {path}: {source}")]
    File {
        /// What the engine was doing (`reading`, `writing`...).
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file whose upload was interrupted changed since: it is not resumed (that would
    /// encrypt other bytes under the same key); its pending upload was dropped, and sending
    /// it again starts a new one.
    #[error("{0} changed since its upload was interrupted: send it again")]
    FileChanged(std::path::PathBuf),
    /// The relay's blob of an interrupted upload is gone (expired); its pending upload was
    /// dropped, and sending the file again starts a new one.
    #[error("the relay no longer has the interrupted upload of {0}: send it again")]
    UploadLost(std::path::PathBuf),
}
