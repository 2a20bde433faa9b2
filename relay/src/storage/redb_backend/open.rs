//! Opening the database file: its format version (table `meta`), the tables every version
//! creates at open, the one-time build of the directory counts for a file written before
//! they existed, and the start of the writer thread.

use super::slot::Slot;
use super::stock::DirectoryCounts;
use super::writer::writer_loop;
use super::*;

impl RedbStorage {
    /// Opens (or creates) the database file at `path` and starts the writer thread.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        let tables: Vec<String> = txn.list_tables()?.map(|t| t.name().to_string()).collect();
        let has = |t: &str| tables.iter().any(|n| n == t);
        let format = if has(META.name()) {
            let meta = txn.open_table(META)?;
            let v = meta.get(FORMAT_KEY)?.map(|v| v.value());
            v.ok_or_else(|| StorageError::Corrupt("database format version missing".into()))?
        } else if tables.is_empty() {
            FORMAT_VERSION // a new file
        } else if has(DIRECTORY_COUNTS.name()) {
            2
        } else {
            1
        };
        if format > FORMAT_VERSION {
            return Err(StorageError::Backend(format!(
                "database format {format} is newer than this relay's ({FORMAT_VERSION}); upgrade the relay"
            )));
        }
        for t in [
            ENVELOPES,
            ENVELOPE_INDEX,
            MAILBOXES,
            EXPIRY,
            FORGET,
            SIGNED_PREKEYS,
            ONE_TIME_PREKEYS,
            KEY_PACKAGES,
            LAST_RESORT,
            GROUPS,
            GROUP_LOG,
            GROUP_EXPIRY,
            DIRECTORY_COUNTS,
            directory::DIRECTORY_VERIFIERS,
            kem::ONE_TIME_KEM_PREKEYS,
            kem::LAST_RESORT_KEM,
            kem::KEM_COUNTS,
        ] {
            txn.open_table(t)?;
        }
        txn.open_table(generation::GENERATIONS)?;
        txn.open_table(health::HEALTH)?;
        // A database written before the counts existed gets them once, from its tables.
        if format < 2 {
            rebuild_directory_counts(&txn)?;
        }
        txn.open_table(META)?.insert(FORMAT_KEY, FORMAT_VERSION)?;
        txn.commit()?;
        let slot = Arc::new(Slot::new(db));
        let (tx, rx) = mpsc::channel::<Job>();
        let wslot = slot.clone();
        let wpath = path.to_path_buf();
        let stats = Arc::new(CommitCounters::default());
        let wstats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("hush-redb-writer".into())
            .spawn(move || writer_loop(&wslot, &wpath, rx, &wstats))
            .map_err(|e| StorageError::Backend(format!("cannot start writer thread: {e}")))?;
        Ok(RedbStorage {
            path: path.to_path_buf(),
            slot,
            stats,
            sender: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }
}

/// Counts every mailbox's one-time prekeys and KeyPackages into [`DIRECTORY_COUNTS`] (both
/// tables are keyed by the 32-byte mailbox address first).
fn rebuild_directory_counts(txn: &WriteTransaction) -> Result<(), StorageError> {
    let mut all: HashMap<[u8; 32], DirectoryCounts> = HashMap::new();
    for (table, one_time) in [(ONE_TIME_PREKEYS, true), (KEY_PACKAGES, false)] {
        let t = txn.open_table(table)?;
        for item in t.iter()? {
            let (k, _) = item?;
            let Some(a) = k
                .value()
                .get(..32)
                .and_then(|p| <[u8; 32]>::try_from(p).ok())
            else {
                return Err(StorageError::Corrupt("directory key".into()));
            };
            let c = all.entry(a).or_default();
            if one_time {
                c.one_time_prekeys += 1;
            } else {
                c.key_packages += 1;
            }
        }
    }
    let mut counts = txn.open_table(DIRECTORY_COUNTS)?;
    for (a, c) in all {
        set_directory_counts(&mut counts, &a, c)?;
    }
    Ok(())
}
