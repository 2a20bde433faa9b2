//! The blob store (spec/relay-protocol.md §11): encrypted attachments as files in the data
//! folder (`<data>/blobs/`), never inside the database and never whole in memory.
//!
//! Each blob has a data file (`<id>.part` while uploading, `<id>.blob` once complete) and a
//! metadata file (`<id>.meta`, `meta.rs`). The durable offset in the metadata is only ever
//! raised after an fsync of the data, so a resumed upload never trusts bytes the disk may not
//! hold. Quotas are per mailbox (the uploader authenticates one and names it); the in-memory
//! index is rebuilt from the metadata files at start.
//!
//! PostgreSQL nodes keep their blobs in the shared database instead (`pg.rs`); `Blobs` is
//! the one face the request handlers see.

mod backend;
mod error;
mod meta;
#[cfg(feature = "postgres")]
mod pg;
mod upload;

pub(crate) use backend::Blobs;
pub use error::BlobError;
pub(crate) use meta::Meta;
#[cfg(feature = "postgres")]
pub(crate) use pg::PgBlobStore;
pub(crate) use upload::Upload;

use meta::{sync_dir, write_meta};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The store's folder inside the relay's data folder.
pub const BLOBS_DIR: &str = "blobs";

/// Length of a blob id.
pub const BLOB_ID_LEN: usize = 32;

/// Limits of the blob store.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// Largest blob (default 2 214 592 512 bytes: the padded ciphertext of a 2 GiB
    /// attachment, spec/attachments.md §4).
    pub max_blob_bytes: u64,
    /// Bytes of live blobs one mailbox may hold (default 4 GiB).
    pub mailbox_quota_bytes: u64,
    /// Live blobs one mailbox may hold (default 1000).
    pub mailbox_max_blobs: u64,
    /// Time to live when the uploader asks for none (default 7 days; capped at `max_ttl`).
    pub default_ttl: Duration,
    /// Longest time to live (default 30 days).
    pub max_ttl: Duration,
    /// An upload fsyncs and records its durable offset after at most this many bytes
    /// (default 8 MiB), and at the end of its stream (embedded store; PostgreSQL nodes
    /// commit every 1 MiB chunk).
    pub sync_every_bytes: u64,
    /// How often the relay deletes expired blobs even when nobody touches one (default
    /// 10 minutes).
    pub sweep_interval: Duration,
}

impl Default for BlobConfig {
    fn default() -> Self {
        BlobConfig {
            max_blob_bytes: (1 << 31) + (1 << 26),
            mailbox_quota_bytes: 4 << 30,
            mailbox_max_blobs: 1000,
            default_ttl: Duration::from_secs(7 * 24 * 3600),
            max_ttl: Duration::from_secs(30 * 24 * 3600),
            sync_every_bytes: 8 << 20,
            sweep_interval: Duration::from_secs(600),
        }
    }
}

impl BlobConfig {
    /// Refuses a blob of `length` bytes: empty, or over the largest blob.
    pub(crate) fn check_length(&self, length: u64) -> Result<(), BlobError> {
        if length == 0 || length > self.max_blob_bytes {
            return Err(BlobError::TooLarge {
                len: length,
                max: self.max_blob_bytes,
            });
        }
        Ok(())
    }

    /// When a blob created at `now_ms` with time to live `ttl` expires: zero asks for the
    /// default, and the default too is capped at the maximum.
    pub(crate) fn expiry(&self, ttl: Duration, now_ms: u64) -> u64 {
        let ttl = if ttl.is_zero() { self.default_ttl } else { ttl }.min(self.max_ttl);
        now_ms.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
    }
}

/// One blob's writer slot: the newest upload's generation, and the lock the upload holds.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) generation: AtomicU64,
    pub(crate) lock: Arc<tokio::sync::Mutex<()>>,
}

struct Entry {
    meta: Meta,
    writer: Arc<Writer>,
}

/// The embedded blob store.
pub struct BlobStore {
    dir: PathBuf,
    config: BlobConfig,
    index: Mutex<HashMap<[u8; BLOB_ID_LEN], Entry>>,
}

fn name(id: &[u8; BLOB_ID_LEN], ext: &str) -> String {
    format!("{}.{ext}", hex::encode(id))
}

fn poisoned() -> BlobError {
    BlobError::Io(std::io::Error::other("blob index lock poisoned"))
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir`: loads every metadata file, removes
    /// temporary files, data without metadata and expired blobs, and cuts every partial
    /// upload back to its durable offset.
    pub fn open(dir: &Path, config: BlobConfig, now_ms: u64) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)?;
        let mut index = HashMap::new();
        let mut files = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            files.push(e.path());
        }
        for p in &files {
            if p.extension().is_some_and(|x| x == "meta") {
                let id = p
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| hex::decode(s).ok())
                    .and_then(|v| <[u8; BLOB_ID_LEN]>::try_from(v).ok());
                let meta = std::fs::read(p).ok().and_then(|b| Meta::decode(&b));
                if let (Some(id), Some(meta)) = (id, meta) {
                    index.insert(
                        id,
                        Entry {
                            meta,
                            writer: Arc::default(),
                        },
                    );
                }
            }
        }
        let store = BlobStore {
            dir: dir.to_path_buf(),
            config,
            index: Mutex::new(index),
        };
        // Anything that is not a live blob's data or metadata goes.
        let keep: std::collections::HashSet<String> = {
            let idx = store.index.lock().map_err(|_| poisoned())?;
            idx.iter()
                .flat_map(|(id, e)| {
                    let data = if e.meta.complete { "blob" } else { "part" };
                    [name(id, data), name(id, "meta")]
                })
                .collect()
        };
        for p in files {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if !keep.contains(n) {
                let _ = std::fs::remove_file(&p);
            }
        }
        {
            let idx = store.index.lock().map_err(|_| poisoned())?;
            for (id, e) in idx.iter().filter(|(_, e)| !e.meta.complete) {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(store.dir.join(name(id, "part")))?;
                f.set_len(e.meta.durable)?;
                f.sync_all()?;
            }
        }
        sync_dir(dir)?;
        store.sweep(now_ms)?;
        Ok(store)
    }

    /// The store's limits.
    pub fn config(&self) -> &BlobConfig {
        &self.config
    }

    pub(crate) fn path(&self, id: &[u8; BLOB_ID_LEN], ext: &str) -> PathBuf {
        self.dir.join(name(id, ext))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The declared lengths of every live blob, summed (complete or not: the length is
    /// reserved at creation).
    pub fn stored_bytes(&self) -> Result<u64, BlobError> {
        let idx = self.index.lock().map_err(|_| poisoned())?;
        Ok(idx
            .values()
            .fold(0u64, |t, e| t.saturating_add(e.meta.length)))
    }

    /// Deletes every blob whose time to live has passed; returns how many.
    pub fn sweep(&self, now_ms: u64) -> Result<usize, BlobError> {
        let expired: Vec<[u8; BLOB_ID_LEN]> = {
            let mut idx = self.index.lock().map_err(|_| poisoned())?;
            let ids: Vec<_> = idx
                .iter()
                .filter(|(_, e)| e.meta.expires_at_ms <= now_ms)
                .map(|(id, _)| *id)
                .collect();
            for id in &ids {
                if let Some(e) = idx.remove(id) {
                    // A running upload of it stops at its next step.
                    e.writer
                        .generation
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            ids
        };
        for id in &expired {
            // Metadata first: without it the data is garbage the next start removes.
            let _ = std::fs::remove_file(self.path(id, "meta"));
            let _ = std::fs::remove_file(self.path(id, "part"));
            let _ = std::fs::remove_file(self.path(id, "blob"));
        }
        if !expired.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(expired.len())
    }

    /// Reserves a blob of `length` bytes for `owner`, expiring after `ttl` (zero: the
    /// default; capped at the maximum). Returns its fresh random id and expiry.
    pub fn create(
        &self,
        owner: [u8; 32],
        length: u64,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<([u8; BLOB_ID_LEN], u64), BlobError> {
        self.config.check_length(length)?;
        self.sweep(now_ms)?;
        let expires_at_ms = self.config.expiry(ttl, now_ms);
        let mut id = [0u8; BLOB_ID_LEN];
        getrandom::fill(&mut id)
            .map_err(|e| BlobError::Io(std::io::Error::other(format!("random source: {e}"))))?;
        let meta = Meta {
            owner,
            length,
            expires_at_ms,
            durable: 0,
            complete: false,
        };
        {
            // Quota check and reservation under one lock: two creates cannot both pass.
            let mut idx = self.index.lock().map_err(|_| poisoned())?;
            let (used, count) = idx
                .values()
                .filter(|e| e.meta.owner == owner)
                .fold((0u64, 0u64), |(b, c), e| (b + e.meta.length, c + 1));
            if used + length > self.config.mailbox_quota_bytes
                || count + 1 > self.config.mailbox_max_blobs
            {
                return Err(BlobError::Quota {
                    used,
                    count,
                    wanted: length,
                    max: self.config.mailbox_quota_bytes,
                });
            }
            idx.insert(
                id,
                Entry {
                    meta,
                    writer: Arc::default(),
                },
            );
        }
        if let Err(e) = self.create_files(&id, &meta) {
            if let Ok(mut idx) = self.index.lock() {
                idx.remove(&id);
            }
            let _ = std::fs::remove_file(self.path(&id, "meta"));
            let _ = std::fs::remove_file(self.path(&id, "part"));
            return Err(e.into());
        }
        Ok((id, expires_at_ms))
    }

    fn create_files(&self, id: &[u8; BLOB_ID_LEN], meta: &Meta) -> std::io::Result<()> {
        std::fs::File::create(self.path(id, "part"))?.sync_all()?;
        write_meta(&self.dir, &self.path(id, "meta"), meta)
    }

    /// A live blob's metadata; [`BlobError::Expired`] (and deleted) once its time passed.
    pub(crate) fn status(&self, id: &[u8; BLOB_ID_LEN], now_ms: u64) -> Result<Meta, BlobError> {
        let meta = {
            let idx = self.index.lock().map_err(|_| poisoned())?;
            idx.get(id).map(|e| e.meta).ok_or(BlobError::NotFound)?
        };
        if meta.expires_at_ms <= now_ms {
            self.sweep(now_ms)?;
            return Err(BlobError::Expired);
        }
        Ok(meta)
    }

    fn writer(&self, id: &[u8; BLOB_ID_LEN]) -> Result<Arc<Writer>, BlobError> {
        let idx = self.index.lock().map_err(|_| poisoned())?;
        idx.get(id)
            .map(|e| e.writer.clone())
            .ok_or(BlobError::NotFound)
    }

    /// Records new metadata for `id` (durably, then in the index) if `generation` is still
    /// the blob's newest upload.
    pub(crate) fn record(
        &self,
        id: &[u8; BLOB_ID_LEN],
        writer: &Writer,
        generation: u64,
        meta: &Meta,
    ) -> Result<(), BlobError> {
        if writer.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return Err(BlobError::Superseded);
        }
        write_meta(&self.dir, &self.path(id, "meta"), meta)?;
        let mut idx = self.index.lock().map_err(|_| poisoned())?;
        match idx.get_mut(id) {
            Some(e) => {
                e.meta = *meta;
                Ok(())
            }
            None => Err(BlobError::NotFound),
        }
    }

    /// Starts (or resumes) the upload of `id` at `offset`: a newer upload supersedes an
    /// older one of the same blob, which stops at its next step.
    pub(crate) async fn begin_upload(
        self: &Arc<Self>,
        id: [u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<Upload, BlobError> {
        self.status(&id, now_ms)?;
        let writer = self.writer(&id)?;
        let generation = writer
            .generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let guard = writer.lock.clone().lock_owned().await;
        if writer.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
            return Err(BlobError::Superseded);
        }
        // Read again: the previous upload may have advanced the durable offset meanwhile.
        let meta = self.status(&id, now_ms)?;
        if meta.complete {
            return Upload::already_complete(self.clone(), id, meta, guard);
        }
        if offset > meta.durable {
            return Err(BlobError::Offset {
                offset,
                limit: meta.durable,
            });
        }
        Upload::open(
            self.clone(),
            id,
            meta,
            offset,
            writer.clone(),
            generation,
            guard,
        )
        .await
    }

    /// Opens a complete blob for reading at `offset`.
    pub(crate) async fn open_download(
        &self,
        id: &[u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<(tokio::fs::File, Meta), BlobError> {
        let meta = self.status(id, now_ms)?;
        if !meta.complete {
            return Err(BlobError::Incomplete {
                durable: meta.durable,
                length: meta.length,
            });
        }
        if offset > meta.length {
            return Err(BlobError::Offset {
                offset,
                limit: meta.length,
            });
        }
        use tokio::io::AsyncSeekExt;
        let mut f = tokio::fs::File::open(self.path(id, "blob")).await?;
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        Ok((f, meta))
    }
}
