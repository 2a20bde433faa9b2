//! One chunk of the STREAM construction (`spec/attachments.md` section 2): ChaCha20-Poly1305
//! under the file key, nonce = 11-byte big-endian chunk counter ‖ 1-byte last-chunk flag,
//! no associated data.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use super::error::AttachmentError;
use super::key::AttachmentKey;

/// Plaintext bytes per chunk (64 KiB); only the final chunk may be shorter.
pub const CHUNK_PLAINTEXT_LEN: usize = 1 << 16;
/// Poly1305 tag length, added to every chunk.
pub const TAG_LEN: usize = 16;
/// Ciphertext bytes of a full chunk.
pub const CHUNK_CIPHERTEXT_LEN: usize = CHUNK_PLAINTEXT_LEN + TAG_LEN;
/// The largest attachment plaintext: 2 GiB.
pub const MAX_PLAINTEXT_SIZE: u64 = 1 << 31;

/// How many chunks a plaintext of `size` bytes is cut into: `ceil(size / 64 KiB)`, and one
/// (empty, final) chunk for an empty file.
pub fn chunk_count(size: u64) -> u64 {
    size.div_ceil(CHUNK_PLAINTEXT_LEN as u64).max(1)
}

/// Ciphertext length (before padding) of a plaintext of `size` bytes: the plaintext plus one
/// tag per chunk.
pub fn ciphertext_len(size: u64) -> u64 {
    size + chunk_count(size) * TAG_LEN as u64
}

/// The nonce of chunk `index`: `index` as 11 bytes big-endian, then `0x01` for the final
/// chunk and `0x00` for every other.
pub fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    n
}

fn cipher(key: &AttachmentKey) -> ChaCha20Poly1305 {
    ChaCha20Poly1305::new(key.as_bytes().into())
}

/// Encrypts one chunk's plaintext at position `index` (final or not).
pub fn seal_chunk(key: &AttachmentKey, index: u64, last: bool, plaintext: &[u8]) -> Vec<u8> {
    let nonce = Nonce::from(chunk_nonce(index, last));
    // ChaCha20-Poly1305 fails only for plaintexts beyond 256 GiB; chunks are 64 KiB.
    cipher(key)
        .encrypt(&nonce, plaintext)
        .unwrap_or_else(|_| unreachable!("a chunk is far below the AEAD's length limit"))
}

/// Decrypts one chunk at position `index` (final or not); refuses it with
/// [`AttachmentError::ChunkAuthentication`] if it does not authenticate there.
pub fn open_chunk(
    key: &AttachmentKey,
    index: u64,
    last: bool,
    ciphertext: &[u8],
) -> Result<Vec<u8>, AttachmentError> {
    let nonce = Nonce::from(chunk_nonce(index, last));
    cipher(key)
        .decrypt(&nonce, ciphertext)
        .map_err(|_| AttachmentError::ChunkAuthentication { index })
}
