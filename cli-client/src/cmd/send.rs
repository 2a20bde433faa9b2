//! send, status.

use std::path::Path;

use anyhow::{Context, Result, anyhow};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{Session, SessionConfig};
use hush_relay::EnvelopeId;
use hush_relay::client::Status;
use hush_relay::proto::ErrorCode;

use crate::directory;
use crate::engine::Engine;
use crate::exit::{Failure, fail};
use crate::generation;
use crate::home::Home;
use crate::net;
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
    });
    e.save()?;
    e.client(&card.relay)
        .await?
        .send(&card.mailbox, &id, sealed)
        .await
        .map_err(net::err("the relay did not store the message"))?;
    e.close().await;
    println!("{id_hex}");
    Ok(())
}

/// `hush status`.
pub async fn status(dir: &Path, id: &str) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let id = id.trim().to_ascii_lowercase();
    let bytes = hex::decode(&id).map_err(|_| {
        fail(
            Failure::Usage,
            format!("'{id}' is not an envelope id (hex)"),
        )
    })?;
    let eid = EnvelopeId::new(bytes)
        .map_err(|_| fail(Failure::Usage, format!("'{id}' is not an envelope id")))?;
    let sent = l
        .state
        .sent
        .iter()
        .rev()
        .find(|s| s.id == id)
        .ok_or_else(|| {
            fail(
                Failure::NotFound,
                format!("no message with id {id} was sent from this home"),
            )
        })?;
    let relay = sent
        .relay
        .parse()
        .map_err(|e| anyhow!("stored relay URL is invalid: {e}"))?;
    drop(l);
    let client = net::connect(&relay).await?;
    let report = client
        .status(&eid)
        .await
        .map_err(|e| match e.relay_code() {
            Some(ErrorCode::NotFound) => fail(
                Failure::NotFound,
                format!("the relay does not know envelope {id} (never stored, or forgotten)"),
            ),
            _ => anyhow!("cannot get the status: {}", net::describe(&e)),
        })?;
    client.close().await;
    println!(
        "{}",
        match report.status {
            Status::Stored => "stored",
            Status::Delivered(_) => "delivered",
            Status::Expired { .. } => "expired",
        }
    );
    Ok(())
}
