//! Bringing an identity into a store from elsewhere: the state file of a `hush` CLI home from
//! before the CLI ran on this engine, or a backup ([`crate::Engine::backup`]).
//!
//! [`Account::import`] checks every part (keys decode, cards parse, no alias or identity
//! twice, sessions belong to the peer they are filed under) and writes them in one batch into
//! an empty store: either the whole account is there afterwards, or nothing is.

use crate::account::{Account, GROUP_CLIENT, IDENTITY, UNSEALED, put_account};
use crate::card::Card;
use crate::contacts::{check_alias, put_new_contacts};
use crate::engine::groups::{STATE_MEMBER, STATE_REJOIN, STATE_REMOVED, own_entry_key, put_group};
use crate::engine::{GENERATION, NEXT_EVENT, PUBLISHED};
use crate::error::Error;
use crate::event::{Event, EventKind};
use crate::records::{GroupRecord, Profile, SentRecord, SessionsRecord};
use crate::store::{Batch, Store, Table};
use crate::{GroupStatus, check_name};
use hush_protocol::directory::DirectorySecret;
use hush_protocol::group::{GroupClient, GroupConfig};
use hush_protocol::{CryptoRng, IdentityKeyPair, PreKeyStore, Session};
use hush_relay_client::{Client, ClientOptions, EnvelopeId, RelayUrl};
use prost::Message;
use std::collections::HashSet;
use zeroize::Zeroizing;

/// Everything an account is made of, to write into a new store with [`Account::import`].
/// Secrets are wiped when it is dropped.
pub struct Import {
    /// Display name.
    pub name: String,
    /// Home relay.
    pub relay: RelayUrl,
    /// `IdentityKeyPair::to_bytes`.
    pub identity: Zeroizing<Vec<u8>>,
    /// The mailbox key's Ed25519 seed.
    pub mailbox_key: Zeroizing<[u8; 32]>,
    /// The directory secret. `None` for an account whose directory entries on the relay are
    /// still plaintext (from before sealed directories): a secret is made, the card stays
    /// version 1 until the next connection to the relay replaces every entry by sealed ones.
    pub directory: Option<DirectorySecret>,
    /// `PreKeyStore::to_bytes`: the private halves of the prekeys on the relay.
    pub prekeys: Zeroizing<Vec<u8>>,
    /// `GroupClient::to_bytes` (the MLS client as one blob); empty: a new MLS client.
    pub group_client: Zeroizing<Vec<u8>>,
    /// Contacts.
    pub contacts: Vec<ImportContact>,
    /// Cards of people who wrote without being contacts.
    pub peers: Vec<String>,
    /// 1:1 sessions, per peer.
    pub sessions: Vec<ImportSessions>,
    /// Groups.
    pub groups: Vec<ImportGroup>,
    /// Envelopes already processed (a redelivery is skipped).
    pub seen: Vec<EnvelopeId>,
    /// Envelopes sent, for status queries.
    pub sent: Vec<ImportSent>,
    /// The state generation last set on the home relay.
    pub generation: u64,
    /// Events not shown to the user yet (messages read while doing something else): the
    /// engine's next [`crate::Engine::receive`] returns them.
    pub events: Vec<EventKind>,
}

impl Import {
    /// Sets [`Import::generation`] to what the home relay holds now (opening the mailbox
    /// with the imported key): a backup made earlier carries an older one, and an account
    /// restored from it starts from the relay's, so its next send moves past every copy
    /// that ran since (`spec/client.md` §6).
    pub async fn read_generation(&mut self, options: ClientOptions) -> Result<(), Error> {
        let client = Client::connect_with(&self.relay, options).await?;
        let key = ed25519_dalek::SigningKey::from_bytes(&self.mailbox_key);
        let read = async {
            let mailbox = client.authenticate(&key).await?;
            client.generation(&mailbox).await
        }
        .await;
        client.close().await;
        self.generation = read?;
        Ok(())
    }
}

impl std::fmt::Debug for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Import")
            .field("name", &self.name)
            .field("contacts", &self.contacts.len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

/// A contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportContact {
    /// The alias the user chose.
    pub alias: String,
    /// Their card (`Card::encode`).
    pub card: String,
    /// Whether the user compared safety numbers with them ([`crate::Contact::verified`]).
    pub verified: bool,
    /// Whether a bundle of theirs offered PQXDH, so that one without a KEM prekey is refused
    /// as a downgrade ([`crate::Contact::offers_pqxdh`]). A restored account keeps the rule.
    pub offers_pqxdh: bool,
}

impl ImportContact {
    /// A contact known by alias and card only (neither verified nor seen offering PQXDH).
    pub fn new(alias: impl Into<String>, card: impl Into<String>) -> Self {
        ImportContact {
            alias: alias.into(),
            card: card.into(),
            verified: false,
            offers_pqxdh: false,
        }
    }
}

/// The 1:1 sessions with one peer (each `Session::to_bytes`).
#[derive(Default)]
pub struct ImportSessions {
    /// The session messages are sent on.
    pub current: Option<Zeroizing<Vec<u8>>>,
    /// Sessions it replaced (both sides started one at once), oldest first: they decrypt.
    pub previous: Vec<Zeroizing<Vec<u8>>>,
    /// Sessions set aside after a rollback, oldest first: they only decrypt late messages.
    pub archived: Vec<Zeroizing<Vec<u8>>>,
}

/// A group.
#[derive(Debug, Clone)]
pub struct ImportGroup {
    /// Local name.
    pub name: String,
    /// MLS group id (the log's id on its relay).
    pub id: Vec<u8>,
    /// Relay of the group log.
    pub relay: RelayUrl,
    /// Next log position to read.
    pub cursor: u64,
    /// Where the account stands ([`GroupStatus::Leaving`] is taken as a member).
    pub status: GroupStatus,
    /// Log positions at or after `cursor` holding our own messages (skipped when read).
    pub own_entries: Vec<u64>,
}

/// A sent envelope.
#[derive(Debug, Clone)]
pub struct ImportSent {
    /// Its envelope id.
    pub envelope_id: EnvelopeId,
    /// The relay that stored it.
    pub relay: String,
    /// The contact or group it went to.
    pub to: String,
    /// When it was sent or stored, Unix ms (0: unknown).
    pub at_ms: u64,
}

fn invalid(why: impl Into<String>) -> Error {
    Error::Invalid {
        what: "import",
        why: why.into(),
    }
}

impl<S: Store> Account<S> {
    /// Writes `import` into `store`, which must hold no account, in one batch, and opens it.
    /// `rng` makes a directory secret when the import has none.
    pub fn import<R: CryptoRng + ?Sized>(
        mut store: S,
        rng: &mut R,
        import: Import,
    ) -> Result<Self, Error> {
        if store.get(Table::Account, IDENTITY)?.is_some() {
            return Err(Error::AccountExists);
        }
        check_name(&import.name)?;
        let identity = IdentityKeyPair::from_bytes(&import.identity)
            .map_err(|_| invalid("the identity key does not decode"))?;
        PreKeyStore::from_bytes(&import.prekeys)
            .map_err(|_| invalid("the prekeys do not decode"))?;
        let group_client = if import.group_client.is_empty() {
            GroupClient::new(&identity, GroupConfig::default())?.to_bytes()?
        } else {
            GroupClient::from_bytes(&identity, &import.group_client)
                .map_err(|_| invalid("the group state does not decode"))?;
            import.group_client.clone()
        };
        let mut b = Batch::new();
        let (directory, published) = match &import.directory {
            Some(d) => (d.clone(), true),
            None => (DirectorySecret::generate(rng), false),
        };
        let profile = Profile {
            name: import.name.clone(),
            relay: import.relay.to_string(),
        };
        put_account(
            &mut b,
            &identity,
            &import.mailbox_key,
            &directory,
            &profile,
            import.prekeys.clone(),
        );
        b.put(Table::Account, GROUP_CLIENT, group_client).put(
            Table::Account,
            GENERATION,
            Zeroizing::new(import.generation.to_be_bytes().to_vec()),
        );
        if published {
            b.put(Table::Account, PUBLISHED, Zeroizing::new(vec![1]));
        } else {
            b.put(Table::Account, UNSEALED, Zeroizing::new(vec![1]));
        }

        let contacts = put_new_contacts(
            &mut b,
            identity.public(),
            import
                .contacts
                .iter()
                .map(|c| (&c.alias, &c.card, c.verified, c.offers_pqxdh)),
            |_, _| Ok(()),
        )?;
        for text in &import.peers {
            let card = Card::parse(text.trim())?;
            let f = card.identity.fingerprint().0;
            if !contacts.contains(&f) {
                b.put(
                    Table::Peers,
                    f.to_vec(),
                    Zeroizing::new(text.trim().as_bytes().to_vec()),
                );
            }
        }
        let mut peers = HashSet::new();
        for s in &import.sessions {
            let (peer, rec) = sessions_record(s)?;
            if !peers.insert(peer) {
                return Err(invalid("two session records for one peer"));
            }
            b.put(
                Table::Sessions,
                peer.to_vec(),
                Zeroizing::new(rec.encode_to_vec()),
            );
        }
        let mut names = HashSet::new();
        for g in &import.groups {
            check_alias(&g.name)?;
            if !names.insert(g.name.clone()) {
                return Err(Error::GroupNameTaken(g.name.clone()));
            }
            let rec = GroupRecord {
                id: g.id.clone(),
                relay: g.relay.to_string(),
                cursor: g.cursor,
                state: match g.status {
                    GroupStatus::Member | GroupStatus::Leaving => STATE_MEMBER,
                    GroupStatus::Removed => STATE_REMOVED,
                    GroupStatus::NeedsReAdd => STATE_REJOIN,
                },
                ..Default::default()
            };
            put_group(&mut b, &g.name, &rec);
            for seq in g.own_entries.iter().filter(|s| **s >= g.cursor) {
                b.put(Table::Seen, own_entry_key(&g.id, *seq), seen_now());
            }
        }
        for id in &import.seen {
            b.put(Table::Seen, id.as_bytes().to_vec(), seen_now());
        }
        for s in &import.sent {
            let rec = SentRecord {
                relay: s.relay.clone(),
                to: s.to.clone(),
                stored_at_ms: s.at_ms,
            };
            b.put(
                Table::Sent,
                s.envelope_id.as_bytes().to_vec(),
                Zeroizing::new(rec.encode_to_vec()),
            );
        }
        let now = hush_relay_client::wire::types::now_ms();
        let mut next = 1u64;
        for kind in &import.events {
            let event = Event {
                id: next,
                received_at_ms: now,
                envelope_id: None,
                kind: kind.clone(),
            };
            b.put(Table::Events, next.to_be_bytes().to_vec(), event.encode());
            next += 1;
        }
        if next > 1 {
            b.put(
                Table::Account,
                NEXT_EVENT,
                Zeroizing::new(next.to_be_bytes().to_vec()),
            );
        }
        store.commit(b)?;
        Account::open(store)
    }
}

/// What a seen record holds: when it was written (the import's ids are kept as long as
/// those processed now).
fn seen_now() -> Zeroizing<Vec<u8>> {
    Zeroizing::new(
        hush_relay_client::wire::types::now_ms()
            .to_be_bytes()
            .to_vec(),
    )
}

/// The peer's fingerprint and the record of their sessions, each session checked.
fn sessions_record(s: &ImportSessions) -> Result<([u8; 32], SessionsRecord), Error> {
    let mut peer = None;
    let mut check = |bytes: &Zeroizing<Vec<u8>>| -> Result<Vec<u8>, Error> {
        let session =
            Session::from_bytes(bytes).map_err(|_| invalid("a session does not decode"))?;
        let f = session.remote_identity().fingerprint().0;
        if *peer.get_or_insert(f) != f {
            return Err(invalid("sessions with two peers filed as one"));
        }
        Ok(bytes.to_vec())
    };
    let current = match &s.current {
        Some(c) => check(c)?,
        None => Vec::new(),
    };
    let previous = s
        .previous
        .iter()
        .map(&mut check)
        .collect::<Result<_, _>>()?;
    let archived = s
        .archived
        .iter()
        .map(&mut check)
        .collect::<Result<_, _>>()?;
    let peer = peer.ok_or_else(|| invalid("an empty session record"))?;
    Ok((
        peer,
        SessionsRecord {
            current,
            previous,
            archived,
        },
    ))
}
