//! Persisting a [`GroupClient`] record by record: what changed since the last save, instead
//! of the whole client ([`GroupClient::to_bytes`]) every time. An app that keeps many groups
//! writes, after each call, only the openmls store entries and the group records that call
//! changed, so what sending to one group costs does not grow with the number of groups.
//! `spec/groups.md`, "Persisting record by record".

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use super::client::GroupClient;
use super::error::{GroupError, GroupResult};
use super::events::GroupId;
use super::persist::{check_integrity, integrity, meta_state};
use super::storage::wipe_entries;
use crate::identity::IdentityKeyPair;
use crate::proto::state;

/// A record's new value, or `None` when it was removed. Secret: wiped when dropped.
pub type RecordChange = Option<Zeroizing<Vec<u8>>>;

/// What changed in a [`GroupClient`] since the last [`GroupClient::take_changes`]: write all
/// of it in one atomic batch of the app's store. Everything in it is secret.
#[derive(Default)]
pub struct GroupChanges {
    /// The client's own record (its configuration, the identity it belongs to and the
    /// person's word its credential carries): in the first changes taken from a client that
    /// was not restored from records, and after [`GroupClient::set_device_of`].
    pub header: Option<Zeroizing<Vec<u8>>>,
    /// openmls store entries, sorted by key: the new value, or `None` when the entry was
    /// removed.
    pub entries: Vec<(Vec<u8>, RecordChange)>,
    /// Group records (the buffered messages and pending commit of one group, encoded
    /// `hush.state.v1.GroupMetaState`), by group: `None` when the group was deleted.
    pub groups: Vec<(GroupId, RecordChange)>,
}

impl GroupChanges {
    /// True when nothing changed.
    pub fn is_empty(&self) -> bool {
        self.header.is_none() && self.entries.is_empty() && self.groups.is_empty()
    }
}

impl core::fmt::Debug for GroupChanges {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupChanges")
            .field("header", &self.header.is_some())
            .field("entries", &self.entries.len())
            .field("groups", &self.groups.len())
            .finish()
    }
}

impl GroupClient {
    /// The records that changed since the last call. The first call on a client made with
    /// [`GroupClient::new`] or [`GroupClient::from_bytes`] returns all of it, header
    /// included; on a client made with [`GroupClient::from_records`], only what changed
    /// since. Persist them (all together) after each call that changes the client, like
    /// [`GroupClient::to_bytes`].
    pub fn take_changes(&mut self) -> GroupResult<GroupChanges> {
        let first = !self.groups.tracked();
        let header = if first || std::mem::take(&mut self.header_changed) {
            let mut st = self.header_state()?;
            st.integrity = integrity(&st);
            let out = Zeroizing::new(st.encode_to_vec());
            st.interop_signature_secret.zeroize();
            Some(out)
        } else {
            None
        };
        let entries = if first {
            self.storage.take_all()?
        } else {
            self.storage.take_changes()?
        };
        let groups = self
            .groups
            .take_changed()
            .into_iter()
            .map(|id| {
                let rec = self
                    .groups
                    .get(&id)
                    .map(|slot| Zeroizing::new(meta_state(&id, slot).encode_to_vec()));
                (id, rec)
            })
            .collect();
        Ok(GroupChanges {
            header,
            entries,
            groups,
        })
    }

    /// Restores a client for `identity` from its records as [`GroupClient::take_changes`]
    /// gave them (the header, every entry still present, every group record still
    /// present), in any order. Tracks changes from here on. A header of another identity,
    /// a record that does not decode or a group whose entries are missing is an error.
    pub fn from_records(
        identity: &IdentityKeyPair,
        header: &[u8],
        entries: Vec<(Vec<u8>, Zeroizing<Vec<u8>>)>,
        groups: &[Zeroizing<Vec<u8>>],
    ) -> GroupResult<Self> {
        let mut st = state::GroupClientState::decode(header)
            .map_err(|_| GroupError::Malformed("group state header"))?;
        if !st.storage.is_empty() || !st.groups.is_empty() {
            return Err(GroupError::Malformed("group state header"));
        }
        check_integrity(&mut st)?;
        st.storage = entries
            .into_iter()
            .map(|(key, mut value)| state::GroupStorageEntry {
                key,
                value: core::mem::take(&mut *value),
            })
            .collect();
        st.groups = groups
            .iter()
            .map(|g| {
                state::GroupMetaState::decode(g.as_slice())
                    .map_err(|_| GroupError::Malformed("group record"))
            })
            .collect::<GroupResult<_>>()?;
        let result = Self::from_checked_state(Some(identity), &mut st);
        wipe_entries(&mut st.storage);
        let mut client = result?;
        client.storage.track_changes()?;
        client.groups.track_changes();
        Ok(client)
    }
}
