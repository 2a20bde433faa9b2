//! Sending a file: encrypt into a temporary blob, reserve it on our home relay, record the
//! pending upload, upload (from the relay's durable offset when resuming), then send the
//! reference as an ordinary message, removing the pending upload in the same batch.

use super::files::{encrypt_file, file_err, media_type, reference_name};
use super::progress::{Counting, Progress};
use crate::content::Attachment;
use crate::engine::{Engine, Outgoing};
use crate::error::Error;
use crate::records::UploadRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::attachment::{AttachmentKey, AttachmentRef, MAX_PLAINTEXT_SIZE};
use hush_relay_client::{ClientError, ErrorCode, RelayUrl};
use prost::Message;
use sha2::{Digest, Sha256};
use std::io::SeekFrom;
use std::path::{Path, PathBuf};
use tokio::io::AsyncSeekExt;
use zeroize::Zeroizing;

/// An upload that was interrupted ([`Engine::pending_uploads`]): sending the same file to
/// the same contact or group again resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The contact's alias or the group's name.
    pub to: String,
    /// True for a group.
    pub group: bool,
    /// The file (its full path when the upload started).
    pub path: String,
    /// The file's size.
    pub size: u64,
}

/// The `uploads` key of a file sent to a contact or a group.
fn upload_key(group: bool, to: &str, path: &Path) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update([u8::from(group)]);
    h.update(to.as_bytes());
    h.update([0]);
    h.update(path.as_os_str().as_encoded_bytes());
    h.finalize().to_vec()
}

fn is_gone(e: &ClientError) -> bool {
    matches!(
        e.relay_code(),
        Some(ErrorCode::NotFound | ErrorCode::BlobExpired)
    )
}

impl<S: Store> Engine<S> {
    /// Sends the file at `path` to the contact `alias` as an attachment: encrypted under a
    /// fresh key into a temporary file (one 64 KiB chunk in memory at a time), uploaded to
    /// our home relay's blob store, then referred to by an ordinary message (like
    /// [`Engine::send`]; the receiver's event carries it, [`crate::EventKind::attachment`]).
    /// `progress` hears the upload's bytes.
    ///
    /// An upload that was interrupted (the app stopped, the connection broke) is recorded:
    /// sending the same file to the same contact again resumes it where the relay's durable
    /// copy ends, after checking the file did not change ([`Error::FileChanged`]).
    pub async fn send_file(
        &mut self,
        alias: &str,
        path: &Path,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Outgoing, Error> {
        self.account.contact(alias)?;
        self.send_file_to(false, alias, path, progress).await
    }

    /// [`Engine::send_file`] to every member of group `group` (the message goes through
    /// [`Engine::send_to_group`]).
    pub async fn send_file_to_group(
        &mut self,
        group: &str,
        path: &Path,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Outgoing, Error> {
        self.group_record(group)?;
        self.send_file_to(true, group, path, progress).await
    }

    /// The uploads that were interrupted, oldest first.
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>, Error> {
        let mut recs = self
            .account
            .store
            .scan(Table::Uploads)?
            .into_iter()
            .map(|(_, v)| UploadRecord::decode(v.as_slice()).map_err(|_| Error::Corrupt("upload")))
            .collect::<Result<Vec<_>, _>>()?;
        recs.sort_by_key(|r| r.started_at_ms);
        Ok(recs
            .iter()
            .map(|r| PendingUpload {
                to: r.to.clone(),
                group: r.group,
                path: r.path.clone(),
                size: r.size,
            })
            .collect())
    }

    fn pending_upload(&self, key: &[u8]) -> Result<Option<UploadRecord>, Error> {
        self.account
            .store
            .get(Table::Uploads, key)?
            .map(|v| UploadRecord::decode(v.as_slice()).map_err(|_| Error::Corrupt("upload")))
            .transpose()
    }

    fn drop_upload(&mut self, key: &[u8]) -> Result<(), Error> {
        let mut b = Batch::new();
        b.delete(Table::Uploads, key);
        self.account.store.commit(b)?;
        Ok(())
    }

    async fn send_file_to(
        &mut self,
        group: bool,
        to: &str,
        path: &Path,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Outgoing, Error> {
        let path: PathBuf = std::fs::canonicalize(path).map_err(file_err("reading", path))?;
        let meta = std::fs::metadata(&path).map_err(file_err("reading", &path))?;
        if !meta.is_file() {
            return Err(Error::Invalid {
                what: "file",
                why: format!("{} is not a regular file", path.display()),
            });
        }
        if meta.len() > MAX_PLAINTEXT_SIZE {
            return Err(hush_protocol::attachment::AttachmentError::TooLarge {
                max: MAX_PLAINTEXT_SIZE,
            }
            .into());
        }
        let ukey = upload_key(group, to, &path);
        let pending = self.pending_upload(&ukey)?;
        let key = match &pending {
            Some(p) => AttachmentKey::from_bytes(
                p.key
                    .as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("upload"))?,
            ),
            None => AttachmentKey::generate(&mut self.child_rng()),
        };
        let (tmp, done) = {
            let (p, k, t) = (path.clone(), key.clone(), self.temp_dir.clone());
            tokio::task::spawn_blocking(move || encrypt_file(&p, &k, t.as_deref()))
                .await
                .map_err(|e| file_err("encrypting", &path)(std::io::Error::other(e)))??
        };
        let total = done.padded_len;
        let (blob_id, relay): ([u8; 32], RelayUrl) = match &pending {
            Some(p) => {
                if p.digest != done.digest || p.size != done.plaintext_size {
                    self.drop_upload(&ukey)?;
                    return Err(Error::FileChanged(path));
                }
                (
                    p.blob_id
                        .as_slice()
                        .try_into()
                        .map_err(|_| Error::Corrupt("upload"))?,
                    p.relay.parse().map_err(|_| Error::Corrupt("upload"))?,
                )
            }
            None => {
                let (url, mailbox) = self.home().await?;
                let (id, _) = self
                    .client(&url)
                    .await?
                    .create_blob(&mailbox, total, 0)
                    .await?;
                let rec = UploadRecord {
                    to: to.to_string(),
                    group,
                    path: path.display().to_string(),
                    blob_id: id.to_vec(),
                    key: key.as_bytes().to_vec(),
                    digest: done.digest.to_vec(),
                    size: done.plaintext_size,
                    relay: url.to_string(),
                    started_at_ms: self.now_ms(),
                };
                let mut b = Batch::new();
                b.put(
                    Table::Uploads,
                    ukey.clone(),
                    Zeroizing::new(rec.encode_to_vec()),
                );
                self.account.store.commit(b)?;
                (id, url)
            }
        };
        let status = match self.client(&relay).await?.blob_status(&blob_id).await {
            Ok(s) => s,
            Err(e) if is_gone(&e) => {
                self.drop_upload(&ukey)?;
                return Err(Error::UploadLost(path));
            }
            Err(e) => return Err(e.into()),
        };
        if !status.complete {
            let from = status.durable_offset.min(total);
            let mut file =
                tokio::fs::File::from_std(tmp.reopen().map_err(file_err("reading", tmp.path()))?);
            file.seek(SeekFrom::Start(from))
                .await
                .map_err(file_err("reading", tmp.path()))?;
            progress(Progress { done: from, total });
            let reader = Counting {
                inner: file,
                done: from,
                total,
                progress: &mut *progress,
            };
            let after = self
                .client(&relay)
                .await?
                .upload_blob(&blob_id, from, reader)
                .await?;
            if !after.complete {
                return Err(Error::Relay(ClientError::Stream(format!(
                    "the relay holds {} of the {total} bytes of the upload; send again to resume",
                    after.durable_offset
                ))));
            }
        }
        progress(Progress { done: total, total });
        drop(tmp);
        let name = reference_name(&path);
        let attachment = Attachment {
            reference: AttachmentRef {
                blob_id,
                key,
                digest: done.digest,
                size: done.plaintext_size,
                media_type: media_type(&name).to_string(),
                name,
            },
            relay,
        };
        let body = attachment.to_body()?;
        if group {
            self.send_to_group_with(to, &body, Some(ukey)).await
        } else {
            self.send_with(to, &body, Some(ukey)).await
        }
    }
}
