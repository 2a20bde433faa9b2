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
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::engine::Engine;
use crate::home::{self, Home, STATE_FILE};
use crate::net;
use crate::output::emit;
use crate::state::{Contact, GroupRecord, STATE_VERSION, Secret, State};
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
    let l = Home::lock(dir, false)?.load()?;
    let e = Engine::new(l)?;
    let mut gc = e.l.state.group_client(&e.me)?;
    for id in gc.group_ids() {
        gc.delete_group(&id)
            .context("cannot strip group state from the backup")?;
    }
    let s = &e.l.state;
    let b = Backup {
        kind: BACKUP_KIND.into(),
        backup_version: BACKUP_VERSION,
        name: s.name.clone(),
        relay: s.relay.clone(),
        identity: s.identity.clone(),
        mailbox_key: s.mailbox_key.clone(),
        prekeys: s.prekeys.clone(),
        group_client: Secret::new(gc.to_bytes().context("cannot encode group state")?),
        contacts: s.contacts.clone(),
        peers: s.peers.clone(),
        directory_secret: s.directory_secret.clone(),
        directory_sealed: s.directory_sealed,
        groups: s
            .groups
            .iter()
            .filter(|(_, g)| g.active)
            .map(|(n, g)| {
                (
                    n.clone(),
                    BackupGroup {
                        id: g.id.clone(),
                        relay: g.relay.clone(),
                    },
                )
            })
            .collect(),
    };
    let body = zeroize::Zeroizing::new(serde_json::to_vec(&b).context("cannot encode backup")?);
    let pass = home::passphrase(false)?;
    let image = StateKey::new(pass.as_bytes())?.seal(&body)?;
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
    let groups = b
        .groups
        .into_iter()
        .map(|(n, g)| {
            (
                n,
                GroupRecord {
                    id: g.id,
                    relay: g.relay,
                    cursor: 0,
                    own_seqs: Default::default(),
                    active: true,
                    rejoin: true,
                },
            )
        })
        .collect();
    let mut state = State {
        version: STATE_VERSION,
        name: b.name,
        relay: b.relay,
        identity: b.identity,
        mailbox_key: b.mailbox_key,
        prekeys: b.prekeys,
        group_client: b.group_client,
        contacts: b.contacts,
        sessions: Default::default(),
        generation: 0,
        archived_sessions: Default::default(),
        previous_sessions: Default::default(),
        peers: b.peers,
        directory_secret: b.directory_secret,
        directory_sealed: b.directory_sealed,
        sent: Default::default(),
        groups,
        seen: Default::default(),
        inbox: Default::default(),
    };
    // Check the keys before anything is written.
    let me = state.identity()?;
    state.group_client(&me)?;
    state.prekeys()?;
    // Start from the relay's generation: the next send advances it.
    let url = state.relay_url()?;
    let client = net::connect(&url).await?;
    let mailbox = client
        .authenticate(&state.mailbox_key()?)
        .await
        .map_err(net::err("cannot open our mailbox on the relay"))?;
    state.generation = client
        .generation(&mailbox)
        .await
        .map_err(net::err("cannot read the state generation on the relay"))?;
    client.close().await;
    let n_contacts = state.contacts.len();
    let n_groups = state.groups.len();
    home.create(state, pass.as_bytes())?;
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
