//! Mailboxes and their envelopes: pages, stores (with their quota and id checks), acks,
//! removals and the status of an envelope id.

use super::*;

/// Envelopes of `mailbox` from `cursor` (see [`Storage::fetch_envelopes`]), and whether the
/// page reached the end of the mailbox in this snapshot.
pub(super) fn envelopes_from(
    txn: &ReadTransaction,
    mailbox: MailboxAddress,
    cursor: u64,
    limit: usize,
    max_bytes: usize,
    now_ms: u64,
) -> Result<(Vec<StoredEnvelope>, bool), StorageError> {
    let t = txn.open_table(ENVELOPES)?;
    let lo = key_prefix_u64(&mailbox.0, cursor);
    let hi = key_prefix_u64(&mailbox.0, u64::MAX);
    let mut out = Vec::new();
    let mut bytes = 0usize;
    for item in t.range(lo.as_slice()..=hi.as_slice())? {
        if !out.is_empty() && out.len() >= limit {
            return Ok((out, false)); // full, and there is at least one more key
        }
        let (k, v) = item?;
        let row: EnvelopeRow = decode("envelope", v.value())?;
        if row.expires_at_ms <= now_ms {
            continue;
        }
        if !out.is_empty() && bytes + row.ciphertext.len() > max_bytes {
            return Ok((out, false));
        }
        bytes += row.ciphertext.len();
        out.push(StoredEnvelope {
            seq: trailing_u64(k.value())?,
            envelope_id: EnvelopeId::new(row.envelope_id)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?,
            stored_at_ms: row.stored_at_ms,
            expires_at_ms: row.expires_at_ms,
            ciphertext: row.ciphertext,
        });
    }
    Ok((out, true))
}

/// Checks that `envs` can all be stored (ids free or idempotent, quotas respected).
pub(super) fn check_envelopes(
    txn: &WriteTransaction,
    envs: &[NewEnvelope],
    quota: MailboxQuota,
) -> Result<(), StorageError> {
    let index = txn.open_table(ENVELOPE_INDEX)?;
    let mailboxes = txn.open_table(MAILBOXES)?;
    let mut added: HashMap<[u8; 32], (u64, u64)> = HashMap::new();
    for env in envs {
        if let Some(row) = get_row::<IndexRow>(&index, env.envelope_id.as_bytes(), "index")? {
            if row.mailbox != env.mailbox.0 || row.digest != sha256(&[&env.ciphertext]) {
                return Err(StorageError::EnvelopeIdConflict);
            }
            continue;
        }
        let e = added.entry(env.mailbox.0).or_default();
        e.0 += 1;
        e.1 += env.ciphertext.len() as u64;
    }
    for (a, (n, b)) in added {
        let meta = get_row::<MailboxRow>(&mailboxes, &a, "mailbox")?.unwrap_or_default();
        if meta.count.saturating_add(n) > quota.max_count
            || meta.bytes.saturating_add(b) > quota.max_bytes
        {
            return Err(StorageError::QuotaExceeded {
                count: meta.count,
                bytes: meta.bytes,
                max_count: quota.max_count,
                max_bytes: quota.max_bytes,
            });
        }
    }
    Ok(())
}

pub(super) fn put_envelope_tx(
    txn: &WriteTransaction,
    env: &NewEnvelope,
    quota: MailboxQuota,
) -> Result<PutOutcome, StorageError> {
    let digest = sha256(&[&env.ciphertext]);
    let a = env.mailbox.0;
    let mut index = txn.open_table(ENVELOPE_INDEX)?;
    if let Some(row) = get_row::<IndexRow>(&index, env.envelope_id.as_bytes(), "index")? {
        if row.mailbox != a || row.digest != digest {
            return Err(StorageError::EnvelopeIdConflict);
        }
        return Ok(PutOutcome {
            mailbox: env.mailbox,
            seq: row.seq,
            stored_at_ms: row.stored_at_ms,
            duplicate: true,
        });
    }
    let mut mailboxes = txn.open_table(MAILBOXES)?;
    let mut meta = get_row::<MailboxRow>(&mailboxes, &a, "mailbox")?.unwrap_or_default();
    let len = env.ciphertext.len() as u64;
    if meta.count.saturating_add(1) > quota.max_count
        || meta.bytes.saturating_add(len) > quota.max_bytes
    {
        return Err(StorageError::QuotaExceeded {
            count: meta.count,
            bytes: meta.bytes,
            max_count: quota.max_count,
            max_bytes: quota.max_bytes,
        });
    }
    // Checks done: from here on only writes.
    let seq = meta.next_seq;
    meta.next_seq += 1;
    meta.count += 1;
    meta.bytes += len;
    mailboxes.insert(a.as_slice(), meta.encode_to_vec().as_slice())?;
    let row = EnvelopeRow {
        envelope_id: env.envelope_id.as_bytes().to_vec(),
        stored_at_ms: env.now_ms,
        expires_at_ms: env.expires_at_ms,
        ciphertext: env.ciphertext.clone(),
    };
    let mut envelopes = txn.open_table(ENVELOPES)?;
    envelopes.insert(
        key_prefix_u64(&a, seq).as_slice(),
        row.encode_to_vec().as_slice(),
    )?;
    let idx = IndexRow {
        mailbox: a.to_vec(),
        seq,
        state: STATE_STORED,
        stored_at_ms: env.now_ms,
        expires_at_ms: env.expires_at_ms,
        state_at_ms: env.now_ms,
        digest: digest.to_vec(),
        forget_at_ms: env.forget_at_ms,
    };
    index.insert(env.envelope_id.as_bytes(), idx.encode_to_vec().as_slice())?;
    let mut expiry = txn.open_table(EXPIRY)?;
    expiry.insert(
        expiry_key(env.expires_at_ms, &a, seq).as_slice(),
        [].as_slice(),
    )?;
    let mut forget = txn.open_table(FORGET)?;
    forget.insert(
        forget_key(env.forget_at_ms, env.envelope_id.as_bytes()).as_slice(),
        [].as_slice(),
    )?;
    Ok(PutOutcome {
        mailbox: env.mailbox,
        seq,
        stored_at_ms: env.now_ms,
        duplicate: false,
    })
}

/// Removes one envelope and marks its id `state` at `at`. Returns its size if it existed.
/// Removes an envelope and marks its id with the state and time `mark` gives for the
/// envelope's expiry time; returns its length and that state.
pub(super) fn remove_envelope_tx(
    txn: &WriteTransaction,
    a: &[u8; 32],
    seq: u64,
    mark: impl FnOnce(u64) -> (u32, u64),
) -> Result<Option<(u64, u32)>, StorageError> {
    let mut envelopes = txn.open_table(ENVELOPES)?;
    let key = key_prefix_u64(a, seq);
    let row: EnvelopeRow = match envelopes.remove(key.as_slice())? {
        None => return Ok(None),
        Some(g) => decode("envelope", g.value())?,
    };
    let len = row.ciphertext.len() as u64;
    let (state, at) = mark(row.expires_at_ms);
    let mut expiry = txn.open_table(EXPIRY)?;
    expiry.remove(expiry_key(row.expires_at_ms, a, seq).as_slice())?;
    let mut mailboxes = txn.open_table(MAILBOXES)?;
    if let Some(mut meta) = get_row::<MailboxRow>(&mailboxes, a, "mailbox")? {
        meta.count = meta.count.saturating_sub(1);
        meta.bytes = meta.bytes.saturating_sub(len);
        mailboxes.insert(a.as_slice(), meta.encode_to_vec().as_slice())?;
    }
    let mut index = txn.open_table(ENVELOPE_INDEX)?;
    if let Some(mut idx) = get_row::<IndexRow>(&index, &row.envelope_id, "index")?
        && idx.state == STATE_STORED
        && idx.mailbox == a.as_slice()
        && idx.seq == seq
    {
        idx.state = state;
        idx.state_at_ms = at;
        index.insert(row.envelope_id.as_slice(), idx.encode_to_vec().as_slice())?;
    }
    Ok(Some((len, state)))
}

/// A page of `mailbox` and its directory stock, from one snapshot.
pub(super) fn page_rx(
    txn: &ReadTransaction,
    mailbox: MailboxAddress,
    cursor: u64,
    limit: usize,
    max_bytes: usize,
    now_ms: u64,
) -> Result<MailboxPage, StorageError> {
    let (envelopes, complete) = envelopes_from(txn, mailbox, cursor, limit, max_bytes, now_ms)?;
    Ok(MailboxPage {
        envelopes,
        stock: stock_rx(txn, &mailbox.0)?,
        complete,
    })
}

/// Acknowledges the envelopes `seqs` of `mailbox`: returns how many were delivered.
pub(super) fn ack_tx(
    txn: &WriteTransaction,
    mailbox: MailboxAddress,
    seqs: Vec<u64>,
    now_ms: u64,
) -> Result<u32, StorageError> {
    let mut n = 0u32;
    let unique: BTreeSet<u64> = seqs.into_iter().collect();
    for seq in unique {
        // Past its expiry an envelope stays expired, whenever the sweep runs.
        let removed = remove_envelope_tx(txn, &mailbox.0, seq, |expires| {
            if expires <= now_ms {
                (STATE_EXPIRED, expires)
            } else {
                (STATE_DELIVERED, now_ms)
            }
        })?;
        if let Some((_, STATE_DELIVERED)) = removed {
            n += 1;
        }
    }
    Ok(n)
}

/// What the relay knows of envelope `id`.
pub(super) fn status_rx(
    txn: &ReadTransaction,
    id: EnvelopeId,
    now_ms: u64,
) -> Result<Option<EnvelopeStatus>, StorageError> {
    let index = txn.open_table(ENVELOPE_INDEX)?;
    let Some(row) = get_row::<IndexRow>(&index, id.as_bytes(), "index")? else {
        return Ok(None);
    };
    let state = match row.state {
        STATE_STORED if row.expires_at_ms <= now_ms => EnvelopeState::Expired {
            at_ms: row.expires_at_ms,
        },
        STATE_STORED => EnvelopeState::Stored,
        STATE_DELIVERED => EnvelopeState::Delivered {
            at_ms: row.state_at_ms,
        },
        STATE_EXPIRED => EnvelopeState::Expired {
            at_ms: row.state_at_ms,
        },
        other => return Err(StorageError::Corrupt(format!("envelope state {other}"))),
    };
    Ok(Some(EnvelopeStatus {
        mailbox: MailboxAddress::from_slice(&row.mailbox)
            .map_err(|e| StorageError::Corrupt(e.to_string()))?,
        stored_at_ms: row.stored_at_ms,
        expires_at_ms: row.expires_at_ms,
        state,
    }))
}
