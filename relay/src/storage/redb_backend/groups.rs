//! Group logs: appends (with the epoch check of commits and their welcomes, all in one
//! operation) and pages.

use super::envelopes::{check_envelopes, put_envelope_tx};
use super::*;

fn group_entry(seq: u64, row: GroupEntryRow) -> Result<GroupEntry, StorageError> {
    Ok(GroupEntry {
        seq,
        epoch: row.epoch,
        kind: GroupMessageKind::from_u8(row.kind as u8)
            .ok_or_else(|| StorageError::Corrupt("group entry kind".into()))?,
        stored_at_ms: row.stored_at_ms,
        message: row.message,
    })
}

/// Appends `msg` to its group's log and stores the welcomes (see [`Storage::append_group`]).
pub(super) fn append_group_tx(
    txn: &WriteTransaction,
    msg: NewGroupMessage,
    welcomes: Vec<NewEnvelope>,
    quota: MailboxQuota,
) -> Result<GroupAppendOutcome, StorageError> {
    let g = msg.group.digest();
    let mut row = {
        let groups = txn.open_table(GROUPS)?;
        get_row::<GroupRow>(&groups, &g, "group")?.unwrap_or_default()
    };
    let digest = sha256(&[&msg.message]);
    let is_commit = msg.kind == GroupMessageKind::Commit;
    if is_commit && msg.epoch == u64::MAX {
        return Err(StorageError::LastEpoch);
    }
    if is_commit
        && let Some(cur) = row.current_epoch
        && msg.epoch != cur
    {
        let retry = msg.epoch.checked_add(1) == Some(cur) && row.last_commit_digest == digest;
        if !retry {
            return Err(StorageError::EpochConflict { current: cur });
        }
        check_envelopes(txn, &welcomes, quota)?;
        let mut outs = Vec::with_capacity(welcomes.len());
        for w in &welcomes {
            outs.push(put_envelope_tx(txn, w, quota)?);
        }
        return Ok(GroupAppendOutcome {
            seq: row.last_commit_seq,
            current_epoch: Some(cur),
            duplicate: true,
            welcomes: outs,
        });
    }
    check_envelopes(txn, &welcomes, quota)?;
    // Checks done: from here on only writes.
    let seq = row.next_seq;
    row.next_seq += 1;
    if is_commit {
        row.current_epoch = Some(msg.epoch + 1);
        row.last_commit_digest = digest.to_vec();
        row.last_commit_seq = seq;
    }
    txn.open_table(GROUPS)?
        .insert(g.as_slice(), row.encode_to_vec().as_slice())?;
    let entry = GroupEntryRow {
        epoch: msg.epoch,
        kind: msg.kind.to_u8() as u32,
        stored_at_ms: msg.now_ms,
        message: msg.message,
        expires_at_ms: msg.expires_at_ms,
    };
    txn.open_table(GROUP_LOG)?.insert(
        key_prefix_u64(&g, seq).as_slice(),
        entry.encode_to_vec().as_slice(),
    )?;
    txn.open_table(GROUP_EXPIRY)?.insert(
        expiry_key(msg.expires_at_ms, &g, seq).as_slice(),
        [].as_slice(),
    )?;
    let mut outs = Vec::with_capacity(welcomes.len());
    for w in &welcomes {
        outs.push(put_envelope_tx(txn, w, quota)?);
    }
    Ok(GroupAppendOutcome {
        seq,
        current_epoch: row.current_epoch,
        duplicate: false,
        welcomes: outs,
    })
}

/// A page of `group`'s log and its current epoch, from one snapshot.
pub(super) fn fetch_group_rx(
    txn: &ReadTransaction,
    group: GroupId,
    cursor: u64,
    limit: usize,
    max_bytes: usize,
    now_ms: u64,
) -> Result<GroupPage, StorageError> {
    let g = group.digest();
    let groups = txn.open_table(GROUPS)?;
    let current_epoch = get_row::<GroupRow>(&groups, &g, "group")?.and_then(|r| r.current_epoch);
    let log = txn.open_table(GROUP_LOG)?;
    let lo = key_prefix_u64(&g, cursor);
    let hi = key_prefix_u64(&g, u64::MAX);
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for item in log.range(lo.as_slice()..=hi.as_slice())? {
        let (k, v) = item?;
        let row: GroupEntryRow = decode("group entry", v.value())?;
        if row.expires_at_ms <= now_ms {
            continue;
        }
        if !entries.is_empty() && bytes + row.message.len() > max_bytes {
            break;
        }
        bytes += row.message.len();
        entries.push(group_entry(trailing_u64(k.value())?, row)?);
        if entries.len() >= limit {
            break;
        }
    }
    Ok(GroupPage {
        entries,
        current_epoch,
    })
}
