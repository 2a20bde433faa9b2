//! init, card, contact add and list, safety.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, Engine, Handshake};
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
    let made = make_home(dir, relay, name, false).await?;
    emit(
        format!(
            "initialized {} for {name}\nfingerprint: {}\n{}",
            dir.display(),
            made.fingerprint,
            made.card
        ),
        json!({
            "home": dir.display().to_string(),
            "name": name,
            "fingerprint": fpr(&made.fingerprint),
            "card": made.card,
        }),
    );
    Ok(())
}

/// What [`make_home`] made.
pub struct Made {
    /// The new identity's card.
    pub card: String,
    /// Its fingerprint.
    pub fingerprint: hush_protocol::Fingerprint,
    /// With `link`: the link request to show.
    pub link_request: Option<String>,
}

/// Makes a new home in `dir` on `relay` (`hush init`, and `hush link` with `link`, which
/// also asks to be linked). The identity is published on the relay before anything is
/// written, so a relay that cannot be reached leaves no home behind.
pub async fn make_home(dir: &Path, relay: &str, name: &str, link: bool) -> Result<Made> {
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
        let link_request = if link {
            Some(engine.link_request().cli()?)
        } else {
            None
        };
        let card = engine
            .account()
            .card()
            .encode()
            .map_err(|e| anyhow!("{e}"))?;
        let fingerprint = engine.account().identity().fingerprint();
        drop(engine.shutdown().await);
        Ok::<_, anyhow::Error>(Made {
            card,
            fingerprint,
            link_request,
        })
    }
    .await;
    let made = match made {
        Ok(x) => x,
        Err(e) => {
            let _ = home.remove_new_state();
            return Err(e);
        }
    };
    home.install_new_state()?;
    Ok(made)
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

/// The handshake of the current session with a contact as shown: `PQXDH`, `X3DH`, or `-`
/// (JSON `null`) without a session.
fn session_label(h: Option<Handshake>) -> &'static str {
    h.map_or("-", Handshake::as_str)
}

/// One line of `contact list`; `offers_pqxdh` is `None` for a sender not added.
fn card_line(
    alias: Option<&str>,
    card: &Card,
    session: Option<Handshake>,
    offers_pqxdh: Option<bool>,
) {
    let f = fpr(&card.identity.fingerprint());
    let value = json!({
        "alias": alias,
        "name": card.name,
        "fingerprint": f,
        "relay": card.relay.to_string(),
        "card_version": card.version(),
        "session": session.map(Handshake::as_str),
        "offers_pqxdh": offers_pqxdh,
    });
    match alias {
        Some(a) => emit(
            format!(
                "{a}\t{}\t{}\t{}\t{}",
                escape_text(&card.name),
                card.identity.fingerprint(),
                card.relay,
                session_label(session)
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

/// `hush contact list`: per contact alias, name, fingerprint, relay and the handshake of the
/// current session (`PQXDH`, `X3DH` or `-`).
pub fn contact_list(dir: &Path) -> Result<()> {
    let o = home::open(dir)?;
    let account = o.engine.account();
    for c in account.contacts().cli()? {
        let session = account.session_handshake(&c.alias).cli()?;
        card_line(Some(&c.alias), &c.card, session, Some(c.offers_pqxdh));
    }
    for card in account.peers().cli()? {
        card_line(None, &card, None, None);
    }
    Ok(())
}

/// `hush safety`: the safety number, then the handshake of the current session.
pub fn safety(dir: &Path, alias: &str) -> Result<()> {
    let o = home::open(dir)?;
    let account = o.engine.account();
    let number = account.safety_number(alias).cli()?.to_string();
    let session = account.session_handshake(alias).cli()?;
    let shown = match session {
        Some(h) => format!("session: {h}"),
        None => "session: none yet (the first message starts one)".to_string(),
    };
    emit(
        format!("{number}\n{shown}"),
        json!({"alias": alias, "safety_number": number, "session": session.map(Handshake::as_str)}),
    );
    Ok(())
}
