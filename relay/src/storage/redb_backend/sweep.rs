//! The expiry sweep: expired envelopes, forgotten envelope ids and expired group log
//! entries, each index in key (time) order, at most [`SWEEP_LIMIT`] items of each per sweep.

use super::envelopes::remove_envelope_tx;
use super::*;

/// Most items one sweep removes per index (the next sweep continues).
const SWEEP_LIMIT: usize = 10_000;

/// Keys of `table` below `limit_exclusive`, at most `n`.
fn keys_below(
    t: &Table<Bytes<'static>, Bytes<'static>>,
    limit_exclusive: &[u8],
    n: usize,
) -> Result<Vec<Vec<u8>>, StorageError> {
    let mut out = Vec::new();
    for item in t.range(..limit_exclusive)? {
        let (k, _) = item?;
        out.push(k.value().to_vec());
        if out.len() >= n {
            break;
        }
    }
    Ok(out)
}

/// Removes what is due at `now_ms`.
pub(super) fn sweep_tx(txn: &WriteTransaction, now_ms: u64) -> Result<SweepReport, StorageError> {
    let mut report = SweepReport::default();
    let bound = now_ms.saturating_add(1).to_be_bytes();
    let expired = {
        let t = txn.open_table(EXPIRY)?;
        keys_below(&t, &bound, SWEEP_LIMIT)?
    };
    for k in expired {
        let (a, seq) = parse_expiry_key(&k)?;
        let at = trailing_u64(&k[..8])?;
        if let Some((len, _)) = remove_envelope_tx(txn, &a, seq, |_| (STATE_EXPIRED, at))? {
            report.envelopes_expired += 1;
            report.bytes_expired += len;
        } else {
            txn.open_table(EXPIRY)?.remove(k.as_slice())?;
        }
    }
    let forgotten = {
        let t = txn.open_table(FORGET)?;
        keys_below(&t, &bound, SWEEP_LIMIT)?
    };
    {
        let mut forget = txn.open_table(FORGET)?;
        let mut index = txn.open_table(ENVELOPE_INDEX)?;
        for k in forgotten {
            let Some(id) = k.get(8..) else {
                return Err(StorageError::Corrupt("forget key length".into()));
            };
            // Only forget ids whose envelope is gone (an ack or the sweep removed it);
            // a still-stored one waits for its expiry.
            match get_row::<IndexRow>(&index, id, "index")? {
                Some(row) if row.state == STATE_STORED => {}
                Some(_) => {
                    forget.remove(k.as_slice())?;
                    index.remove(id)?;
                    report.ids_forgotten += 1;
                }
                None => {
                    forget.remove(k.as_slice())?;
                }
            }
        }
    }
    let group_expired = {
        let t = txn.open_table(GROUP_EXPIRY)?;
        keys_below(&t, &bound, SWEEP_LIMIT)?
    };
    {
        let mut gexp = txn.open_table(GROUP_EXPIRY)?;
        let mut log = txn.open_table(GROUP_LOG)?;
        for k in group_expired {
            let (g, seq) = parse_expiry_key(&k)?;
            gexp.remove(k.as_slice())?;
            if log.remove(key_prefix_u64(&g, seq).as_slice())?.is_some() {
                report.group_entries_expired += 1;
            }
        }
    }
    Ok(report)
}
