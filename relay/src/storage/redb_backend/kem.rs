//! The KEM prekeys (PQXDH) of the embedded backend: one-time KEM prekeys, handed out at most
//! once like one-time prekeys, and the last-resort KEM prekey, handed out when none is left.
//! Their count per mailbox has its own table, so files written before KEM prekeys existed
//! keep their [`DIRECTORY_COUNTS`] rows unchanged.

use super::*;

/// One-time KEM prekeys, keyed by `address || id` (the blob is the value).
pub(super) const ONE_TIME_KEM_PREKEYS: TableDefinition<Bytes, Bytes> =
    TableDefinition::new("one_time_kem_prekeys");
/// The last-resort KEM prekey of a mailbox (a [`KemPrekeyRow`]), keyed by the address.
pub(super) const LAST_RESORT_KEM: TableDefinition<Bytes, Bytes> =
    TableDefinition::new("last_resort_kem_prekeys");
/// Per mailbox, how many one-time KEM prekeys it has stored (a big-endian u64; no row: 0).
pub(super) const KEM_COUNTS: TableDefinition<Bytes, Bytes> =
    TableDefinition::new("directory_kem_counts");

/// The last-resort KEM prekey of a mailbox.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct KemPrekeyRow {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(bytes = "vec", tag = "2")]
    pub blob: Vec<u8>,
}

/// The mailbox's one-time KEM prekey count.
pub(super) fn kem_count(
    t: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<u64, StorageError> {
    match t.get(a.as_slice())? {
        None => Ok(0),
        Some(g) => <[u8; 8]>::try_from(g.value())
            .map(u64::from_be_bytes)
            .map_err(|_| StorageError::Corrupt("KEM prekey count".into())),
    }
}

fn set_kem_count(
    t: &mut Table<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
    n: u64,
) -> Result<(), StorageError> {
    if n == 0 {
        t.remove(a.as_slice())?;
    } else {
        t.insert(a.as_slice(), n.to_be_bytes().as_slice())?;
    }
    Ok(())
}

/// Whether the mailbox has a last-resort KEM prekey.
pub(super) fn has_last_resort(
    t: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<bool, StorageError> {
    Ok(t.get(a.as_slice())?.is_some())
}

/// The one-time KEM prekey count an upload would leave (checked against `max_stock` before
/// anything is written): with `replace`, the distinct ids uploaded; else those stored plus
/// the uploaded ids not yet stored.
pub(super) fn check_kem_upload(
    txn: &WriteTransaction,
    a: &[u8; 32],
    ids: &BTreeSet<u64>,
    max_stock: u64,
    replace: bool,
) -> Result<u64, StorageError> {
    let (have, new) = if replace {
        (0, ids.len() as u64)
    } else {
        let t = txn.open_table(ONE_TIME_KEM_PREKEYS)?;
        let mut new = 0u64;
        for id in ids {
            if t.get(key_prefix_u64(a, *id).as_slice())?.is_none() {
                new += 1;
            }
        }
        (kem_count(&txn.open_table(KEM_COUNTS)?, a)?, new)
    };
    if have + new > max_stock {
        return Err(StorageError::DirectoryFull(format!(
            "{have} one-time KEM prekeys stored, {new} more would exceed {max_stock}"
        )));
    }
    Ok(have + new)
}

/// Writes the KEM part of an upload whose count [`check_kem_upload`] computed as `total`.
pub(super) fn put_kem_tx(
    txn: &WriteTransaction,
    a: &[u8; 32],
    one_time: &[KemPrekey],
    last_resort: Option<KemPrekey>,
    total: u64,
    replace: bool,
) -> Result<(), StorageError> {
    {
        let mut t = txn.open_table(ONE_TIME_KEM_PREKEYS)?;
        if replace {
            let mut keys = Vec::new();
            for item in
                t.range(key_prefix_u64(a, 0).as_slice()..=key_prefix_u64(a, u64::MAX).as_slice())?
            {
                let (k, _) = item?;
                keys.push(k.value().to_vec());
            }
            for k in keys {
                t.remove(k.as_slice())?;
            }
        }
        for k in one_time {
            t.insert(key_prefix_u64(a, k.id).as_slice(), k.blob.as_slice())?;
        }
        set_kem_count(&mut txn.open_table(KEM_COUNTS)?, a, total)?;
    }
    if let Some(k) = last_resort {
        let row = KemPrekeyRow {
            id: k.id,
            blob: k.blob,
        };
        txn.open_table(LAST_RESORT_KEM)?
            .insert(a.as_slice(), row.encode_to_vec().as_slice())?;
    }
    Ok(())
}

/// Takes the mailbox's first one-time KEM prekey, or else gives its last-resort one (kept):
/// `(prekey, last_resort)`, `None` when it has neither.
pub(super) fn take_kem_tx(
    txn: &WriteTransaction,
    a: &[u8; 32],
) -> Result<Option<(KemPrekey, bool)>, StorageError> {
    let mut t = txn.open_table(ONE_TIME_KEM_PREKEYS)?;
    let first = {
        let mut r =
            t.range(key_prefix_u64(a, 0).as_slice()..=key_prefix_u64(a, u64::MAX).as_slice())?;
        match r.next() {
            None => None,
            Some(item) => {
                let (k, v) = item?;
                Some((k.value().to_vec(), v.value().to_vec()))
            }
        }
    };
    if let Some((k, blob)) = first {
        t.remove(k.as_slice())?;
        let mut counts = txn.open_table(KEM_COUNTS)?;
        let n = kem_count(&counts, a)?;
        set_kem_count(&mut counts, a, n.saturating_sub(1))?;
        return Ok(Some((
            KemPrekey {
                id: trailing_u64(&k)?,
                blob,
            },
            false,
        )));
    }
    let last = txn.open_table(LAST_RESORT_KEM)?;
    match get_row::<KemPrekeyRow>(&last, a, "last-resort KEM prekey")? {
        None => Ok(None),
        Some(r) => Ok(Some((
            KemPrekey {
                id: r.id,
                blob: r.blob,
            },
            true,
        ))),
    }
}

/// Adds the mailbox's KEM prekey count and last-resort flag to `stock`.
pub(super) fn fill_stock(
    counts: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    last: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
    stock: &mut DirectoryStock,
) -> Result<(), StorageError> {
    stock.one_time_kem_prekeys = kem_count(counts, a)?;
    stock.has_last_resort_kem_prekey = has_last_resort(last, a)?;
    Ok(())
}

/// Adds the KEM prekeys to a storage usage measurement.
pub(super) fn add_usage(txn: &ReadTransaction, u: &mut StorageUsage) -> Result<(), StorageError> {
    for item in txn.open_table(ONE_TIME_KEM_PREKEYS)?.iter()? {
        let (_, v) = item?;
        u.directory_entries += 1;
        u.directory_bytes = u.directory_bytes.saturating_add(v.value().len() as u64);
    }
    for item in txn.open_table(LAST_RESORT_KEM)?.iter()? {
        let (_, v) = item?;
        let row: KemPrekeyRow = decode("last-resort KEM prekey", v.value())?;
        u.directory_entries += 1;
        u.directory_bytes = u.directory_bytes.saturating_add(row.blob.len() as u64);
    }
    Ok(())
}
