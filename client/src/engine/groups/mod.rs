//! Groups: MLS groups whose log is kept by a relay (`spec/groups.md`). The engine creates
//! them, adds and removes members (their Welcomes stored with the commit), sends to them
//! through the outbox, reads their logs into events, and joins the groups it is invited to.
//!
//! The MLS client is persisted record by record (`GroupClient::take_changes`): a call that
//! touches one group writes that group's records only. Each group also has an engine record
//! (table `groups`, by local name): its relay, how far its log was read, whether we are
//! still in it, and our commit on its way to the relay.

mod commit;
mod send;
pub(crate) mod sync;

pub use commit::{MAX_ADD, MAX_COMMIT_ROUNDS};

use super::Engine;
use crate::account::GROUP_CLIENT;
use crate::contacts::check_alias;
use crate::error::Error;
use crate::records::GroupRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::Fingerprint;
use hush_protocol::group::{GroupChanges, GroupClient, GroupId};
use hush_relay_client::RelayUrl;
use prost::Message;
use zeroize::Zeroizing;

/// The account record holding the MLS client's header (`GroupChanges::header`).
pub(crate) const GROUP_HEADER: &[u8] = b"group_header";

pub(crate) const STATE_MEMBER: u32 = 0;
pub(crate) const STATE_REMOVED: u32 = 1;
pub(crate) const STATE_REJOIN: u32 = 2;

/// Where this account stands in a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    /// A member: can read and send.
    Member,
    /// We asked to leave; no member committed it yet.
    Leaving,
    /// A commit removed us.
    Removed,
    /// This store was restored from an older copy: its state of the group was forgotten (it
    /// would reuse keys). A member must remove and re-add this account.
    NeedsReAdd,
}

/// A member of a group (one device: a person with several devices is one member per device),
/// as the engine shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The device's identity fingerprint.
    pub identity: Fingerprint,
    /// The alias of the person the device belongs to, when they are a contact.
    pub alias: Option<String>,
    /// True for this account.
    pub me: bool,
}

/// A group, as the engine shows it.
#[derive(Debug, Clone)]
pub struct Group {
    /// Its local name.
    pub name: String,
    /// Its MLS group id (also its log's id on the relay).
    pub id: GroupId,
    /// The relay holding its log.
    pub relay: RelayUrl,
    /// Where we stand in it.
    pub status: GroupStatus,
    /// Its current epoch (`None` when we hold no state of it).
    pub epoch: Option<u64>,
    /// Its members in leaf order (empty when we hold no state of it).
    pub members: Vec<Member>,
}

impl<S: Store> Engine<S> {
    /// Loads the MLS client: from its records, or from the single blob stores of earlier
    /// versions held (then rewritten as records, the blob removed, in one batch).
    pub(crate) fn load_groups(account: &mut crate::Account<S>) -> Result<GroupClient, Error> {
        let corrupt = |_| Error::Corrupt("group state");
        let id = account.identity_key_pair();
        if let Some(header) = account.store.get(Table::Account, GROUP_HEADER)? {
            let entries = account.store.scan(Table::GroupEntries)?;
            let groups: Vec<_> = account
                .store
                .scan(Table::GroupStates)?
                .into_iter()
                .map(|(_, v)| v)
                .collect();
            return GroupClient::from_records(id, &header, entries, &groups).map_err(corrupt);
        }
        let blob = account
            .store
            .get(Table::Account, GROUP_CLIENT)?
            .ok_or(Error::Corrupt("group state"))?;
        let mut groups = GroupClient::from_bytes(id, &blob).map_err(corrupt)?;
        let mut b = Batch::new();
        put_changes(&mut b, groups.take_changes()?);
        b.delete(Table::Account, GROUP_CLIENT);
        account.store.commit(b)?;
        Ok(groups)
    }

    /// Adds what changed in the MLS client to `batch`.
    pub(crate) fn put_group_changes(&mut self, batch: &mut Batch) -> Result<(), Error> {
        put_changes(batch, self.groups.take_changes()?);
        Ok(())
    }

    /// Commits `batch` with the MLS client's changes. If the store fails, the client is
    /// reloaded from the store, so memory never runs ahead of what is saved.
    pub(crate) fn commit_groups(&mut self, mut batch: Batch) -> Result<(), Error> {
        self.put_group_changes(&mut batch)?;
        if let Err(e) = self.account.store.commit(batch) {
            if let Ok(g) = Self::load_groups(&mut self.account) {
                self.groups = g;
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Creates a group named `name` (a local name, as for contacts) with this account as its
    /// only member; its log lives on our home relay.
    pub fn create_group(&mut self, name: &str) -> Result<Group, Error> {
        check_alias(name)?;
        if self
            .account
            .store
            .get(Table::Groups, name.as_bytes())?
            .is_some()
        {
            return Err(Error::GroupNameTaken(name.to_string()));
        }
        let id = self.groups.create_group(&mut self.rng)?;
        let rec = GroupRecord {
            id: id.as_slice().to_vec(),
            relay: self.account.relay().to_string(),
            cursor: 0,
            state: STATE_MEMBER,
            ..Default::default()
        };
        let mut b = Batch::new();
        put_group(&mut b, name, &rec);
        self.commit_groups(b)?;
        self.group(name)
    }

    /// Forgets group `name` on this device: its keys and records go (we stay in the group
    /// for the others until a member removes us; use [`Engine::leave_group`] first to ask).
    pub fn forget_group(&mut self, name: &str) -> Result<(), Error> {
        let rec = self.group_record(name)?;
        let id = GroupId::from_slice(&rec.id);
        if self.groups.group_ids().contains(&id) {
            self.groups.delete_group(&id)?;
        }
        let mut b = Batch::new();
        b.delete(Table::Groups, name.as_bytes().to_vec())
            .delete(Table::GroupIndex, rec.id.clone());
        self.commit_groups(b)
    }

    /// The group named `name`.
    pub fn group(&self, name: &str) -> Result<Group, Error> {
        let rec = self.group_record(name)?;
        self.describe(name, &rec)
    }

    /// Every group, by name.
    pub fn groups(&self) -> Result<Vec<Group>, Error> {
        self.group_records()?
            .iter()
            .map(|(name, rec)| self.describe(name, rec))
            .collect()
    }

    fn describe(&self, name: &str, rec: &GroupRecord) -> Result<Group, Error> {
        let id = GroupId::from_slice(&rec.id);
        let relay = rec
            .relay
            .parse()
            .map_err(|_| Error::Corrupt("group relay URL"))?;
        let status = status(rec)?;
        let (epoch, members) = match status {
            GroupStatus::NeedsReAdd => (None, Vec::new()),
            GroupStatus::Removed if !self.groups.group_ids().contains(&id) => (None, Vec::new()),
            _ => {
                let me = self.account.identity_key_pair().public();
                let members = self
                    .groups
                    .members(&id)?
                    .into_iter()
                    .map(|m| {
                        Ok(Member {
                            identity: m.identity.fingerprint(),
                            alias: self.member_alias(&m)?.1,
                            me: m.identity == *me,
                        })
                    })
                    .collect::<Result<_, Error>>()?;
                (Some(self.groups.epoch(&id)?), members)
            }
        };
        Ok(Group {
            name: name.to_string(),
            id,
            relay,
            status,
            epoch,
            members,
        })
    }

    /// The engine record of group `name`.
    pub(crate) fn group_record(&self, name: &str) -> Result<GroupRecord, Error> {
        let v = self
            .account
            .store
            .get(Table::Groups, name.as_bytes())?
            .ok_or_else(|| Error::UnknownGroup(name.to_string()))?;
        decode_group(&v)
    }

    /// The local name and record of the group with MLS id `id`, which an outbox entry calls
    /// `name`: read by that name (one lookup), or through the id's index if the name now
    /// belongs to another group.
    pub(crate) fn group_of_entry(
        &self,
        name: &str,
        id: &[u8],
    ) -> Result<Option<(String, GroupRecord)>, Error> {
        if let Some(v) = self.account.store.get(Table::Groups, name.as_bytes())? {
            let g = decode_group(&v)?;
            if g.id == id {
                return Ok(Some((name.to_string(), g)));
            }
        }
        match self.group_name(id)? {
            Some(n) => {
                let g = self.group_record(&n)?;
                Ok(Some((n, g)))
            }
            None => Ok(None),
        }
    }

    /// The local name of the group with MLS id `id`, if we have it.
    pub(crate) fn group_name(&self, id: &[u8]) -> Result<Option<String>, Error> {
        self.account
            .store
            .get(Table::GroupIndex, id)?
            .map(|v| String::from_utf8(v.to_vec()).map_err(|_| Error::Corrupt("group index")))
            .transpose()
    }

    /// A free local name for a group its inviter calls `wanted`.
    pub(crate) fn free_group_name(&self, wanted: &str) -> Result<String, Error> {
        let base = if check_alias(wanted).is_ok() {
            wanted.to_string()
        } else {
            "group".to_string()
        };
        let taken = |n: &str| -> Result<bool, Error> {
            Ok(self
                .account
                .store
                .get(Table::Groups, n.as_bytes())?
                .is_some())
        };
        if !taken(&base)? {
            return Ok(base);
        }
        for i in 2u32..10_000 {
            let n = format!("{base}-{i}");
            if check_alias(&n).is_ok() && !taken(&n)? {
                return Ok(n);
            }
        }
        Err(Error::GroupNameTaken(base))
    }
}

/// The error for an operation on a group we are not a member of.
pub(crate) fn not_member(name: &str, rec: &GroupRecord) -> Error {
    if rec.state == STATE_REJOIN {
        Error::NeedsReAdd(name.to_string())
    } else {
        Error::NotInGroup(name.to_string())
    }
}

/// Puts a group's engine record and its index entry into `b`.
/// The `seen` record marking log entry `seq` of group `id` as one of our own messages, for
/// entries whose bytes we do not have (groups imported from a CLI home, which kept positions).
pub(crate) fn own_entry_key(id: &[u8], seq: u64) -> Vec<u8> {
    let mut k = b"own-entry:".to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k.extend_from_slice(id);
    k
}

/// Adds the write of a group's record alone to `b`: for changes of a group already indexed
/// (its cursor, its state), which leave `group_index` as it is.
pub(crate) fn put_group_record(b: &mut Batch, name: &str, rec: &GroupRecord) {
    b.put(
        Table::Groups,
        name.as_bytes().to_vec(),
        Zeroizing::new(rec.encode_to_vec()),
    );
}

pub(crate) fn put_group(b: &mut Batch, name: &str, rec: &GroupRecord) {
    b.put(
        Table::Groups,
        name.as_bytes().to_vec(),
        Zeroizing::new(rec.encode_to_vec()),
    )
    .put(
        Table::GroupIndex,
        rec.id.clone(),
        Zeroizing::new(name.as_bytes().to_vec()),
    );
}

pub(crate) fn decode_group(v: &[u8]) -> Result<GroupRecord, Error> {
    GroupRecord::decode(v).map_err(|_| Error::Corrupt("group"))
}

fn status(rec: &GroupRecord) -> Result<GroupStatus, Error> {
    match rec.state {
        STATE_MEMBER if rec.leaving => Ok(GroupStatus::Leaving),
        STATE_MEMBER => Ok(GroupStatus::Member),
        STATE_REMOVED => Ok(GroupStatus::Removed),
        STATE_REJOIN => Ok(GroupStatus::NeedsReAdd),
        _ => Err(Error::Corrupt("group")),
    }
}

/// The group's relay and its log id.
pub(crate) fn log_of(rec: &GroupRecord) -> Result<(RelayUrl, hush_relay_client::GroupId), Error> {
    let relay = rec
        .relay
        .parse()
        .map_err(|_| Error::Corrupt("group relay URL"))?;
    let id =
        hush_relay_client::GroupId::new(rec.id.clone()).map_err(|_| Error::Corrupt("group id"))?;
    Ok((relay, id))
}

pub(crate) fn put_changes(b: &mut Batch, c: GroupChanges) {
    if let Some(h) = c.header {
        b.put(Table::Account, GROUP_HEADER, h);
    }
    for (k, v) in c.entries {
        match v {
            Some(v) => b.put(Table::GroupEntries, k, v),
            None => b.delete(Table::GroupEntries, k),
        };
    }
    for (g, v) in c.groups {
        let k = g.as_slice().to_vec();
        match v {
            Some(v) => b.put(Table::GroupStates, k, v),
            None => b.delete(Table::GroupStates, k),
        };
    }
}
