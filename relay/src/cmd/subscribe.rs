//! SUBSCRIBE: the owner gets its mailbox from a cursor, then a push frame for every new
//! envelope while the stream stays open.

use super::fetch::envelope_to_proto;
use super::{CmdError, Context, DEFAULT_FETCH, Sink, owned_mailbox, page_bytes, stock_to_proto};
use crate::frame::{self, PROTOCOL_VERSION};
use crate::notify::Topic;
use crate::proto::{self, response};
use crate::types::now_ms;
use std::time::Duration;

/// Re-read storage at least this often even without a wake-up.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(30);

pub(crate) async fn handle<S: Sink>(
    ctx: &Context,
    req: proto::SubscribeRequest,
    send: &mut S,
) -> Result<(), CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let shared = &ctx.shared;
    let mut shutdown = ctx.shutdown.clone();
    let mut cursor = req.cursor;
    let mut first = true;
    loop {
        let mut wake = shared.notifier.subscribe(Topic::Mailbox(mailbox.0));
        wake.borrow_and_update();
        let envs = shared
            .storage
            .fetch_envelopes(mailbox, cursor, DEFAULT_FETCH, page_bytes(ctx), now_ms())
            .await?;
        if !envs.is_empty() || first {
            first = false;
            if let Some(last) = envs.last() {
                cursor = last.seq + 1;
            }
            let stock = shared.storage.directory_stock(mailbox).await?;
            let resp = proto::Response {
                version: PROTOCOL_VERSION,
                body: Some(response::Body::Fetch(proto::FetchResponse {
                    envelopes: envs.into_iter().map(envelope_to_proto).collect(),
                    next_cursor: cursor,
                    stock: Some(stock_to_proto(ctx, stock)),
                })),
            };
            if frame::write_message(send, &resp, shared.config.max_frame_bytes)
                .await
                .is_err()
            {
                return Ok(()); // the subscriber went away
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
