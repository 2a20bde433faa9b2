//! Row encodings (protobuf via `prost` derive) and key layouts of the embedded store.
//!
//! Keys are fixed-width big-endian so that byte order is numeric order: a mailbox's envelopes
//! are `address (32) || seq (8)`, expiry index entries `expires_at_ms (8) || ...`.

use super::StorageError;
use prost::Message;

/// An envelope row, keyed by `address || seq`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct EnvelopeRow {
    #[prost(bytes = "vec", tag = "1")]
    pub envelope_id: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub stored_at_ms: u64,
    #[prost(uint64, tag = "3")]
    pub expires_at_ms: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub ciphertext: Vec<u8>,
}

/// State codes of [`IndexRow::state`].
pub(crate) const STATE_STORED: u32 = 1;
pub(crate) const STATE_DELIVERED: u32 = 2;
pub(crate) const STATE_EXPIRED: u32 = 3;

/// What the relay remembers per envelope id, keyed by the id.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct IndexRow {
    #[prost(bytes = "vec", tag = "1")]
    pub mailbox: Vec<u8>,
    #[prost(uint64, tag = "2")]
    pub seq: u64,
    #[prost(uint32, tag = "3")]
    pub state: u32,
    #[prost(uint64, tag = "4")]
    pub stored_at_ms: u64,
    #[prost(uint64, tag = "5")]
    pub expires_at_ms: u64,
    /// When the state last changed (delivered or expired).
    #[prost(uint64, tag = "6")]
    pub state_at_ms: u64,
    /// SHA-256 of the ciphertext, to tell an idempotent retry from a conflicting reuse.
    #[prost(bytes = "vec", tag = "7")]
    pub digest: Vec<u8>,
    #[prost(uint64, tag = "8")]
    pub forget_at_ms: u64,
}

/// Per-mailbox counters, keyed by the address.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct MailboxRow {
    #[prost(uint64, tag = "1")]
    pub next_seq: u64,
    #[prost(uint64, tag = "2")]
    pub count: u64,
    #[prost(uint64, tag = "3")]
    pub bytes: u64,
}

/// The signed prekey of a mailbox.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct SignedPrekeyRow {
    #[prost(uint32, tag = "1")]
    pub id: u32,
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
}

/// Per-group state, keyed by SHA-256 of the group id.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct GroupRow {
    #[prost(uint64, tag = "1")]
    pub next_seq: u64,
    #[prost(uint64, optional, tag = "2")]
    pub current_epoch: Option<u64>,
    #[prost(bytes = "vec", tag = "3")]
    pub last_commit_digest: Vec<u8>,
    #[prost(uint64, tag = "4")]
    pub last_commit_seq: u64,
}

/// A group log entry, keyed by `SHA-256(group id) || seq`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct GroupEntryRow {
    #[prost(uint64, tag = "1")]
    pub epoch: u64,
    #[prost(uint32, tag = "2")]
    pub kind: u32,
    #[prost(uint64, tag = "3")]
    pub stored_at_ms: u64,
    #[prost(bytes = "vec", tag = "4")]
    pub message: Vec<u8>,
    #[prost(uint64, tag = "5")]
    pub expires_at_ms: u64,
}

/// Decodes a row, mapping failure to [`StorageError::Corrupt`].
pub(crate) fn decode<M: Message + Default>(what: &str, bytes: &[u8]) -> Result<M, StorageError> {
    M::decode(bytes).map_err(|e| StorageError::Corrupt(format!("{what}: {e}")))
}

/// `a || b` for 32-byte prefixes and a u64.
pub(crate) fn key_prefix_u64(prefix: &[u8; 32], n: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&n.to_be_bytes());
    k
}

/// `time || prefix || seq`, the expiry index key.
pub(crate) fn expiry_key(at: u64, prefix: &[u8; 32], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(48);
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(prefix);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// Splits an expiry key back into `(prefix, seq)`.
pub(crate) fn parse_expiry_key(k: &[u8]) -> Result<([u8; 32], u64), StorageError> {
    if k.len() != 48 {
        return Err(StorageError::Corrupt("expiry key length".into()));
    }
    let mut p = [0u8; 32];
    p.copy_from_slice(&k[8..40]);
    let mut s = [0u8; 8];
    s.copy_from_slice(&k[40..48]);
    Ok((p, u64::from_be_bytes(s)))
}

/// `time || envelope id`, the forget index key.
pub(crate) fn forget_key(at: u64, id: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(id);
    k
}

/// `prefix || suffix` for a 32-byte prefix.
pub(crate) fn key_prefix_bytes(prefix: &[u8; 32], suffix: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(32 + suffix.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(suffix);
    k
}

/// Reads the big-endian u64 at the end of a key.
pub(crate) fn trailing_u64(k: &[u8]) -> Result<u64, StorageError> {
    let n = k.len();
    if n < 8 {
        return Err(StorageError::Corrupt("key too short".into()));
    }
    let mut s = [0u8; 8];
    s.copy_from_slice(&k[n - 8..]);
    Ok(u64::from_be_bytes(s))
}
