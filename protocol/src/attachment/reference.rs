//! The attachment reference carried inside an end-to-end encrypted message
//! (`spec/proto/attachment.proto`, `spec/attachments.md` section 5).

use prost::Message;
use zeroize::Zeroize;

use super::chunk::MAX_PLAINTEXT_SIZE;
use super::error::AttachmentError;
use super::key::{ATTACHMENT_KEY_LEN, AttachmentKey};
use crate::proto::wire;

/// The version this implementation writes and reads.
pub const ATTACHMENT_REF_VERSION: u32 = 1;
/// Length of a relay blob id.
pub const BLOB_ID_LEN: usize = 32;
/// Length of the blob digest (SHA-256).
pub const DIGEST_LEN: usize = 32;
/// Longest file name, in UTF-8 bytes.
pub const MAX_NAME_LEN: usize = 255;
/// Longest media type, in bytes.
pub const MAX_MEDIA_TYPE_LEN: usize = 127;

/// Everything a recipient needs to fetch, check and decrypt one attachment. Its `Debug`
/// does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentRef {
    /// The relay's id of the blob (its read capability).
    pub blob_id: [u8; BLOB_ID_LEN],
    /// The file key.
    pub key: AttachmentKey,
    /// SHA-256 of the whole blob (chunks and padding).
    pub digest: [u8; DIGEST_LEN],
    /// Plaintext size in bytes.
    pub size: u64,
    /// The file name (no path separators).
    pub name: String,
    /// The media type, empty if unknown.
    pub media_type: String,
}

impl core::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("blob_id", &self.blob_id)
            .field("key", &self.key)
            .field("digest", &self.digest)
            .field("size", &self.size)
            .field("name", &self.name)
            .field("media_type", &self.media_type)
            .finish()
    }
}

fn check_name(name: &str) -> Result<(), AttachmentError> {
    if name.len() > MAX_NAME_LEN {
        return Err(AttachmentError::MalformedRef("name too long"));
    }
    if name.contains(['/', '\\', '\0']) {
        return Err(AttachmentError::MalformedRef(
            "name contains a path separator or NUL",
        ));
    }
    Ok(())
}

fn check_media_type(media_type: &str) -> Result<(), AttachmentError> {
    if media_type.len() > MAX_MEDIA_TYPE_LEN {
        return Err(AttachmentError::MalformedRef("media type too long"));
    }
    if !media_type.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AttachmentError::MalformedRef(
            "media type not printable ASCII",
        ));
    }
    Ok(())
}

impl AttachmentRef {
    /// Checks the fields a sender or a decoder must respect: size at most
    /// [`MAX_PLAINTEXT_SIZE`], name at most [`MAX_NAME_LEN`] bytes without `/`, `\` or NUL,
    /// media type at most [`MAX_MEDIA_TYPE_LEN`] bytes of printable ASCII.
    pub fn validate(&self) -> Result<(), AttachmentError> {
        if self.size > MAX_PLAINTEXT_SIZE {
            return Err(AttachmentError::TooLarge {
                max: MAX_PLAINTEXT_SIZE,
            });
        }
        check_name(&self.name)?;
        check_media_type(&self.media_type)
    }

    /// The protobuf encoding (`AttachmentReference`). Fails if [`Self::validate`] does.
    pub fn encode(&self) -> Result<Vec<u8>, AttachmentError> {
        self.validate()?;
        let mut msg = wire::AttachmentReference {
            version: ATTACHMENT_REF_VERSION,
            blob_id: self.blob_id.to_vec(),
            key: self.key.as_bytes().to_vec(),
            digest: self.digest.to_vec(),
            size: self.size,
            name: self.name.clone(),
            media_type: self.media_type.clone(),
        };
        let out = msg.encode_to_vec();
        msg.key.zeroize();
        Ok(out)
    }

    /// Decodes and checks a reference.
    pub fn decode(bytes: &[u8]) -> Result<Self, AttachmentError> {
        let mut msg = wire::AttachmentReference::decode(bytes)
            .map_err(|_| AttachmentError::MalformedRef("not an AttachmentReference"))?;
        let key: Result<[u8; ATTACHMENT_KEY_LEN], _> = msg.key.as_slice().try_into();
        msg.key.zeroize();
        let key = AttachmentKey::from_bytes(
            key.map_err(|_| AttachmentError::MalformedRef("key is not 32 bytes"))?,
        );
        if msg.version != ATTACHMENT_REF_VERSION {
            return Err(AttachmentError::UnsupportedVersion(msg.version));
        }
        let r = Self {
            blob_id: msg
                .blob_id
                .as_slice()
                .try_into()
                .map_err(|_| AttachmentError::MalformedRef("blob id is not 32 bytes"))?,
            key,
            digest: msg
                .digest
                .as_slice()
                .try_into()
                .map_err(|_| AttachmentError::MalformedRef("digest is not 32 bytes"))?,
            size: msg.size,
            name: msg.name,
            media_type: msg.media_type,
        };
        r.validate()?;
        Ok(r)
    }
}
