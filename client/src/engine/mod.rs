//! The engine: an [`Account`] with its keys unpacked and connections to relays. It sends
//! ("persist, then send": the session's new keys and the sealed envelope are in the outbox
//! before the relay sees them) and receives ("persist, then ack": every message is an event
//! in the store before the relay is told to delete it).

mod generation;
pub(crate) mod groups;
pub(crate) mod outbox;
mod receive;
mod stock;

pub use groups::{Group, GroupStatus, MAX_ADD, MAX_COMMIT_ROUNDS, Member};
pub use outbox::{Outgoing, OutgoingState};

use crate::account::{Account, PREKEYS};
use crate::error::Error;
use crate::sessions::PeerSessions;
use crate::store::{Batch, Store, Table};
use hush_protocol::group::GroupClient;
use hush_protocol::{IdentityPublicKey, PreKeyStore};
use hush_relay_client::{Client, ClientOptions, MailboxAddress, RelayUrl};
use std::collections::HashMap;

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
}

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
        Ok(Self {
            account,
            prekeys,
            groups,
            clients: HashMap::new(),
            options,
            unreported: Vec::new(),
            lost_commits: 0,
            generation_checked: false,
        })
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
        for (_, c) in self.clients.drain() {
            c.close().await;
        }
    }

    /// A connection to `url`, opened on first use and kept.
    pub(crate) async fn client(&mut self, url: &RelayUrl) -> Result<&Client, Error> {
        let key = url.to_string();
        if let Some(c) = self.clients.get(&key)
            && c.connection().close_reason().is_some()
        {
            self.clients.remove(&key);
        }
        if !self.clients.contains_key(&key) {
            let c = Client::connect_with(url, self.options.clone()).await?;
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
