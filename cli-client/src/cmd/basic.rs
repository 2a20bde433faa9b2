//! init, card, contact add and list, safety.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, Engine};
use hush_relay_client::RelayUrl;
use serde_json::json;

use crate::card::{Card, MAX_NAME_LEN};
use crate::display::escape_text;
use crate::errors::EngineResult;
use crate::events::fpr;
use crate::exit::{Failure, fail};
use crate::home::{self, Home, HomeEngine, STATE_FILE, store_error};
use crate::output::emit;

/// Checks an alias: 1 to 64 of letters, digits, `-`, `_`, `.`.
pub fn check_alias(alias: &str) -> Result<()> {
    hush_client::check_alias(alias).map_err(|_| {
        fail(
            Failure::Usage,
            format!("invalid name '{alias}': use 1 to 64 letters, digits, '-', '_' or '.'"),
        )
    })
}

/// `hush init`: the identity is published on the relay before anything is written, so a
/// relay that cannot be reached leaves no home behind.
pub async fn init(dir: &Path, relay: &str, name: &str) -> Result<()> {
    let relay: RelayUrl = relay
        .parse()
        .map_err(|e| fail(Failure::Usage, format!("invalid relay URL '{relay}': {e}")))?;
    if hush_client::check_name(name).is_err() {
        return Err(fail(
            Failure::Usage,
            format!("the name must be 1 to {MAX_NAME_LEN} bytes without control characters"),
        ));
    }
    let home = Home::lock(dir, true)?;
    if home.state_path().exists() {
        bail!(
            "{} already holds a Hush identity ({STATE_FILE}); use another --home",
            dir.display()
        );
    }
    let pass = home::passphrase(true)?;
    home.remove_new_state()?;
    let new = home.new_state_path();
    let made = async {
        let store = SqliteStore::create(&new, KeySource::Passphrase(pass.as_bytes()))
            .map_err(|e| store_error(&new, e))?;
        let account = Account::create(store, &mut rand::rng(), name, relay).cli()?;
        let mut engine = Engine::with_options(account, crate::net::options()).cli()?;
        // Publishes the sealed directory and sets the state generation.
        engine.start().await.cli()?;
        let card = engine
            .account()
            .card()
            .encode()
            .map_err(|e| anyhow!("{e}"))?;
        let fingerprint = engine.account().identity().fingerprint();
        drop(engine.shutdown().await);
        Ok::<_, anyhow::Error>((card, fingerprint))
    }
    .await;
    let (card, fingerprint) = match made {
        Ok(x) => x,
        Err(e) => {
            let _ = home.remove_new_state();
            return Err(e);
        }
    };
    home.install_new_state()?;
    emit(
        format!(
            "initialized {} for {name}\nfingerprint: {fingerprint}\n{card}",
            dir.display()
        ),
        json!({
            "home": dir.display().to_string(),
            "name": name,
            "fingerprint": fpr(&fingerprint),
            "card": card,
        }),
    );
    Ok(())
}

/// `hush card`.
pub fn card(dir: &Path) -> Result<()> {
    let o = home::open(dir)?;
    let card = o.engine.account().card();
    let text = card.encode().map_err(|e| anyhow!("{e}"))?;
    emit(
        &text,
        json!({
            "card": text,
            "version": card.version(),
            "fingerprint": fpr(&card.identity.fingerprint()),
        }),
    );
    Ok(())
}

/// The card of a sender heard from (by fingerprint), for `contact add ALIAS FINGERPRINT`.
pub fn peer_card(engine: &HomeEngine, text: &str) -> Result<Option<String>> {
    let key: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let key = key.to_ascii_lowercase();
    for card in engine.account().peers().cli()? {
        if fpr(&card.identity.fingerprint()) == key {
            return Ok(Some(card.encode().map_err(|e| anyhow!("{e}"))?));
        }
    }
    Ok(None)
}

/// `hush contact add`.
pub fn contact_add(dir: &Path, alias: &str, card: &str) -> Result<()> {
    check_alias(alias)?;
    let mut o = home::open(dir)?;
    // A sender heard from can be added by the fingerprint `recv` showed.
    let card = peer_card(&o.engine, card)?.unwrap_or_else(|| card.to_string());
    let c = o.engine.account_mut().add_contact(alias, &card).cli()?;
    emit(
        format!(
            "added {alias} ({}), fingerprint {}",
            escape_text(&c.card.name),
            c.card.identity.fingerprint()
        ),
        json!({"alias": alias, "name": c.card.name, "fingerprint": fpr(&c.card.identity.fingerprint())}),
    );
    Ok(())
}

fn card_line(alias: Option<&str>, card: &Card) {
    let f = fpr(&card.identity.fingerprint());
    let value = json!({
        "alias": alias,
        "name": card.name,
        "fingerprint": f,
        "relay": card.relay.to_string(),
        "card_version": card.version(),
    });
    match alias {
        Some(a) => emit(
            format!(
                "{a}\t{}\t{}\t{}",
                escape_text(&card.name),
                card.identity.fingerprint(),
                card.relay
            ),
            value,
        ),
        None => emit(
            format!(
                "(not added)\t{}\t{f}\thush contact add ALIAS {f}",
                escape_text(&card.name)
            ),
            value,
        ),
    }
}

/// `hush contact list`.
pub fn contact_list(dir: &Path) -> Result<()> {
    let o = home::open(dir)?;
    for c in o.engine.account().contacts().cli()? {
        card_line(Some(&c.alias), &c.card);
    }
    for card in o.engine.account().peers().cli()? {
        card_line(None, &card);
    }
    Ok(())
}

/// `hush safety`.
pub fn safety(dir: &Path, alias: &str) -> Result<()> {
    let o = home::open(dir)?;
    let number = o.engine.account().safety_number(alias).cli()?.to_string();
    emit(&number, json!({"alias": alias, "safety_number": number}));
    Ok(())
}
