//! init, card, contact, safety.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use ed25519_dalek::SigningKey;
use hush_protocol::directory::{DirectoryKeys, DirectorySecret};
use hush_protocol::{IdentityKeyPair, PreKeyStore, SafetyNumber};
use hush_relay_client::RelayUrl;
use rand::Rng;
use serde_json::json;
use zeroize::Zeroizing;

use crate::card::{Card, MAX_NAME_LEN};
use crate::directory;
use crate::display::escape_text;
use crate::exit::{Failure, fail};
use crate::home::{self, Home, STATE_FILE};
use crate::net;
use crate::output::emit;
use crate::state::{Contact, STATE_VERSION, Secret, State, fpr};

/// One-time prekeys uploaded at init and on each refill.
pub const PREKEY_BATCH: usize = 50;
/// KeyPackages uploaded at init and on each refill.
pub const KEY_PACKAGE_BATCH: usize = 20;

/// Checks an alias: 1 to 64 of letters, digits, `-`, `_`, `.`.
pub fn check_alias(alias: &str) -> Result<()> {
    if alias.is_empty()
        || alias.len() > 64
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(fail(
            Failure::Usage,
            format!("invalid name '{alias}': use 1 to 64 letters, digits, '-', '_' or '.'"),
        ));
    }
    Ok(())
}

/// `hush init`.
pub async fn init(dir: &Path, relay: &str, name: &str) -> Result<()> {
    let relay: RelayUrl = relay
        .parse()
        .map_err(|e| fail(Failure::Usage, format!("invalid relay URL '{relay}': {e}")))?;
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
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

    let mut rng = rand::rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    let mailbox_key = SigningKey::from_bytes(&seed);
    let mut prekeys = PreKeyStore::new();
    let spk = prekeys.rotate_signed_prekey(&mut rng, &identity);
    let opks = prekeys.generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
    let mut groups = State::new_group_client(&identity)?;
    let kps = groups
        .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)
        .context("cannot make KeyPackages")?;
    let last_resort = groups
        .last_resort_key_package(&mut rng)
        .context("cannot make KeyPackages")?;

    let directory_secret = DirectorySecret::generate(&mut rng);

    // Publish first (sealed, spec/relay-protocol.md §6.1): if the relay cannot be reached
    // nothing is written.
    let client = net::connect(&relay).await?;
    let mailbox = client
        .authenticate(&mailbox_key)
        .await
        .map_err(net::err("cannot open a mailbox on the relay"))?;
    let keys = DirectoryKeys::derive(&directory_secret, mailbox.as_bytes());
    directory::publish_sealed(
        &client,
        &mailbox,
        &keys,
        directory::Publication {
            signed: spk,
            one_time: opks,
            key_packages: kps,
            last_resort,
        },
    )
    .await?;
    client.close().await;

    let mut state = State {
        version: STATE_VERSION,
        name: name.to_string(),
        relay: relay.to_string(),
        identity: Secret::new(identity.to_bytes()),
        mailbox_key: Secret::new(Zeroizing::new(seed.to_vec())),
        prekeys: Secret::new(prekeys.to_bytes()),
        group_client: Secret::default(),
        contacts: Default::default(),
        sessions: Default::default(),
        generation: 0,
        archived_sessions: Default::default(),
        previous_sessions: Default::default(),
        peers: Default::default(),
        sent: Default::default(),
        groups: Default::default(),
        seen: Default::default(),
        inbox: Default::default(),
        directory_secret: Some(Secret::new(Zeroizing::new(
            directory_secret.as_bytes().to_vec(),
        ))),
        directory_sealed: true,
    };
    state.set_group_client(&groups)?;
    let loaded = home.create(state, pass.as_bytes())?;
    let card = loaded.state.card()?.encode().map_err(|e| anyhow!("{e}"))?;
    emit(
        format!(
            "initialized {} for {name}\nfingerprint: {}\n{card}",
            dir.display(),
            identity.public().fingerprint()
        ),
        json!({
            "home": dir.display().to_string(),
            "name": name,
            "fingerprint": fpr(identity.public()),
            "card": card,
        }),
    );
    Ok(())
}

/// `hush card`.
pub fn card(dir: &Path) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let card = l.state.card()?;
    let text = card.encode().map_err(|e| anyhow!("{e}"))?;
    emit(
        &text,
        json!({
            "card": text,
            "version": card.version(),
            "fingerprint": fpr(&card.identity),
        }),
    );
    Ok(())
}

/// `hush contact add`.
pub fn contact_add(dir: &Path, alias: &str, card: &str) -> Result<()> {
    check_alias(alias)?;
    let mut l = Home::lock(dir, false)?.load()?;
    // A sender heard from can be added by the fingerprint `recv` showed.
    let card = peer_card(&l.state, card).unwrap_or_else(|| card.to_string());
    let parsed =
        Card::parse(&card).map_err(|e| fail(Failure::Usage, format!("bad contact card: {e}")))?;
    if l.state.contacts.contains_key(alias) {
        bail!("alias '{alias}' is already taken");
    }
    let me = l.state.identity()?;
    if parsed.identity == *me.public() {
        bail!("that is this home's own card");
    }
    let new = fpr(&parsed.identity);
    if let Some((other, _)) = l
        .state
        .contacts
        .iter()
        .find(|(_, c)| Card::parse(&c.card).is_ok_and(|k| fpr(&k.identity) == new))
    {
        bail!("this card's identity is already a contact, as '{other}'");
    }
    l.state.contacts.insert(
        alias.to_string(),
        Contact {
            card: parsed.encode().map_err(|e| anyhow!("{e}"))?,
        },
    );
    l.state.peers.remove(&new);
    l.save()?;
    emit(
        format!(
            "added {alias} ({}), fingerprint {}",
            escape_text(&parsed.name),
            parsed.identity.fingerprint()
        ),
        json!({"alias": alias, "name": parsed.name, "fingerprint": new}),
    );
    Ok(())
}

/// `hush contact list`.
pub fn contact_list(dir: &Path) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    for (alias, c) in &l.state.contacts {
        match Card::parse(&c.card) {
            Ok(card) => emit(
                format!(
                    "{alias}\t{}\t{}\t{}",
                    escape_text(&card.name),
                    card.identity.fingerprint(),
                    card.relay
                ),
                json!({
                    "alias": alias,
                    "name": card.name,
                    "fingerprint": fpr(&card.identity),
                    "relay": card.relay.to_string(),
                    "card_version": card.version(),
                }),
            ),
            Err(e) => emit(
                format!("{alias}\t(invalid card: {e})"),
                json!({"alias": alias, "error": format!("invalid card: {e}")}),
            ),
        }
    }
    for (f, card) in &l.state.peers {
        if let Ok(card) = Card::parse(card) {
            emit(
                format!(
                    "(not added)\t{}\t{f}\thush contact add ALIAS {f}",
                    escape_text(&card.name)
                ),
                json!({
                    "alias": null,
                    "name": card.name,
                    "fingerprint": f,
                    "relay": card.relay.to_string(),
                    "card_version": card.version(),
                }),
            );
        }
    }
    Ok(())
}

/// `hush safety`.
pub fn safety(dir: &Path, alias: &str) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let card = l.state.contact(alias)?;
    let me = l.state.identity()?;
    let number = SafetyNumber::new(me.public(), &card.identity).to_string();
    emit(&number, json!({"alias": alias, "safety_number": number}));
    Ok(())
}

/// The card of a sender heard from (by fingerprint), for `contact add ALIAS FINGERPRINT`.
pub fn peer_card(state: &State, text: &str) -> Option<String> {
    let key: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    state.peers.get(&key.to_ascii_lowercase()).cloned()
}
