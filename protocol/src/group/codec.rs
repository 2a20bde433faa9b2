//! The MLS wire codec: TLS-encoded `MLSMessage`s (RFC 9420, section 6), as the relay and the
//! group layer exchange them, and what a relay may read from their cleartext header.

use openmls::prelude::{
    ContentType, MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, ProtocolMessage, RatchetTreeIn,
    tls_codec::{Deserialize as _, Serialize as _},
};

use super::error::{GroupError, GroupResult};

/// The five kinds of `MLSMessage` (RFC 9420 `WireFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireKind {
    /// `mls_public_message` (signed, not encrypted; Hush sends none, but accepts them).
    PublicMessage,
    /// `mls_private_message` (encrypted handshake or application message).
    PrivateMessage,
    /// `mls_welcome`.
    Welcome,
    /// `mls_group_info`.
    GroupInfo,
    /// `mls_key_package`.
    KeyPackage,
}

/// What an `MLSMessage` is, as far as anyone without group secrets can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ContentKind {
    /// An application message.
    Application,
    /// A standalone proposal.
    Proposal,
    /// A commit: the relay's group log accepts one per epoch.
    Commit,
}

/// The cleartext header of a group message: enough for the relay to file it in a group log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMessageInfo {
    /// The wire format.
    pub kind: WireKind,
    /// Group id (public and private messages only).
    pub group_id: Option<Vec<u8>>,
    /// Epoch the message was sent in (public and private messages only).
    pub epoch: Option<u64>,
    /// Content type (public and private messages only).
    pub content: Option<ContentKind>,
}

/// A decoded `MLSMessage`. Decoding checks only the syntax; the group layer checks the rest.
#[derive(Clone, Debug, PartialEq)]
pub struct MlsWireMessage {
    inner: MlsMessageIn,
}

impl MlsWireMessage {
    /// Decodes a TLS-encoded `MLSMessage`; trailing bytes are an error.
    pub fn from_bytes(bytes: &[u8]) -> GroupResult<Self> {
        let mut slice = bytes;
        let inner = MlsMessageIn::tls_deserialize(&mut slice)
            .map_err(|_| GroupError::Malformed("MLSMessage"))?;
        if !slice.is_empty() {
            return Err(GroupError::Malformed("MLSMessage (trailing bytes)"));
        }
        Ok(Self { inner })
    }

    /// Encodes the message again (the same bytes it was decoded from).
    pub fn to_bytes(&self) -> GroupResult<Vec<u8>> {
        self.inner
            .tls_serialize_detached()
            .map_err(|_| GroupError::Malformed("MLSMessage"))
    }

    /// The cleartext header.
    pub fn info(&self) -> GroupMessageInfo {
        let (kind, protocol) = match self.inner.clone().extract() {
            MlsMessageBodyIn::PublicMessage(m) => {
                (WireKind::PublicMessage, Some(ProtocolMessage::from(m)))
            }
            MlsMessageBodyIn::PrivateMessage(m) => {
                (WireKind::PrivateMessage, Some(ProtocolMessage::from(m)))
            }
            MlsMessageBodyIn::Welcome(_) => (WireKind::Welcome, None),
            MlsMessageBodyIn::GroupInfo(_) => (WireKind::GroupInfo, None),
            MlsMessageBodyIn::KeyPackage(_) => (WireKind::KeyPackage, None),
        };
        GroupMessageInfo {
            kind,
            group_id: protocol.as_ref().map(|p| p.group_id().as_slice().to_vec()),
            epoch: protocol.as_ref().map(|p| p.epoch().as_u64()),
            content: protocol.as_ref().map(|p| match p.content_type() {
                ContentType::Application => ContentKind::Application,
                ContentType::Proposal => ContentKind::Proposal,
                ContentType::Commit => ContentKind::Commit,
            }),
        }
    }

    pub(crate) fn into_inner(self) -> MlsMessageIn {
        self.inner
    }
}

/// Reads the cleartext header of a TLS-encoded `MLSMessage` (what the relay does).
pub fn inspect(bytes: &[u8]) -> GroupResult<GroupMessageInfo> {
    Ok(MlsWireMessage::from_bytes(bytes)?.info())
}

/// Encodes an outgoing message.
pub(crate) fn encode_out(msg: &MlsMessageOut) -> GroupResult<Vec<u8>> {
    msg.tls_serialize_detached()
        .map_err(|e| GroupError::Mls(format!("encoding MLSMessage: {e}")))
}

/// A decoded ratchet tree (RFC 9420, section 12.4.3.3), as [`GroupClient::join`](super::GroupClient::join)
/// accepts one out of band.
#[derive(Clone, Debug, PartialEq)]
pub struct MlsRatchetTree {
    inner: RatchetTreeIn,
}

impl MlsRatchetTree {
    /// Decodes a TLS-encoded ratchet tree; trailing bytes are an error. Only the syntax is
    /// checked here; joining checks hashes and signatures.
    pub fn from_bytes(bytes: &[u8]) -> GroupResult<Self> {
        let inner = RatchetTreeIn::tls_deserialize_exact(bytes)
            .map_err(|_| GroupError::Malformed("ratchet tree"))?;
        Ok(Self { inner })
    }

    /// Encodes the tree again.
    pub fn to_bytes(&self) -> GroupResult<Vec<u8>> {
        self.inner
            .tls_serialize_detached()
            .map_err(|_| GroupError::Malformed("ratchet tree"))
    }
}
