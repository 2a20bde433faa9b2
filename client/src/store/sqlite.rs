//! The default store: one SQLite file (WAL, `synchronous=FULL`), every record sealed.
//!
//! Layout (see `spec/client.md`):
//!
//! ```sql
//! meta(name TEXT PRIMARY KEY, value BLOB)          -- format, kdf, salt, key check: public
//! records(tbl TEXT, id BLOB, value BLOB, PRIMARY KEY (tbl, id)) WITHOUT ROWID
//! ```
//!
//! `id` and `value` are as `spec/client.md` §1.1 describes; what the file shows is which table
//! each record belongs to and its size. SQLite rather than redb: one file that survives a
//! crash at any point (WAL), readable with standard tools, and no server-side crate in the
//! engine's dependencies (the relay uses redb; an app must not link it).

use super::seal::KdfParams;
use super::{Batch, Op, Store, StoreError, StoreKey, Table, Value};
use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;

/// Format of the file; bumped on incompatible change.
pub const FORMAT: u32 = 1;
const CHECK_PLAIN: &[u8] = b"hush-client-store key check";
const CHECK_TABLE: &str = "meta";

/// How the store key is obtained.
pub enum KeySource<'a> {
    /// A passphrase, stretched with Argon2id (parameters and salt kept in the file).
    Passphrase(&'a [u8]),
    /// A 32-byte key the app keeps itself (for example in the platform keystore).
    Key(&'a [u8; 32]),
}

/// An encrypted SQLite store.
pub struct SqliteStore {
    conn: Connection,
    key: StoreKey,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Database(e.to_string())
}

const KDF_ARGON2ID: u8 = 1;
const KDF_RAW: u8 = 0;

impl SqliteStore {
    /// Creates a new store at `path` (which must not hold one yet), with default Argon2id
    /// cost for a passphrase.
    pub fn create(path: &Path, key: KeySource<'_>) -> Result<Self, StoreError> {
        Self::create_with(path, key, KdfParams::DEFAULT)
    }

    /// [`SqliteStore::create`] with explicit Argon2id cost (cheap parameters for tests).
    pub fn create_with(
        path: &Path,
        key: KeySource<'_>,
        params: KdfParams,
    ) -> Result<Self, StoreError> {
        if !params.is_sane() {
            return Err(StoreError::Corrupt(
                "Argon2id parameters out of range".into(),
            ));
        }
        let conn = Self::connect(path)?;
        let exists: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(db)?
            > 0;
        if exists {
            return Err(StoreError::Database(format!(
                "{} already holds a store",
                path.display()
            )));
        }
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let (kdf, store_key) = match key {
            KeySource::Passphrase(p) => {
                let mut kdf = vec![KDF_ARGON2ID];
                kdf.extend_from_slice(&params.m_cost.to_le_bytes());
                kdf.extend_from_slice(&params.t_cost.to_le_bytes());
                kdf.extend_from_slice(&params.p_cost.to_le_bytes());
                kdf.extend_from_slice(&salt);
                (kdf, StoreKey::from_passphrase(p, &salt, params)?)
            }
            KeySource::Key(k) => (vec![KDF_RAW], StoreKey::from_key(k)),
        };
        let id = store_key.id(CHECK_TABLE, CHECK_PLAIN);
        let check = store_key.seal(CHECK_TABLE, &id, CHECK_PLAIN, &[]);
        let mut conn = conn;
        let tx = conn.transaction().map_err(db)?;
        tx.execute_batch(
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
             CREATE TABLE records (tbl TEXT NOT NULL, id BLOB NOT NULL, value BLOB NOT NULL,
                                   PRIMARY KEY (tbl, id)) WITHOUT ROWID;",
        )
        .map_err(db)?;
        for (name, value) in [
            ("format", FORMAT.to_le_bytes().to_vec()),
            ("kdf", kdf),
            ("check", check),
        ] {
            tx.execute(
                "INSERT INTO meta (name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Self {
            conn,
            key: store_key,
        })
    }

    /// Opens the store at `path`: [`StoreError::WrongKey`] when `key` does not open it,
    /// [`StoreError::NotAStore`] when there is none.
    pub fn open(path: &Path, key: KeySource<'_>) -> Result<Self, StoreError> {
        if !path.exists() {
            return Err(StoreError::NotAStore);
        }
        let conn = Self::connect(path)?;
        let meta = |name: &str| -> Result<Vec<u8>, StoreError> {
            conn.query_row(
                "SELECT value FROM meta WHERE name = ?1",
                params![name],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(|_| StoreError::NotAStore)?
            .ok_or(StoreError::NotAStore)
        };
        let format = meta("format")?;
        let format = u32::from_le_bytes(
            format
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::NotAStore)?,
        );
        if format > FORMAT {
            return Err(StoreError::Version {
                found: format,
                supported: FORMAT,
            });
        }
        let kdf = meta("kdf")?;
        let store_key = match (kdf.first(), key) {
            (Some(&KDF_ARGON2ID), KeySource::Passphrase(p)) if kdf.len() == 1 + 12 + 16 => {
                let u = |i: usize| u32::from_le_bytes([kdf[i], kdf[i + 1], kdf[i + 2], kdf[i + 3]]);
                let params = KdfParams {
                    m_cost: u(1),
                    t_cost: u(5),
                    p_cost: u(9),
                };
                if !params.is_sane() {
                    return Err(StoreError::Corrupt(
                        "Argon2id parameters out of range".into(),
                    ));
                }
                let mut salt = [0u8; 16];
                salt.copy_from_slice(&kdf[13..29]);
                StoreKey::from_passphrase(p, &salt, params)?
            }
            (Some(&KDF_RAW), KeySource::Key(k)) if kdf.len() == 1 => StoreKey::from_key(k),
            (Some(&KDF_ARGON2ID | &KDF_RAW), _) => return Err(StoreError::WrongKey),
            _ => return Err(StoreError::Corrupt("unknown key derivation".into())),
        };
        let id = store_key.id(CHECK_TABLE, CHECK_PLAIN);
        match store_key.open(CHECK_TABLE, &id, &meta("check")?) {
            Ok((k, _)) if k == CHECK_PLAIN => {}
            _ => return Err(StoreError::WrongKey),
        }
        Ok(Self {
            conn,
            key: store_key,
        })
    }

    fn connect(path: &Path) -> Result<Connection, StoreError> {
        let conn = Connection::open(path).map_err(db)?;
        // WAL with a full sync at each commit: a commit that returned survives a crash or a
        // power cut; one that did not return is absent as a whole.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db)?;
        Ok(conn)
    }
}

impl Store for SqliteStore {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Value>, StoreError> {
        let name = table.name();
        let id = self.key.id(name, key);
        let sealed: Option<Vec<u8>> = self
            .conn
            .prepare_cached("SELECT value FROM records WHERE tbl = ?1 AND id = ?2")
            .map_err(db)?
            .query_row(params![name, &id[..]], |r| r.get(0))
            .optional()
            .map_err(db)?;
        match sealed {
            None => Ok(None),
            Some(s) => Ok(Some(self.key.open(name, &id, &s)?.1)),
        }
    }

    fn scan(&self, table: Table) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        let name = table.name();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, value FROM records WHERE tbl = ?1")
            .map_err(db)?;
        let rows = stmt
            .query_map(params![name], |r| {
                Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(db)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sealed) = row.map_err(db)?;
            let id: [u8; 32] = id
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("a row id of table {name}")))?;
            out.push(self.key.open(name, &id, &sealed)?);
        }
        Ok(out)
    }

    fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction().map_err(db)?;
        for op in batch.ops() {
            match op {
                Op::Put { table, key, value } => {
                    let name = table.name();
                    let id = self.key.id(name, key);
                    let sealed = self.key.seal(name, &id, key, value);
                    tx.prepare_cached(
                        "INSERT INTO records (tbl, id, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (tbl, id) DO UPDATE SET value = excluded.value",
                    )
                    .map_err(db)?
                    .execute(params![name, &id[..], sealed])
                    .map_err(db)?;
                }
                Op::Delete { table, key } => {
                    let name = table.name();
                    let id = self.key.id(name, key);
                    tx.prepare_cached("DELETE FROM records WHERE tbl = ?1 AND id = ?2")
                        .map_err(db)?
                        .execute(params![name, &id[..]])
                        .map_err(db)?;
                }
            }
        }
        tx.commit().map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroize::Zeroizing;

    const CHEAP: KdfParams = KdfParams {
        m_cost: 64,
        t_cost: 1,
        p_cost: 1,
    };

    #[test]
    fn conformance_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP).unwrap();
        crate::store::conformance::basic(&mut s);
        drop(s);
        let s = SqliteStore::open(&path, KeySource::Passphrase(b"pw")).unwrap();
        assert_eq!(
            s.get(Table::Contacts, b"b").unwrap().unwrap().as_slice(),
            b"3"
        );
        assert!(matches!(
            SqliteStore::open(&path, KeySource::Passphrase(b"wrong")),
            Err(StoreError::WrongKey)
        ));
        assert!(matches!(
            SqliteStore::open(&path, KeySource::Key(&[0; 32])),
            Err(StoreError::WrongKey)
        ));
        assert!(matches!(
            SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP),
            Err(StoreError::Database(_))
        ));
    }

    #[test]
    fn raw_key_and_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        assert!(matches!(
            SqliteStore::open(&path, KeySource::Key(&[1; 32])),
            Err(StoreError::NotAStore)
        ));
        let mut s = SqliteStore::create(&path, KeySource::Key(&[1; 32])).unwrap();
        let mut b = Batch::new();
        b.put(Table::Account, b"k".to_vec(), Zeroizing::new(b"v".to_vec()));
        s.commit(b).unwrap();
        drop(s);
        let s = SqliteStore::open(&path, KeySource::Key(&[1; 32])).unwrap();
        assert_eq!(
            s.get(Table::Account, b"k").unwrap().unwrap().as_slice(),
            b"v"
        );
        assert!(matches!(
            SqliteStore::open(&path, KeySource::Key(&[2; 32])),
            Err(StoreError::WrongKey)
        ));
    }

    /// Nothing of a key or a value is in the file in the clear, and a sealed value moved to
    /// another row does not open.
    #[test]
    fn sealed_at_rest_and_bound_to_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let mut s = SqliteStore::create_with(&path, KeySource::Passphrase(b"pw"), CHEAP).unwrap();
        let mut b = Batch::new();
        b.put(
            Table::Contacts,
            b"alice-the-contact".to_vec(),
            Zeroizing::new(b"secret-session-bytes".to_vec()),
        )
        .put(
            Table::Contacts,
            b"bob".to_vec(),
            Zeroizing::new(b"other".to_vec()),
        );
        s.commit(b).unwrap();
        drop(s);
        let mut raw = Vec::new();
        for f in std::fs::read_dir(dir.path()).unwrap() {
            raw.extend(std::fs::read(f.unwrap().path()).unwrap());
        }
        for needle in [&b"alice-the-contact"[..], b"secret-session-bytes"] {
            assert!(!raw.windows(needle.len()).any(|w| w == needle));
        }
        // Swap the two sealed values.
        let c = Connection::open(&path).unwrap();
        let rows: Vec<(Vec<u8>, Vec<u8>)> = c
            .prepare("SELECT id, value FROM records WHERE tbl = 'contacts'")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        c.execute(
            "UPDATE records SET value = ?1 WHERE id = ?2",
            params![rows[1].1, rows[0].0],
        )
        .unwrap();
        drop(c);
        let s = SqliteStore::open(&path, KeySource::Passphrase(b"pw")).unwrap();
        assert!(matches!(
            s.scan(Table::Contacts),
            Err(StoreError::Corrupt(_))
        ));
    }
}
