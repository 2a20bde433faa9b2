//! Online backup of the embedded store: a consistent copy while the relay keeps serving.
//!
//! One read transaction is a snapshot of the whole database as of its last commit (redb is
//! copy-on-write: writers never change pages a reader sees), so copying every table inside one
//! read transaction gives a file that is exactly the store at one moment — every envelope whose
//! stored receipt was signed before that commit, and nothing half-written. Writers keep
//! committing meanwhile; the copy does not block them.
//!
//! The copy goes to `DEST.tmp`, is committed (fsync) by redb, then renamed to `DEST` and the
//! folder synced, so a crash during a backup never leaves a file that looks complete.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableHandle};

use super::StorageError;

/// The tables that do not map bytes to bytes: the format version, and the state generations.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const GENERATIONS: TableDefinition<&[u8], u64> = TableDefinition::new("generations");

/// Copies every table of `db` into a new database file at `dest` (which must not exist).
pub(super) fn copy_to(db: &Database, dest: &Path) -> Result<(), StorageError> {
    if dest.exists() {
        return Err(StorageError::Backend(format!(
            "backup target {} already exists",
            dest.display()
        )));
    }
    let tmp = dest.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let result = copy_snapshot(db, &tmp).and_then(|()| {
        std::fs::rename(&tmp, dest)
            .map_err(|e| StorageError::Backend(format!("backup rename: {e}")))?;
        sync_parent(dest)
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn copy_snapshot(db: &Database, to: &Path) -> Result<(), StorageError> {
    let src = db.begin_read()?;
    if src.list_multimap_tables()?.next().is_some() {
        return Err(StorageError::Backend(
            "backup: the database has multimap tables this relay does not know".into(),
        ));
    }
    let names: Vec<String> = src.list_tables()?.map(|t| t.name().to_string()).collect();
    let out = Database::create(to)?;
    let w = out.begin_write()?;
    for name in &names {
        if name == META.name() {
            let from = src.open_table(META)?;
            let mut into = w.open_table(META)?;
            for row in from.iter()? {
                let (k, v) = row?;
                into.insert(k.value(), v.value())?;
            }
            continue;
        }
        if name == GENERATIONS.name() {
            let from = src.open_table(GENERATIONS)?;
            let mut into = w.open_table(GENERATIONS)?;
            for row in from.iter()? {
                let (k, v) = row?;
                into.insert(k.value(), v.value())?;
            }
            continue;
        }
        // Every other table maps bytes to bytes; one of another type fails the backup
        // (a type mismatch error) rather than being left out.
        let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
        let from = src.open_table(def)?;
        let mut into = w.open_table(def)?;
        for row in from.iter()? {
            let (k, v) = row?;
            into.insert(k.value(), v.value())?;
        }
    }
    w.commit()?;
    drop(out);
    Ok(())
}

fn sync_parent(path: &Path) -> Result<(), StorageError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::Backend(format!("backup folder sync: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{MailboxQuota, NewEnvelope, RedbStorage, Storage};
    use crate::types::{EnvelopeId, MailboxAddress};

    /// Every table of a real store, with every row, is in the copy; the copy opens as a store.
    #[tokio::test]
    async fn copy_has_every_table_and_row_and_opens() {
        let dir = tempfile::tempdir().unwrap();
        let src_path = dir.path().join("src.redb");
        let store = RedbStorage::open(&src_path).unwrap();
        let mailbox = MailboxAddress([7; 32]);
        let env = NewEnvelope {
            mailbox,
            envelope_id: EnvelopeId::new(vec![1, 2, 3]).unwrap(),
            ciphertext: vec![9; 600],
            now_ms: 1_000,
            expires_at_ms: 10_000,
            forget_at_ms: 20_000,
        };
        let quota = MailboxQuota {
            max_count: 10,
            max_bytes: 1 << 20,
        };
        store.put_envelope(env, quota).await.unwrap();
        store.advance_generation(mailbox, 0, 5).await.unwrap();
        let dest = dir.path().join("copy.redb");
        store.backup(dest.clone()).await.unwrap();
        // A second backup to the same place is refused, the first is untouched.
        assert!(store.backup(dest.clone()).await.is_err());
        store.close().await.unwrap();
        drop(store);

        let a = Database::create(&src_path).unwrap();
        let b = Database::create(&dest).unwrap();
        let (ra, rb) = (a.begin_read().unwrap(), b.begin_read().unwrap());
        let names = |r: &redb::ReadTransaction| {
            let mut v: Vec<String> = r
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(&ra), names(&rb));
        assert!(names(&ra).len() > 5);
        for name in names(&ra)
            .iter()
            .filter(|n| !matches!(n.as_str(), "meta" | "generations"))
        {
            let def: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
            let rows = |r: &redb::ReadTransaction| -> Vec<(Vec<u8>, Vec<u8>)> {
                let t = r.open_table(def).unwrap();
                t.iter()
                    .unwrap()
                    .map(|x| {
                        let (k, v) = x.unwrap();
                        (k.value().to_vec(), v.value().to_vec())
                    })
                    .collect()
            };
            assert_eq!(rows(&ra), rows(&rb), "table {name}");
        }
        drop((ra, rb, a, b));

        let copy = RedbStorage::open(&dest).unwrap();
        let got = copy
            .fetch_envelopes(mailbox, 0, 10, 1 << 20, 2_000)
            .await
            .unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].ciphertext, vec![9; 600]);
        assert_eq!(copy.generation(mailbox).await.unwrap(), 5);
        copy.close().await.unwrap();
    }
}
