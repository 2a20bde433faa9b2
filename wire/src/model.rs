//! The plain records a relay stores and hands out: envelopes, prekeys, KeyPackages, directory
//! stock and group log entries. Their bytes are opaque to the relay (it stays blind); their
//! wire encoding is in `spec/proto/relay.proto`.

use crate::types::EnvelopeId;

/// An envelope as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEnvelope {
    /// Sequence number in its mailbox.
    pub seq: u64,
    /// Client-chosen id.
    pub envelope_id: EnvelopeId,
    /// Time stored.
    pub stored_at_ms: u64,
    /// Expiry time.
    pub expires_at_ms: u64,
    /// Opaque ciphertext.
    pub ciphertext: Vec<u8>,
}

/// A signed prekey: opaque blob with the owner's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPrekey {
    /// Owner-chosen id.
    pub id: u32,
    /// Opaque bytes.
    pub blob: Vec<u8>,
}

/// A one-time prekey: opaque blob with the owner's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimePrekey {
    /// Owner-chosen id.
    pub id: u64,
    /// Opaque bytes.
    pub blob: Vec<u8>,
}

/// A signed KEM prekey (PQXDH): opaque blob with the owner's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KemPrekey {
    /// Owner-chosen id.
    pub id: u64,
    /// Opaque bytes.
    pub blob: Vec<u8>,
}

/// What a prekey fetch hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrekeyBundle {
    /// The signed prekey.
    pub signed_prekey: SignedPrekey,
    /// One one-time prekey, removed from the stock, or `None` when the stock is empty.
    pub one_time_prekey: Option<OneTimePrekey>,
    /// One one-time KEM prekey, removed from the stock, or else the last-resort KEM prekey
    /// (kept); `None` when the owner stored neither.
    pub kem_prekey: Option<KemPrekey>,
    /// True when `kem_prekey` is the last-resort one.
    pub kem_prekey_last_resort: bool,
}

/// What a prekey upload stores, in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrekeyUpload {
    /// Replaces the signed prekey when given.
    pub signed_prekey: Option<SignedPrekey>,
    /// Added to the one-time prekey stock.
    pub one_time_prekeys: Vec<OneTimePrekey>,
    /// Added to the one-time KEM prekey stock.
    pub one_time_kem_prekeys: Vec<KemPrekey>,
    /// Replaces the last-resort KEM prekey when given.
    pub last_resort_kem_prekey: Option<KemPrekey>,
    /// Removes every one-time prekey and one-time KEM prekey of the mailbox first.
    pub replace_one_time: bool,
}

/// A KeyPackage handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPackage {
    /// Opaque bytes.
    pub blob: Vec<u8>,
    /// True when it is the reusable last-resort KeyPackage.
    pub last_resort: bool,
}

/// Directory stock of a mailbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectoryStock {
    /// One-time prekeys left.
    pub one_time_prekeys: u64,
    /// KeyPackages left (not counting the last resort).
    pub key_packages: u64,
    /// Whether a signed prekey is stored.
    pub has_signed_prekey: bool,
    /// Whether a last-resort KeyPackage is stored.
    pub has_last_resort: bool,
    /// One-time KEM prekeys left.
    pub one_time_kem_prekeys: u64,
    /// Whether a last-resort KEM prekey is stored.
    pub has_last_resort_kem_prekey: bool,
}

/// Kind of a group log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupMessageKind {
    /// An MLS commit: ordered, one per epoch.
    Commit,
    /// An MLS proposal.
    Proposal,
    /// An MLS application message.
    Application,
}

impl GroupMessageKind {
    /// Its one-byte code in storage rows (1 commit, 2 proposal, 3 application).
    pub fn to_u8(self) -> u8 {
        match self {
            GroupMessageKind::Commit => 1,
            GroupMessageKind::Proposal => 2,
            GroupMessageKind::Application => 3,
        }
    }

    /// The kind of a one-byte code, `None` for an unknown code.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(GroupMessageKind::Commit),
            2 => Some(GroupMessageKind::Proposal),
            3 => Some(GroupMessageKind::Application),
            _ => None,
        }
    }
}

/// A group log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Sequence number in the log.
    pub seq: u64,
    /// Epoch the message was created in.
    pub epoch: u64,
    /// Its kind.
    pub kind: GroupMessageKind,
    /// Time appended.
    pub stored_at_ms: u64,
    /// Opaque bytes.
    pub message: Vec<u8>,
}
