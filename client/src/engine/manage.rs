//! Looking after the account as a whole: contacts together with their sessions, sent
//! messages, backups, and re-reading the store after another process wrote to it.

use super::Engine;
use super::groups::{STATE_MEMBER, STATE_REJOIN};
use crate::GroupStatus;
use crate::card::Card;
use crate::contacts::{CardUpdate, Contact};
use crate::error::Error;
use crate::import::{Import, ImportContact, ImportGroup};
use crate::records::SentRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::IdentityPublicKey;
use hush_protocol::group::GroupClient;
use hush_relay_client::{Client, ClientOptions, EnvelopeId, RelayUrl, StatusReport};
use prost::Message;

/// A message the relay stored (or a group's relay appended), as the engine remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    /// The relay that took it.
    pub relay: String,
    /// The contact or group it went to.
    pub to: String,
    /// When the relay stored it (its receipt's time), Unix ms; 0 when unknown.
    pub stored_at_ms: u64,
}

/// What the relay that stored a message says of it now ([`SentMessage::ask_relay`]).
#[derive(Debug, Clone)]
pub struct RelayStatus {
    /// The relay's clock when it answered, Unix ms.
    pub now_ms: u64,
    /// How long the relay keeps an envelope nobody reads, ms.
    pub ttl_ms: u64,
    /// Its answer, receipts verified: stored, delivered (with the recipient's receipt) or
    /// expired.
    pub report: StatusReport,
}

impl SentMessage {
    /// Asks the relay that stored this message (envelope `id`) what became of it. It needs
    /// no engine, so an app can let others use its store while the relay answers. A relay
    /// that no longer knows the envelope (never stored there, or delivered or expired long
    /// enough ago that it forgot it) answers [`Error::Relay`] with the code `NOT_FOUND`.
    pub async fn ask_relay(
        &self,
        id: &EnvelopeId,
        options: ClientOptions,
    ) -> Result<RelayStatus, Error> {
        let url: RelayUrl = self
            .relay
            .parse()
            .map_err(|_| Error::Corrupt("sent message relay URL"))?;
        let client = Client::connect_with(&url, options).await?;
        let now_ms = client.info().server_time_ms;
        let ttl_ms = client.info().ttl_seconds.saturating_mul(1000);
        let report = client.status(id).await;
        client.close().await;
        Ok(RelayStatus {
            now_ms,
            ttl_ms,
            report: report?,
        })
    }
}

impl<S: Store> Engine<S> {
    /// Replaces a contact's card ([`crate::Account::update_contact`]); when the card is of
    /// another identity, every session with the old identity is deleted (the next message
    /// starts a new one with the new identity).
    pub fn update_contact(&mut self, alias: &str, card: &str) -> Result<CardUpdate, Error> {
        let old = self.account.contact(alias)?.card.identity;
        let change = self.account.update_contact(alias, card)?;
        let new = self.account.contact(alias)?.card.identity;
        let mut b = Batch::new();
        b.delete(Table::Peers, new.fingerprint().0.to_vec());
        if change == CardUpdate::NewIdentity {
            b.delete(Table::Sessions, old.fingerprint().0.to_vec());
        }
        self.account.store.commit(b)?;
        Ok(change)
    }

    /// Forgets a contact and every session with them. Groups keep them as a member (remove
    /// them there first); their group messages then show under their fingerprint.
    pub fn forget_contact(&mut self, alias: &str) -> Result<Contact, Error> {
        let c = self.account.remove_contact(alias)?;
        self.forget_sessions(&c.card.identity)?;
        Ok(c)
    }

    fn forget_sessions(&mut self, peer: &IdentityPublicKey) -> Result<(), Error> {
        let mut b = Batch::new();
        b.delete(Table::Sessions, peer.fingerprint().0.to_vec());
        self.account.store.commit(b)?;
        Ok(())
    }

    /// What the engine remembers of a message it sent (`None`: not sent from this account,
    /// or still in the outbox, see [`Engine::outbox`]).
    pub fn sent_message(&self, id: &EnvelopeId) -> Result<Option<SentMessage>, Error> {
        let Some(v) = self.account.store.get(Table::Sent, id.as_bytes())? else {
            return Ok(None);
        };
        let rec = SentRecord::decode(v.as_slice()).map_err(|_| Error::Corrupt("sent message"))?;
        Ok(Some(SentMessage {
            relay: rec.relay,
            to: rec.to,
            stored_at_ms: rec.stored_at_ms,
        }))
    }

    /// Re-reads what the engine keeps in memory (prekeys, the MLS client, events not handed
    /// out) from the store: for a store another process (another engine on the same file)
    /// may have written to since. Live subscriptions stay.
    pub fn reload(&mut self) -> Result<(), Error> {
        self.prekeys = self.account.prekeys()?;
        self.groups = Self::load_groups(&mut self.account)?;
        self.unreported = self.not_handed_out()?;
        Ok(())
    }

    /// A backup of this account: identity, mailbox key, directory secret, prekeys, contacts,
    /// the cards of people who wrote, and which groups it is in. It holds no 1:1 session and
    /// no group's epoch secrets (the MLS client keeps only its signature key and the private
    /// halves of its published KeyPackages): an account made from it with
    /// [`crate::Account::import`] starts new sessions with the next message, and each of its
    /// groups waits for a member to remove and re-add it. Handle it as the secret it is.
    pub fn backup(&self) -> Result<Import, Error> {
        let corrupt = |_| Error::Corrupt("group state");
        let me = self.account.identity_key_pair();
        let mut groups = GroupClient::from_bytes(me, &self.groups.to_bytes()?).map_err(corrupt)?;
        for id in groups.group_ids() {
            groups.delete_group(&id)?;
        }
        let contacts = self
            .account
            .contacts()?
            .into_iter()
            .map(|c| {
                Ok(ImportContact {
                    card: c.card.encode()?,
                    alias: c.alias,
                    verified: c.verified,
                    offers_pqxdh: c.offers_pqxdh,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let peers = self
            .account
            .peers()?
            .into_iter()
            .map(|c| Ok(c.encode()?))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut import_groups = Vec::new();
        for (name, rec) in self.group_records()? {
            if rec.state != STATE_MEMBER && rec.state != STATE_REJOIN {
                continue;
            }
            import_groups.push(ImportGroup {
                name,
                id: rec.id,
                relay: rec
                    .relay
                    .parse()
                    .map_err(|_| Error::Corrupt("group relay"))?,
                cursor: 0,
                status: GroupStatus::NeedsReAdd,
                own_entries: Vec::new(),
            });
        }
        let (seed, directory, unsealed) = self.account.secrets();
        Ok(Import {
            name: self.account.name().to_string(),
            relay: self.account.relay().clone(),
            identity: me.to_bytes(),
            mailbox_key: seed,
            directory: (!unsealed).then_some(directory),
            prekeys: self.prekeys.to_bytes(),
            group_client: groups.to_bytes()?,
            contacts,
            peers,
            sessions: Vec::new(),
            groups: import_groups,
            seen: Vec::new(),
            sent: Vec::new(),
            generation: 0,
            events: Vec::new(),
        })
    }
}

impl<S: Store> crate::Account<S> {
    /// The cards of people who wrote to this account without being contacts (as their first
    /// message carried them), by fingerprint: what `add_contact` takes to answer them.
    pub fn peers(&self) -> Result<Vec<Card>, Error> {
        let mut out = Vec::new();
        for (_, v) in self.store.scan(Table::Peers)? {
            let text = std::str::from_utf8(&v).map_err(|_| Error::Corrupt("peer card"))?;
            let card = Card::parse(text).map_err(|_| Error::Corrupt("peer card"))?;
            if self.alias_of(&card.identity)?.is_none() {
                out.push(card);
            }
        }
        out.sort_by_key(|c| c.identity.fingerprint().0);
        Ok(out)
    }
}
