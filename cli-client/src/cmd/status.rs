//! status: what became of a sent message, and since when.

use std::path::Path;

use anyhow::Result;
use hush_client::{Error, RelayStatus};
use hush_relay_client::EnvelopeId;
use hush_relay_client::ErrorCode;
use hush_relay_client::Status;
use serde_json::json;

use crate::errors::EngineResult;
use crate::exit::{Failure, fail};
use crate::home;
use crate::net;
use crate::output::{coarse, emit, rfc3339};

/// `hush status ID`: `stored` (since when, and when it expires unread), `delivered` (when),
/// or `expired` (when), from the relay that stored it, receipts verified; `queued` for a
/// message still in the outbox.
pub async fn status(dir: &Path, id: &str) -> Result<()> {
    let id = id.trim().to_ascii_lowercase();
    let bytes = hex::decode(&id).map_err(|_| {
        fail(
            Failure::Usage,
            format!("'{id}' is not an envelope id (hex)"),
        )
    })?;
    let eid = EnvelopeId::new(bytes)
        .map_err(|_| fail(Failure::Usage, format!("'{id}' is not an envelope id")))?;
    let o = home::open(dir)?;
    let Some(sent) = o.engine.sent_message(&eid).cli()? else {
        if let Some((_, to)) = o
            .engine
            .outbox()
            .cli()?
            .into_iter()
            .find(|(q, _)| *q == eid)
        {
            emit(
                format!(
                    "queued for {to}: the relay has not stored it yet; it goes out with the next \
                     command that reaches the relay"
                ),
                json!({"envelope_id": id, "to": to, "status": "queued"}),
            );
            return Ok(());
        }
        return Err(fail(
            Failure::NotFound,
            format!("no message with id {id} was sent from this home"),
        ));
    };
    // Other commands may use the home while the relay answers.
    drop(o);
    let answer = sent.ask_relay(&eid, net::options()).await;
    let RelayStatus {
        now_ms: now,
        ttl_ms,
        report,
    } = match answer {
        Ok(a) => a,
        Err(Error::Relay(e)) if e.relay_code() == Some(ErrorCode::NotFound) => {
            let when = if sent.stored_at_ms > 0 {
                format!(
                    " (sent {}, {} ago)",
                    rfc3339(sent.stored_at_ms),
                    coarse(now_ms().saturating_sub(sent.stored_at_ms))
                )
            } else {
                String::new()
            };
            return Err(fail(
                Failure::NotFound,
                format!(
                    "the relay does not know envelope {id}{when}: never stored, or delivered or \
                     expired long enough ago that the relay forgot it"
                ),
            ));
        }
        Err(Error::Relay(e)) if !crate::errors::unreachable(&e) => {
            return Err(net::err("cannot get the status")(e));
        }
        Err(e) => return Err(crate::errors::engine(e)),
    };
    let stored = report.stored.stored_at_ms;
    let mut v = json!({
        "envelope_id": id,
        "to": sent.to,
        "stored_at_ms": stored,
    });
    let human = match report.status {
        Status::Stored => {
            let expires = stored.saturating_add(ttl_ms);
            v["status"] = "stored".into();
            v["expires_at_ms"] = expires.into();
            format!(
                "stored since {} ({} ago), not read yet; it expires unread at {}",
                rfc3339(stored),
                coarse(now.saturating_sub(stored)),
                rfc3339(expires)
            )
        }
        Status::Delivered(r) => {
            v["status"] = "delivered".into();
            v["delivered_at_ms"] = r.delivered_at_ms.into();
            format!(
                "delivered {} ({} after it was stored)",
                rfc3339(r.delivered_at_ms),
                coarse(r.delivered_at_ms.saturating_sub(stored))
            )
        }
        Status::Expired { at_ms } => {
            v["status"] = "expired".into();
            v["expired_at_ms"] = at_ms.into();
            format!(
                "expired {}, never read (stored {}); the recipient has not read their mailbox \
                 since",
                rfc3339(at_ms),
                rfc3339(stored)
            )
        }
    };
    emit(human, v);
    Ok(())
}

/// This machine's clock, Unix ms (for "sent … ago" when the relay did not answer with its own).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
