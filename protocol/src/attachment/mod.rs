//! Encrypted attachments (`spec/attachments.md`): a file is encrypted under a fresh 32-byte
//! key with a STREAM-style chunked ChaCha20-Poly1305, padded to a size bucket, and referred
//! to from inside an end-to-end encrypted message by an [`AttachmentRef`] (blob id, key,
//! digest of the padded ciphertext, size, name, media type).
//!
//! Everything here is incremental: the [`Encryptor`] and the [`Decryptor`] hold at most one
//! chunk, never the whole file.
//!
//! ```
//! use hush_protocol::attachment::{AttachmentKey, Decryptor, Encryptor};
//!
//! let mut rng = rand::rng();
//! let key = AttachmentKey::generate(&mut rng);
//! let mut enc = Encryptor::new(&key);
//! let mut blob = enc.update(b"hello ")?;
//! blob.extend(enc.update(b"file")?);
//! let done = enc.finish();
//! blob.extend(&done.last_chunk);
//! blob.resize(blob.len() + done.padding_len as usize, 0);
//!
//! let mut dec = Decryptor::new(&key, done.plaintext_size, done.digest)?;
//! let mut plain = dec.update(&blob)?;
//! dec.finish()?;
//! assert_eq!(plain, b"hello file");
//! # Ok::<(), hush_protocol::attachment::AttachmentError>(())
//! ```

mod chunk;
mod decrypt;
mod encrypt;
mod error;
mod key;
mod padding;
mod reference;

pub use chunk::{
    CHUNK_CIPHERTEXT_LEN, CHUNK_PLAINTEXT_LEN, MAX_PLAINTEXT_SIZE, TAG_LEN, chunk_count,
    chunk_nonce, ciphertext_len, open_chunk, seal_chunk,
};
pub use decrypt::Decryptor;
pub use encrypt::{Encryptor, Finished};
pub use error::AttachmentError;
pub use key::{ATTACHMENT_KEY_LEN, AttachmentKey};
pub use padding::{MIN_PADDED_LEN, padded_len};
pub use reference::{
    ATTACHMENT_REF_VERSION, AttachmentRef, BLOB_ID_LEN, DIGEST_LEN, MAX_MEDIA_TYPE_LEN,
    MAX_NAME_LEN,
};
