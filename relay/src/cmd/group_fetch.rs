//! GROUP_FETCH: read a group log from a sequence cursor.

use super::group_append::kind_to_wire;
use super::{CmdError, Context, page_bytes, page_limit};
use crate::proto::{self, response};
use crate::storage::{GroupEntry, GroupPage};
use crate::types::GroupId;

pub(crate) fn entry_to_proto(e: GroupEntry) -> proto::GroupEntry {
    proto::GroupEntry {
        seq: e.seq,
        epoch: e.epoch,
        kind: kind_to_wire(e.kind) as i32,
        stored_at_ms: e.stored_at_ms,
        message: e.message,
    }
}

pub(crate) fn page_to_proto(page: GroupPage, cursor: u64) -> proto::GroupFetchResponse {
    let next_cursor = page.entries.last().map(|e| e.seq + 1).unwrap_or(cursor);
    proto::GroupFetchResponse {
        entries: page.entries.into_iter().map(entry_to_proto).collect(),
        next_cursor,
        current_epoch: page.current_epoch,
    }
}

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::GroupFetchRequest,
) -> Result<response::Body, CmdError> {
    let group = GroupId::new(req.group_id)?;
    let page = ctx
        .shared
        .storage
        .fetch_group(
            group,
            req.cursor,
            page_limit(req.limit),
            page_bytes(ctx),
            ctx.shared.config.clock.now_ms(),
        )
        .await?;
    Ok(response::Body::GroupFetch(page_to_proto(page, req.cursor)))
}
