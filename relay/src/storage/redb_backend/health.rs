//! The health probe of the embedded backend (`/readyz`): table `health` (bytes to bytes, like
//! every table the backup copies generically), created at open, where each probe records the
//! time it ran (big-endian `u64` milliseconds) under the key `probe`. The write goes through
//! the writer thread like every other one and answers after its commit (with fsync), so a
//! successful probe shows that the writer runs and the file takes writes.

use super::*;

pub(super) const HEALTH: TableDefinition<Bytes, Bytes> = TableDefinition::new("health");

/// Records the probe time.
pub(super) fn probe_tx(txn: &WriteTransaction) -> Result<(), StorageError> {
    let now = crate::types::now_ms().to_be_bytes();
    txn.open_table(HEALTH)?
        .insert(b"probe".as_slice(), now.as_slice())?;
    Ok(())
}
