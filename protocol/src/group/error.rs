//! The typed errors of the group layer.

/// Everything that can go wrong in the group layer.
///
/// Unless a variant says otherwise, an error leaves the [`GroupClient`](super::GroupClient)
/// and its groups unchanged: a rejected message does not advance an epoch or a ratchet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// Bytes could not be decoded as the named structure (TLS or protobuf).
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A persisted blob carried a version this implementation does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// Which structure.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// The ciphersuite is not one the group layer offers (0x0001 and 0x0003 only).
    #[error("unsupported ciphersuite 0x{0:04x}")]
    UnsupportedCiphersuite(u16),
    /// A message of the wrong kind was given (for example a Welcome to `process`).
    #[error("unexpected message: expected {expected}")]
    UnexpectedMessage {
        /// What the call expected.
        expected: &'static str,
    },
    /// No group with this id is held by the client.
    #[error("unknown group")]
    UnknownGroup,
    /// A group with this id already exists in the client.
    #[error("group already exists")]
    GroupExists,
    /// The message belongs to another group.
    #[error("message for a different group")]
    WrongGroup,
    /// The message is for an epoch this member has already left behind and no longer holds
    /// secrets for.
    #[error("message for past epoch {message_epoch} (group is at epoch {group_epoch})")]
    StaleEpoch {
        /// Epoch named by the message.
        message_epoch: u64,
        /// Current epoch of the group.
        group_epoch: u64,
    },
    /// The buffer of messages for future epochs is full; the message was not kept.
    #[error("future-epoch buffer full ({capacity} messages)")]
    FutureBufferFull {
        /// The configured capacity.
        capacity: usize,
    },
    /// A member's credential is not a Hush identity, or does not match its signature key.
    #[error("invalid member credential: {0}")]
    InvalidCredential(&'static str),
    /// A KeyPackage failed validation (signature, version, ciphersuite, lifetime).
    #[error("invalid KeyPackage")]
    InvalidKeyPackage,
    /// No KeyPackage private keys are held for this Welcome (already used, or never ours).
    #[error("no matching KeyPackage for this Welcome")]
    NoMatchingKeyPackage,
    /// The Welcome could not be processed (decryption, signature, tree or PSK failure).
    #[error("invalid Welcome: {0}")]
    InvalidWelcome(String),
    /// The handshake or application message failed validation (signature, membership tag,
    /// decryption, replay, or a semantic check of the commit).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The member has a commit waiting for the relay's verdict; resolve it first
    /// ([`GroupClient::process`](super::GroupClient::process) of the winning commit, or
    /// [`GroupClient::resolve_conflict`](super::GroupClient::resolve_conflict)).
    #[error("a commit of ours is pending")]
    PendingCommit,
    /// There is no pending commit to confirm or discard.
    #[error("no pending commit")]
    NoPendingCommit,
    /// Proposals are pending: commit them first ([`GroupClient::commit_pending_proposals`](super::GroupClient::commit_pending_proposals)).
    #[error("proposals are pending; commit them before sending")]
    PendingProposals,
    /// The member is no longer in the group (it was removed or left).
    #[error("not a member of the group any more")]
    NotAMember,
    /// The named member is not in the group.
    #[error("no such member")]
    NoSuchMember,
    /// The call was given nothing to do (for example no KeyPackages to add).
    #[error("empty input: {0}")]
    EmptyInput(&'static str),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// An operation of the MLS library failed for a reason that is not the input's fault.
    #[error("MLS operation failed: {0}")]
    Mls(String),
    /// The storage provider failed.
    #[error("group storage failure")]
    Storage,
}

/// Result with the group layer's [`GroupError`].
pub type GroupResult<T, E = GroupError> = core::result::Result<T, E>;

/// Maps an openmls error that came from processing untrusted input.
pub(crate) fn invalid_message(e: impl core::fmt::Display) -> GroupError {
    GroupError::InvalidMessage(e.to_string())
}

/// Maps an openmls error from a local operation.
pub(crate) fn mls(e: impl core::fmt::Display) -> GroupError {
    GroupError::Mls(e.to_string())
}
