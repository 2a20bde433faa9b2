//! The storage provider's error: openmls wraps it in its own errors, the group layer reports
//! it as [`GroupError::Storage`](super::super::GroupError::Storage) or as the failed operation.

/// Why a read or write of the client's store failed. None of these panics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StorageError {
    /// A thread panicked while it held the store's lock; the store refuses further use
    /// (its contents are still wiped when the client drops).
    #[error("group storage lock poisoned")]
    Poisoned,
    /// A value could not be serialized.
    #[error("group storage value could not be encoded")]
    Encode,
    /// A stored value (or list) could not be deserialized into the type openmls asked for.
    #[error("group storage value could not be decoded")]
    Decode,
    /// The proposal queue names a proposal that is not stored.
    #[error("group storage proposal queue names a missing proposal")]
    MissingProposal,
    /// An undo scope was opened while another one was open.
    #[error("group storage undo scope already open")]
    UndoOpen,
}

impl From<StorageError> for super::super::error::GroupError {
    fn from(_: StorageError) -> Self {
        Self::Storage
    }
}
