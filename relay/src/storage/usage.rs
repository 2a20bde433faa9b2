//! What the store holds, summed over the whole relay: the input of the relay-wide storage cap
//! (`max_storage_bytes`, spec/relay-protocol.md §5 "Relay-wide storage cap") and of the
//! storage gauges.

/// Totals of everything a relay stores on behalf of clients. Byte counts are payload bytes
/// (ciphertext, group messages, directory blobs), not the space the backend spends on keys,
/// indexes and receipts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Envelopes in mailboxes (welcomes included).
    pub envelopes: u64,
    /// Their ciphertext bytes.
    pub envelope_bytes: u64,
    /// Group log entries.
    pub group_entries: u64,
    /// Their message bytes.
    pub group_bytes: u64,
    /// Directory entries: signed prekeys, one-time prekeys, KeyPackages and last-resort
    /// KeyPackages.
    pub directory_entries: u64,
    /// Their blob bytes.
    pub directory_bytes: u64,
}

impl StorageUsage {
    /// The bytes counted against the relay-wide cap: envelopes, group log and directory.
    pub fn total_bytes(&self) -> u64 {
        self.envelope_bytes
            .saturating_add(self.group_bytes)
            .saturating_add(self.directory_bytes)
    }
}
