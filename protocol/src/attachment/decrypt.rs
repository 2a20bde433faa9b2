//! The incremental decryptor: blob bytes in (in order, any slicing), plaintext out, at most
//! one chunk held; every deviation from the blob the reference describes is refused.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::chunk::{
    CHUNK_CIPHERTEXT_LEN, CHUNK_PLAINTEXT_LEN, MAX_PLAINTEXT_SIZE, TAG_LEN, chunk_count,
    ciphertext_len, open_chunk,
};
use super::error::AttachmentError;
use super::key::AttachmentKey;
use super::padding::padded_len;

/// Decrypts a blob incrementally against what its reference says (key, plaintext size,
/// digest). Feed the blob's bytes in order with [`Decryptor::update`]; each call returns the
/// plaintext of the chunks it completed, each authenticated at its position. The file is
/// whole and untampered only once [`Decryptor::finish`] succeeds (length and digest): write
/// the plaintext to a temporary place until then.
///
/// After an error the decryptor refuses everything further with the same error.
pub struct Decryptor {
    key: AttachmentKey,
    digest: [u8; 32],
    plaintext_size: u64,
    chunks: u64,
    ciphertext_len: u64,
    padded_len: u64,
    index: u64,
    received: u64,
    buf: Vec<u8>,
    hasher: Sha256,
    failed: Option<AttachmentError>,
}

impl Decryptor {
    /// A decryptor for the blob of a `plaintext_size`-byte file under `key` whose padded
    /// ciphertext has SHA-256 `digest`. Fails with [`AttachmentError::TooLarge`] for a size
    /// beyond [`MAX_PLAINTEXT_SIZE`].
    pub fn new(
        key: &AttachmentKey,
        plaintext_size: u64,
        digest: [u8; 32],
    ) -> Result<Self, AttachmentError> {
        if plaintext_size > MAX_PLAINTEXT_SIZE {
            return Err(AttachmentError::TooLarge {
                max: MAX_PLAINTEXT_SIZE,
            });
        }
        let ct = ciphertext_len(plaintext_size);
        Ok(Self {
            key: key.clone(),
            digest,
            plaintext_size,
            chunks: chunk_count(plaintext_size),
            ciphertext_len: ct,
            padded_len: padded_len(ct),
            index: 0,
            received: 0,
            buf: Vec::with_capacity(CHUNK_CIPHERTEXT_LEN),
            hasher: Sha256::new(),
            failed: None,
        })
    }

    /// The blob length this decryptor expects (ciphertext plus padding).
    pub fn padded_len(&self) -> u64 {
        self.padded_len
    }

    /// Blob bytes fed so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Ciphertext length of chunk `index` (the final one is shorter).
    fn chunk_len(&self, index: u64) -> usize {
        if index + 1 < self.chunks {
            CHUNK_CIPHERTEXT_LEN
        } else {
            let before = (self.chunks - 1) * CHUNK_PLAINTEXT_LEN as u64;
            // At most CHUNK_PLAINTEXT_LEN + TAG_LEN: fits in usize.
            (self.plaintext_size - before) as usize + TAG_LEN
        }
    }

    /// Feeds the next blob bytes; returns the plaintext of the chunks completed by them.
    pub fn update(&mut self, data: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.update_inner(data);
        if let Err(e) = &r {
            self.failed = Some(e.clone());
            zeroize::Zeroize::zeroize(&mut self.buf);
        }
        r
    }

    fn update_inner(&mut self, mut data: &[u8]) -> Result<Vec<u8>, AttachmentError> {
        let room = self.padded_len - self.received;
        if data.len() as u64 > room {
            return Err(AttachmentError::TooLong {
                expected: self.padded_len,
            });
        }
        let mut out = Vec::new();
        while !data.is_empty() {
            if self.received < self.ciphertext_len {
                let want = self.chunk_len(self.index) - self.buf.len();
                let take = want.min(data.len());
                self.buf.extend_from_slice(&data[..take]);
                self.hasher.update(&data[..take]);
                self.received += take as u64;
                data = &data[take..];
                if take == want {
                    let last = self.index + 1 == self.chunks;
                    let plain = open_chunk(&self.key, self.index, last, &self.buf)?;
                    out.extend_from_slice(&plain);
                    self.buf.clear();
                    self.index += 1;
                }
            } else {
                if let Some(pos) = data.iter().position(|&b| b != 0) {
                    return Err(AttachmentError::PaddingAltered {
                        offset: self.received + pos as u64,
                    });
                }
                self.hasher.update(data);
                self.received += data.len() as u64;
                data = &[];
            }
        }
        Ok(out)
    }

    /// Checks that the whole blob arrived and that its SHA-256 matches the reference's
    /// digest (compared in constant time).
    pub fn finish(mut self) -> Result<(), AttachmentError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.received < self.padded_len {
            return Err(AttachmentError::Truncated {
                received: self.received,
                expected: self.padded_len,
            });
        }
        let got: [u8; 32] = core::mem::take(&mut self.hasher).finalize().into();
        if bool::from(got.ct_eq(&self.digest)) {
            Ok(())
        } else {
            Err(AttachmentError::DigestMismatch)
        }
    }
}

impl Drop for Decryptor {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.buf);
    }
}

impl core::fmt::Debug for Decryptor {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decryptor")
            .field("plaintext_size", &self.plaintext_size)
            .field("padded_len", &self.padded_len)
            .field("received", &self.received)
            .finish_non_exhaustive()
    }
}
