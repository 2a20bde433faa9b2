//! What a message body holds: the bytes an app sent (the CLI sends UTF-8 text), or an
//! attachment (`spec/attachments.md` section 10).
//!
//! An attachment body is [`ATTACHMENT_TAG`] followed by an `AttachmentBody` protobuf
//! (`{ 1: AttachmentReference bytes, 2: relay URL string }`). The tag starts with `0xFF`, a
//! byte that never occurs in UTF-8, so no text message is ever taken for an attachment.

use crate::event::EventKind;
use crate::records::AttachmentBody;
use hush_protocol::attachment::{AttachmentError, AttachmentRef};
use hush_relay_client::RelayUrl;
use prost::Message;
use zeroize::Zeroizing;

/// The first bytes of a message body that carries an attachment.
pub const ATTACHMENT_TAG: &[u8] = b"\xFFhush-attachment-1";

/// An attachment as a message carries it: the reference (blob id, key, digest, size, name,
/// media type) and the relay that holds the blob. As secret as the message: whoever holds it
/// can fetch and decrypt the file. Its `Debug` does not show the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The reference.
    pub reference: AttachmentRef,
    /// The relay that holds the blob (the sender's home relay).
    pub relay: RelayUrl,
}

impl Attachment {
    /// The message body that carries this attachment.
    pub fn to_body(&self) -> Result<Zeroizing<Vec<u8>>, AttachmentError> {
        let msg = AttachmentBody {
            reference: self.reference.encode()?,
            relay: self.relay.to_string(),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(ATTACHMENT_TAG.len() + msg.encoded_len()));
        out.extend_from_slice(ATTACHMENT_TAG);
        msg.encode(&mut *out)
            .map_err(|_| AttachmentError::MalformedRef("cannot encode"))?;
        Ok(out)
    }

    /// The file name as the sender gave it (not safe as a path: [`crate::Engine::save_attachment`]
    /// makes a safe one).
    pub fn name(&self) -> &str {
        &self.reference.name
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.reference.size
    }
}

/// What a message body holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content<'a> {
    /// The bytes the sender's app sent (text, for the CLI).
    Bytes(&'a [u8]),
    /// An attachment.
    Attachment(Box<Attachment>),
    /// A body tagged as an attachment that does not decode (the reason).
    Malformed(String),
}

impl<'a> Content<'a> {
    /// Reads a message body.
    pub fn of(body: &'a [u8]) -> Self {
        let Some(rest) = body.strip_prefix(ATTACHMENT_TAG) else {
            return Content::Bytes(body);
        };
        let msg = match AttachmentBody::decode(rest) {
            Ok(m) => m,
            Err(_) => return Content::Malformed("not an attachment body".into()),
        };
        let relay: RelayUrl = match msg.relay.parse() {
            Ok(r) => r,
            Err(_) => return Content::Malformed("invalid relay URL".into()),
        };
        match AttachmentRef::decode(&msg.reference) {
            Ok(reference) => Content::Attachment(Box::new(Attachment { reference, relay })),
            Err(e) => Content::Malformed(e.to_string()),
        }
    }
}

impl EventKind {
    /// The attachment a [`EventKind::Message`], [`EventKind::GroupMessage`] or
    /// [`EventKind::SentCopy`] carries, if its
    /// body is a well-formed attachment body.
    pub fn attachment(&self) -> Option<Attachment> {
        match self {
            EventKind::Message { body, .. }
            | EventKind::GroupMessage { body, .. }
            | EventKind::SentCopy { body, .. } => match Content::of(body) {
                Content::Attachment(a) => Some(*a),
                _ => None,
            },
            _ => None,
        }
    }
}
