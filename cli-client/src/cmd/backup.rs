//! backup, restore: carry a home's identity, contacts and groups' membership to a new home,
//! never its session chains nor its groups' epoch secrets (spec/cli.md, "Backups").
//!
//! A backup file is sealed like the state file (Argon2id from the passphrase, then
//! XChaCha20-Poly1305, see `store.rs`); its body is the JSON [`Backup`]. A restored home
//! has no 1:1 session (the next message to each contact starts a new one with X3DH), holds
//! no group's MLS state (each group waits for a member to remove and re-add it), and starts
//! at the state generation its relay holds now, so that whichever of the old and the
//! restored home sends first makes the other one set its sessions aside.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, GroupStatus, Import, ImportContact, ImportGroup};
use hush_protocol::directory::DirectorySecret;
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::card::Card;
use crate::errors::EngineResult;
use crate::events::fpr;
use crate::home::{self, Home, STATE_FILE, store_error};
use crate::net;
use crate::output::emit;
use crate::state::{Contact, Secret};
use crate::store::{self, StateKey};

/// `kind` of a backup body.
pub const BACKUP_KIND: &str = "hush-backup";
/// Version of the backup body.
pub const BACKUP_VERSION: u32 = 1;

/// A group as a backup remembers it: which group, on which relay; no MLS state.
#[derive(Serialize, Deserialize)]
pub struct BackupGroup {
    /// MLS group id, hex.
    pub id: String,
    /// Relay of the group log.
    pub relay: String,
}

/// The body of a backup file.
#[derive(Serialize, Deserialize)]
pub struct Backup {
    /// Always [`BACKUP_KIND`].
    pub kind: String,
    /// [`BACKUP_VERSION`]. (Not `version`, so that a backup never parses as a state body.)
    pub backup_version: u32,
    /// Display name.
    pub name: String,
    /// Home relay URL.
    pub relay: String,
    /// `IdentityKeyPair::to_bytes`.
    pub identity: Secret,
    /// Ed25519 seed of the mailbox key.
    pub mailbox_key: Secret,
    /// `PreKeyStore::to_bytes`: the private halves of the prekeys published on the relay.
    pub prekeys: Secret,
    /// `GroupClient::to_bytes` with every group deleted: the signature key and the private
    /// halves of the published KeyPackages, no epoch secrets.
    pub group_client: Secret,
    /// Contacts by alias.
    pub contacts: BTreeMap<String, Contact>,
    /// Cards of senders not added as contacts, by identity fingerprint.
    pub peers: BTreeMap<String, String>,
    /// Groups (active ones only) by local name.
    pub groups: BTreeMap<String, BackupGroup>,
    /// The directory secret our card carries (spec/relay-protocol.md §6.1), so the restored
    /// home keeps the same card and opens its sealed directory entries.
    #[serde(default)]
    pub directory_secret: Option<Secret>,
    /// Whether every directory entry on the relay is sealed under that secret.
    #[serde(default)]
    pub directory_sealed: bool,
}

/// `hush backup FILE`.
pub fn backup(dir: &Path, file: &Path) -> Result<()> {
    let o = home::open(dir)?;
    let i = o.engine.backup().cli()?;
    let mut peers = BTreeMap::new();
    for text in &i.peers {
        let card = Card::parse(text).map_err(|e| anyhow!("stored card is invalid: {e}"))?;
        peers.insert(fpr(&card.identity.fingerprint()), text.clone());
    }
    let b = Backup {
        kind: BACKUP_KIND.into(),
        backup_version: BACKUP_VERSION,
        name: i.name.clone(),
        relay: i.relay.to_string(),
        identity: Secret::new(i.identity.clone()),
        mailbox_key: Secret::new(Zeroizing::new(i.mailbox_key.to_vec())),
        prekeys: Secret::new(i.prekeys.clone()),
        group_client: Secret::new(i.group_client.clone()),
        contacts: i
            .contacts
            .iter()
            .map(|c| {
                (
                    c.alias.clone(),
                    Contact {
                        card: c.card.clone(),
                        verified: c.verified,
                        offers_pqxdh: c.offers_pqxdh,
                    },
                )
            })
            .collect(),
        peers,
        directory_secret: i
            .directory
            .as_ref()
            .map(|d| Secret::new(Zeroizing::new(d.as_bytes().to_vec()))),
        directory_sealed: i.directory.is_some(),
        groups: i
            .groups
            .iter()
            .map(|g| {
                (
                    g.name.clone(),
                    BackupGroup {
                        id: hex::encode(&g.id),
                        relay: g.relay.to_string(),
                    },
                )
            })
            .collect(),
    };
    let body = Zeroizing::new(serde_json::to_vec(&b).context("cannot encode backup")?);
    let image = StateKey::new(o.passphrase.as_bytes())?.seal(&body)?;
    store::write_atomic(file, &image)?;
    emit(
        format!(
            "backed up {} contacts and {} groups to {}",
            b.contacts.len(),
            b.groups.len(),
            file.display()
        ),
        json!({
            "file": file.display().to_string(),
            "contacts": b.contacts.len(),
            "groups": b.groups.len(),
        }),
    );
    Ok(())
}

/// The account a backup holds: no session, every group waiting for a re-add.
fn to_import(b: Backup) -> Result<Import> {
    let mailbox_key: [u8; 32] = b
        .mailbox_key
        .0
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("the backup's mailbox key is corrupt"))?;
    let directory = match (&b.directory_secret, b.directory_sealed) {
        (Some(s), true) => Some(
            DirectorySecret::from_slice(&s.0)
                .map_err(|_| anyhow!("the backup's directory secret is corrupt"))?,
        ),
        _ => None,
    };
    let mut groups = Vec::new();
    for (name, g) in b.groups {
        groups.push(ImportGroup {
            name,
            id: hex::decode(&g.id).context("the backup's group id is corrupt")?,
            relay: g
                .relay
                .parse()
                .map_err(|e| anyhow!("the backup's group relay is invalid: {e}"))?,
            cursor: 0,
            status: GroupStatus::NeedsReAdd,
            own_entries: Vec::new(),
        });
    }
    Ok(Import {
        name: b.name,
        relay: b
            .relay
            .parse()
            .map_err(|e| anyhow!("the backup's relay URL is invalid: {e}"))?,
        identity: b.identity.0,
        mailbox_key: Zeroizing::new(mailbox_key),
        directory,
        prekeys: b.prekeys.0,
        group_client: b.group_client.0,
        contacts: b
            .contacts
            .into_iter()
            .map(|(alias, c)| ImportContact {
                alias,
                card: c.card,
                verified: c.verified,
                offers_pqxdh: c.offers_pqxdh,
            })
            .collect(),
        peers: b.peers.into_values().collect(),
        sessions: Vec::new(),
        groups,
        seen: Vec::new(),
        sent: Vec::new(),
        generation: 0,
        events: Vec::new(),
    })
}

/// `hush restore FILE`.
pub async fn restore(dir: &Path, file: &Path, force: bool) -> Result<()> {
    let image = fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let home = Home::lock(dir, true)?;
    if home.state_path().exists() && !force {
        bail!(
            "{} already holds a Hush home ({STATE_FILE}); restore into a new --home, or add --force to replace it",
            dir.display()
        );
    }
    let pass = home::passphrase(false)?;
    if store::Header::parse(&image).is_err() {
        bail!("{} is not a Hush backup", file.display());
    }
    let (body, _) = store::open(&image, pass.as_bytes())
        .with_context(|| format!("cannot open the backup {}", file.display()))?;
    let b: Backup = serde_json::from_slice(&body)
        .map_err(|_| anyhow!("{} is not a Hush backup", file.display()))?;
    if b.kind != BACKUP_KIND {
        bail!("{} is not a Hush backup", file.display());
    }
    if b.backup_version != BACKUP_VERSION {
        bail!(
            "backup version {} is not supported (expected {BACKUP_VERSION})",
            b.backup_version
        );
    }
    let mut import = to_import(b)?;
    let n_contacts = import.contacts.len();
    let n_groups = import.groups.len();
    // Start from the relay's generation: the next send advances it.
    import
        .read_generation(net::options())
        .await
        .map_err(|e| match e {
            hush_client::Error::Relay(c) if !crate::errors::unreachable(&c) => {
                net::err("cannot read the state generation on the relay")(c)
            }
            other => crate::errors::engine(other),
        })?;
    home.remove_new_state()?;
    let new = home.new_state_path();
    let made = (|| -> Result<()> {
        let store = SqliteStore::create(&new, KeySource::Passphrase(pass.as_bytes()))
            .map_err(|e| store_error(&new, e))?;
        drop(Account::import(store, &mut rand::rng(), import).cli()?);
        home.install_new_state()
    })();
    if let Err(e) = made {
        let _ = home.remove_new_state();
        return Err(e);
    }
    emit(
        format!(
            "restored {} with {n_contacts} contacts; new sessions start with the next message",
            dir.display()
        ),
        json!({
            "home": dir.display().to_string(),
            "contacts": n_contacts,
            "groups_to_rejoin": n_groups,
        }),
    );
    if n_groups > 0 {
        eprintln!(
            "hush: notice: {n_groups} group(s) need a member to remove and re-add this home (see `hush group list`)"
        );
    }
    Ok(())
}
