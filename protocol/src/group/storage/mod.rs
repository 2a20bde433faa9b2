//! The client's openmls key-value store: every group's state, its epoch secrets and the
//! private keys of unused KeyPackages. Persisted by [`GroupClient::to_bytes`](super::GroupClient::to_bytes)
//! and wiped from memory when the client is dropped.

use openmls_rust_crypto::MemoryStorage;
use zeroize::Zeroize;

use super::error::{GroupError, GroupResult};
use crate::proto::state;

/// openmls' in-memory store, owned by one client. The values hold secrets.
#[derive(Default)]
pub(crate) struct GroupStorage {
    inner: MemoryStorage,
}

impl GroupStorage {
    pub(crate) fn inner(&self) -> &MemoryStorage {
        &self.inner
    }

    /// Copies every entry out, sorted by key so the encoding is deterministic.
    pub(crate) fn to_proto(&self) -> GroupResult<Vec<state::GroupStorageEntry>> {
        let values = self.inner.values.read().map_err(|_| GroupError::Storage)?;
        let mut out: Vec<state::GroupStorageEntry> = values
            .iter()
            .map(|(k, v)| state::GroupStorageEntry {
                key: k.clone(),
                value: v.clone(),
            })
            .collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Rebuilds a store from persisted entries; duplicate keys are a malformed blob.
    pub(crate) fn from_proto(entries: &mut [state::GroupStorageEntry]) -> GroupResult<Self> {
        let storage = Self::default();
        {
            let mut values = storage
                .inner
                .values
                .write()
                .map_err(|_| GroupError::Storage)?;
            for e in entries.iter_mut() {
                let key = core::mem::take(&mut e.key);
                let value = core::mem::take(&mut e.value);
                if values.insert(key, value).is_some() {
                    return Err(GroupError::Malformed("group state (duplicate storage key)"));
                }
            }
        }
        Ok(storage)
    }

    /// Number of entries (for tests of forgetting consumed KeyPackages).
    pub(crate) fn len(&self) -> usize {
        self.inner.values.read().map(|v| v.len()).unwrap_or(0)
    }
}

impl Drop for GroupStorage {
    fn drop(&mut self) {
        // A poisoned lock still holds the data: wipe it either way.
        let mut values = match self.inner.values.write() {
            Ok(v) => v,
            Err(poisoned) => poisoned.into_inner(),
        };
        for (_, v) in values.iter_mut() {
            v.zeroize();
        }
    }
}

/// Wipes the secret-bearing fields of decoded entries.
pub(crate) fn wipe_entries(entries: &mut [state::GroupStorageEntry]) {
    for e in entries {
        e.value.zeroize();
    }
}

/// A copy of the store's entries, to put back if an operation fails half-way.
pub(crate) struct Snapshot(std::collections::HashMap<Vec<u8>, Vec<u8>>);

impl Drop for Snapshot {
    fn drop(&mut self) {
        for v in self.0.values_mut() {
            v.zeroize();
        }
    }
}

impl GroupStorage {
    pub(crate) fn snapshot(&self) -> GroupResult<Snapshot> {
        let values = self.inner.values.read().map_err(|_| GroupError::Storage)?;
        Ok(Snapshot(values.clone()))
    }

    pub(crate) fn restore(&self, mut snapshot: Snapshot) -> GroupResult<()> {
        let mut values = self.inner.values.write().map_err(|_| GroupError::Storage)?;
        for v in values.values_mut() {
            v.zeroize();
        }
        *values = core::mem::take(&mut snapshot.0);
        Ok(())
    }
}
