//! SUBSCRIBE: the owner gets its mailbox from a cursor, then a push frame for every new
//! envelope while the stream stays open.

use super::fetch::envelope_to_proto;
use super::{CmdError, Context, DEFAULT_FETCH, Sink, owned_mailbox, page_bytes, stock_to_proto};
use crate::frame::{self, PROTOCOL_VERSION};
use crate::notify::Topic;
use crate::proto::{self, response};

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
    let topic = Topic::Mailbox(mailbox.0);
    let mut shutdown = ctx.shutdown.clone();
    let mut cursor = req.cursor;
    let mut first = true;
    // Taken before each read and only then waited on, so a write that the read did not see
    // has notified it after it was marked seen: no wake-up falls between a read and the wait.
    let mut wake = shared.notifier.subscribe(topic);
    loop {
        wake.borrow_and_update();
        let page = shared
            .storage
            .fetch_page(
                mailbox,
                cursor,
                DEFAULT_FETCH,
                page_bytes(ctx),
                ctx.shared.config.clock.now_ms(),
            )
            .await?;
        if !page.envelopes.is_empty() || first {
            first = false;
            if let Some(last) = page.envelopes.last() {
                cursor = last.seq + 1;
            }
            let resp = proto::Response {
                version: PROTOCOL_VERSION,
                body: Some(response::Body::Fetch(proto::FetchResponse {
                    envelopes: page.envelopes.into_iter().map(envelope_to_proto).collect(),
                    next_cursor: cursor,
                    stock: Some(stock_to_proto(ctx, page.stock)),
                })),
            };
            if frame::write_message(send, &resp, shared.config.max_frame_bytes)
                .await
                .is_err()
            {
                return Ok(()); // the subscriber went away
            }
            if !page.complete {
                continue; // there may be more right now
            }
        }
        // Caught up with everything stored before the read: wait for a later write.
        tokio::select! {
            r = wake.changed() => {
                if r.is_err() {
                    wake = shared.notifier.subscribe(topic);
                }
            }
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
            _ = send.stopped() => return Ok(()),
            _ = shutdown.recv() => return Ok(()),
        }
    }
}
