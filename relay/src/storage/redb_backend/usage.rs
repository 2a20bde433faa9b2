//! Storage usage in the embedded backend, measured on one read snapshot: the mailbox counters
//! (one row per mailbox) and the lengths of the group log entries and directory blobs. It
//! reads every group log entry and directory entry, so it runs on a blocking thread, never
//! on a request's task.

use super::*;

/// Sums what `txn` sees.
pub(super) fn usage_rx(txn: &ReadTransaction) -> Result<StorageUsage, StorageError> {
    let mut u = StorageUsage::default();
    for item in txn.open_table(MAILBOXES)?.iter()? {
        let (_, v) = item?;
        let row: MailboxRow = decode("mailbox", v.value())?;
        u.envelopes = u.envelopes.saturating_add(row.count);
        u.envelope_bytes = u.envelope_bytes.saturating_add(row.bytes);
    }
    for item in txn.open_table(GROUP_LOG)?.iter()? {
        let (_, v) = item?;
        let row: GroupEntryRow = decode("group entry", v.value())?;
        u.group_entries += 1;
        u.group_bytes = u.group_bytes.saturating_add(row.message.len() as u64);
    }
    for item in txn.open_table(SIGNED_PREKEYS)?.iter()? {
        let (_, v) = item?;
        let row: SignedPrekeyRow = decode("signed prekey", v.value())?;
        u.directory_entries += 1;
        u.directory_bytes = u.directory_bytes.saturating_add(row.blob.len() as u64);
    }
    // These three store the blob itself as the value.
    for table in [ONE_TIME_PREKEYS, KEY_PACKAGES, LAST_RESORT] {
        for item in txn.open_table(table)?.iter()? {
            let (_, v) = item?;
            u.directory_entries += 1;
            u.directory_bytes = u.directory_bytes.saturating_add(v.value().len() as u64);
        }
    }
    kem::add_usage(txn, &mut u)?;
    Ok(u)
}
