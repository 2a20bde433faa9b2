//! How entries are named and encoded: a store key is `label || serde_json(key) || version`
//! (version as a big-endian u16), a value is the serde_json encoding of the entity openmls
//! hands over. `spec/groups.md` §8 lists the labels.

use super::error::StorageError;
use openmls_traits::storage::CURRENT_VERSION;
use serde::Serialize;
use serde::de::DeserializeOwned;

// One label per kind of entry. The byte strings are part of the persisted state format.
pub(super) const KEY_PACKAGE: &[u8] = b"KeyPackage";
pub(super) const PSK: &[u8] = b"Psk";
pub(super) const ENCRYPTION_KEY_PAIR: &[u8] = b"EncryptionKeyPair";
pub(super) const SIGNATURE_KEY_PAIR: &[u8] = b"SignatureKeyPair";
pub(super) const EPOCH_KEY_PAIRS: &[u8] = b"EpochKeyPairs";
pub(super) const TREE: &[u8] = b"Tree";
pub(super) const GROUP_CONTEXT: &[u8] = b"GroupContext";
pub(super) const INTERIM_TRANSCRIPT_HASH: &[u8] = b"InterimTranscriptHash";
pub(super) const CONFIRMATION_TAG: &[u8] = b"ConfirmationTag";
pub(super) const JOIN_CONFIG: &[u8] = b"MlsGroupJoinConfig";
pub(super) const OWN_LEAF_NODES: &[u8] = b"OwnLeafNodes";
pub(super) const GROUP_STATE: &[u8] = b"GroupState";
pub(super) const QUEUED_PROPOSAL: &[u8] = b"QueuedProposal";
pub(super) const PROPOSAL_QUEUE_REFS: &[u8] = b"ProposalQueueRefs";
pub(super) const OWN_LEAF_NODE_INDEX: &[u8] = b"OwnLeafNodeIndex";
pub(super) const EPOCH_SECRETS: &[u8] = b"EpochSecrets";
pub(super) const RESUMPTION_PSK_STORE: &[u8] = b"ResumptionPsk";
pub(super) const MESSAGE_SECRETS: &[u8] = b"MessageSecrets";

/// Capacity a value's encoding buffer starts with.
const INITIAL_BUFFER: usize = 256;

/// The serialized form of one key openmls addresses an entry by.
pub(super) fn key_part<K: Serialize + ?Sized>(key: &K) -> Result<Vec<u8>, StorageError> {
    serde_json::to_vec(key).map_err(|_| StorageError::Encode)
}

/// The key of the epoch key pairs of `leaf_index` in `epoch` of group `group_id`.
pub(super) fn epoch_key_pairs_part<G: Serialize, E: Serialize>(
    group_id: &G,
    epoch: &E,
    leaf_index: u32,
) -> Result<Vec<u8>, StorageError> {
    let mut out = key_part(group_id)?;
    out.extend_from_slice(&key_part(epoch)?);
    out.extend_from_slice(&key_part(&leaf_index)?);
    Ok(out)
}

/// The full store key: `label || key || CURRENT_VERSION`.
pub(super) fn store_key(label: &[u8], key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(label.len() + key.len() + 2);
    out.extend_from_slice(label);
    out.extend_from_slice(key);
    out.extend_from_slice(&CURRENT_VERSION.to_be_bytes());
    out
}

/// Overwrites a buffer's whole allocation with zeros and leaves it full of them
/// (`len == capacity`). A `memset` the optimizer must keep (`black_box` reads the bytes
/// afterwards): the `zeroize` crate's byte-by-byte volatile writes made large values (the
/// ratchet tree) cost several instructions per byte on every overwrite.
pub(super) fn zero_all(v: &mut Vec<u8>) {
    let capacity = v.capacity();
    v.fill(0);
    v.resize(capacity, 0);
    core::hint::black_box(v.as_slice());
    core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
}

/// Bytes that are zeroed ([`zero_all`]) when dropped: the store's values and list items.
#[derive(Default)]
pub(super) struct SecretBytes(pub(super) Vec<u8>);

impl Drop for SecretBytes {
    fn drop(&mut self) {
        zero_all(&mut self.0);
    }
}

impl core::ops::Deref for SecretBytes {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

/// Encodes a value into a buffer that wipes what it leaves behind as it grows.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<SecretBytes, StorageError> {
    encode_sized(value, 0)
}

/// [`encode`] into a buffer that starts with room for about `expected` bytes: an entry
/// being overwritten (the group's secret tree, its ratchet tree) is usually about as long as
/// its previous value, and a buffer of the right size is never moved and wiped on the way.
pub(super) fn encode_sized<T: Serialize + ?Sized>(
    value: &T,
    expected: usize,
) -> Result<SecretBytes, StorageError> {
    let capacity = expected.saturating_add(expected / 8).max(INITIAL_BUFFER);
    let mut buf = WipingBuf(SecretBytes(Vec::with_capacity(capacity)));
    serde_json::to_writer(&mut buf, value).map_err(|_| StorageError::Encode)?;
    Ok(buf.0)
}

/// Decodes a stored value.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    serde_json::from_slice(bytes).map_err(|_| StorageError::Decode)
}

/// A byte buffer for serializers: when it outgrows its allocation it moves to a larger one
/// and wipes the old one (a plain `Vec` would leave the copy in freed memory).
struct WipingBuf(SecretBytes);

impl WipingBuf {
    /// Moves to an allocation that fits `additional` more bytes; wipes the old one.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, additional: usize) {
        let v = &mut self.0.0;
        let needed = v.len().saturating_add(additional);
        let mut bigger = Vec::with_capacity(needed.max(v.capacity().saturating_mul(2)));
        bigger.extend_from_slice(v);
        // The old allocation is wiped as it drops.
        drop(SecretBytes(core::mem::replace(v, bigger)));
    }
}

// serde_json writes token by token: the common case (it fits) must inline to a copy.
impl std::io::Write for WipingBuf {
    #[inline(always)]
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.write_all(data).map(|()| data.len())
    }

    #[inline(always)]
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.0.0.capacity() - self.0.0.len() < data.len() {
            self.grow(data.len());
        }
        self.0.0.extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
