//! Group logs: appends (one routine call, with the welcomes in the same transaction) and
//! pages.

use super::envelopes::put_envelope_on;
use super::*;

/// Appends one message to a group log with one call of the `hush_append_group_1` routine
/// (see [`pg_schema::ROUTINES`]; the group row is locked, so appends to one group are serial
/// across all nodes and the epoch check and move are one compare-and-set), then stores the
/// welcomes, all in `c`'s transaction when it has one. A repeat of the group's last commit
/// stores its welcomes again (each answers "duplicate" if it was stored) and wakes again, as a
/// repeated send does: the first attempt's wake-up may be lost.
async fn append_group_on<C: GenericClient>(
    c: &C,
    msg: &NewGroupMessage,
    welcomes: &[NewEnvelope],
    quota: MailboxQuota,
    wakes: &mut Vec<String>,
) -> Result<GroupAppendOutcome, Fail> {
    if msg.kind == GroupMessageKind::Commit && msg.epoch == u64::MAX {
        return Err(Fail::Storage(StorageError::LastEpoch));
    }
    let g = msg.group.digest();
    let digest = sha256(&[&msg.message]);
    let r = query_one(
        c,
        "SELECT * FROM hush_append_group_1($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &g.as_slice(),
            &flip(msg.epoch),
            &msg.epoch.checked_add(1).map(flip),
            &(msg.kind == GroupMessageKind::Commit),
            &i16::from(msg.kind.to_u8()),
            &digest.as_slice(),
            &to_i(msg.now_ms),
            &to_i(msg.expires_at_ms),
            &msg.message,
        ],
    )
    .await?;
    let outcome: i16 = r.get(0);
    let current_epoch = r.get::<_, Option<i64>>(2).map(unflip);
    match outcome {
        0 | 1 => {
            // In mailbox order (the lock order of every write), answered in the given order.
            let mut order: Vec<usize> = (0..welcomes.len()).collect();
            order.sort_by_key(|&i| welcomes[i].mailbox.0);
            let mut outs: Vec<Option<PutOutcome>> = vec![None; welcomes.len()];
            for i in order {
                outs[i] = Some(put_envelope_on(c, &welcomes[i], quota, wakes).await?);
            }
            let outs = outs.into_iter().flatten().collect();
            wakes.push(pg_listen::group_payload(&g));
            Ok(GroupAppendOutcome {
                seq: to_u(r.get(1)),
                current_epoch,
                duplicate: outcome == 1,
                welcomes: outs,
            })
        }
        2 => Err(Fail::Storage(StorageError::EpochConflict {
            current: current_epoch.unwrap_or(msg.epoch),
        })),
        other => Err(corrupt(format!("append group: unknown outcome {other}"))),
    }
}

impl PgStorage {
    pub(super) async fn append_group_pg(
        &self,
        msg: NewGroupMessage,
        welcomes: Vec<NewEnvelope>,
        quota: MailboxQuota,
    ) -> Result<GroupAppendOutcome, StorageError> {
        // Without welcomes, one routine call that commits on its own; with welcomes, the
        // call and the welcomes' stores in one transaction.
        if welcomes.is_empty() {
            on_client!(self, "append group", |c, wakes| append_group_on(
                &c, &msg, &welcomes, quota, &mut wakes
            ))
        } else {
            in_tx!(self, "append group", |tx, wakes| append_group_on(
                &tx, &msg, &welcomes, quota, &mut wakes
            ))
        }
    }

    pub(super) async fn fetch_group_pg(
        &self,
        group: GroupId,
        cursor: u64,
        limit: usize,
        max_bytes: usize,
        now_ms: u64,
    ) -> Result<GroupPage, StorageError> {
        let g = group.digest();
        let n = to_i(limit.clamp(1, FETCH_LIMIT) as u64);
        // One statement, so the epoch and the entries come from one snapshot.
        let rows = on_client!(self, "fetch group", |c| async {
            query(
                &c,
                "SELECT g.current_epoch, l.seq, l.epoch, l.kind, l.stored_at_ms, l.message
                     FROM hush_groups g LEFT JOIN LATERAL (
                         SELECT seq, epoch, kind, stored_at_ms, message FROM hush_group_log
                         WHERE group_digest = g.group_digest AND seq >= $2 AND expires_at_ms > $3
                         ORDER BY seq LIMIT $4) l ON true
                     WHERE g.group_digest = $1
                     ORDER BY l.seq",
                &[&g.as_slice(), &to_i(cursor), &to_i(now_ms), &n],
            )
            .await
        })?;
        let mut page = GroupPage {
            entries: Vec::new(),
            current_epoch: None,
        };
        let mut bytes = 0usize;
        for r in rows {
            page.current_epoch = r.get::<_, Option<i64>>(0).map(unflip);
            let Some(seq) = r.get::<_, Option<i64>>(1) else {
                continue;
            };
            let message: Vec<u8> = r.get(5);
            if !page.entries.is_empty() && bytes.saturating_add(message.len()) > max_bytes {
                break;
            }
            bytes = bytes.saturating_add(message.len());
            let kind: i16 = r.get(3);
            page.entries.push(GroupEntry {
                seq: to_u(seq),
                epoch: unflip(r.get(2)),
                kind: u8::try_from(kind)
                    .ok()
                    .and_then(GroupMessageKind::from_u8)
                    .ok_or_else(|| StorageError::Corrupt("group entry kind".into()))?,
                stored_at_ms: to_u(r.get(4)),
                message,
            });
        }
        Ok(page)
    }
}
