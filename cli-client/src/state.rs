//! What a home remembers, serialized as JSON inside the encrypted state file.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use anyhow::{Context, Result, anyhow};
use ed25519_dalek::SigningKey;
use hush_protocol::directory::DirectorySecret;
use hush_protocol::group::{GroupClient, GroupConfig};
use hush_protocol::{IdentityKeyPair, IdentityPublicKey, PreKeyStore, Session};
use hush_relay_client::{MailboxAddress, RelayUrl};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::{Zeroize, Zeroizing};

use crate::card::Card;
use crate::exit::{Failure, fail};

/// Version of the JSON body.
pub const STATE_VERSION: u32 = 1;
/// Sent envelope ids remembered for `status`.
pub const MAX_SENT: usize = 10_000;
/// Envelope ids remembered to skip a redelivery after a crash between save and ack.
pub const MAX_SEEN: usize = 4096;

/// Secret bytes: hex in the (encrypted) JSON, wiped from memory on drop.
#[derive(Clone, Default)]
pub struct Secret(pub Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let h = Zeroizing::new(hex::encode(self.0.as_slice()));
        s.serialize_str(&h)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let mut h = String::deserialize(d)?;
        let bytes = hex::decode(&h).map_err(serde::de::Error::custom);
        h.zeroize();
        Ok(Secret(Zeroizing::new(bytes?)))
    }
}

/// A contact the person added by alias.
#[derive(Clone, Serialize, Deserialize)]
pub struct Contact {
    /// Their card, exactly as pasted (normalized by re-encoding).
    pub card: String,
    /// Whether safety numbers were compared (absent, so false, in files written before it was
    /// kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    /// Whether a bundle of theirs offered PQXDH (the sticky rule; absent, so false, in files
    /// written before it was kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offers_pqxdh: bool,
}

/// An envelope this home sent, so `status` knows which relay to ask.
#[derive(Clone, Serialize, Deserialize)]
pub struct Sent {
    /// Envelope id, hex.
    pub id: String,
    /// Relay that stored it.
    pub relay: String,
    /// Alias it went to.
    pub to: String,
    /// When it was sent, Unix ms (0 in homes from before it was recorded).
    #[serde(default)]
    pub sent_at_ms: u64,
}

/// A group this home is in.
#[derive(Clone, Serialize, Deserialize)]
pub struct GroupRecord {
    /// MLS group id, hex (also the relay's group log id).
    pub id: String,
    /// Relay holding the group log.
    pub relay: String,
    /// Next group log sequence number to read.
    pub cursor: u64,
    /// Log entries this home appended itself (skipped when read back).
    #[serde(default)]
    pub own_seqs: BTreeSet<u64>,
    /// False once a commit removed us.
    pub active: bool,
    /// True when this home holds no usable state of the group any more (its state was rolled
    /// back, or it was restored from a backup): it must be removed and re-added by a member
    /// before it can send or read; a Welcome for the group clears it.
    #[serde(default)]
    pub rejoin: bool,
}

/// A message decrypted while doing something else (catching up a group log before a
/// group command): shown by the next `recv`.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct InboxItem {
    /// `message`, `joined`, `removed` or `identity_changed`.
    pub event: String,
    /// Alias or fingerprint of the sender.
    pub from: String,
    /// Group name, or none for 1:1.
    pub group: Option<String>,
    /// The text (messages only).
    pub text: Option<String>,
    /// `identity_changed`: the contact whose card name the new identity's card carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    /// `identity_changed`: that contact's identity fingerprint (hex), which stays in use
    /// until `contact update`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_fingerprint: Option<String>,
}

/// Everything a home holds.
#[derive(Serialize, Deserialize)]
pub struct State {
    /// Body version.
    pub version: u32,
    /// Display name put on the card.
    pub name: String,
    /// Home relay URL.
    pub relay: String,
    /// `IdentityKeyPair::to_bytes`.
    pub identity: Secret,
    /// Ed25519 seed of the mailbox key (unlinkable to the identity).
    pub mailbox_key: Secret,
    /// `PreKeyStore::to_bytes`.
    pub prekeys: Secret,
    /// `GroupClient::to_bytes`.
    pub group_client: Secret,
    /// Contacts by alias.
    #[serde(default)]
    pub contacts: BTreeMap<String, Contact>,
    /// 1:1 sessions by the peer's identity fingerprint (hex).
    #[serde(default)]
    pub sessions: BTreeMap<String, Secret>,
    /// State generation: the value this home last set (or is setting) on its relay's counter.
    /// See `generation.rs` and spec/cli.md, "Rollback".
    #[serde(default)]
    pub generation: u64,
    /// Sessions set aside when a rollback was detected, by peer fingerprint, oldest first:
    /// used only to decrypt late messages, never to encrypt.
    #[serde(default)]
    pub archived_sessions: BTreeMap<String, Vec<Secret>>,
    /// Sessions replaced by a newer one with the same peer (both started a session at once),
    /// by peer fingerprint, oldest first: they still decrypt, and the one that does becomes
    /// current again. See `sessions.rs`.
    #[serde(default)]
    pub previous_sessions: BTreeMap<String, Vec<Secret>>,
    /// Cards of senders not (yet) added as contacts, by identity fingerprint (hex).
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    /// Sent envelopes, oldest first.
    #[serde(default)]
    pub sent: VecDeque<Sent>,
    /// Groups by local name.
    #[serde(default)]
    pub groups: BTreeMap<String, GroupRecord>,
    /// Recently processed incoming envelope ids (hex).
    #[serde(default)]
    pub seen: VecDeque<String>,
    /// Messages decrypted but not shown yet.
    #[serde(default)]
    pub inbox: Vec<InboxItem>,
    /// The directory secret of our mailbox (`spec/relay-protocol.md` §6.1), carried in our
    /// card. Homes made before it have none: the next command that opens the mailbox makes one.
    #[serde(default)]
    pub directory_secret: Option<Secret>,
    /// True once every directory entry on the relay is sealed under `directory_secret` and the
    /// fetch verifier is registered; only then does our card carry the secret (version 2).
    #[serde(default)]
    pub directory_sealed: bool,
}

/// Compact hex identity fingerprint: the key of sessions and peers, and the `from` of
/// senders who are not contacts.
pub fn fpr(id: &IdentityPublicKey) -> String {
    hex::encode(id.fingerprint().0)
}

impl State {
    /// Decodes the JSON body.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        let s: State = serde_json::from_slice(body).context("the state file body is corrupt")?;
        if s.version != STATE_VERSION {
            return Err(anyhow!(
                "state version {} is not supported (expected {STATE_VERSION})",
                s.version
            ));
        }
        Ok(s)
    }

    /// Encodes the JSON body.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        Ok(Zeroizing::new(
            serde_json::to_vec(self).context("cannot encode state")?,
        ))
    }

    /// The identity key pair.
    pub fn identity(&self) -> Result<IdentityKeyPair> {
        IdentityKeyPair::from_bytes(&self.identity.0).context("stored identity is corrupt")
    }

    /// The mailbox signing key.
    pub fn mailbox_key(&self) -> Result<SigningKey> {
        let seed: [u8; 32] = self
            .mailbox_key
            .0
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("stored mailbox key is corrupt"))?;
        let seed = Zeroizing::new(seed);
        Ok(SigningKey::from_bytes(&seed))
    }

    /// The mailbox address.
    pub fn mailbox(&self) -> Result<MailboxAddress> {
        Ok(MailboxAddress::from_public_key(
            &self.mailbox_key()?.verifying_key(),
        ))
    }

    /// The home relay.
    pub fn relay_url(&self) -> Result<RelayUrl> {
        self.relay
            .parse()
            .map_err(|e| anyhow!("stored relay URL is invalid: {e}"))
    }

    /// This home's card: version 2 (with the directory secret) once the directory is sealed,
    /// version 1 before.
    pub fn card(&self) -> Result<Card> {
        let directory = match (self.directory_sealed, self.directory_secret()?) {
            (true, Some(ds)) => Some(ds),
            _ => None,
        };
        Ok(Card {
            name: self.name.clone(),
            identity: self.identity()?.public().clone(),
            mailbox: self.mailbox()?,
            relay: self.relay_url()?,
            directory,
        })
    }

    /// Our mailbox's directory secret, if one was made.
    pub fn directory_secret(&self) -> Result<Option<DirectorySecret>> {
        self.directory_secret
            .as_ref()
            .map(|s| {
                DirectorySecret::from_slice(&s.0).context("stored directory secret is corrupt")
            })
            .transpose()
    }

    /// The prekey store.
    pub fn prekeys(&self) -> Result<PreKeyStore> {
        PreKeyStore::from_bytes(&self.prekeys.0).context("stored prekeys are corrupt")
    }

    /// The MLS client.
    pub fn group_client(&self, identity: &IdentityKeyPair) -> Result<GroupClient> {
        GroupClient::from_bytes(identity, &self.group_client.0)
            .context("stored group state is corrupt")
    }

    /// Stores the MLS client.
    pub fn set_group_client(&mut self, client: &GroupClient) -> Result<()> {
        self.group_client = Secret::new(client.to_bytes().context("cannot encode group state")?);
        Ok(())
    }

    /// A new MLS client for `identity`.
    pub fn new_group_client(identity: &IdentityKeyPair) -> Result<GroupClient> {
        GroupClient::new(identity, GroupConfig::default()).context("cannot set up groups")
    }

    /// A contact's parsed card.
    pub fn contact(&self, alias: &str) -> Result<Card> {
        let c = self.contacts.get(alias).ok_or_else(|| {
            fail(
                Failure::NotFound,
                format!(
                    "unknown alias '{alias}' (see `hush contact list`, or add it with `hush contact add`)"
                ),
            )
        })?;
        Card::parse(&c.card).map_err(|e| anyhow!("stored card of '{alias}' is invalid: {e}"))
    }

    /// The alias of an identity, or its fingerprint if it is not a contact.
    pub fn name_of(&self, id: &IdentityPublicKey) -> String {
        let f = fpr(id);
        for (alias, c) in &self.contacts {
            if let Ok(card) = Card::parse(&c.card)
                && fpr(&card.identity) == f
            {
                return alias.clone();
            }
        }
        f
    }

    /// The stored session with `peer`, if any.
    pub fn session(&self, peer: &IdentityPublicKey) -> Result<Option<Session>> {
        match self.sessions.get(&fpr(peer)) {
            None => Ok(None),
            Some(s) => Ok(Some(
                Session::from_bytes(&s.0).context("stored session is corrupt")?,
            )),
        }
    }

    /// Stores the session with its peer.
    pub fn set_session(&mut self, session: &Session) {
        self.sessions.insert(
            fpr(session.remote_identity()),
            Secret::new(session.to_bytes()),
        );
    }

    /// Remembers a sent envelope.
    pub fn record_sent(&mut self, sent: Sent) {
        self.sent.push_back(sent);
        while self.sent.len() > MAX_SENT {
            self.sent.pop_front();
        }
    }

    /// Remembers an incoming envelope id as processed.
    pub fn mark_seen(&mut self, id: String) {
        self.seen.push_back(id);
        while self.seen.len() > MAX_SEEN {
            self.seen.pop_front();
        }
    }
}
