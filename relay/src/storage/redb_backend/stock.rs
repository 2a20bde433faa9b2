//! The directory stock of a mailbox (what a fetch of its page reports): the per-mailbox
//! counts of one-time prekeys and KeyPackages kept in [`DIRECTORY_COUNTS`], and the takes
//! that hand out one prekey bundle or KeyPackage.

use super::*;

pub(super) fn stock_of(
    counts: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    signed: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    last: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<DirectoryStock, StorageError> {
    let c = directory_counts(counts, a)?;
    Ok(DirectoryStock {
        one_time_prekeys: c.one_time_prekeys,
        key_packages: c.key_packages,
        has_signed_prekey: signed.get(a.as_slice())?.is_some(),
        has_last_resort: last.get(a.as_slice())?.is_some(),
        ..DirectoryStock::default()
    })
}

/// A mailbox's row of [`DIRECTORY_COUNTS`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct DirectoryCounts {
    pub(super) one_time_prekeys: u64,
    pub(super) key_packages: u64,
}

pub(super) fn directory_counts(
    t: &impl ReadableTable<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
) -> Result<DirectoryCounts, StorageError> {
    match t.get(a.as_slice())? {
        None => Ok(DirectoryCounts::default()),
        Some(g) => {
            let v = g.value();
            let (Ok(otpk), Ok(kps)) = (
                <[u8; 8]>::try_from(v.get(..8).unwrap_or_default()),
                <[u8; 8]>::try_from(v.get(8..).unwrap_or_default()),
            ) else {
                return Err(StorageError::Corrupt("directory counts".into()));
            };
            Ok(DirectoryCounts {
                one_time_prekeys: u64::from_be_bytes(otpk),
                key_packages: u64::from_be_bytes(kps),
            })
        }
    }
}

/// Writes a mailbox's counts (a mailbox with none has no row).
pub(super) fn set_directory_counts(
    t: &mut Table<Bytes<'static>, Bytes<'static>>,
    a: &[u8; 32],
    c: DirectoryCounts,
) -> Result<(), StorageError> {
    if c == DirectoryCounts::default() {
        t.remove(a.as_slice())?;
    } else {
        let mut v = [0u8; 16];
        v[..8].copy_from_slice(&c.one_time_prekeys.to_be_bytes());
        v[8..].copy_from_slice(&c.key_packages.to_be_bytes());
        t.insert(a.as_slice(), v.as_slice())?;
    }
    Ok(())
}

pub(super) fn stock_tx(
    txn: &WriteTransaction,
    a: &[u8; 32],
) -> Result<DirectoryStock, StorageError> {
    let counts = txn.open_table(DIRECTORY_COUNTS)?;
    let signed = txn.open_table(SIGNED_PREKEYS)?;
    let last = txn.open_table(LAST_RESORT)?;
    let mut stock = stock_of(&counts, &signed, &last, a)?;
    let kem_counts = txn.open_table(kem::KEM_COUNTS)?;
    let kem_last = txn.open_table(kem::LAST_RESORT_KEM)?;
    kem::fill_stock(&kem_counts, &kem_last, a, &mut stock)?;
    Ok(stock)
}

pub(super) fn stock_rx(
    txn: &ReadTransaction,
    a: &[u8; 32],
) -> Result<DirectoryStock, StorageError> {
    let counts = txn.open_table(DIRECTORY_COUNTS)?;
    let signed = txn.open_table(SIGNED_PREKEYS)?;
    let last = txn.open_table(LAST_RESORT)?;
    let mut stock = stock_of(&counts, &signed, &last, a)?;
    let kem_counts = txn.open_table(kem::KEM_COUNTS)?;
    let kem_last = txn.open_table(kem::LAST_RESORT_KEM)?;
    kem::fill_stock(&kem_counts, &kem_last, a, &mut stock)?;
    Ok(stock)
}

/// An owned key and value.
type KeyValue = (Vec<u8>, Vec<u8>);

/// First key/value of `lo..=hi`, owned.
fn first_in_range(
    t: &Table<Bytes<'static>, Bytes<'static>>,
    lo: &[u8],
    hi: &[u8],
) -> Result<Option<KeyValue>, StorageError> {
    let mut r = t.range(lo..=hi)?;
    match r.next() {
        None => Ok(None),
        Some(item) => {
            let (k, v) = item?;
            Ok(Some((k.value().to_vec(), v.value().to_vec())))
        }
    }
}

/// Takes the signed prekey, one one-time prekey (if any is left) and one one-time KEM prekey
/// (or else the last-resort KEM prekey, if any) of `mailbox`.
pub(super) fn take_prekey_bundle_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
) -> Result<Option<PrekeyBundle>, StorageError> {
    let a = mailbox.0;
    let signed = {
        let t = txn.open_table(SIGNED_PREKEYS)?;
        match get_row::<SignedPrekeyRow>(&t, &a, "signed prekey")? {
            None => return Ok(None),
            Some(r) => SignedPrekey {
                id: r.id,
                blob: r.blob,
            },
        }
    };
    let mut otpk = txn.open_table(ONE_TIME_PREKEYS)?;
    let first = first_in_range(&otpk, &key_prefix_u64(&a, 0), &key_prefix_u64(&a, u64::MAX))?;
    let one_time = match first {
        None => None,
        Some((k, blob)) => {
            otpk.remove(k.as_slice())?;
            let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
            let mut counts = directory_counts(&counts_t, &a)?;
            counts.one_time_prekeys = counts.one_time_prekeys.saturating_sub(1);
            set_directory_counts(&mut counts_t, &a, counts)?;
            Some(OneTimePrekey {
                id: trailing_u64(&k)?,
                blob,
            })
        }
    };
    let kem = kem::take_kem_tx(txn, &a)?;
    Ok(Some(PrekeyBundle {
        signed_prekey: signed,
        one_time_prekey: one_time,
        kem_prekey_last_resort: kem.as_ref().is_some_and(|(_, lr)| *lr),
        kem_prekey: kem.map(|(k, _)| k),
    }))
}

/// Takes one KeyPackage of `mailbox`, or else gives its last-resort one (kept).
pub(super) fn take_key_package_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
) -> Result<Option<KeyPackage>, StorageError> {
    let a = mailbox.0;
    let mut kps = txn.open_table(KEY_PACKAGES)?;
    if let Some((k, blob)) = first_in_range(
        &kps,
        &key_prefix_bytes(&a, &[0u8; 32]),
        &key_prefix_bytes(&a, &[0xffu8; 32]),
    )? {
        kps.remove(k.as_slice())?;
        let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
        let mut counts = directory_counts(&counts_t, &a)?;
        counts.key_packages = counts.key_packages.saturating_sub(1);
        set_directory_counts(&mut counts_t, &a, counts)?;
        return Ok(Some(KeyPackage {
            blob,
            last_resort: false,
        }));
    }
    let last = txn.open_table(LAST_RESORT)?;
    Ok(last.get(a.as_slice())?.map(|g| KeyPackage {
        blob: g.value().to_vec(),
        last_resort: true,
    }))
}
