//! Turning what the relay hands out (mailbox envelopes, group log entries) into messages,
//! with every state change saved before a relay is told the input was consumed.

use std::collections::HashMap;

use anyhow::{Context, Result, anyhow, bail};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::group::{GroupClient, GroupEvent, GroupId};
use hush_protocol::{
    IdentityKeyPair, IdentityPublicKey, MessageKind, PreKeyStore, Session, SessionConfig,
    message_kind,
};
use hush_relay_client::{Client, MailboxAddress, RelayUrl};
use hush_relay_client::{Envelope, GroupEntry, Stock};

use crate::archived;
use crate::card::Card;
use crate::cmd::basic::{KEY_PACKAGE_BATCH, PREKEY_BATCH};
use crate::directory;
use crate::display::escape_text;
use crate::exit::{Failure, fail};
use crate::home::Loaded;
use crate::identity_change;
use crate::invitation;
use crate::net;
use crate::sessions::{self, Attempt};
use crate::state::{GroupRecord, InboxItem, Secret, fpr};

/// Refill one-time prekeys below this many.
const PREKEY_LOW: u64 = 10;
/// Refill KeyPackages below this many.
const KEY_PACKAGE_LOW: u64 = 5;

/// A loaded home with its keys unpacked, and open relay connections.
pub struct Engine {
    /// The home and its state.
    pub l: Loaded,
    /// Our identity.
    pub me: IdentityKeyPair,
    /// Our MLS client.
    pub gc: GroupClient,
    /// Our prekeys.
    pub prekeys: PreKeyStore,
    clients: HashMap<String, Client>,
}

impl Engine {
    /// Unpacks a loaded home.
    pub fn new(l: Loaded) -> Result<Self> {
        let me = l.state.identity()?;
        let gc = l.state.group_client(&me)?;
        let prekeys = l.state.prekeys()?;
        Ok(Self {
            l,
            me,
            gc,
            prekeys,
            clients: HashMap::new(),
        })
    }

    /// Lets other commands use the home while this one waits (`recv --wait`); nothing of the
    /// state may be used until [`Engine::reacquire`].
    pub fn release(&mut self) {
        self.l.release();
    }

    /// Takes the home back after [`Engine::release`] and re-reads the state and keys as other
    /// commands left them. Does nothing while the home is held.
    pub fn reacquire(&mut self) -> Result<()> {
        if self.l.is_locked() {
            return Ok(());
        }
        self.l.reload()?;
        self.me = self.l.state.identity()?;
        self.gc = self.l.state.group_client(&self.me)?;
        self.prekeys = self.l.state.prekeys()?;
        Ok(())
    }

    /// Writes everything back to disk.
    pub fn save(&mut self) -> Result<()> {
        self.l.state.set_group_client(&self.gc)?;
        self.l.state.prekeys = Secret::new(self.prekeys.to_bytes());
        self.l.save()
    }

    /// A connection to `url` (opened once per command).
    pub async fn client(&mut self, url: &RelayUrl) -> Result<&Client> {
        let key = url.to_string();
        if !self.clients.contains_key(&key) {
            let c = net::connect(url).await?;
            self.clients.insert(key.clone(), c);
        }
        self.clients
            .get(&key)
            .ok_or_else(|| anyhow!("connection to {url} vanished"))
    }

    /// Closes every connection.
    pub async fn close(&mut self) {
        for (_, c) in self.clients.drain() {
            c.close().await;
        }
    }

    /// Our home relay connection, authenticated; returns our mailbox address. A home whose
    /// directory is not sealed yet is moved to a sealed one first ([`Engine::seal_directory`]).
    pub async fn home_client(&mut self) -> Result<MailboxAddress> {
        let url = self.l.state.relay_url()?;
        let key = self.l.state.mailbox_key()?;
        let c = self.client(&url).await?;
        let mailbox = c
            .authenticate(&key)
            .await
            .map_err(net::err("cannot open our mailbox on the relay"))?;
        self.seal_directory(&mailbox).await?;
        Ok(mailbox)
    }

    /// Opens and decrypts mailbox envelopes in order. Returns what to show; skips (and
    /// reports on stderr) envelopes that cannot be opened. Does not save.
    pub fn open_envelopes(&mut self, envelopes: &[Envelope]) -> Vec<InboxItem> {
        let mut out = Vec::new();
        for env in envelopes {
            let id = hex::encode(env.envelope_id.as_bytes());
            if self.l.state.seen.contains(&id) {
                continue;
            }
            match self.open_one(&env.ciphertext, &mut out) {
                Ok(Some(item)) => out.push(item),
                Ok(None) => {}
                Err(e) => eprintln!("hush: warning: dropped an unreadable message ({id}): {e:#}"),
            }
            self.l.state.mark_seen(id);
        }
        out
    }

    /// Opens one envelope; notices it gives rise to (an identity change) go to `notices`
    /// first, the message is returned.
    fn open_one(
        &mut self,
        bytes: &[u8],
        notices: &mut Vec<InboxItem>,
    ) -> Result<Option<InboxItem>> {
        let mut rng = rand::rng();
        let c = envelope::open(&self.me, bytes).context("cannot open the envelope")?;
        let sender_f = fpr(&c.sender);
        let from = self.l.state.name_of(&c.sender);
        self.upgrade_contact_card(&from, &c.sender, &c.reply_to);
        if from == sender_f
            && let Ok(text) = std::str::from_utf8(&c.reply_to)
            && let Ok(card) = Card::parse(text)
            && card.identity == c.sender
        {
            let first = self
                .l
                .state
                .peers
                .insert(sender_f.clone(), text.to_string())
                .is_none();
            if first && let Some(notice) = identity_change::detect(&self.l.state, &card) {
                notices.push(notice);
            }
        }
        match c.kind {
            ContentKind::SessionMessage => {
                let plaintext = match message_kind(&c.payload).context("malformed message")? {
                    MessageKind::PreKey { sender } => {
                        if *sender != c.sender {
                            bail!("the sealed sender and the session sender differ");
                        }
                        match sessions::decrypt(&mut self.l.state, &c.sender, &c.payload)? {
                            // The current session, or one it replaced (both started at once).
                            Attempt::Plaintext(pt) => pt,
                            Attempt::Failed(_) => {
                                match archived::decrypt(&mut self.l.state, &c.sender, &c.payload)? {
                                    // A late message of a session set aside after a rollback.
                                    Some(pt) => pt,
                                    // A new session; the one it replaces stays as a previous
                                    // one (the peer may have answered on it already).
                                    None => {
                                        let (session, pt) = Session::respond(
                                            &mut rng,
                                            &self.me,
                                            &mut self.prekeys,
                                            &c.payload,
                                            SessionConfig::default(),
                                        )
                                        .context("cannot start the session")?;
                                        sessions::replace(&mut self.l.state, &session);
                                        pt
                                    }
                                }
                            }
                        }
                    }
                    MessageKind::Ratchet => {
                        match sessions::decrypt(&mut self.l.state, &c.sender, &c.payload)? {
                            Attempt::Plaintext(pt) => pt,
                            Attempt::Failed(why) => {
                                archived::decrypt(&mut self.l.state, &c.sender, &c.payload)?
                                    .ok_or_else(|| match why {
                                        Some(err) => anyhow!(err).context("cannot decrypt"),
                                        None => anyhow!("no session with {from}"),
                                    })?
                            }
                        }
                    }
                };
                Ok(Some(InboxItem {
                    event: "message".into(),
                    from,
                    group: None,
                    text: Some(String::from_utf8_lossy(&plaintext).into_owned()),
                    ..Default::default()
                }))
            }
            ContentKind::GroupWelcome => {
                let w = invitation::decode(&c.payload)?;
                let relay: RelayUrl = w
                    .relay
                    .parse()
                    .map_err(|e| anyhow!("bad group relay in invitation: {e}"))?;
                let gid = self
                    .gc
                    .join(&mut rng, &w.welcome, None)
                    .context("cannot join the group")?;
                // A group this home had to be re-added to keeps its name.
                let id_hex = hex::encode(gid.as_slice());
                let stale = self
                    .l
                    .state
                    .groups
                    .iter()
                    .find(|(_, r)| r.rejoin && r.id == id_hex)
                    .map(|(n, _)| n.clone());
                let name = stale.unwrap_or_else(|| self.free_group_name(&w.name));
                self.l.state.groups.insert(
                    name.clone(),
                    GroupRecord {
                        id: hex::encode(gid.as_slice()),
                        relay: relay.to_string(),
                        cursor: w.log_cursor,
                        own_seqs: Default::default(),
                        active: true,
                        rejoin: false,
                    },
                );
                Ok(Some(InboxItem {
                    event: "joined".into(),
                    from,
                    group: Some(name),
                    text: None,
                    ..Default::default()
                }))
            }
            ContentKind::Application => bail!("unsupported content from {from}"),
        }
    }

    /// Replaces a contact's stored card by the one its message carried (`reply_to`) when
    /// that is the same identity and mailbox in a newer version (a version 2 card, with the
    /// directory secret, after the contact sealed its directory).
    fn upgrade_contact_card(&mut self, alias: &str, sender: &IdentityPublicKey, reply_to: &[u8]) {
        let Ok(text) = std::str::from_utf8(reply_to) else {
            return;
        };
        let Ok(new) = Card::parse(text) else { return };
        if new.identity != *sender {
            return;
        }
        let Some(contact) = self.l.state.contacts.get_mut(alias) else {
            return;
        };
        if let Ok(old) = Card::parse(&contact.card)
            && old.is_upgraded_by(&new)
            && let Ok(encoded) = new.encode()
        {
            contact.card = encoded;
        }
    }

    fn free_group_name(&self, wanted: &str) -> String {
        let base = if crate::cmd::basic::check_alias(wanted).is_ok() {
            wanted.to_string()
        } else {
            "group".to_string()
        };
        if !self.l.state.groups.contains_key(&base) {
            return base;
        }
        (2u32..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !self.l.state.groups.contains_key(n))
            .unwrap_or(base)
    }

    /// The record and MLS id of a local group name.
    pub fn group(&self, name: &str) -> Result<(GroupRecord, GroupId)> {
        let rec = self.l.state.groups.get(name).cloned().ok_or_else(|| {
            fail(
                Failure::NotFound,
                format!("unknown group '{name}' (see `hush group list`)"),
            )
        })?;
        let id = hex::decode(&rec.id).context("stored group id is corrupt")?;
        Ok((rec, GroupId::from_slice(&id)))
    }

    /// Applies group log entries of group `name`, in order. Does not save.
    pub fn apply_group_entries(&mut self, name: &str, entries: &[GroupEntry]) -> Vec<InboxItem> {
        let mut out = Vec::new();
        let Ok((mut rec, gid)) = self.group(name) else {
            return out;
        };
        let mut rng = rand::rng();
        for e in entries {
            if e.seq < rec.cursor {
                continue;
            }
            rec.cursor = e.seq + 1;
            if rec.own_seqs.remove(&e.seq) || !rec.active || rec.rejoin {
                continue;
            }
            match self.gc.process(&mut rng, &gid, &e.message) {
                Ok(events) => {
                    for ev in events {
                        match ev {
                            GroupEvent::Application {
                                sender, plaintext, ..
                            } => out.push(InboxItem {
                                event: "message".into(),
                                from: self.l.state.name_of(&sender.identity),
                                group: Some(name.to_string()),
                                text: Some(String::from_utf8_lossy(&plaintext).into_owned()),
                                ..Default::default()
                            }),
                            GroupEvent::RemovedFromGroup { .. } => {
                                rec.active = false;
                                out.push(InboxItem {
                                    event: "removed".into(),
                                    from: String::new(),
                                    group: Some(name.to_string()),
                                    text: None,
                                    ..Default::default()
                                });
                            }
                            _ => {}
                        }
                    }
                }
                Err(err) => {
                    // Entries from before we joined cannot (and need not) be read.
                    let current = self.gc.epoch(&gid).unwrap_or(0);
                    if e.epoch >= current {
                        eprintln!(
                            "hush: warning: skipped an unreadable message in group {name}: {err}"
                        );
                    }
                }
            }
        }
        rec.own_seqs.retain(|s| *s >= rec.cursor);
        self.l.state.groups.insert(name.to_string(), rec);
        out
    }

    /// Reads group `name`'s log from its cursor to the end. Does not save.
    pub async fn sync_group(&mut self, name: &str) -> Result<Vec<InboxItem>> {
        let (rec, _) = self.group(name)?;
        if !rec.active || rec.rejoin {
            return Ok(Vec::new());
        }
        let relay: RelayUrl = rec
            .relay
            .parse()
            .map_err(|e| anyhow!("stored group relay is invalid: {e}"))?;
        let rid = relay_group_id(&rec)?;
        let mut out = Vec::new();
        let mut cursor = rec.cursor;
        for _ in 0..10_000 {
            let page = self
                .client(&relay)
                .await?
                .group_fetch(&rid, cursor, 0)
                .await
                .map_err(net::err("cannot read the group log"))?;
            if page.entries.is_empty() {
                break;
            }
            out.extend(self.apply_group_entries(name, &page.entries));
            if page.next_cursor <= cursor {
                break;
            }
            cursor = page.next_cursor;
        }
        Ok(out)
    }

    /// Refills one-time prekeys and KeyPackages on our relay when `stock` runs low.
    pub async fn replenish(&mut self, mailbox: &MailboxAddress, stock: &Stock) -> Result<()> {
        let mut rng = rand::rng();
        let url = self.l.state.relay_url()?;
        // Sealed for a sealed directory; plain only for a home that is not sealed yet.
        let keys = self.directory_keys()?;
        if stock.one_time_prekeys < PREKEY_LOW {
            let opks = self
                .prekeys
                .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
            self.save()?;
            let entries = directory::one_time_entries(keys.as_ref(), &opks)?;
            self.client(&url)
                .await?
                .upload_prekeys(mailbox, None, entries)
                .await
                .map_err(net::err("cannot upload prekeys"))?;
        }
        if stock.key_packages < KEY_PACKAGE_LOW {
            let kps = self
                .gc
                .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)
                .context("cannot make KeyPackages")?;
            self.save()?;
            let entries = directory::key_package_entries(keys.as_ref(), kps)?;
            self.client(&url)
                .await?
                .upload_key_packages(mailbox, entries, None)
                .await
                .map_err(net::err("cannot upload KeyPackages"))?;
        }
        Ok(())
    }
}

/// The relay's id for a group log (the MLS group id).
pub fn relay_group_id(rec: &GroupRecord) -> Result<hush_relay_client::GroupId> {
    let id = hex::decode(&rec.id).context("stored group id is corrupt")?;
    hush_relay_client::GroupId::new(id).map_err(|e| anyhow!("bad group id: {e}"))
}

/// Prints one item, as a line of text or of JSON.
pub fn print_item(item: &InboxItem, json: bool) {
    if json {
        let mut v = serde_json::json!({
            "event": item.event,
            "from": item.from,
            "group": item.group,
            "text": item.text,
        });
        if item.event == "identity_changed" {
            v["contact"] = item.contact.clone().into();
            v["old_fingerprint"] = item.old_fingerprint.clone().into();
        }
        println!("{v}");
        return;
    }
    // Names are checked aliases or hex fingerprints; the text is the sender's: escaped.
    let group = escape_text(item.group.as_deref().unwrap_or(""));
    let from = escape_text(&item.from);
    let text = escape_text(item.text.as_deref().unwrap_or(""));
    match item.event.as_str() {
        "joined" => println!("joined group {group} (added by {from})"),
        "removed" => println!("removed from group {group}"),
        "identity_changed" => println!("{}", identity_change::describe(item)),
        _ if item.group.is_some() => println!("[{group}] {from}: {text}"),
        _ => println!("{from}: {text}"),
    }
}
