//! # hush-bindings
//!
//! The Hush client engine ([`hush_client`]) for apps in other languages, through
//! [UniFFI](https://mozilla.github.io/uniffi-rs/) (proc macros, no UDL). One object,
//! [`Client`], is an account in an encrypted SQLite store (passphrase-sealed, as the CLI's
//! homes are) driving the engine: contacts, 1:1 messages, groups, attachments and events.
//! Every method that talks to a relay is async (a coroutine in Python); the engine sits
//! behind a tokio mutex, so one client's calls run one at a time, in the order they take it.
//!
//! Errors are [`HushError`] (an exception class per variant, each with the engine's message).
//! No key crosses the boundary: records carry names, fingerprints, texts and attachment
//! metadata; an attachment is saved by naming its event ([`Client::save_attachment`]), and
//! the only secret an app passes in is the store's passphrase. A contact card (what
//! [`Client::card`] returns and events carry as `sender_card`) holds public keys and the
//! key that opens its owner's published prekeys: share it with contacts only, as the CLI does.
//!
//! The Python package (`bindings/python/`, built with maturin) wraps this crate; its tests
//! run users and a group through a real `hush-relay`.

#![warn(missing_docs)]

mod error;
mod records;

pub use error::HushError;
pub use records::{
    AttachmentInfo, ContactRecord, EventRecord, EventType, GroupRecord, GroupState, MemberRecord,
    SentRecord, SentState,
};

use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, Engine, Event};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use zeroize::Zeroizing;

uniffi::setup_scaffolding!("hush");

/// One account and its engine: create it in a new store ([`Client::create`]) or open an
/// existing one ([`Client::open`]).
#[derive(uniffi::Object)]
pub struct Client {
    engine: Mutex<Engine<SqliteStore>>,
    name: String,
    fingerprint: String,
    relay: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("fingerprint", &self.fingerprint)
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

fn events(list: &[Event]) -> Vec<EventRecord> {
    list.iter().map(EventRecord::from).collect()
}

impl Client {
    fn over(account: Account<SqliteStore>) -> Result<Arc<Self>, HushError> {
        let name = account.name().to_string();
        let fingerprint = hex::encode(account.identity().fingerprint().0);
        let relay = account.relay().to_string();
        Ok(Arc::new(Self {
            engine: Mutex::new(Engine::new(account)?),
            name,
            fingerprint,
            relay,
        }))
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Client {
    /// Creates a new account named `name` (its display name, shown on its card) whose home
    /// relay is `relay` (a `hush://FINGERPRINT@HOST:PORT` address), in a new store at `path`
    /// sealed with `passphrase` (Argon2id). Nothing is sent until a call needs the relay.
    #[uniffi::constructor]
    pub fn create(
        path: String,
        passphrase: String,
        name: String,
        relay: String,
    ) -> Result<Arc<Self>, HushError> {
        let passphrase = Zeroizing::new(passphrase);
        let relay = relay
            .parse()
            .map_err(|e| HushError::InvalidInput(format!("invalid relay address: {e}")))?;
        let path = Path::new(&path);
        if path.exists() {
            return Err(HushError::AccountExists(format!(
                "{} exists already",
                path.display()
            )));
        }
        let store = SqliteStore::create(path, KeySource::Passphrase(passphrase.as_bytes()))?;
        Self::over(Account::create(store, &mut rand::rng(), &name, relay)?)
    }

    /// Opens the account in the store at `path` with its `passphrase`
    /// ([`HushError::WrongPassphrase`] if it does not open it).
    #[uniffi::constructor]
    pub fn open(path: String, passphrase: String) -> Result<Arc<Self>, HushError> {
        let passphrase = Zeroizing::new(passphrase);
        let path = Path::new(&path);
        if !path.exists() {
            return Err(HushError::NoAccount(format!(
                "no store at {}",
                path.display()
            )));
        }
        let store = SqliteStore::open(path, KeySource::Passphrase(passphrase.as_bytes()))?;
        Self::over(Account::open(store)?)
    }

    /// The account's display name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// The account's identity fingerprint (64 hex digits).
    pub fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    /// The account's home relay (`hush://` address).
    pub fn relay(&self) -> String {
        self.relay.clone()
    }

    /// Connects to the home relay, publishes this account's keys if they never were, and
    /// checks this store is not an older copy of the account. Every call that needs it does it
    /// by itself; call it once at startup so contacts can write before the first receive.
    pub async fn start(&self) -> Result<(), HushError> {
        Ok(self.engine.lock().await.start().await?)
    }

    /// This account's contact card: one line of text to give to contacts (out of band).
    pub async fn card(&self) -> Result<String, HushError> {
        let engine = self.engine.lock().await;
        engine
            .account()
            .card()
            .encode()
            .map_err(|e| HushError::InvalidInput(e.to_string()))
    }

    /// Adds a contact from their card, under `alias` (1 to 64 of ASCII letters, digits,
    /// `-`, `_`, `.`).
    pub async fn add_contact(
        &self,
        alias: String,
        card: String,
    ) -> Result<ContactRecord, HushError> {
        let mut engine = self.engine.lock().await;
        let c = engine.account_mut().add_contact(&alias, &card)?;
        Ok(ContactRecord::from(&c))
    }

    /// Every contact.
    pub async fn contacts(&self) -> Result<Vec<ContactRecord>, HushError> {
        let engine = self.engine.lock().await;
        let list = engine.account().contacts()?;
        Ok(list.iter().map(ContactRecord::from).collect())
    }

    /// Marks a contact verified (after comparing safety numbers) or not.
    pub async fn set_verified(&self, alias: String, verified: bool) -> Result<(), HushError> {
        let mut engine = self.engine.lock().await;
        Ok(engine.account_mut().set_verified(&alias, verified)?)
    }

    /// Forgets a contact and every session with them (groups keep them as a member).
    pub async fn remove_contact(&self, alias: String) -> Result<ContactRecord, HushError> {
        let mut engine = self.engine.lock().await;
        let c = engine.forget_contact(&alias)?;
        Ok(ContactRecord::from(&c))
    }

    /// The 60-digit safety number to compare with a contact out of band: both sides see the
    /// same.
    pub async fn safety_number(&self, alias: String) -> Result<String, HushError> {
        let engine = self.engine.lock().await;
        Ok(engine.account().safety_number(&alias)?.to_string())
    }

    /// Sends `text` to the contact `alias`. The message is in the outbox before the relay
    /// sees it: if the relay cannot be reached it stays `Queued`, and a later receive
    /// retries it.
    pub async fn send(&self, alias: String, text: String) -> Result<SentRecord, HushError> {
        self.send_bytes(alias, text.into_bytes()).await
    }

    /// [`Client::send`] of arbitrary bytes (the receiver's event has them in `body`).
    pub async fn send_bytes(&self, alias: String, body: Vec<u8>) -> Result<SentRecord, HushError> {
        let body = Zeroizing::new(body);
        let mut engine = self.engine.lock().await;
        Ok(SentRecord::from(&engine.send(&alias, &body).await?))
    }

    /// Reads the mailbox and every group's log to their ends and returns what arrived,
    /// oldest first. Each event stays in the store until [`Client::confirm`]ed.
    pub async fn receive(&self) -> Result<Vec<EventRecord>, HushError> {
        let mut engine = self.engine.lock().await;
        Ok(events(&engine.receive().await?))
    }

    /// Events received but not confirmed yet (after a crash, say), oldest first.
    pub async fn pending_events(&self) -> Result<Vec<EventRecord>, HushError> {
        let engine = self.engine.lock().await;
        Ok(events(&engine.pending_events()?))
    }

    /// Says the app has handled these events: they leave the store.
    pub async fn confirm(&self, ids: Vec<u64>) -> Result<(), HushError> {
        let mut engine = self.engine.lock().await;
        Ok(engine.confirm(&ids)?)
    }

    /// Live delivery: waits up to `timeout_ms` for what arrives next and returns it (empty if
    /// nothing came in time). The first call reads everything waiting, then subscribes to the
    /// mailbox and every group's log; later calls return as the relay pushes. Confirm the
    /// events as with [`Client::receive`]. The client is busy while it waits: other calls
    /// wait for it, so keep the timeout short in an app that also sends.
    pub async fn next_events(&self, timeout_ms: u64) -> Result<Vec<EventRecord>, HushError> {
        let mut engine = self.engine.lock().await;
        match tokio::time::timeout(Duration::from_millis(timeout_ms), engine.next_events()).await {
            Ok(got) => Ok(events(&got?)),
            Err(_elapsed) => Ok(Vec::new()),
        }
    }

    /// Creates a group named `name` (local name; members may call it otherwise) with this
    /// account as its only member, its log on the home relay.
    pub async fn create_group(&self, name: String) -> Result<GroupRecord, HushError> {
        let mut engine = self.engine.lock().await;
        Ok(GroupRecord::from(&engine.create_group(&name)?))
    }

    /// Adds contacts to a group (one commit; each gets a Welcome).
    pub async fn add_members(&self, group: String, aliases: Vec<String>) -> Result<(), HushError> {
        let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
        let mut engine = self.engine.lock().await;
        Ok(engine.add_members(&group, &aliases).await?)
    }

    /// Removes contacts from a group (one commit).
    pub async fn remove_members(
        &self,
        group: String,
        aliases: Vec<String>,
    ) -> Result<(), HushError> {
        let aliases: Vec<&str> = aliases.iter().map(String::as_str).collect();
        let mut engine = self.engine.lock().await;
        Ok(engine.remove_members(&group, &aliases).await?)
    }

    /// Asks to leave a group: another member's next commit removes this account.
    pub async fn leave_group(&self, group: String) -> Result<(), HushError> {
        let mut engine = self.engine.lock().await;
        Ok(engine.leave_group(&group).await?)
    }

    /// Sends `text` to every member of a group.
    pub async fn send_to_group(
        &self,
        group: String,
        text: String,
    ) -> Result<SentRecord, HushError> {
        let body = Zeroizing::new(text.into_bytes());
        let mut engine = self.engine.lock().await;
        Ok(SentRecord::from(
            &engine.send_to_group(&group, &body).await?,
        ))
    }

    /// Every group this account knows, in any state.
    pub async fn groups(&self) -> Result<Vec<GroupRecord>, HushError> {
        let engine = self.engine.lock().await;
        let list = engine.groups()?;
        Ok(list.iter().map(GroupRecord::from).collect())
    }

    /// Sends the file at `path` to the contact `alias` as an attachment: encrypted under a
    /// fresh key, uploaded to the home relay, referred to by a message. An interrupted upload
    /// resumes when the same file is sent to the same contact again.
    pub async fn send_file(&self, alias: String, path: String) -> Result<SentRecord, HushError> {
        let mut engine = self.engine.lock().await;
        let sent = engine
            .send_file(&alias, Path::new(&path), &mut |_| {})
            .await?;
        Ok(SentRecord::from(&sent))
    }

    /// [`Client::send_file`] to every member of a group.
    pub async fn send_file_to_group(
        &self,
        group: String,
        path: String,
    ) -> Result<SentRecord, HushError> {
        let mut engine = self.engine.lock().await;
        let sent = engine
            .send_file_to_group(&group, Path::new(&path), &mut |_| {})
            .await?;
        Ok(SentRecord::from(&sent))
    }

    /// Downloads, checks and decrypts the attachment of the pending (not yet confirmed)
    /// event `event_id` into the folder `dir` (created if missing), under a fresh name made
    /// safe from the sender's; returns the new file's path. Nothing is kept of a blob that
    /// does not check out.
    pub async fn save_attachment(&self, event_id: u64, dir: String) -> Result<String, HushError> {
        let mut engine = self.engine.lock().await;
        let event = engine
            .pending_events()?
            .into_iter()
            .find(|e| e.id == event_id)
            .ok_or_else(|| {
                HushError::UnknownEvent(format!("no pending event {event_id} (confirmed already?)"))
            })?;
        let attachment = event.kind.attachment().ok_or_else(|| {
            HushError::UnknownEvent(format!("event {event_id} carries no attachment"))
        })?;
        let saved: PathBuf = engine
            .save_attachment(&attachment, Path::new(&dir), &mut |_| {})
            .await?;
        Ok(saved.to_string_lossy().into_owned())
    }

    /// Closes the relay connections (and live subscriptions); the next call that needs the
    /// relay opens them again.
    pub async fn close(&self) {
        self.engine.lock().await.close().await;
    }
}
