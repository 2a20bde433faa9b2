//! The client's openmls store: every group's state, its epoch secrets and the private keys
//! of unused KeyPackages, as key-value entries that
//! [`GroupClient::to_bytes`](super::GroupClient::to_bytes) persists.
//!
//! [`GroupStorage`] is Hush's own implementation of openmls' `StorageProvider`
//! (`provider.rs`). Every value it overwrites, deletes or removes from a list is zeroized at
//! once, and whatever it still holds is zeroized when the client
//! drops, poisoned lock or not. A poisoned lock or a
//! value that does not decode is an error ([`StorageError`]), never a panic.

mod codec;
mod error;
mod provider;
#[cfg(test)]
mod tests;

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

use super::error::{GroupError, GroupResult};
use crate::proto::state;
use codec::SecretBytes;
pub(crate) use error::StorageError;

type Value = SecretBytes;
/// A copy of an entry's value handed out for persisting: wiped when dropped.
pub(crate) type SecretVec = zeroize::Zeroizing<Vec<u8>>;

/// openmls' key-value store, owned by one client. The values hold secrets.
#[derive(Default)]
pub(crate) struct GroupStorage {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Vec<u8>, Value>,
    retired: Retired,
    /// While the owner persists record by record: the keys written or removed since the
    /// last [`GroupStorage::take_changes`] (`None`: not tracked).
    changed: Option<HashSet<Vec<u8>>>,
}

/// Where values go when they leave the store: wiped, or into the open undo scope's journal.
#[derive(Default)]
struct Retired {
    /// While an undo scope is open: each key's value from before the scope (`None`: absent).
    undo: Option<HashMap<Vec<u8>, Option<Value>>>,
    /// Tests: every value the store wiped, in order.
    #[cfg(test)]
    wiped: Vec<tests::Wiped>,
}

impl Retired {
    /// Takes a value that was overwritten or removed under `key` (or records that `key` was
    /// absent, `old == None`): the undo journal keeps the first one per key, the rest are
    /// wiped.
    fn retire(&mut self, key: &[u8], old: Option<Value>) {
        if let Some(undo) = &mut self.undo
            && !undo.contains_key(key)
        {
            undo.insert(key.to_vec(), old);
            return;
        }
        if let Some(old) = old {
            self.wipe(key, old);
        }
    }

    fn wipe(&mut self, key: &[u8], mut old: Value) {
        let mut bytes = core::mem::take(&mut old.0);
        #[cfg(test)]
        let len = bytes.len();
        codec::zero_all(&mut bytes);
        #[cfg(test)]
        self.wiped.push(tests::Wiped {
            key: key.to_vec(),
            len,
            zeroed: bytes.len() >= len && bytes.iter().all(|b| *b == 0),
        });
        #[cfg(not(test))]
        let _ = key;
    }
}

impl State {
    fn touch(&mut self, key: &[u8]) {
        if let Some(changed) = &mut self.changed
            && !changed.contains(key)
        {
            changed.insert(key.to_vec());
        }
    }

    fn put(&mut self, key: Vec<u8>, value: Value) {
        self.touch(&key);
        match self.entries.entry(key) {
            Entry::Occupied(mut e) => {
                let old = core::mem::replace(e.get_mut(), value);
                self.retired.retire(e.key(), Some(old));
            }
            Entry::Vacant(e) => {
                self.retired.retire(e.key(), None);
                e.insert(value);
            }
        }
    }

    fn remove(&mut self, key: &[u8]) {
        self.touch(key);
        if let Some((key, old)) = self.entries.remove_entry(key) {
            self.retired.retire(&key, Some(old));
        }
    }

    fn get<V: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<V>, StorageError> {
        self.entries.get(key).map(|v| codec::decode(v)).transpose()
    }

    /// The items of the list stored under `key`, each still encoded.
    fn items(&self, key: &[u8]) -> Result<Items, StorageError> {
        Ok(Items(self.get(key)?.unwrap_or_default()))
    }

    fn get_list<V: DeserializeOwned>(&self, key: &[u8]) -> Result<Vec<V>, StorageError> {
        self.items(key)?
            .0
            .iter()
            .map(|i| codec::decode(i))
            .collect()
    }

    /// Rewrites the list under `key` after `edit` changed its items.
    fn edit_list(
        &mut self,
        key: Vec<u8>,
        edit: impl FnOnce(&mut Vec<Vec<u8>>),
    ) -> Result<(), StorageError> {
        let mut items = self.items(&key)?;
        edit(&mut items.0);
        let value = codec::encode(&items.0)?;
        self.put(key, value);
        Ok(())
    }
}

/// A decoded list's items (each an encoded entity), wiped when dropped.
struct Items(Vec<Vec<u8>>);

impl Drop for Items {
    fn drop(&mut self) {
        for item in &mut self.0 {
            codec::zero_all(item);
        }
    }
}

impl GroupStorage {
    fn lock(&self) -> Result<MutexGuard<'_, State>, StorageError> {
        self.state.lock().map_err(|_| StorageError::Poisoned)
    }

    // The helpers the provider's methods are made of: one entry per `label || key`, or one
    // list of encoded items per `label || key`.

    fn write<V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &[u8],
        value: &V,
    ) -> Result<(), StorageError> {
        let key = codec::store_key(label, key);
        let mut state = self.lock()?;
        let expected = state.entries.get(&key).map_or(0, |old| old.len());
        let value = codec::encode_sized(value, expected)?;
        state.put(key, value);
        Ok(())
    }

    fn read<V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &[u8],
    ) -> Result<Option<V>, StorageError> {
        self.lock()?.get(&codec::store_key(label, key))
    }

    fn delete(&self, label: &[u8], key: &[u8]) -> Result<(), StorageError> {
        self.lock()?.remove(&codec::store_key(label, key));
        Ok(())
    }

    fn append<V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &[u8],
        item: &V,
    ) -> Result<(), StorageError> {
        let mut item = codec::encode(item)?;
        let item = core::mem::take(&mut item.0);
        self.lock()?
            .edit_list(codec::store_key(label, key), |items| items.push(item))
    }

    /// Removes the first item of the list equal to `item`.
    fn remove_item<V: Serialize + ?Sized>(
        &self,
        label: &[u8],
        key: &[u8],
        item: &V,
    ) -> Result<(), StorageError> {
        let item = codec::encode(item)?;
        self.lock()?
            .edit_list(codec::store_key(label, key), |items| {
                if let Some(i) = items.iter().position(|x| **x == **item) {
                    codec::zero_all(&mut items.remove(i));
                }
            })
    }

    fn read_list<V: DeserializeOwned>(
        &self,
        label: &[u8],
        key: &[u8],
    ) -> Result<Vec<V>, StorageError> {
        self.lock()?.get_list(&codec::store_key(label, key))
    }

    /// Copies every entry out, sorted by key so the encoding is deterministic.
    pub(crate) fn to_proto(&self) -> GroupResult<Vec<state::GroupStorageEntry>> {
        let state = self.lock()?;
        let mut out: Vec<state::GroupStorageEntry> = state
            .entries
            .iter()
            .map(|(k, v)| state::GroupStorageEntry {
                key: k.clone(),
                value: v.to_vec(),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Rebuilds a store from persisted entries; duplicate keys are a malformed blob.
    pub(crate) fn from_proto(entries: &mut [state::GroupStorageEntry]) -> GroupResult<Self> {
        let mut map = HashMap::with_capacity(entries.len());
        for e in entries.iter_mut() {
            let key = core::mem::take(&mut e.key);
            let value = SecretBytes(core::mem::take(&mut e.value));
            if map.insert(key, value).is_some() {
                return Err(GroupError::Malformed("group state (duplicate storage key)"));
            }
        }
        Ok(Self {
            state: Mutex::new(State {
                entries: map,
                retired: Retired::default(),
                changed: None,
            }),
        })
    }

    /// Every entry, each a copy (the first changes of a client persisted record by record),
    /// sorted by key; tracks changes from now on.
    pub(crate) fn take_all(&self) -> GroupResult<Vec<(Vec<u8>, Option<SecretVec>)>> {
        let mut state = self.lock()?;
        state.changed = Some(HashSet::new());
        let mut out: Vec<_> = state
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), Some(SecretVec::new(v.to_vec()))))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The entries written or removed since the last call (or since [`Self::take_all`] or
    /// [`Self::track_changes`]): each key with a copy of its value, `None` when removed;
    /// sorted by key.
    pub(crate) fn take_changes(&self) -> GroupResult<Vec<(Vec<u8>, Option<SecretVec>)>> {
        let mut state = self.lock()?;
        let changed = state.changed.replace(HashSet::new()).unwrap_or_default();
        let mut out: Vec<_> = changed
            .into_iter()
            .map(|k| {
                let v = state.entries.get(&k).map(|v| SecretVec::new(v.to_vec()));
                (k, v)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Starts tracking changes (a store rebuilt from records that are already persisted).
    pub(crate) fn track_changes(&self) -> GroupResult<()> {
        self.lock()?.changed = Some(HashSet::new());
        Ok(())
    }

    /// Number of entries (for tests of forgetting consumed KeyPackages).
    pub(crate) fn len(&self) -> usize {
        self.lock().map(|s| s.entries.len()).unwrap_or(0)
    }

    /// Opens an undo scope: until it is kept, every change to the store can be rolled back.
    /// Dropping the scope without keeping it rolls back.
    pub(crate) fn undo_scope(&self) -> Result<UndoScope<'_>, StorageError> {
        let mut state = self.lock()?;
        if state.retired.undo.is_some() {
            return Err(StorageError::UndoOpen);
        }
        state.retired.undo = Some(HashMap::new());
        Ok(UndoScope {
            storage: self,
            open: true,
        })
    }
}

/// An open undo scope of a [`GroupStorage`] (see [`GroupStorage::undo_scope`]).
pub(crate) struct UndoScope<'a> {
    storage: &'a GroupStorage,
    open: bool,
}

impl UndoScope<'_> {
    /// Keeps the changes made in the scope; the values they replaced are wiped.
    pub(crate) fn keep(mut self) -> Result<(), StorageError> {
        self.open = false;
        let mut state = self.storage.lock()?;
        let journal = state.retired.undo.take().unwrap_or_default();
        for (key, old) in journal {
            if let Some(old) = old {
                state.retired.wipe(&key, old);
            }
        }
        Ok(())
    }

    /// Puts the store back as it was when the scope opened; the values written since are
    /// wiped.
    pub(crate) fn roll_back(mut self) -> Result<(), StorageError> {
        self.open = false;
        self.storage.roll_back()
    }
}

impl Drop for UndoScope<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to from a drop; a poisoned store refuses every later call.
            let _ = self.storage.roll_back();
        }
    }
}

impl GroupStorage {
    fn roll_back(&self) -> Result<(), StorageError> {
        let mut state = self.lock()?;
        let journal = state.retired.undo.take().unwrap_or_default();
        for (key, old) in journal {
            match old {
                Some(old) => state.put(key, old),
                None => state.remove(&key),
            }
        }
        Ok(())
    }
}

/// Wipes the secret-bearing fields of decoded entries.
pub(crate) fn wipe_entries(entries: &mut [state::GroupStorageEntry]) {
    for e in entries {
        e.value.zeroize();
    }
}
