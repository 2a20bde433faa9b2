//! One upload stream's writer: appends at the durable offset, fsyncs and records the durable
//! offset every `sync_every_bytes` and at the end, and on the last byte makes the blob
//! complete (fsync, rename `.part` to `.blob`, metadata, folder fsync) before anyone is told.

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
    _guard: OwnedMutexGuard<()>,
}

/// [`BlobStore::record`] off the async threads (it fsyncs a file and the folder).
async fn record(
    store: &Arc<BlobStore>,
    id: [u8; BLOB_ID_LEN],
    writer: &Arc<Writer>,
    generation: u64,
    meta: Meta,
) -> Result<(), BlobError> {
    let (store, writer) = (store.clone(), writer.clone());
    tokio::task::spawn_blocking(move || store.record(&id, &writer, generation, &meta))
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
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
        let mut meta = meta;
        if offset < meta.durable {
            meta.durable = offset;
            file.sync_data().await?;
            record(&store, id, &writer, generation, meta).await?;
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
            _guard: guard,
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
            _guard: guard,
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
            self.sync().await?;
        }
        Ok(())
    }

    /// Makes everything written durable and records the durable offset.
    pub(crate) async fn sync(&mut self) -> Result<(), BlobError> {
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
        record(&self.store, self.id, writer, self.generation, meta).await?;
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
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))??;
        let mut meta = self.meta;
        meta.complete = true;
        record(&self.store, self.id, &writer, self.generation, meta).await?;
        self.meta = meta;
        Ok(meta)
    }
}
