//! Saving a received attachment: download the blob into a partial file in the target
//! directory (resuming from what it holds), then decrypt and check it into a fresh file.

use super::files::{decrypt_file, file_err};
use super::progress::{Counting, InPlaceFile, Progress};
use crate::content::Attachment;
use crate::engine::Engine;
use crate::error::Error;
use crate::store::Store;
use hush_protocol::attachment::{AttachmentError, Decryptor};
use sha2::{Digest, Sha256};
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

/// The partial blob of an attachment in `dir`: named after a hash of the blob id (the id
/// itself is a read capability and stays out of file names).
fn partial_path(dir: &Path, blob_id: &[u8; 32]) -> PathBuf {
    let h = Sha256::digest(blob_id);
    let tag: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    dir.join(format!(".hush-{tag}.blob.part"))
}

impl<S: Store> Engine<S> {
    /// Downloads the attachment's blob from its relay, checks it against the reference
    /// (every chunk, the padding, the length, the digest) and decrypts it into `dir`
    /// (created if missing) under a fresh name made safe from the sender's file name
    /// ([`crate::safe_file_name`]; an existing file is never overwritten: `name (1).ext`...).
    /// Returns the new file's path. `progress` hears the download's bytes.
    ///
    /// The blob is written to a hidden partial file in `dir` first; a download that breaks
    /// resumes from it on the next call. The plaintext appears under its final name only
    /// once the whole blob checked out: a blob that was altered, truncated, extended or does
    /// not match the digest is refused with [`Error::Attachment`] and nothing of it is kept.
    pub async fn save_attachment(
        &mut self,
        attachment: &Attachment,
        dir: &Path,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<PathBuf, Error> {
        let r = &attachment.reference;
        let dec = Decryptor::new(&r.key, r.size, r.digest)?;
        let total = dec.padded_len();
        std::fs::create_dir_all(dir).map_err(file_err("creating", dir))?;
        let part = partial_path(dir, &r.blob_id);
        let mut have = match std::fs::metadata(&part) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(file_err("reading", &part)(e)),
        };
        if have > total {
            std::fs::remove_file(&part).map_err(file_err("removing", &part))?;
            have = 0;
        }
        if have < total {
            let client = self.client(&attachment.relay).await?;
            let status = client.blob_status(&r.blob_id).await?;
            if status.length != total {
                return Err(if status.length < total {
                    AttachmentError::Truncated {
                        received: status.length,
                        expected: total,
                    }
                } else {
                    AttachmentError::TooLong { expected: total }
                }
                .into());
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&part)
                .map_err(file_err("writing", &part))?;
            let mut file = InPlaceFile(file);
            progress(Progress { done: have, total });
            let writer = Counting {
                inner: &mut file,
                done: have,
                total,
                progress: &mut *progress,
            };
            // No fsync: the partial file is only a cache. Decryption checks every chunk and
            // the digest, so a partial file damaged by a power cut is refused, never saved.
            client.download_blob(&r.blob_id, have, writer).await?;
        }
        progress(Progress { done: total, total });
        let (dir, name) = (dir.to_path_buf(), r.name.clone());
        tokio::task::spawn_blocking(move || decrypt_file(&part, dec, &dir, &name))
            .await
            .map_err(|e| file_err("decrypting", Path::new(&r.name))(std::io::Error::other(e)))?
    }
}
