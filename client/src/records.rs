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
    /// True once a bundle of theirs offered PQXDH (`spec/client.md` §3, the sticky rule).
    #[prost(bool, tag = "3")]
    pub offers_pqxdh: bool,
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
    /// Sessions set aside after a rollback (this store was restored from an older copy):
    /// they only decrypt late messages and are never sent on again. Oldest first.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub archived: Vec<Vec<u8>>,
}

impl Drop for SessionsRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.current.zeroize();
        self.previous.zeroize();
        self.archived.zeroize();
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
    /// For a group message: the MLS group id (the relay's group log id); `mailbox` is then
    /// empty and `envelope` the MLS message, appended to the log as an application message.
    #[prost(bytes = "vec", tag = "6")]
    pub group_id: Vec<u8>,
    /// For a group message: the epoch it was encrypted in.
    #[prost(uint64, tag = "7")]
    pub epoch: u64,
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
    /// The group's local name (group events).
    #[prost(string, optional, tag = "8")]
    pub group: Option<String>,
    /// Members a commit added (identity fingerprints, kind 6).
    #[prost(bytes = "vec", repeated, tag = "9")]
    pub added: Vec<Vec<u8>>,
    /// Members a commit removed (identity fingerprints, kind 6).
    #[prost(bytes = "vec", repeated, tag = "10")]
    pub removed: Vec<Vec<u8>>,
    /// Kind 9: 1 stored, 2 in a group's log, 3 failed.
    #[prost(uint32, tag = "11")]
    pub status: u32,
    /// Kind 9: when stored (Unix ms) or the log position.
    #[prost(uint64, tag = "12")]
    pub value: u64,
}

/// A group this account is in or was in (table `groups`, key = local name).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct GroupRecord {
    /// The MLS group id, also the relay's group log id.
    #[prost(bytes = "vec", tag = "1")]
    pub id: Vec<u8>,
    /// The `hush://` URL of the relay holding the group log.
    #[prost(string, tag = "2")]
    pub relay: String,
    /// The next log sequence number to read.
    #[prost(uint64, tag = "3")]
    pub cursor: u64,
    /// 0 member, 1 removed, 2 must be re-added (its state was lost or rolled back).
    #[prost(uint32, tag = "4")]
    pub state: u32,
    /// Our commit handed to the relay and not known to be accepted or refused yet.
    #[prost(message, optional, tag = "5")]
    pub pending: Option<PendingCommitRecord>,
    /// We asked to leave: we wait for a member to commit it, and commit no proposals.
    #[prost(bool, tag = "6")]
    pub leaving: bool,
    /// Our request to leave (an MLS proposal), sent again by a repeated
    /// [`crate::Engine::leave_group`].
    #[prost(bytes = "vec", tag = "7")]
    pub leave_proposal: Vec<u8>,
    /// The epoch it was made in.
    #[prost(uint64, tag = "8")]
    pub leave_epoch: u64,
    /// An invitation back into this group that came before we read our removal from its
    /// log: applied once the log says we were removed.
    #[prost(message, optional, tag = "9")]
    pub held_invitation: Option<HeldInvitation>,
}

/// An invitation kept until it can be applied.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct HeldInvitation {
    /// The `GroupInvitation` as it came (Welcome included).
    #[prost(bytes = "vec", tag = "1")]
    pub payload: Vec<u8>,
    /// Who sent it (`IdentityPublicKey::to_bytes`).
    #[prost(bytes = "vec", tag = "2")]
    pub sender: Vec<u8>,
    /// Their card, when the envelope carried it.
    #[prost(string, optional, tag = "3")]
    pub card: Option<String>,
}

/// A commit of ours on its way to the group log, with the Welcomes that go with it.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct PendingCommitRecord {
    /// The epoch it was made in.
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    /// The MLS commit, appended as is on every retry (the relay answers a retry of an
    /// accepted commit as a duplicate).
    #[prost(bytes = "vec", tag = "2")]
    pub commit: Vec<u8>,
    /// Welcomes for members whose mailbox is on the group's relay: stored with the commit.
    #[prost(message, repeated, tag = "3")]
    pub with_commit: Vec<WelcomeRecord>,
    /// Welcomes for members on other relays: queued in the outbox once the commit is in.
    #[prost(message, repeated, tag = "4")]
    pub after_commit: Vec<WelcomeRecord>,
}

/// A sealed Welcome for one new member.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct WelcomeRecord {
    /// Their relay's `hush://` URL.
    #[prost(string, tag = "1")]
    pub relay: String,
    /// Their mailbox address.
    #[prost(bytes = "vec", tag = "2")]
    pub mailbox: Vec<u8>,
    /// The envelope id, the same on every retry.
    #[prost(bytes = "vec", tag = "3")]
    pub envelope_id: Vec<u8>,
    /// The sealed envelope.
    #[prost(bytes = "vec", tag = "4")]
    pub envelope: Vec<u8>,
    /// Their alias.
    #[prost(string, tag = "5")]
    pub to: String,
}

impl Drop for EventRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.body.zeroize();
    }
}

/// An attachment upload not finished yet (table `uploads`, key = SHA-256 of the recipient
/// kind, name and file path): what resuming it needs. Holds the file key: the store keeps it
/// encrypted like every record, and it is wiped from memory on drop.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct UploadRecord {
    /// The contact's alias or the group's name.
    #[prost(string, tag = "1")]
    pub to: String,
    /// True for a group.
    #[prost(bool, tag = "2")]
    pub group: bool,
    /// The file's path as given (for display).
    #[prost(string, tag = "3")]
    pub path: String,
    /// The relay's blob id (32).
    #[prost(bytes = "vec", tag = "4")]
    pub blob_id: Vec<u8>,
    /// The file key (32).
    #[prost(bytes = "vec", tag = "5")]
    pub key: Vec<u8>,
    /// SHA-256 of the blob (32): a file that no longer encrypts to it changed.
    #[prost(bytes = "vec", tag = "6")]
    pub digest: Vec<u8>,
    /// The file's size.
    #[prost(uint64, tag = "7")]
    pub size: u64,
    /// The relay holding the blob (`hush://` URL).
    #[prost(string, tag = "8")]
    pub relay: String,
    /// When the upload started, Unix ms.
    #[prost(uint64, tag = "9")]
    pub started_at_ms: u64,
}

impl Drop for UploadRecord {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.key.zeroize();
    }
}

/// The body of a message that carries an attachment, after [`crate::content::ATTACHMENT_TAG`]
/// (`spec/attachments.md` section 10).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct AttachmentBody {
    /// The `AttachmentReference` (`spec/proto/attachment.proto`).
    #[prost(bytes = "vec", tag = "1")]
    pub reference: Vec<u8>,
    /// The `hush://` URL of the relay that holds the blob.
    #[prost(string, tag = "2")]
    pub relay: String,
}

impl Drop for AttachmentBody {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.reference.zeroize();
    }
}

/// A link this device asked for and is waiting on (table `account`, key `link_pending`):
/// the request it showed and the secret that opens the approval.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct LinkPending {
    /// The encoded `LinkRequest`.
    #[prost(bytes = "vec", tag = "1")]
    pub request: Vec<u8>,
    /// The link secret (32 bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub secret: Vec<u8>,
}

/// A contact as a link approval hands it to the new device.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TransferContact {
    /// The alias.
    #[prost(string, tag = "1")]
    pub alias: String,
    /// The contact, as its record.
    #[prost(message, optional, tag = "2")]
    pub record: Option<ContactRecord>,
    /// Their latest accepted device list (a `SignedDeviceList`; empty: none arrived).
    #[prost(bytes = "vec", tag = "3")]
    pub devices: Vec<u8>,
}

/// What a new device takes on when it is linked (the `transfer` of a link approval,
/// `spec/multi-device.md` §3.2): the person's name and contacts.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct LinkTransfer {
    /// The person's display name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The person's contacts.
    #[prost(message, repeated, tag = "2")]
    pub contacts: Vec<TransferContact>,
}
