//! The incremental encryptor: plaintext in, ciphertext chunks out, at most one chunk held.

use sha2::{Digest, Sha256};

use super::chunk::{CHUNK_PLAINTEXT_LEN, MAX_PLAINTEXT_SIZE, seal_chunk};
use super::error::AttachmentError;
use super::key::AttachmentKey;
use super::padding::padded_len;

/// What [`Encryptor::finish`] returns: the final chunk, how much zero padding follows it,
/// and the blob's size and digest for the [`super::AttachmentRef`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The final chunk's ciphertext (to write after everything [`Encryptor::update`] gave).
    pub last_chunk: Vec<u8>,
    /// Number of zero bytes to write after `last_chunk` (the padding up to the bucket).
    pub padding_len: u64,
    /// Total plaintext size.
    pub plaintext_size: u64,
    /// Total blob length: chunks plus padding.
    pub padded_len: u64,
    /// SHA-256 of the whole blob (chunks and padding).
    pub digest: [u8; 32],
}

/// Encrypts a file incrementally. Feed plaintext with [`Encryptor::update`] (any slicing),
/// write out what it returns, then call [`Encryptor::finish`].
///
/// A full chunk is held back until more plaintext arrives, because only then is it known not
/// to be the final one.
pub struct Encryptor {
    key: AttachmentKey,
    buf: Vec<u8>,
    index: u64,
    plaintext_size: u64,
    written: u64,
    hasher: Sha256,
}

impl Encryptor {
    /// A new encryptor under `key` (use a fresh [`AttachmentKey`] for every file).
    pub fn new(key: &AttachmentKey) -> Self {
        Self {
            key: key.clone(),
            buf: Vec::with_capacity(CHUNK_PLAINTEXT_LEN),
            index: 0,
            plaintext_size: 0,
            written: 0,
            hasher: Sha256::new(),
        }
    }

    /// Feeds plaintext; returns the ciphertext of the chunks it completed (possibly empty).
    /// Fails with [`AttachmentError::TooLarge`] beyond [`MAX_PLAINTEXT_SIZE`], leaving the
    /// encryptor unchanged.
    pub fn update(&mut self, mut data: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        if self.plaintext_size + data.len() as u64 > MAX_PLAINTEXT_SIZE {
            return Err(AttachmentError::TooLarge {
                max: MAX_PLAINTEXT_SIZE,
            });
        }
        self.plaintext_size += data.len() as u64;
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.buf.len() == CHUNK_PLAINTEXT_LEN {
                // More plaintext follows: the held chunk is not the final one.
                let ct = seal_chunk(&self.key, self.index, false, &self.buf);
                self.index += 1;
                self.buf.clear();
                self.emit(&ct);
                out.extend_from_slice(&ct);
            }
            let take = (CHUNK_PLAINTEXT_LEN - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(out)
    }

    fn emit(&mut self, ct: &[u8]) {
        self.hasher.update(ct);
        self.written += ct.len() as u64;
    }

    /// Seals the held plaintext as the final chunk (empty only for an empty file) and
    /// computes the padding and the digest.
    pub fn finish(mut self) -> Finished {
        let last_chunk = seal_chunk(&self.key, self.index, true, &self.buf);
        self.buf.fill(0);
        self.emit(&last_chunk);
        let padded = padded_len(self.written);
        let padding_len = padded - self.written;
        let zeros = [0u8; 4096];
        let mut left = padding_len;
        while left > 0 {
            let n = left.min(zeros.len() as u64) as usize;
            self.hasher.update(&zeros[..n]);
            left -= n as u64;
        }
        Finished {
            last_chunk,
            padding_len,
            plaintext_size: self.plaintext_size,
            padded_len: padded,
            digest: core::mem::take(&mut self.hasher).finalize().into(),
        }
    }
}

impl Drop for Encryptor {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl core::fmt::Debug for Encryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encryptor")
            .field("chunk_index", &self.index)
            .field("plaintext_size", &self.plaintext_size)
            .finish_non_exhaustive()
    }
}
