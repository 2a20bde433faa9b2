//! contact update, contact remove.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use hush_protocol::SafetyNumber;
use serde_json::json;

use crate::card::Card;
use crate::cmd::basic::peer_card;
use crate::display::escape_text;
use crate::exit::{Failure, fail};
use crate::home::Home;
use crate::output::emit;
use crate::state::{State, fpr};

/// Forgets every 1:1 session (current, previous, set aside) with the identity `f`.
fn forget_sessions(state: &mut State, f: &str) {
    state.sessions.remove(f);
    state.previous_sessions.remove(f);
    state.archived_sessions.remove(f);
}

/// `hush contact update ALIAS CARD`: replaces a contact's card (by a card, or by the
/// fingerprint of a sender heard from). When the identity changes, the sessions with the old
/// identity are deleted and the new safety number printed.
pub fn update(dir: &Path, alias: &str, card: &str) -> Result<()> {
    let mut l = Home::lock(dir, false)?.load()?;
    let old = l.state.contact(alias)?;
    let text = peer_card(&l.state, card).unwrap_or_else(|| card.to_string());
    let new =
        Card::parse(&text).map_err(|e| fail(Failure::Usage, format!("bad contact card: {e}")))?;
    let me = l.state.identity()?;
    if new.identity == *me.public() {
        bail!("that is this home's own card");
    }
    let (old_f, new_f) = (fpr(&old.identity), fpr(&new.identity));
    if let Some((other, _)) = l.state.contacts.iter().find(|(a, c)| {
        a.as_str() != alias && Card::parse(&c.card).is_ok_and(|k| fpr(&k.identity) == new_f)
    }) {
        bail!("this card's identity is already a contact, as '{other}'");
    }
    let encoded = new.encode().map_err(|e| anyhow!("{e}"))?;
    if let Some(c) = l.state.contacts.get_mut(alias) {
        c.card = encoded;
    }
    l.state.peers.remove(&new_f);
    if old_f != new_f {
        forget_sessions(&mut l.state, &old_f);
    }
    l.save()?;
    let number = SafetyNumber::new(me.public(), &new.identity).to_string();
    let human = if old_f == new_f {
        format!(
            "updated {alias} ({}): same identity, card version {}",
            escape_text(&new.name),
            new.version()
        )
    } else {
        format!(
            "updated {alias} ({}): new identity {} (was {}); sessions with the old one \
             deleted\nnew safety number: {number}",
            escape_text(&new.name),
            new.identity.fingerprint(),
            old.identity.fingerprint()
        )
    };
    emit(
        human,
        json!({
            "alias": alias,
            "fingerprint": new_f,
            "previous_fingerprint": old_f,
            "identity_changed": old_f != new_f,
            "safety_number": number,
        }),
    );
    Ok(())
}

/// `hush contact remove ALIAS`: forgets the contact and every session with it. Groups keep
/// it as a member (remove it there with `group remove` first); its messages then show under
/// its fingerprint.
pub fn remove(dir: &Path, alias: &str) -> Result<()> {
    let mut l = Home::lock(dir, false)?.load()?;
    let card = l.state.contact(alias)?;
    l.state.contacts.remove(alias);
    forget_sessions(&mut l.state, &fpr(&card.identity));
    l.save()?;
    emit(
        format!("removed {alias} ({})", card.identity.fingerprint()),
        json!({"alias": alias, "fingerprint": fpr(&card.identity)}),
    );
    Ok(())
}
