//! The typed errors of attachment encryption, decryption and references.

/// Everything that can go wrong with an attachment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The plaintext exceeds [`super::MAX_PLAINTEXT_SIZE`].
    #[error("attachment larger than {max} bytes")]
    TooLarge {
        /// The maximum plaintext size.
        max: u64,
    },
    /// A chunk did not authenticate under its position: it was altered, moved, swapped with
    /// another chunk, taken from another file, the key is wrong, or a non-final chunk was
    /// presented as the final one (truncation).
    #[error("chunk {index} failed authentication")]
    ChunkAuthentication {
        /// The chunk's index (0-based) in the stream.
        index: u64,
    },
    /// A padding byte after the last chunk was not zero.
    #[error("padding altered at offset {offset}")]
    PaddingAltered {
        /// Offset of the first altered byte in the blob.
        offset: u64,
    },
    /// More bytes were fed than the blob of this size holds (appended data).
    #[error("blob longer than the {expected} bytes its reference gives")]
    TooLong {
        /// The padded length the reference implies.
        expected: u64,
    },
    /// The blob ended before its padded length (truncated).
    #[error("blob truncated: {received} of {expected} bytes")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// The padded length the reference implies.
        expected: u64,
    },
    /// The SHA-256 of the blob differs from the digest in the reference.
    #[error("blob digest does not match the reference")]
    DigestMismatch,
    /// A reference could not be decoded or carried an invalid field.
    #[error("malformed attachment reference: {0}")]
    MalformedRef(&'static str),
    /// A reference carried a version this implementation does not know.
    #[error("unsupported attachment reference version {0}")]
    UnsupportedVersion(u32),
}
