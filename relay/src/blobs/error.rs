//! The blob store's typed errors.

/// Why a blob operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// No such blob (never created, deleted, or swept after expiry).
    #[error("no such blob")]
    NotFound,
    /// The blob's time to live has passed.
    #[error("blob expired")]
    Expired,
    /// The declared length is 0 or above the relay's maximum, or an upload carried more
    /// bytes than the blob's length.
    #[error("blob too large: {len} bytes, the limit is {max}")]
    TooLarge {
        /// Bytes declared or sent.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// The mailbox's blob quota would be exceeded.
    #[error(
        "blob quota exceeded: {used} of {max} bytes in {count} blobs used, {wanted} more asked"
    )]
    Quota {
        /// Bytes of live blobs the mailbox holds.
        used: u64,
        /// Live blobs the mailbox holds.
        count: u64,
        /// Bytes asked for.
        wanted: u64,
        /// The byte quota.
        max: u64,
    },
    /// An upload offset beyond the durable offset, or a download offset beyond the end.
    #[error("offset {offset} is beyond {limit}")]
    Offset {
        /// The offset asked for.
        offset: u64,
        /// The durable offset (upload) or the length (download).
        limit: u64,
    },
    /// A download of a blob whose upload is not complete.
    #[error("blob incomplete: {durable} of {length} bytes uploaded")]
    Incomplete {
        /// Durable bytes.
        durable: u64,
        /// The blob's length.
        length: u64,
    },
    /// Another upload of the same blob took over.
    #[error("a newer upload of this blob took over")]
    Superseded,
    /// The file system failed.
    #[error("blob store I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The database (PostgreSQL nodes) failed or could not be reached.
    #[error("blob store database error: {0}")]
    Database(String),
}
