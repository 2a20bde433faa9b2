//! GROUP_APPEND: add a handshake or application message to a group log. The first commit for
//! the current epoch wins; any other commit gets `epoch conflict, current epoch is N`.
//! Welcomes that come with a commit are stored in their mailboxes in the same transaction.

use super::send::{new_envelope, quota};
use super::{CmdError, Context};
use crate::notify::Topic;
use crate::proto::{self, GroupMessageKind as WireKind, response};
use crate::storage::{GroupMessageKind, NewGroupMessage};
use crate::types::{GroupId, StoredReceipt};

/// Most welcomes with one commit.
const MAX_WELCOMES: usize = 100;

pub(crate) fn kind_from_wire(k: i32) -> Result<GroupMessageKind, CmdError> {
    match WireKind::try_from(k) {
        Ok(WireKind::Commit) => Ok(GroupMessageKind::Commit),
        Ok(WireKind::Proposal) => Ok(GroupMessageKind::Proposal),
        Ok(WireKind::Application) => Ok(GroupMessageKind::Application),
        _ => Err(CmdError::malformed("unknown group message kind")),
    }
}

pub(crate) fn kind_to_wire(k: GroupMessageKind) -> WireKind {
    match k {
        GroupMessageKind::Commit => WireKind::Commit,
        GroupMessageKind::Proposal => WireKind::Proposal,
        GroupMessageKind::Application => WireKind::Application,
    }
}

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::GroupAppendRequest,
) -> Result<response::Body, CmdError> {
    let shared = &ctx.shared;
    let group = GroupId::new(req.group_id)?;
    let kind = kind_from_wire(req.kind)?;
    if req.message.is_empty() {
        return Err(CmdError::malformed("empty group message"));
    }
    if req.message.len() > shared.config.max_envelope_bytes {
        return Err(CmdError::new(
            proto::ErrorCode::EnvelopeTooLarge,
            "group message exceeds the maximum envelope size",
        ));
    }
    if kind == GroupMessageKind::Commit && req.epoch == u64::MAX {
        // It would move the group to an epoch that does not exist.
        return Err(CmdError::malformed(
            "a commit's epoch must be below 2^64 - 1",
        ));
    }
    if !req.welcomes.is_empty() && kind != GroupMessageKind::Commit {
        return Err(CmdError::malformed("welcomes only travel with a commit"));
    }
    if req.welcomes.len() > MAX_WELCOMES {
        return Err(CmdError::malformed(format!(
            "at most {MAX_WELCOMES} welcomes"
        )));
    }
    let now = ctx.shared.config.clock.now_ms();
    let mut welcomes = Vec::with_capacity(req.welcomes.len());
    let mut total = req.message.len();
    for w in req.welcomes {
        total += w.ciphertext.len();
        welcomes.push(new_envelope(
            shared,
            &w.mailbox_address,
            w.envelope_id,
            w.ciphertext,
            now,
        )?);
    }
    if total > shared.config.max_frame_bytes {
        return Err(CmdError::new(
            proto::ErrorCode::FrameTooLarge,
            "commit and welcomes exceed the frame size",
        ));
    }
    let ids: Vec<_> = welcomes.iter().map(|w| w.envelope_id.clone()).collect();
    let msg = NewGroupMessage {
        group: group.clone(),
        epoch: req.epoch,
        kind,
        message: req.message,
        now_ms: now,
        expires_at_ms: now.saturating_add(shared.config.ttl.as_millis() as u64),
    };
    let admitted = shared
        .capacity
        .admit(&*shared.storage, total as u64)
        .await?;
    let out = shared
        .storage
        .append_group(msg, welcomes, quota(shared))
        .await?;
    if !out.duplicate {
        admitted.keep();
        shared.notifier.notify(Topic::Group(group.digest()));
    }
    let mut receipts = Vec::with_capacity(ids.len());
    for (id, w) in ids.into_iter().zip(out.welcomes.iter()) {
        if !w.duplicate {
            metrics::counter!("hush_relay_envelopes_stored_total").increment(1);
            shared.notifier.notify(Topic::Mailbox(w.mailbox.0));
        }
        receipts.push(
            StoredReceipt::sign(&shared.receipt_key, id, w.mailbox, w.stored_at_ms).to_proto(),
        );
    }
    Ok(response::Body::GroupAppend(proto::GroupAppendResponse {
        seq: out.seq,
        current_epoch: out.current_epoch.unwrap_or(0),
        welcome_receipts: receipts,
        duplicate: out.duplicate,
    }))
}
