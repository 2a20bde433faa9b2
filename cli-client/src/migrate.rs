//! Moving a home from the state file of the CLI before it ran on the engine (one encrypted
//! JSON document, [`crate::state::State`] in [`crate::store`]'s format) into the engine's
//! store, in one step the first time a command opens it.
//!
//! Everything comes along: identity, mailbox key, directory secret (or, for a home whose
//! directory is still plaintext on its relay, a new one, sealed on the next connection),
//! prekeys, the MLS client, contacts, the cards of senders not added, 1:1 sessions (current,
//! replaced and set aside), groups with their log positions and our own entries in them,
//! the envelopes already processed, sent envelopes (for `status`), the state generation,
//! and messages read but not shown yet. The store is written beside the old file and
//! renamed over it only when complete: a crash leaves the old file, and the next command
//! moves it again.

use std::collections::BTreeSet;

use anyhow::{Context, Result, anyhow};
use hush_client::store::{KeySource, SqliteStore};
use hush_client::{
    Account, EventKind, GroupStatus, Import, ImportContact, ImportGroup, ImportSent,
    ImportSessions, Sender,
};
use hush_protocol::Fingerprint;
use hush_relay_client::{EnvelopeId, RelayUrl};
use zeroize::Zeroizing;

use crate::card::Card;
use crate::errors::EngineResult;
use crate::home::{Home, store_error};
use crate::state::{InboxItem, State};

/// Moves the home's old-format state file into a store (see the module docs).
pub fn migrate(home: &Home, passphrase: &[u8]) -> Result<()> {
    let path = home.state_path();
    let image = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let (body, _) = crate::store::open(&image, passphrase)?;
    let state = State::from_json(&body)?;
    let import = to_import(&state)?;
    home.remove_new_state()?;
    let new = home.new_state_path();
    let made = (|| -> Result<()> {
        let store = SqliteStore::create(&new, KeySource::Passphrase(passphrase))
            .map_err(|e| store_error(&new, e))?;
        // Closing the store (dropping the account) checkpoints it into one file.
        drop(Account::import(store, &mut rand::rng(), import).cli()?);
        home.install_new_state()
    })();
    if made.is_err() {
        let _ = home.remove_new_state();
    }
    made.context("cannot move the home's state into the new store format")
}

fn relay(text: &str, what: &str) -> Result<RelayUrl> {
    text.parse()
        .map_err(|e| anyhow!("the stored {what} relay URL is invalid: {e}"))
}

fn fingerprint(hex_text: &str) -> Option<Fingerprint> {
    let bytes: [u8; 32] = hex::decode(hex_text).ok()?.try_into().ok()?;
    Some(Fingerprint(bytes))
}

/// The import of a legacy state.
pub fn to_import(s: &State) -> Result<Import> {
    let mailbox_key: [u8; 32] = s
        .mailbox_key
        .0
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("stored mailbox key is corrupt"))?;
    let directory = match (s.directory_sealed, s.directory_secret()?) {
        (true, Some(d)) => Some(d),
        _ => None,
    };
    let mut peers_of_sessions: BTreeSet<&String> = s.sessions.keys().collect();
    peers_of_sessions.extend(s.previous_sessions.keys());
    peers_of_sessions.extend(s.archived_sessions.keys());
    let sessions = peers_of_sessions
        .into_iter()
        .map(|peer| ImportSessions {
            current: s.sessions.get(peer).map(|x| x.0.clone()),
            previous: s
                .previous_sessions
                .get(peer)
                .map(|l| l.iter().map(|x| x.0.clone()).collect())
                .unwrap_or_default(),
            archived: s
                .archived_sessions
                .get(peer)
                .map(|l| l.iter().map(|x| x.0.clone()).collect())
                .unwrap_or_default(),
        })
        .filter(|x| x.current.is_some() || !x.previous.is_empty() || !x.archived.is_empty())
        .collect();
    let mut groups = Vec::new();
    for (name, g) in &s.groups {
        groups.push(ImportGroup {
            name: name.clone(),
            id: hex::decode(&g.id).context("stored group id is corrupt")?,
            relay: relay(&g.relay, "group")?,
            cursor: g.cursor,
            status: if !g.active {
                GroupStatus::Removed
            } else if g.rejoin {
                GroupStatus::NeedsReAdd
            } else {
                GroupStatus::Member
            },
            own_entries: g.own_seqs.iter().copied().collect(),
        });
    }
    let seen = s
        .seen
        .iter()
        .filter_map(|id| EnvelopeId::new(hex::decode(id).ok()?).ok())
        .collect();
    let sent = s
        .sent
        .iter()
        .filter_map(|x| {
            Some(ImportSent {
                envelope_id: EnvelopeId::new(hex::decode(&x.id).ok()?).ok()?,
                relay: x.relay.clone(),
                to: x.to.clone(),
                at_ms: x.sent_at_ms,
            })
        })
        .collect();
    let events = s.inbox.iter().filter_map(|i| inbox_event(s, i)).collect();
    Ok(Import {
        name: s.name.clone(),
        relay: relay(&s.relay, "home")?,
        identity: s.identity.0.clone(),
        mailbox_key: Zeroizing::new(mailbox_key),
        directory,
        prekeys: s.prekeys.0.clone(),
        group_client: s.group_client.0.clone(),
        contacts: s
            .contacts
            .iter()
            .map(|(a, c)| ImportContact {
                alias: a.clone(),
                card: c.card.clone(),
                verified: c.verified,
                offers_pqxdh: c.offers_pqxdh,
            })
            .collect(),
        peers: s.peers.values().cloned().collect(),
        sessions,
        groups,
        seen,
        sent,
        generation: s.generation,
        events,
    })
}

/// The sender an inbox item names: a contact's alias, or a fingerprint.
fn sender(s: &State, from: &str) -> Option<Sender> {
    if let Some(c) = s.contacts.get(from) {
        let card = Card::parse(&c.card).ok()?;
        return Some(Sender {
            identity: card.identity.fingerprint(),
            alias: Some(from.to_string()),
            card: None,
        });
    }
    Some(Sender {
        identity: fingerprint(from)?,
        alias: None,
        card: s.peers.get(from).cloned(),
    })
}

/// A message read but not shown yet, as an event (notices of identity changes are not
/// carried: the sender's card stays among the peers, and the next message notices again).
fn inbox_event(s: &State, i: &InboxItem) -> Option<EventKind> {
    let text = || i.text.clone().unwrap_or_default().into_bytes();
    match (i.event.as_str(), &i.group) {
        ("message", None) => Some(EventKind::Message {
            from: sender(s, &i.from)?,
            body: text(),
        }),
        ("message", Some(g)) => Some(EventKind::GroupMessage {
            group: g.clone(),
            from: sender(s, &i.from)?,
            body: text(),
        }),
        ("joined", Some(g)) => Some(EventKind::Joined {
            group: g.clone(),
            by: sender(s, &i.from)?,
        }),
        ("removed", Some(g)) => Some(EventKind::Removed { group: g.clone() }),
        _ => None,
    }
}
