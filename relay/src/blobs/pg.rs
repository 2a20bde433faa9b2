//! The blob store of PostgreSQL nodes (spec/relay-protocol.md §11.5): metadata and bytes in
//! the shared database (`hush_blobs`, `hush_blob_chunks`, migration 5), so any node serves
//! any blob and an upload broken on one node resumes on another.
//!
//! * BLOB_CREATE locks the owner's row in `hush_blob_owners` and checks the quota under the
//!   lock, so two creates for one mailbox, through any nodes, cannot both pass it.
//! * An upload keeps at most one chunk ([`CHUNK_BYTES`]) in memory. Each full chunk (and the
//!   rest when the stream ends or breaks) is committed in one transaction together with the
//!   new durable offset: `UPDATE hush_blobs .. WHERE generation = $mine AND durable = $old`
//!   first (which locks the blob's row), then the chunk row. The commit is the durability
//!   (PostgreSQL's WAL flush); the receipt follows it.
//! * Starting an upload raises the blob's generation (and cuts the bytes back to the
//!   offset asked for) in one transaction, so an older upload through any node finds its next
//!   commit refused and stops with [`BlobError::Superseded`].
//! * A download reads one chunk row at a time, in order.
//! * Expiry: touched blobs, BLOB_CREATE and the periodic sweep delete expired rows (their
//!   chunks go with them, `ON DELETE CASCADE`), in batches.
//!
//! Like every operation of the PostgreSQL backend, each one is retried (at most
//! [`ATTEMPTS`] times, on a fresh connection) when the database failure may be transient.
//! A chunk commit whose connection broke during `COMMIT` may have landed: its retry finds the
//! durable offset already moved by its own generation and takes that as success.

use super::{BLOB_ID_LEN, BlobConfig, BlobError, Meta};
use deadpool_postgres::{GenericClient, Pool};
use std::time::Duration;

/// Bytes per chunk row.
pub(crate) const CHUNK_BYTES: usize = 1 << 20;
/// Expired blobs deleted per sweep transaction.
const SWEEP_BATCH: i64 = 64;

fn db(e: impl std::fmt::Display) -> BlobError {
    BlobError::Database(e.to_string())
}

/// Attempts per operation when the database fails transiently.
const ATTEMPTS: u32 = 4;

/// Why one attempt failed.
enum Attempt {
    /// A definite answer.
    Blob(BlobError),
    /// A database error, retried when transient.
    Db(tokio_postgres::Error),
    /// No connection from the pool (yet), retried.
    Pool(String),
}

impl From<tokio_postgres::Error> for Attempt {
    fn from(e: tokio_postgres::Error) -> Self {
        Attempt::Db(e)
    }
}

impl From<BlobError> for Attempt {
    fn from(e: BlobError) -> Self {
        Attempt::Blob(e)
    }
}

/// Runs `$attempt` (an `async` block giving `Result<_, Attempt>`, made afresh for each try)
/// until it gives an answer or [`ATTEMPTS`] tries failed transiently.
macro_rules! retrying {
    ($what:literal, $attempt:expr) => {{
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let r: Result<_, Attempt> = $attempt.await;
            match r {
                Ok(v) => break Ok(v),
                Err(Attempt::Blob(e)) => break Err(e),
                Err(Attempt::Db(e))
                    if attempt < ATTEMPTS && crate::storage::pg_transient(&e) =>
                {
                    tracing::debug!(error = %e, attempt, op = $what, "blob operation retried");
                }
                Err(Attempt::Pool(m)) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %m, attempt, op = $what, "blob operation retried");
                }
                Err(Attempt::Db(e)) => {
                    metrics::counter!("hush_relay_errors_total", "kind" => "database")
                        .increment(1);
                    break Err(BlobError::Database(format!(
                        "{}: {}",
                        $what,
                        crate::storage::pg_error_text(&e)
                    )));
                }
                Err(Attempt::Pool(m)) => break Err(BlobError::Database(format!("{}: {m}", $what))),
            }
            tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
        }
    }};
}

fn to_i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// The blob store in the shared database.
pub(crate) struct PgBlobStore {
    pool: Pool,
    config: BlobConfig,
}

const META_COLUMNS: &str = "owner, length, expires_at_ms, durable, complete, generation";

fn meta_of(row: &tokio_postgres::Row) -> Result<(Meta, i64), BlobError> {
    let owner: Vec<u8> = row.try_get(0).map_err(db)?;
    let meta = Meta {
        owner: owner
            .try_into()
            .map_err(|_| db("a blob's owner is not 32 bytes"))?,
        length: to_u(row.try_get(1).map_err(db)?),
        expires_at_ms: to_u(row.try_get(2).map_err(db)?),
        durable: to_u(row.try_get(3).map_err(db)?),
        complete: row.try_get(4).map_err(db)?,
    };
    Ok((meta, row.try_get(5).map_err(db)?))
}

impl PgBlobStore {
    /// A store over the node's database pool.
    pub(crate) fn new(pool: Pool, config: BlobConfig) -> Self {
        PgBlobStore { pool, config }
    }

    pub(crate) fn config(&self) -> &BlobConfig {
        &self.config
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, Attempt> {
        self.pool.get().await.map_err(|e| match e {
            deadpool_postgres::PoolError::Backend(e) => Attempt::Db(e),
            deadpool_postgres::PoolError::Closed => {
                Attempt::Blob(BlobError::Database("the database pool is closed".into()))
            }
            other => Attempt::Pool(format!(
                "no database connection: {}",
                crate::storage::pg_error_text(&other)
            )),
        })
    }

    /// Reserves a blob (see [`super::BlobStore::create`]; the same limits and errors).
    pub(crate) async fn create(
        &self,
        owner: [u8; 32],
        length: u64,
        ttl: Duration,
        now_ms: u64,
    ) -> Result<([u8; BLOB_ID_LEN], u64), BlobError> {
        self.config.check_length(length)?;
        let expires_at_ms = self.config.expiry(ttl, now_ms);
        let mut id = [0u8; BLOB_ID_LEN];
        getrandom::fill(&mut id).map_err(|e| db(format!("random source: {e}")))?;
        retrying!("blob create", async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            tx.execute(
                "INSERT INTO hush_blob_owners (owner) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&&owner[..]],
            )
            .await?;
            tx.execute(
                "SELECT 1 FROM hush_blob_owners WHERE owner = $1 FOR UPDATE",
                &[&&owner[..]],
            )
            .await?;
            // Expired blobs not swept yet do not count (the embedded store sweeps first).
            let row = tx
                .query_one(
                    "SELECT coalesce(sum(length), 0)::bigint, count(*) FROM hush_blobs \
                     WHERE owner = $1 AND expires_at_ms > $2",
                    &[&&owner[..], &to_i(now_ms)],
                )
                .await?;
            let used = to_u(row.try_get(0)?);
            let count = to_u(row.try_get(1)?);
            if used.saturating_add(length) > self.config.mailbox_quota_bytes
                || count + 1 > self.config.mailbox_max_blobs
            {
                return Err(Attempt::Blob(BlobError::Quota {
                    used,
                    count,
                    wanted: length,
                    max: self.config.mailbox_quota_bytes,
                }));
            }
            tx.execute(
                "INSERT INTO hush_blobs (blob_id, owner, length, expires_at_ms, durable, \
                 complete, generation) VALUES ($1, $2, $3, $4, 0, false, 0)",
                &[&&id[..], &&owner[..], &to_i(length), &to_i(expires_at_ms)],
            )
            .await?;
            tx.commit().await?;
            Ok((id, expires_at_ms))
        })
    }

    async fn row(
        c: &impl GenericClient,
        id: &[u8; BLOB_ID_LEN],
        lock: bool,
    ) -> Result<Option<(Meta, i64)>, Attempt> {
        let sql = format!(
            "SELECT {META_COLUMNS} FROM hush_blobs WHERE blob_id = $1{}",
            if lock { " FOR UPDATE" } else { "" }
        );
        match c.query_opt(&sql, &[&&id[..]]).await? {
            Some(r) => Ok(Some(meta_of(&r)?)),
            None => Ok(None),
        }
    }

    /// Deletes `id` if it has expired by `now_ms` (a failure leaves it to the sweep).
    async fn expire(c: &impl GenericClient, id: &[u8; BLOB_ID_LEN], now_ms: u64) {
        if let Err(e) = c
            .execute(
                "DELETE FROM hush_blobs WHERE blob_id = $1 AND expires_at_ms <= $2",
                &[&&id[..], &to_i(now_ms)],
            )
            .await
        {
            tracing::warn!(error = %e, "could not delete an expired blob (the sweep will)");
        }
    }

    /// A live blob's metadata; [`BlobError::Expired`] (and deleted) once its time passed.
    pub(crate) async fn status(
        &self,
        id: &[u8; BLOB_ID_LEN],
        now_ms: u64,
    ) -> Result<Meta, BlobError> {
        retrying!("blob status", async {
            let c = self.client().await?;
            let (meta, _) = Self::row(&c, id, false).await?.ok_or(BlobError::NotFound)?;
            if meta.expires_at_ms <= now_ms {
                Self::expire(&c, id, now_ms).await;
                return Err(Attempt::Blob(BlobError::Expired));
            }
            Ok(meta)
        })
    }

    /// Deletes every expired blob and its chunks; returns how many.
    pub(crate) async fn sweep(&self, now_ms: u64) -> Result<usize, BlobError> {
        let mut total = 0usize;
        loop {
            // A batch at a time: one transaction never holds many blobs' chunks.
            let n = retrying!("blob sweep", async {
                let c = self.client().await?;
                Ok(c.execute(
                    "DELETE FROM hush_blobs WHERE blob_id IN (SELECT blob_id FROM hush_blobs \
                     WHERE expires_at_ms <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                    &[&to_i(now_ms), &SWEEP_BATCH],
                )
                .await?)
            })?;
            total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            if n < SWEEP_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    /// The declared lengths of every blob in the database, summed.
    pub(crate) async fn stored_bytes(&self) -> Result<u64, BlobError> {
        retrying!("blob usage", async {
            let c = self.client().await?;
            let row = c
                .query_one(
                    "SELECT coalesce(sum(length), 0)::bigint FROM hush_blobs",
                    &[],
                )
                .await?;
            Ok(to_u(row.try_get(0)?))
        })
    }

    /// Starts (or resumes) the upload of `id` at `offset`: raises the blob's generation
    /// (superseding an older upload through any node) and drops committed bytes past
    /// `offset`, in one transaction.
    pub(crate) async fn begin_upload(
        self: &std::sync::Arc<Self>,
        id: [u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<PgUpload, BlobError> {
        let begun = retrying!("blob upload start", async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let Some((mut meta, generation)) = Self::row(&tx, &id, true).await? else {
                return Err(Attempt::Blob(BlobError::NotFound));
            };
            if meta.expires_at_ms <= now_ms {
                drop(tx);
                Self::expire(&client, &id, now_ms).await;
                return Err(Attempt::Blob(BlobError::Expired));
            }
            if meta.complete {
                return Ok(None);
            }
            if offset > meta.durable {
                return Err(Attempt::Blob(BlobError::Offset {
                    offset,
                    limit: meta.durable,
                }));
            }
            let generation = generation + 1;
            tx.execute(
                "UPDATE hush_blobs SET generation = $2, durable = $3 WHERE blob_id = $1",
                &[&&id[..], &generation, &to_i(offset)],
            )
            .await?;
            if offset < meta.durable {
                // Bytes past the offset are dropped: the uploader sends them again.
                tx.execute(
                    "DELETE FROM hush_blob_chunks WHERE blob_id = $1 AND offset_bytes >= $2",
                    &[&&id[..], &to_i(offset)],
                )
                .await?;
                tx.execute(
                    "UPDATE hush_blob_chunks \
                     SET data = substring(data FROM 1 FOR ($2 - offset_bytes)::integer) \
                     WHERE blob_id = $1 AND offset_bytes < $2 \
                     AND offset_bytes + octet_length(data) > $2",
                    &[&&id[..], &to_i(offset)],
                )
                .await?;
                meta.durable = offset;
            }
            tx.commit().await?;
            Ok(Some((meta, generation)))
        })?;
        let Some((meta, generation)) = begun else {
            // Complete already: the upload takes no bytes and reports the blob.
            let meta = self.status(&id, now_ms).await?;
            return Ok(PgUpload::done(self.clone(), id, meta));
        };
        Ok(PgUpload {
            store: self.clone(),
            id,
            meta,
            generation,
            buf: Vec::new(),
            superseded: false,
            done: false,
        })
    }

    /// Checks a download of `id` from `offset` (complete, offset within the blob).
    pub(crate) async fn open_download(
        self: &std::sync::Arc<Self>,
        id: &[u8; BLOB_ID_LEN],
        offset: u64,
        now_ms: u64,
    ) -> Result<(PgReader, Meta), BlobError> {
        let meta = self.status(id, now_ms).await?;
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
        Ok((
            PgReader {
                store: self.clone(),
                id: *id,
                pos: offset,
                chunk: Vec::new(),
                at: 0,
            },
            meta,
        ))
    }

    /// The chunk row holding byte `pos` of `id`: its offset and bytes.
    async fn chunk_at(
        &self,
        id: &[u8; BLOB_ID_LEN],
        pos: u64,
    ) -> Result<Option<(u64, Vec<u8>)>, BlobError> {
        retrying!("blob read", async {
            let c = self.client().await?;
            let row = c
                .query_opt(
                    "SELECT offset_bytes, data FROM hush_blob_chunks \
                     WHERE blob_id = $1 AND offset_bytes <= $2 \
                     ORDER BY offset_bytes DESC LIMIT 1",
                    &[&&id[..], &to_i(pos)],
                )
                .await?;
            match row {
                Some(r) => Ok(Some((to_u(r.try_get(0)?), r.try_get(1)?))),
                None => Ok(None),
            }
        })
    }

    /// Commits `data` as the chunk at `from` and the durable offset `to` (complete when it
    /// is the blob's length), if `generation` is still the blob's newest upload and nobody
    /// moved the durable offset. `Ok(false)`: superseded.
    async fn commit_chunk(
        &self,
        id: &[u8; BLOB_ID_LEN],
        generation: i64,
        from: u64,
        data: &[u8],
        complete: bool,
    ) -> Result<bool, BlobError> {
        let to = from + data.len() as u64;
        retrying!("blob chunk commit", async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let n = tx
                .execute(
                    "UPDATE hush_blobs SET durable = $4, complete = $5 \
                     WHERE blob_id = $1 AND generation = $2 AND durable = $3",
                    &[&&id[..], &generation, &to_i(from), &to_i(to), &complete],
                )
                .await?;
            if n != 1 {
                // A retry of a commit that landed finds its own generation at `to`.
                drop(tx);
                let landed = Self::row(&client, id, false)
                    .await?
                    .is_some_and(|(m, g)| g == generation && m.durable == to);
                return Ok(landed);
            }
            tx.execute(
                "INSERT INTO hush_blob_chunks (blob_id, offset_bytes, data) VALUES ($1, $2, $3)",
                &[&&id[..], &to_i(from), &data],
            )
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}

/// An upload in progress into the database.
pub(crate) struct PgUpload {
    store: std::sync::Arc<PgBlobStore>,
    id: [u8; BLOB_ID_LEN],
    /// As last committed.
    meta: Meta,
    generation: i64,
    /// Bytes received past `meta.durable`, at most one chunk.
    buf: Vec<u8>,
    superseded: bool,
    /// The blob was complete already: nothing to write.
    done: bool,
}

impl PgUpload {
    fn done(store: std::sync::Arc<PgBlobStore>, id: [u8; BLOB_ID_LEN], meta: Meta) -> Self {
        PgUpload {
            store,
            id,
            meta,
            generation: 0,
            buf: Vec::new(),
            superseded: false,
            done: true,
        }
    }

    fn written(&self) -> u64 {
        self.meta.durable + self.buf.len() as u64
    }

    /// Whether a newer upload (or the sweep) took over, as found at the last commit.
    pub(crate) fn superseded(&self) -> bool {
        self.superseded
    }

    /// Appends `data`, committing every full chunk; [`BlobError::TooLarge`] past the blob's
    /// length (nothing of `data` is taken then).
    pub(crate) async fn write(&mut self, mut data: &[u8]) -> Result<(), BlobError> {
        let remaining = self.meta.length - self.written();
        if data.len() as u64 > remaining {
            return Err(BlobError::TooLarge {
                len: self.written() + data.len() as u64,
                max: self.meta.length,
            });
        }
        if self.superseded {
            return Err(BlobError::Superseded);
        }
        if self.done {
            return Ok(());
        }
        while !data.is_empty() {
            if self.buf.capacity() == 0 {
                self.buf.reserve_exact(CHUNK_BYTES);
            }
            let take = (CHUNK_BYTES - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK_BYTES {
                self.sync().await?;
            }
        }
        Ok(())
    }

    /// Commits the bytes held (one chunk row) with the new durable offset, in one
    /// transaction that only lands if this is still the blob's newest upload.
    pub(crate) async fn sync(&mut self) -> Result<(), BlobError> {
        if self.done || self.buf.is_empty() {
            return Ok(());
        }
        if self.superseded {
            return Err(BlobError::Superseded);
        }
        let new = self.written();
        let complete = new == self.meta.length;
        let landed = self
            .store
            .commit_chunk(
                &self.id,
                self.generation,
                self.meta.durable,
                &self.buf,
                complete,
            )
            .await?;
        if !landed {
            self.superseded = true;
            return Err(BlobError::Superseded);
        }
        self.meta.durable = new;
        self.meta.complete = complete;
        self.buf.clear();
        Ok(())
    }

    /// Ends the stream's part of the upload: commits what is held. Returns the metadata to
    /// report (complete once every byte is committed).
    pub(crate) async fn finish(mut self) -> Result<Meta, BlobError> {
        self.sync().await?;
        Ok(self.meta)
    }
}

/// A download from the database: one chunk row in memory at a time.
pub(crate) struct PgReader {
    store: std::sync::Arc<PgBlobStore>,
    id: [u8; BLOB_ID_LEN],
    /// Offset in the blob of `chunk[at]`.
    pos: u64,
    chunk: Vec<u8>,
    at: usize,
}

impl PgReader {
    /// Reads the next bytes into `buf`; 0 when no chunk holds the next byte.
    pub(crate) async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.chunk.len() {
            let Some((off, data)) = self
                .store
                .chunk_at(&self.id, self.pos)
                .await
                .map_err(std::io::Error::other)?
            else {
                return Ok(0);
            };
            let skip = usize::try_from(self.pos - off).unwrap_or(usize::MAX);
            if skip >= data.len() {
                return Ok(0);
            }
            self.chunk = data;
            self.at = skip;
        }
        let n = (self.chunk.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        self.pos += n as u64;
        Ok(n)
    }
}
