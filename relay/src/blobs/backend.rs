//! One face over the two blob stores, so that each blob command has one handler: the
//! embedded file store ([`BlobStore`], files in the data folder) and, on PostgreSQL nodes,
//! the database store (chunks in the database, so any node serves any blob).

use super::{BLOB_ID_LEN, BlobError, BlobStore, Meta, Upload};
use std::sync::Arc;
use std::time::Duration;

/// The relay's blob store, whichever backend holds the bytes.
pub(crate) enum Blobs {
    /// Files in `<data>/blobs/`.
    Files(Arc<BlobStore>),
    /// Rows in the shared database (PostgreSQL nodes).
    #[cfg(feature = "postgres")]
    Pg(Arc<super::pg::PgBlobStore>),
}

/// An upload in progress on either backend.
pub(crate) enum BlobUpload {
    /// Into a file.
    Files(Upload),
    /// Into the database.
    #[cfg(feature = "postgres")]
    Pg(super::pg::PgUpload),
}

/// A download's source on either backend.
pub(crate) enum BlobReader {
    /// A complete blob's file, at the download's offset.
    Files(tokio::fs::File),
    /// Chunk rows in the database.
    #[cfg(feature = "postgres")]
    Pg(super::pg::PgReader),
}

fn joined(e: tokio::task::JoinError) -> BlobError {
    BlobError::Io(std::io::Error::other(e.to_string()))
}

impl Blobs {
    /// The store's limits.
    pub(crate) fn config(&self) -> &super::BlobConfig {
        match self {
            Blobs::Files(s) => s.config(),
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => s.config(),
        }
    }

    /// Reserves a blob (see [`BlobStore::create`]).
    pub(crate) async fn create(
        &self,
        owner: [u8; 32],
        length: u64,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<([u8; BLOB_ID_LEN], u64), BlobError> {
        match self {
            Blobs::Files(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.create(owner, length, ttl, now_ms))
                    .await
                    .map_err(joined)?
            }
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => s.create(owner, length, ttl, now_ms).await,
        }
    }

    /// A live blob's metadata; [`BlobError::Expired`] (and deleted) once its time passed.
    pub(crate) async fn status(
        &self,
        id: &[u8; BLOB_ID_LEN],
        now_ms: u64,
    ) -> Result<Meta, BlobError> {
        match self {
            Blobs::Files(s) => s.status(id, now_ms),
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => s.status(id, now_ms).await,
        }
    }

    /// Deletes every expired blob; returns how many.
    pub(crate) async fn sweep(&self, now_ms: u64) -> Result<usize, BlobError> {
        match self {
            Blobs::Files(s) => {
                let s = s.clone();
                tokio::task::spawn_blocking(move || s.sweep(now_ms))
                    .await
                    .map_err(joined)?
            }
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => s.sweep(now_ms).await,
        }
    }

    /// The declared lengths of every live blob, summed: what blobs take of the relay-wide
    /// storage cap.
    pub(crate) async fn stored_bytes(&self) -> Result<u64, BlobError> {
        match self {
            Blobs::Files(s) => s.stored_bytes(),
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => s.stored_bytes().await,
        }
    }

    /// Starts (or resumes) an upload at `offset`.
    pub(crate) async fn begin_upload(
        &self,
        id: [u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<BlobUpload, BlobError> {
        match self {
            Blobs::Files(s) => Ok(BlobUpload::Files(s.begin_upload(id, offset, now_ms).await?)),
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => Ok(BlobUpload::Pg(s.begin_upload(id, offset, now_ms).await?)),
        }
    }

    /// Opens a complete blob for reading at `offset`.
    pub(crate) async fn open_download(
        &self,
        id: &[u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<(BlobReader, Meta), BlobError> {
        match self {
            Blobs::Files(s) => {
                let (f, m) = s.open_download(id, offset, now_ms).await?;
                Ok((BlobReader::Files(f), m))
            }
            #[cfg(feature = "postgres")]
            Blobs::Pg(s) => {
                let (r, m) = s.open_download(id, offset, now_ms).await?;
                Ok((BlobReader::Pg(r), m))
            }
        }
    }
}

impl BlobUpload {
    /// Whether a newer upload of the same blob (or the expiry sweep) took over.
    pub(crate) fn superseded(&self) -> bool {
        match self {
            BlobUpload::Files(u) => u.superseded(),
            #[cfg(feature = "postgres")]
            BlobUpload::Pg(u) => u.superseded(),
        }
    }

    /// Appends `data` (see [`Upload::write`]).
    pub(crate) async fn write(&mut self, data: &[u8]) -> Result<(), BlobError> {
        match self {
            BlobUpload::Files(u) => u.write(data).await,
            #[cfg(feature = "postgres")]
            BlobUpload::Pg(u) => u.write(data).await,
        }
    }

    /// Makes everything written durable and records the durable offset.
    pub(crate) async fn sync(&mut self) -> Result<(), BlobError> {
        match self {
            BlobUpload::Files(u) => u.sync().await,
            #[cfg(feature = "postgres")]
            BlobUpload::Pg(u) => u.sync().await,
        }
    }

    /// Ends the stream's part of the upload; completes the blob if every byte arrived.
    pub(crate) async fn finish(self) -> Result<Meta, BlobError> {
        match self {
            BlobUpload::Files(u) => u.finish().await,
            #[cfg(feature = "postgres")]
            BlobUpload::Pg(u) => u.finish().await,
        }
    }
}

impl BlobReader {
    /// Reads the next bytes into `buf`; 0 at the end of what the store holds.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            BlobReader::Files(f) => {
                use tokio::io::AsyncReadExt;
                f.read(buf).await
            }
            #[cfg(feature = "postgres")]
            BlobReader::Pg(r) => r.read(buf).await,
        }
    }
}
