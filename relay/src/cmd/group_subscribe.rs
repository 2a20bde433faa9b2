//! GROUP_SUBSCRIBE: a group log from a cursor, then a push frame for every new entry while
//! the stream stays open.

use super::group_fetch::page_to_proto;
use super::subscribe::POLL_INTERVAL;
use super::{CmdError, Context, DEFAULT_FETCH, Sink, page_bytes};
use crate::frame::{self, PROTOCOL_VERSION};
use crate::notify::Topic;
use crate::proto::{self, response};
use crate::types::GroupId;

pub(crate) async fn handle<S: Sink>(
    ctx: &Context,
    req: proto::GroupSubscribeRequest,
    send: &mut S,
) -> Result<(), CmdError> {
    let group = GroupId::new(req.group_id)?;
    let shared = &ctx.shared;
    let mut shutdown = ctx.shutdown.clone();
    let topic = Topic::Group(group.digest());
    let mut cursor = req.cursor;
    let mut first = true;
    loop {
        let mut wake = shared.notifier.subscribe(topic);
        wake.borrow_and_update();
        let page = shared
            .storage
            .fetch_group(
                group.clone(),
                cursor,
                DEFAULT_FETCH,
                page_bytes(ctx),
                ctx.shared.config.clock.now_ms(),
            )
            .await?;
        if !page.entries.is_empty() || first {
            first = false;
            let body = page_to_proto(page, cursor);
            cursor = body.next_cursor;
            let resp = proto::Response {
                version: PROTOCOL_VERSION,
                body: Some(response::Body::GroupFetch(body)),
            };
            if frame::write_message(send, &resp, shared.config.max_frame_bytes)
                .await
                .is_err()
            {
                return Ok(());
            }
            continue;
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = send.stopped() => return Ok(()),
            _ = shutdown.recv() => return Ok(()),
        }
    }
}
