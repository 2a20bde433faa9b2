//! The state generation in the embedded backend: table `generations`, mailbox address to
//! `u64`, created at open (a mailbox without an entry is at generation 0). The
//! compare-and-set runs on the single writer, so it is atomic with respect to every other
//! write, and answers only after its commit is durable.

use super::*;

pub(super) const GENERATIONS: TableDefinition<Bytes, u64> = TableDefinition::new("generations");

/// The stored generation of `mailbox` (0 when none).
pub(super) fn read_rx(
    txn: &ReadTransaction,
    mailbox: &MailboxAddress,
) -> Result<u64, StorageError> {
    let t = txn.open_table(GENERATIONS)?;
    Ok(t.get(mailbox.0.as_slice())?.map(|v| v.value()).unwrap_or(0))
}

/// Sets the generation of `mailbox` to `next` if it is `expected`.
pub(super) fn advance_tx(
    txn: &WriteTransaction,
    mailbox: &MailboxAddress,
    expected: u64,
    next: u64,
) -> Result<GenerationOutcome, StorageError> {
    let mut t = txn.open_table(GENERATIONS)?;
    let current = t.get(mailbox.0.as_slice())?.map(|v| v.value()).unwrap_or(0);
    if current != expected {
        return Ok(GenerationOutcome {
            current,
            advanced: false,
        });
    }
    t.insert(mailbox.0.as_slice(), next)?;
    Ok(GenerationOutcome {
        current: next,
        advanced: true,
    })
}
