//! contact update, contact remove.

use std::path::Path;

use anyhow::Result;
use hush_client::CardUpdate;
use serde_json::json;

use crate::cmd::basic::peer_card;
use crate::display::escape_text;
use crate::errors::EngineResult;
use crate::events::fpr;
use crate::home;
use crate::output::emit;

/// `hush contact update ALIAS CARD`: replaces a contact's card (by a card, or by the
/// fingerprint of a sender heard from). When the identity changes, the sessions with the old
/// identity are deleted and the new safety number printed.
pub fn update(dir: &Path, alias: &str, card: &str) -> Result<()> {
    let mut o = home::open(dir)?;
    let old = o.engine.account().contact(alias).cli()?.card;
    let text = peer_card(&o.engine, card)?.unwrap_or_else(|| card.to_string());
    let change = o.engine.update_contact(alias, &text).cli()?;
    let new = o.engine.account().contact(alias).cli()?.card;
    let number = o.engine.account().safety_number(alias).cli()?.to_string();
    let (old_f, new_f) = (
        fpr(&old.identity.fingerprint()),
        fpr(&new.identity.fingerprint()),
    );
    let changed = change == CardUpdate::NewIdentity;
    let human = if !changed {
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
            "identity_changed": changed,
            "safety_number": number,
        }),
    );
    Ok(())
}

/// `hush contact remove ALIAS`: forgets the contact and every session with it. Groups keep
/// it as a member (remove it there with `group remove` first); its messages then show under
/// its fingerprint.
pub fn remove(dir: &Path, alias: &str) -> Result<()> {
    let mut o = home::open(dir)?;
    let c = o.engine.forget_contact(alias).cli()?;
    emit(
        format!("removed {alias} ({})", c.card.identity.fingerprint()),
        json!({"alias": alias, "fingerprint": fpr(&c.card.identity.fingerprint())}),
    );
    Ok(())
}
