//! send.

use std::path::Path;

use anyhow::Result;
use hush_client::{Outgoing, OutgoingState};
use serde_json::json;

use crate::errors::EngineResult;
use crate::events;
use crate::exit::{Failure, fail};
use crate::home::{self, HomeEngine};
use crate::output::emit;

/// Sends what earlier commands left in the outbox (a relay that was down, a command that was
/// interrupted), oldest first, before anything new: messages keep their order.
pub async fn flush(engine: &mut HomeEngine) -> Result<()> {
    if !engine.outbox().cli()?.is_empty() {
        engine.flush_outbox().await.cli()?;
    }
    Ok(())
}

/// The outcome of a send, as an error when the relay has not taken the message.
pub fn taken(o: &Outgoing) -> Result<()> {
    match &o.state {
        OutgoingState::Stored(_) | OutgoingState::InLog { .. } => Ok(()),
        OutgoingState::Queued(why) => Err(fail(
            Failure::Unreachable,
            format!(
                "the relay did not store the message yet ({why}); it is kept and goes out with \
                 the next command that reaches the relay"
            ),
        )),
        OutgoingState::Failed(why) => Err(anyhow::anyhow!(
            "the relay did not store the message: {why}"
        )),
    }
}

/// `hush send`: prints the envelope id once the relay stored it.
pub async fn send(dir: &Path, alias: &str, text: &str) -> Result<()> {
    let mut o = home::open(dir)?;
    // Unknown aliases are refused before anything goes to the relay.
    o.engine.account().contact(alias).cli()?;
    flush(&mut o.engine).await?;
    let out = o.engine.send(alias, text.as_bytes()).await.cli();
    events::notices(&mut o.engine)?;
    let out = out?;
    o.engine.close().await;
    taken(&out)?;
    let id = hex::encode(out.envelope_id.as_bytes());
    emit(&id, json!({"envelope_id": id, "to": alias}));
    Ok(())
}
