//! A store in memory: nothing survives the process.

use super::{Batch, Op, Store, StoreError, Table, Value};
use std::collections::BTreeMap;

/// Records in memory, wiped when dropped. For tests and throwaway identities.
#[derive(Default)]
pub struct MemoryStore {
    tables: BTreeMap<(Table, Vec<u8>), Value>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("records", &self.tables.len())
            .finish()
    }
}

impl Store for MemoryStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, StoreError> {
        Ok(self.tables.get(&(table, key.to_vec())).cloned())
    }

    fn scan(&self, table: Table) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        Ok(self
            .tables
            .iter()
            .filter(|((t, _), _)| *t == table)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        for op in batch.into_ops() {
            match op {
                Op::Put { table, key, value } => {
                    self.tables.insert((table, key), value);
                }
                Op::Delete { table, key } => {
                    self.tables.remove(&(table, key));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn conformance() {
        super::super::conformance::basic(&mut super::MemoryStore::new());
    }
}
