//! One upload stream's writer: appends at the durable offset, fsyncs and records the durable
//! offset every `sync_every_bytes` and at the end, and on the last byte makes the blob
//! complete (fsync, rename `.part` to `.blob`, metadata, folder fsync) before anyone is told.
//!
//! The periodic syncs run in the background while the stream goes on (at most one at a
//! time): a sync started after `W` bytes were handed to the file fsyncs the file (everything
//! written before it started, at least) and only then records `W` as durable. The writer
//! lock is held until the last background sync is over, so a newer upload never truncates
//! the file under a sync that is about to record a larger offset.

use super::meta::sync_dir;
use super::{BLOB_ID_LEN, BlobError, BlobStore, Meta, Writer};
use std::sync::Arc;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio::sync::OwnedMutexGuard;

/// An upload in progress. Holds the blob's writer lock until dropped.
pub(crate) struct Upload {
    store: Arc<BlobStore>,
    id: [u8; BLOB_ID_LEN],
    meta: Meta,
    /// `None` once complete.
    file: Option<tokio::fs::File>,
    written: u64,
    unsynced: u64,
    writer: Option<Arc<Writer>>,
    generation: u64,
    /// The background sync in flight: it returns the metadata it recorded.
    pending: Option<tokio::task::JoinHandle<Result<Meta, BlobError>>>,
    /// The blob's writer lock, shared with the background sync.
    guard: Arc<OwnedMutexGuard<()>>,
}

fn joined(e: tokio::task::JoinError) -> BlobError {
    BlobError::Io(std::io::Error::other(e.to_string()))
}

/// [`BlobStore::record`] off the async threads (it fsyncs a file and the folder).
/// It holds the writer lock (`guard`) until it is done, even if the caller stops waiting.
async fn record(
    store: &Arc<BlobStore>,
    id: [u8; BLOB_ID_LEN],
    writer: &Arc<Writer>,
    generation: u64,
    meta: Meta,
    guard: &Arc<OwnedMutexGuard<()>>,
) -> Result<(), BlobError> {
    let (store, writer, guard) = (store.clone(), writer.clone(), guard.clone());
    tokio::task::spawn_blocking(move || {
        let _held = guard;
        store.record(&id, &writer, generation, &meta)
    })
    .await
    .map_err(joined)?
}

impl Upload {
    pub(super) async fn open(
        store: Arc<BlobStore>,
        id: [u8; BLOB_ID_LEN],
        meta: Meta,
        offset: u64,
        writer: Arc<Writer>,
        generation: u64,
        guard: OwnedMutexGuard<()>,
    ) -> Result<Self, BlobError> {
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(store.path(&id, "part"))
            .await?;
        // Bytes past the offset are dropped: the uploader sends them again.
        file.set_len(offset).await?;
        file.seek(std::io::SeekFrom::Start(offset)).await?;
        let guard = Arc::new(guard);
        let mut meta = meta;
        if offset < meta.durable {
            meta.durable = offset;
            file.sync_data().await?;
            record(&store, id, &writer, generation, meta, &guard).await?;
        }
        Ok(Upload {
            store,
            id,
            meta,
            file: Some(file),
            written: offset,
            unsynced: 0,
            writer: Some(writer),
            generation,
            pending: None,
            guard,
        })
    }

    pub(super) fn already_complete(
        store: Arc<BlobStore>,
        id: [u8; BLOB_ID_LEN],
        meta: Meta,
        guard: OwnedMutexGuard<()>,
    ) -> Result<Self, BlobError> {
        Ok(Upload {
            store,
            id,
            meta,
            file: None,
            written: meta.length,
            unsynced: 0,
            writer: None,
            generation: 0,
            pending: None,
            guard: Arc::new(guard),
        })
    }

    /// Bytes still expected.
    pub(crate) fn remaining(&self) -> u64 {
        self.meta.length - self.written
    }

    /// Whether a newer upload of the same blob (or the expiry sweep) took over.
    pub(crate) fn superseded(&self) -> bool {
        self.writer.as_ref().is_some_and(|w| {
            w.generation.load(std::sync::atomic::Ordering::SeqCst) != self.generation
        })
    }

    /// Appends `data`; fails with [`BlobError::TooLarge`] past the blob's length (nothing of
    /// `data` is written then).
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        if data.len() as u64 > self.remaining() {
            return Err(BlobError::TooLarge {
                len: self.written + data.len() as u64,
                max: self.meta.length,
            });
        }
        if self.superseded() {
            return Err(BlobError::Superseded);
        }
        let Some(file) = self.file.as_mut() else {
            return Ok(());
        };
        file.write_all(data).await?;
        self.written += data.len() as u64;
        self.unsynced += data.len() as u64;
        if self.unsynced >= self.store.config().sync_every_bytes {
            self.settle().await?;
            self.start_sync().await?;
        }
        Ok(())
    }

    /// Waits for the background sync in flight, if any, and takes its recorded metadata.
    async fn settle(&mut self) -> Result<(), BlobError> {
        if let Some(h) = self.pending.take() {
            self.meta = h.await.map_err(joined)??;
        }
        Ok(())
    }

    /// Starts a background fsync of everything written so far, recording it as durable once
    /// the fsync returned.
    async fn start_sync(&mut self) -> Result<(), BlobError> {
        let (Some(file), Some(writer)) = (self.file.as_mut(), self.writer.as_ref()) else {
            return Ok(());
        };
        // Every write handed to the file, done: the fsync below covers them.
        file.flush().await?;
        let handle = file.try_clone().await?.into_std().await;
        let mut meta = self.meta;
        meta.durable = self.written;
        let (store, writer, guard) = (self.store.clone(), writer.clone(), self.guard.clone());
        let (id, generation) = (self.id, self.generation);
        self.pending = Some(tokio::task::spawn_blocking(move || {
            let _held = guard;
            handle.sync_data()?;
            store.record(&id, &writer, generation, &meta)?;
            Ok(meta)
        }));
        self.unsynced = 0;
        Ok(())
    }

    /// Makes everything written durable and records the durable offset.
    pub(crate) async fn sync(&mut self) -> Result<(), BlobError> {
        self.settle().await?;
        let (Some(file), Some(writer)) = (self.file.as_mut(), self.writer.as_ref()) else {
            return Ok(());
        };
        if self.written == self.meta.durable {
            return Ok(());
        }
        file.flush().await?;
        file.sync_data().await?;
        let mut meta = self.meta;
        meta.durable = self.written;
        record(
            &self.store,
            self.id,
            writer,
            self.generation,
            meta,
            &self.guard,
        )
        .await?;
        self.meta = meta;
        self.unsynced = 0;
        Ok(())
    }

    /// Ends the stream's part of the upload: syncs, and if every byte arrived completes the
    /// blob durably. Returns the metadata to report.
    pub(crate) async fn finish(mut self) -> Result<Meta, BlobError> {
        self.sync().await?;
        let (Some(file), Some(writer)) = (self.file.take(), self.writer.clone()) else {
            return Ok(self.meta);
        };
        drop(file);
        if self.written < self.meta.length {
            return Ok(self.meta);
        }
        if self.superseded() {
            return Err(BlobError::Superseded);
        }
        let from = self.store.path(&self.id, "part");
        let to = self.store.path(&self.id, "blob");
        tokio::fs::rename(&from, &to).await?;
        let dir = self.store.dir().to_path_buf();
        tokio::task::spawn_blocking(move || sync_dir(&dir))
            .await
            .map_err(joined)??;
        let mut meta = self.meta;
        meta.complete = true;
        record(
            &self.store,
            self.id,
            &writer,
            self.generation,
            meta,
            &self.guard,
        )
        .await?;
        self.meta = meta;
        Ok(meta)
    }
}
