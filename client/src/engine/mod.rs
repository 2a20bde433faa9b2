//! The engine: an [`Account`] with its keys unpacked and connections to relays. It sends
//! ("persist, then send": the session's new keys and the sealed envelope are in the outbox
//! before the relay sees them) and receives ("persist, then ack": every message is an event
//! in the store before the relay is told to delete it).

mod attachments;
mod devices;
pub(crate) mod fanout;
mod generation;
pub(crate) use generation::GENERATION;
pub(crate) use receive::{EventIds, NEXT_EVENT};
pub(crate) mod groups;
mod live;
mod manage;
pub(crate) mod outbox;
mod receive;
mod stock;

pub use attachments::safe_file_name;
pub use attachments::{PendingUpload, Progress, ProgressFn};
pub use devices::{LINK_LIFETIME_SECS, LINK_PREFIX};
pub use groups::{Group, GroupStatus, MAX_ADD, MAX_COMMIT_ROUNDS, Member};
pub use manage::{RelayStatus, SentMessage};
pub use outbox::{Outgoing, OutgoingState};

use crate::account::{Account, PREKEYS};
use crate::error::Error;
use crate::sessions::PeerSessions;
use crate::store::{Batch, Store, Table};
use hush_protocol::group::GroupClient;
use hush_protocol::{IdentityPublicKey, PreKeyStore};
use hush_relay_client::{Client, ClientOptions, MailboxAddress, RelayUrl};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::collections::HashMap;
use std::sync::Arc;

/// The account record that says the directory was published (sealed entries and the fetch
/// verifier are on the relay).
pub(crate) const PUBLISHED: &[u8] = b"published";

/// A messenger engine over an account.
pub struct Engine<S: Store> {
    pub(crate) account: Account<S>,
    pub(crate) prekeys: PreKeyStore,
    pub(crate) groups: GroupClient,
    clients: HashMap<String, Client>,
    options: ClientOptions,
    /// Events saved while doing something else (reading a group's log before a commit):
    /// returned by the next [`Engine::receive`].
    pub(crate) unreported: Vec<crate::Event>,
    /// Our commits that lost their epoch to another member's and were redone.
    pub(crate) lost_commits: u64,
    /// True once this engine advanced the state generation (`generation.rs`).
    pub(crate) generation_checked: bool,
    /// Live subscriptions, once [`Engine::next_events`] started them.
    pub(crate) live: Option<live::Live>,
    /// Every random number the engine uses (keys, nonces, ids): seeded from the operating
    /// system, or from [`Engine::with_rng_seed`] in tests.
    pub(crate) rng: StdRng,
    /// The time, Unix ms ([`Engine::with_clock`]).
    clock: Clock,
    /// Relays an outbox retry found unreachable: (not before, Unix ms; last delay, ms).
    /// Background retries (from `receive`) skip them until then; `flush_outbox` does not.
    pub(crate) backoff: HashMap<String, (u64, u64)>,
    /// Where the ciphertext of a file being sent waits ([`Engine::with_temp_dir`]; `None`:
    /// the system's temporary folder).
    pub(crate) temp_dir: Option<std::path::PathBuf>,
    /// When a receive last swept expired `seen` records (Unix ms; `None`: not yet).
    pub(crate) seen_swept_at_ms: Option<u64>,
    /// A contact's list named devices of theirs we had not sent our device list to: the
    /// receive sends it before it returns (`Engine::announce_list`).
    pub(crate) announce_due: bool,
    /// The person and device-list records as last read and verified
    /// ([`Engine::person`], [`Engine::device_list`]): naming the sender of each message
    /// compares the stored bytes instead of verifying the same signatures again.
    pub(crate) verified: std::sync::Mutex<Verified>,
}

/// What [`Engine::verified`] holds: the records' bytes and what they were verified to be.
#[derive(Default)]
pub(crate) struct Verified {
    pub(crate) person: Option<(Vec<u8>, IdentityPublicKey)>,
    pub(crate) list: Option<hush_protocol::devices::DeviceList>,
}

/// A source of the current time, Unix ms.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

impl<S: Store> std::fmt::Debug for Engine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("account", &self.account)
            .field("connections", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl<S: Store> Engine<S> {
    /// An engine over `account`. Nothing is sent until a call needs the relay.
    pub fn new(account: Account<S>) -> Result<Self, Error> {
        Self::with_options(account, ClientOptions::default())
    }

    /// [`Engine::new`] with relay connection options (timeouts, keep-alive).
    pub fn with_options(mut account: Account<S>, options: ClientOptions) -> Result<Self, Error> {
        let prekeys = account.prekeys()?;
        let groups = Self::load_groups(&mut account)?;
        let mut engine = Self {
            account,
            prekeys,
            groups,
            clients: HashMap::new(),
            options,
            unreported: Vec::new(),
            seen_swept_at_ms: None,
            announce_due: false,
            verified: Default::default(),
            lost_commits: 0,
            generation_checked: false,
            live: None,
            rng: StdRng::from_rng(&mut rand::rng()),
            clock: Arc::new(hush_relay_client::wire::types::now_ms),
            backoff: HashMap::new(),
            temp_dir: None,
        };
        engine.unreported = engine.not_handed_out()?;
        Ok(engine)
    }

    /// Events saved but never handed out (found while doing something else, then the engine
    /// stopped): the next `receive` returns them.
    pub(crate) fn not_handed_out(&self) -> Result<Vec<crate::Event>, Error> {
        let reported = self.reported()?;
        Ok(self
            .pending_events()?
            .into_iter()
            .filter(|e| e.id > reported)
            .collect())
    }

    /// The engine with its random numbers drawn from a generator seeded with `seed`: for
    /// tests that must repeat exactly. Never in an app (every key would be predictable).
    pub fn with_rng_seed(mut self, seed: [u8; 32]) -> Self {
        self.rng = StdRng::from_seed(seed);
        self
    }

    /// The engine with `dir` (created when needed) as the folder where the encrypted copy of
    /// a file being sent waits while it uploads, instead of the system's temporary folder
    /// (which may be memory-backed, and too small for large files).
    pub fn with_temp_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.temp_dir = Some(dir.into());
        self
    }

    /// The engine with `clock` as its time (Unix ms): for tests of what depends on time
    /// (when processed envelope ids are forgotten, event and outbox times).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// A generator for one operation, seeded from the engine's (so an engine made with
    /// [`Engine::with_rng_seed`] repeats exactly, and no generator lives across an `await`
    /// that is not `Send`).
    pub(crate) fn child_rng(&mut self) -> StdRng {
        StdRng::from_rng(&mut self.rng)
    }

    /// The engine's time, Unix ms.
    pub(crate) fn now_ms(&self) -> u64 {
        (self.clock)()
    }

    /// How many of our group commits lost their epoch to another member's commit and were
    /// redone on the new epoch, since this engine was made (a measure of contention).
    pub fn lost_commits(&self) -> u64 {
        self.lost_commits
    }

    /// The account.
    pub fn account(&self) -> &Account<S> {
        &self.account
    }

    /// The account, to manage contacts.
    pub fn account_mut(&mut self) -> &mut Account<S> {
        &mut self.account
    }

    /// Closes every relay connection and gives the account back.
    pub async fn shutdown(mut self) -> Account<S> {
        self.close().await;
        self.account
    }

    /// Closes every relay connection (they reopen on the next call that needs them).
    pub async fn close(&mut self) {
        self.live = None;
        for (_, c) in self.clients.drain() {
            c.close().await;
        }
    }

    /// A connection to `url`, opened on first use and kept; a connection that closed is
    /// opened again (to the home relay: with our mailbox authenticated again).
    pub(crate) async fn client(&mut self, url: &RelayUrl) -> Result<&Client, Error> {
        let key = url.to_string();
        if let Some(c) = self.clients.get(&key)
            && c.connection().close_reason().is_some()
        {
            self.clients.remove(&key);
        }
        if !self.clients.contains_key(&key) {
            let c = Client::connect_with(url, self.options.clone()).await?;
            if url == self.account.relay() {
                c.authenticate(self.account.mailbox_key()).await?;
            }
            self.clients.insert(key.clone(), c);
        }
        Ok(&self.clients[&key])
    }

    /// Our home relay connection with our mailbox authenticated on it; publishes the
    /// directory first if it never was.
    pub(crate) async fn home(&mut self) -> Result<(RelayUrl, MailboxAddress), Error> {
        let url = self.account.relay().clone();
        let key = self.account.mailbox_key().clone();
        let mailbox = self.client(&url).await?.authenticate(&key).await?;
        if self.account.store.get(Table::Account, PUBLISHED)?.is_none() {
            self.publish(&url, &mailbox).await?;
        }
        Ok((url, mailbox))
    }

    /// Writes the prekey store (with what else `batch` holds) to the store.
    pub(crate) fn commit_with_prekeys(&mut self, mut batch: Batch) -> Result<(), Error> {
        batch.put(Table::Account, PREKEYS, self.prekeys.to_bytes());
        self.account.store.commit(batch)?;
        Ok(())
    }

    /// The sessions with `peer`.
    pub(crate) fn sessions(&self, peer: &IdentityPublicKey) -> Result<PeerSessions, Error> {
        match self
            .account
            .store
            .get(Table::Sessions, &peer.fingerprint().0)?
        {
            Some(b) => PeerSessions::decode(&b),
            None => Ok(PeerSessions::default()),
        }
    }
}

#[cfg(test)]
mod send_check {
    //! Apps spawn the engine's futures on multi-threaded runtimes: they must be `Send`.
    use super::Engine;
    use crate::store::MemoryStore;

    fn is_send<T: Send>(_: &T) {}

    #[allow(dead_code)]
    async fn engine_futures_are_send(e: &mut Engine<MemoryStore>) {
        is_send(&e.send("a", b""));
        is_send(&e.receive());
        is_send(&e.next_events());
        is_send(&e.flush_outbox());
        is_send(&e.send_to_group("g", b""));
        is_send(&e.add_members("g", &["a"]));
        is_send(&e.remove_members("g", &["a"]));
        is_send(&e.leave_group("g"));
        is_send(&e.update_keys("g"));
        is_send(&e.start());
        let mut p = |_: super::Progress| {};
        is_send(&e.send_file("a", std::path::Path::new("f"), &mut p));
        let mut p = |_: super::Progress| {};
        is_send(&e.send_file_to_group("g", std::path::Path::new("f"), &mut p));
    }
}
