//! send.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{Session, SessionConfig};
use hush_relay_client::EnvelopeId;
use serde_json::json;

use crate::directory;
use crate::engine::Engine;
use crate::exit::{Failure, fail};
use crate::generation;
use crate::home::Home;
use crate::net;
use crate::output::emit;
use crate::state::Sent;

/// `hush send`: prints the envelope id once the relay stored it.
pub async fn send(dir: &Path, alias: &str, text: &str) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let mut e = Engine::new(l)?;
    let card = e.l.state.contact(alias)?;
    let reply_to = e.l.state.card()?.encode().map_err(|e| anyhow!("{e}"))?;
    // Before any sending chain is used: a rolled-back home sets its sessions aside here.
    generation::advance(&mut e).await?;
    let mut rng = rand::rng();
    let mut session = match e.l.state.session(&card.identity)? {
        Some(s) => s,
        None => {
            let bundle =
                directory::fetch_bundle(e.client(&card.relay).await?, alias, &card).await?;
            if bundle.identity() != &card.identity {
                return Err(fail(
                    Failure::IdentityMismatch,
                    format!("the relay returned prekeys of another identity than {alias}'s card"),
                ));
            }
            Session::initiate(&mut rng, &e.me, &bundle, SessionConfig::default())
                .context("cannot start a session")?
        }
    };
    let message = session
        .encrypt(&mut rng, text.as_bytes())
        .context("cannot encrypt")?;
    let sealed = envelope::seal(
        &mut rng,
        &e.me,
        &card.identity,
        ContentKind::SessionMessage,
        &message,
        reply_to.as_bytes(),
    )
    .context("cannot seal the message")?;
    let id = EnvelopeId::random().map_err(|e| anyhow!("no randomness: {e}"))?;
    let id_hex = hex::encode(id.as_bytes());
    // The session's new keys are on disk before the message leaves: a crash cannot make a
    // later run reuse a message key.
    e.l.state.set_session(&session);
    e.l.state.record_sent(Sent {
        id: id_hex.clone(),
        relay: card.relay.to_string(),
        to: alias.to_string(),
        sent_at_ms: hush_relay_client::wire::types::now_ms(),
    });
    e.save()?;
    e.client(&card.relay)
        .await?
        .send(&card.mailbox, &id, sealed)
        .await
        .map_err(net::err("the relay did not store the message"))?;
    e.close().await;
    emit(&id_hex, json!({"envelope_id": id_hex, "to": alias}));
    Ok(())
}
