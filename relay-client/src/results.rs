//! The verified answers of the relay client's calls.

use crate::error::ClientError;
use crate::{Envelope, GroupEntry, GroupMessageKind};
use ed25519_dalek::VerifyingKey;
use hush_wire::proto;
use hush_wire::types::{DeliveredReceipt, EnvelopeId, MailboxAddress, StoredReceipt};

/// What the relay said in its HELLO.
#[derive(Debug, Clone)]
pub struct RelayInfo {
    /// The relay's receipt-signing key.
    pub receipt_public_key: VerifyingKey,
    /// Relay clock, Unix ms.
    pub server_time_ms: u64,
    /// Largest frame the relay accepts.
    pub max_frame_bytes: u32,
    /// Largest envelope the relay accepts.
    pub max_envelope_bytes: u32,
    /// Envelope time-to-live.
    pub ttl_seconds: u64,
}

/// Directory stock of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stock {
    /// One-time prekeys left.
    pub one_time_prekeys: u64,
    /// KeyPackages left (not counting the last resort).
    pub key_packages: u64,
    /// Whether a signed prekey is stored.
    pub has_signed_prekey: bool,
    /// Whether a last-resort KeyPackage is stored.
    pub has_last_resort: bool,
    /// True when the relay thinks the owner should upload more.
    pub low: bool,
    /// One-time KEM prekeys left (PQXDH).
    pub one_time_kem_prekeys: u64,
    /// Whether a last-resort KEM prekey is stored (0 and false from a relay without KEM
    /// prekeys).
    pub has_last_resort_kem_prekey: bool,
}

impl From<proto::DirectoryStock> for Stock {
    fn from(s: proto::DirectoryStock) -> Self {
        Stock {
            one_time_prekeys: s.one_time_prekeys,
            key_packages: s.key_packages,
            has_signed_prekey: s.has_signed_prekey,
            has_last_resort: s.has_last_resort,
            low: s.low,
            one_time_kem_prekeys: s.one_time_kem_prekeys,
            has_last_resort_kem_prekey: s.has_last_resort_kem_prekey,
        }
    }
}

/// A page of a mailbox.
#[derive(Debug, Clone)]
pub struct FetchResult {
    /// Envelopes in sequence order.
    pub envelopes: Vec<Envelope>,
    /// Cursor for the next fetch.
    pub next_cursor: u64,
    /// The mailbox's directory stock.
    pub stock: Stock,
}

/// The lifecycle state of an envelope as the relay reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// In the mailbox.
    Stored,
    /// Acknowledged by the owner; with the relay-signed (and verified) receipt.
    Delivered(DeliveredReceipt),
    /// Removed unread after its TTL.
    Expired {
        /// When, Unix ms.
        at_ms: u64,
    },
}

/// The answer to a status query, verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The stored receipt (verified).
    pub stored: StoredReceipt,
    /// The current state.
    pub status: Status,
}

/// A Welcome (or any envelope) to store in a mailbox together with a commit.
#[derive(Debug, Clone)]
pub struct WelcomeDelivery {
    /// Recipient mailbox.
    pub mailbox: MailboxAddress,
    /// Envelope id.
    pub envelope_id: EnvelopeId,
    /// Opaque ciphertext.
    pub ciphertext: Vec<u8>,
}

/// Result of a group append.
#[derive(Debug, Clone)]
pub struct GroupAppendResult {
    /// Sequence number of the entry in the group log.
    pub seq: u64,
    /// The group's epoch after the append.
    pub current_epoch: u64,
    /// True when this exact commit had already been accepted.
    pub duplicate: bool,
    /// Verified stored receipts of the welcomes, in order.
    pub welcome_receipts: Vec<StoredReceipt>,
}

/// A page of a group log.
#[derive(Debug, Clone)]
pub struct GroupFetchResult {
    /// Entries in sequence order.
    pub entries: Vec<GroupEntry>,
    /// Cursor for the next fetch.
    pub next_cursor: u64,
    /// The group's epoch after its last commit, if any.
    pub current_epoch: Option<u64>,
}

pub(crate) fn fetch_result(f: proto::FetchResponse) -> Result<FetchResult, ClientError> {
    let mut envelopes = Vec::with_capacity(f.envelopes.len());
    for e in f.envelopes {
        envelopes.push(Envelope {
            seq: e.seq,
            envelope_id: EnvelopeId::new(e.envelope_id)?,
            stored_at_ms: e.stored_at_ms,
            expires_at_ms: e.expires_at_ms,
            ciphertext: e.ciphertext,
        });
    }
    Ok(FetchResult {
        envelopes,
        next_cursor: f.next_cursor,
        stock: f.stock.map(Stock::from).unwrap_or_default(),
    })
}

pub(crate) fn group_result(f: proto::GroupFetchResponse) -> Result<GroupFetchResult, ClientError> {
    let mut entries = Vec::with_capacity(f.entries.len());
    for e in f.entries {
        let kind = match proto::GroupMessageKind::try_from(e.kind) {
            Ok(proto::GroupMessageKind::Commit) => GroupMessageKind::Commit,
            Ok(proto::GroupMessageKind::Proposal) => GroupMessageKind::Proposal,
            Ok(proto::GroupMessageKind::Application) => GroupMessageKind::Application,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        entries.push(GroupEntry {
            seq: e.seq,
            epoch: e.epoch,
            kind,
            stored_at_ms: e.stored_at_ms,
            message: e.message,
        });
    }
    Ok(GroupFetchResult {
        entries,
        next_cursor: f.next_cursor,
        current_epoch: f.current_epoch,
    })
}
