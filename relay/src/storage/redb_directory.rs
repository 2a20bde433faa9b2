//! The directory writes of the redb backend: prekey and KeyPackage uploads (adding to or
//! replacing a mailbox's stock) and the blind directory's fetch verifiers
//! (`spec/relay-protocol.md` §6.1).

use super::*;

/// Per mailbox address, the SHA-256 verifier of its directory fetch token (32 bytes).
pub(super) const DIRECTORY_VERIFIERS: TableDefinition<Bytes, Bytes> =
    TableDefinition::new("directory_verifiers");

/// Removes every key of `lo..=hi`.
fn remove_range(
    t: &mut Table<Bytes<'static>, Bytes<'static>>,
    lo: &[u8],
    hi: &[u8],
) -> Result<(), StorageError> {
    let mut keys = Vec::new();
    for item in t.range(lo..=hi)? {
        let (k, _) = item?;
        keys.push(k.value().to_vec());
    }
    for k in keys {
        t.remove(k.as_slice())?;
    }
    Ok(())
}

/// Stores the signed prekey and the last-resort KEM prekey (each if given) and adds one-time
/// prekeys and one-time KEM prekeys; with `replace_one_time`, the mailbox's one-time prekeys
/// and one-time KEM prekeys are removed first. Both stock limits are checked before anything
/// is written, so a refusal changes nothing.
pub(super) fn put_prekeys_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
    upload: PrekeyUpload,
    max_stock: u64,
) -> Result<DirectoryStock, StorageError> {
    let a = mailbox.0;
    let replace = upload.replace_one_time;
    let kem_ids: BTreeSet<u64> = upload.one_time_kem_prekeys.iter().map(|k| k.id).collect();
    let kem_total = super::kem::check_kem_upload(txn, &a, &kem_ids, max_stock, replace)?;
    {
        let mut otpk = txn.open_table(ONE_TIME_PREKEYS)?;
        let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
        let mut counts = directory_counts(&counts_t, &a)?;
        let ids: BTreeSet<u64> = upload.one_time_prekeys.iter().map(|k| k.id).collect();
        let (have, new) = if replace {
            (0, ids.len() as u64)
        } else {
            let mut new = 0u64;
            for id in &ids {
                if otpk.get(key_prefix_u64(&a, *id).as_slice())?.is_none() {
                    new += 1;
                }
            }
            (counts.one_time_prekeys, new)
        };
        if have + new > max_stock {
            return Err(StorageError::DirectoryFull(format!(
                "{have} one-time prekeys stored, {new} more would exceed {max_stock}"
            )));
        }
        if replace {
            remove_range(
                &mut otpk,
                &key_prefix_u64(&a, 0),
                &key_prefix_u64(&a, u64::MAX),
            )?;
        }
        for k in &upload.one_time_prekeys {
            otpk.insert(key_prefix_u64(&a, k.id).as_slice(), k.blob.as_slice())?;
        }
        counts.one_time_prekeys = have + new;
        set_directory_counts(&mut counts_t, &a, counts)?;
    }
    super::kem::put_kem_tx(
        txn,
        &a,
        &upload.one_time_kem_prekeys,
        upload.last_resort_kem_prekey,
        kem_total,
        replace,
    )?;
    if let Some(s) = upload.signed_prekey {
        let row = SignedPrekeyRow {
            id: s.id,
            blob: s.blob,
        };
        txn.open_table(SIGNED_PREKEYS)?
            .insert(a.as_slice(), row.encode_to_vec().as_slice())?;
    }
    stock_tx(txn, &a)
}

/// Adds KeyPackages and replaces the last-resort one (if given); with `replace`, the
/// mailbox's KeyPackages are removed first. Checked before anything is written.
pub(super) fn put_key_packages_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
    key_packages: Vec<Vec<u8>>,
    last_resort: Option<Vec<u8>>,
    max_stock: u64,
    replace: bool,
) -> Result<DirectoryStock, StorageError> {
    let a = mailbox.0;
    {
        let mut kps = txn.open_table(KEY_PACKAGES)?;
        let mut counts_t = txn.open_table(DIRECTORY_COUNTS)?;
        let mut counts = directory_counts(&counts_t, &a)?;
        let keys: BTreeSet<Vec<u8>> = key_packages
            .iter()
            .map(|kp| key_prefix_bytes(&a, &sha256(&[kp])))
            .collect();
        let (have, new) = if replace {
            (0, keys.len() as u64)
        } else {
            let mut new = 0u64;
            for k in &keys {
                if kps.get(k.as_slice())?.is_none() {
                    new += 1;
                }
            }
            (counts.key_packages, new)
        };
        if have + new > max_stock {
            return Err(StorageError::DirectoryFull(format!(
                "{have} KeyPackages stored, {new} more would exceed {max_stock}"
            )));
        }
        if replace {
            remove_range(
                &mut kps,
                &key_prefix_bytes(&a, &[0u8; 32]),
                &key_prefix_bytes(&a, &[0xffu8; 32]),
            )?;
        }
        for kp in &key_packages {
            let k = key_prefix_bytes(&a, &sha256(&[kp]));
            kps.insert(k.as_slice(), kp.as_slice())?;
        }
        counts.key_packages = have + new;
        set_directory_counts(&mut counts_t, &a, counts)?;
    }
    if let Some(lr) = last_resort {
        txn.open_table(LAST_RESORT)?
            .insert(a.as_slice(), lr.as_slice())?;
    }
    stock_tx(txn, &a)
}

/// Registers or replaces the mailbox's fetch verifier.
pub(super) fn set_fetch_verifier_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
    verifier: [u8; 32],
) -> Result<DirectoryStock, StorageError> {
    txn.open_table(DIRECTORY_VERIFIERS)?
        .insert(mailbox.0.as_slice(), verifier.as_slice())?;
    stock_tx(txn, &mailbox.0)
}

/// The mailbox's fetch verifier, if it has one.
pub(super) fn fetch_verifier_rx(
    txn: &ReadTransaction,
    mailbox: MailboxAddress,
) -> Result<Option<[u8; 32]>, StorageError> {
    let t = match txn.open_table(DIRECTORY_VERIFIERS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match t.get(mailbox.0.as_slice())? {
        None => Ok(None),
        Some(g) => <[u8; 32]>::try_from(g.value())
            .map(Some)
            .map_err(|_| StorageError::Corrupt("directory verifier".into())),
    }
}
