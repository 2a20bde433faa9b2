//! Where the engine keeps what it must not forget: a [`Store`] is a set of named tables of
//! records, each record a key and a value, written in atomic batches.
//!
//! The engine writes one record per thing it changes (a session, a contact, an outbox
//! entry), never the whole state, so what a send costs does not grow with the number of
//! contacts or groups. Two stores come with the crate: [`SqliteStore`], the default, an
//! encrypted SQLite file (every key and value sealed, see [`sqlite`]), and [`MemoryStore`],
//! which keeps nothing after the process ends (tests, throwaway identities). An app with a
//! store of its own implements the trait; it must make each [`Store::commit`] atomic and
//! durable before it returns, and should encrypt at rest.

mod memory;
mod seal;
pub mod sqlite;

pub use memory::MemoryStore;
pub use seal::{KdfParams, StoreKey};
pub use sqlite::{KeySource, SqliteStore};

use zeroize::Zeroizing;

/// The tables of the engine. Their names are part of the on-disk format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// The account: identity, mailbox key, directory secret, name, relay.
    Account,
    /// Contacts by alias.
    Contacts,
    /// Contact aliases by identity fingerprint (an index of `Contacts`).
    ContactIndex,
    /// 1:1 sessions by the peer's identity fingerprint.
    Sessions,
    /// Sealed envelopes the relay has not stored yet, by envelope id.
    Outbox,
    /// Envelopes the relay stored, by envelope id.
    Sent,
    /// Incoming envelope ids already processed, with when.
    Seen,
    /// Events the app has not confirmed, by id.
    Events,
    /// Groups by local name.
    Groups,
    /// Group local names by MLS group id (an index of `Groups`).
    GroupIndex,
    /// The MLS client's key-value entries (group states, epoch secrets, KeyPackage keys).
    GroupEntries,
    /// The MLS client's per-group records (buffered messages, pending commit), by group id.
    GroupStates,
    /// Cards of senders who are not contacts, as their first message carried them, by
    /// identity fingerprint.
    Peers,
    /// Attachment uploads not finished yet (blob id, file key, digest), by recipient and
    /// file path: the next send of the same file resumes them.
    Uploads,
    /// Device lists (`spec/multi-device.md` §4.1): a contact's latest accepted list under
    /// `list:` and the person's fingerprint, the person of each listed device under
    /// `device:` and the device's fingerprint, and the counter of this person's own list a
    /// device was last sent under `announced:` and its fingerprint.
    Devices,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 15] = [
        Table::Account,
        Table::Contacts,
        Table::ContactIndex,
        Table::Sessions,
        Table::Outbox,
        Table::Sent,
        Table::Seen,
        Table::Events,
        Table::Groups,
        Table::GroupIndex,
        Table::GroupEntries,
        Table::GroupStates,
        Table::Peers,
        Table::Uploads,
        Table::Devices,
    ];

    /// The table's stable name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Account => "account",
            Table::Contacts => "contacts",
            Table::ContactIndex => "contact_index",
            Table::Sessions => "sessions",
            Table::Outbox => "outbox",
            Table::Sent => "sent",
            Table::Seen => "seen",
            Table::Events => "events",
            Table::Groups => "groups",
            Table::GroupIndex => "group_index",
            Table::GroupEntries => "group_entries",
            Table::GroupStates => "group_states",
            Table::Peers => "peers",
            Table::Uploads => "uploads",
            Table::Devices => "devices",
        }
    }
}

/// A stored value: wiped from memory when dropped.
pub type Value = Zeroizing<Vec<u8>>;

/// One change of a batch.
#[derive(Debug)]
pub enum Op {
    /// Write `value` under `key`, replacing what was there.
    Put {
        /// The table.
        table: Table,
        /// The record's key.
        key: Vec<u8>,
        /// The new value.
        value: Value,
    },
    /// Remove the record under `key` (nothing if there is none).
    Delete {
        /// The table.
        table: Table,
        /// The record's key.
        key: Vec<u8>,
    },
}

/// Changes that take effect together or not at all.
#[derive(Debug, Default)]
pub struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a write.
    pub fn put(&mut self, table: Table, key: impl Into<Vec<u8>>, value: Value) -> &mut Self {
        self.ops.push(Op::Put {
            table,
            key: key.into(),
            value,
        });
        self
    }

    /// Adds a removal.
    pub fn delete(&mut self, table: Table, key: impl Into<Vec<u8>>) -> &mut Self {
        self.ops.push(Op::Delete {
            table,
            key: key.into(),
        });
        self
    }

    /// The changes, in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Takes the changes out.
    pub fn into_ops(self) -> Vec<Op> {
        self.ops
    }

    /// Adds the changes of `other`, after this batch's.
    pub fn append(&mut self, other: Batch) -> &mut Self {
        self.ops.extend(other.ops);
        self
    }

    /// True when the batch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The passphrase or key does not open this store.
    #[error("wrong passphrase or key for this store")]
    WrongKey,
    /// A record does not decrypt or does not belong where it was found: the file was
    /// damaged or tampered with.
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    /// The store was written by a newer version of this library.
    #[error("store format {found} is newer than this library supports ({supported})")]
    Version {
        /// The format found.
        found: u32,
        /// The newest this library reads.
        supported: u32,
    },
    /// The file is not a Hush store.
    #[error("not a Hush store")]
    NotAStore,
    /// The underlying database failed (disk full, I/O error, locked by another process...).
    #[error("database: {0}")]
    Database(String),
}

/// A durable, atomic key-value store of records in [`Table`]s.
pub trait Store: Send {
    /// The value under `key`, if any.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, StoreError>;

    /// Every record of `table`, in no particular order.
    fn scan(&self, table: Table) -> Result<Vec<(Vec<u8>, Value)>, StoreError>;

    /// Applies `batch` atomically, durable when it returns.
    fn commit(&mut self, batch: Batch) -> Result<(), StoreError>;
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Checks every store must pass.

    use super::*;

    pub(crate) fn basic(store: &mut dyn Store) {
        assert!(store.get(Table::Contacts, b"a").unwrap().is_none());
        let mut b = Batch::new();
        b.put(
            Table::Contacts,
            b"a".to_vec(),
            Zeroizing::new(b"1".to_vec()),
        )
        .put(
            Table::Contacts,
            b"b".to_vec(),
            Zeroizing::new(b"2".to_vec()),
        )
        .put(Table::Account, b"a".to_vec(), Zeroizing::new(b"x".to_vec()));
        store.commit(b).unwrap();
        assert_eq!(
            store
                .get(Table::Contacts, b"a")
                .unwrap()
                .unwrap()
                .as_slice(),
            b"1"
        );
        // Tables are separate namespaces.
        assert_eq!(
            store.get(Table::Account, b"a").unwrap().unwrap().as_slice(),
            b"x"
        );
        let mut all: Vec<(Vec<u8>, Vec<u8>)> = store
            .scan(Table::Contacts)
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        let mut b = Batch::new();
        b.delete(Table::Contacts, b"a".to_vec()).put(
            Table::Contacts,
            b"b".to_vec(),
            Zeroizing::new(b"3".to_vec()),
        );
        store.commit(b).unwrap();
        assert!(store.get(Table::Contacts, b"a").unwrap().is_none());
        assert_eq!(
            store
                .get(Table::Contacts, b"b")
                .unwrap()
                .unwrap()
                .as_slice(),
            b"3"
        );
        assert_eq!(store.scan(Table::Contacts).unwrap().len(), 1);
    }
}
