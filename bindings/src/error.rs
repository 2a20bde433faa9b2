//! The one error type every binding method throws: each variant becomes an exception class in
//! the foreign language (in Python, `HushError.UnknownContact` and so on, all subclasses of
//! `HushError`), carrying the engine's one-line message.

use hush_client::store::StoreError;

/// Why a call failed. Each variant carries the engine's message, in English.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum HushError {
    /// The passphrase does not open this store.
    #[error("{0}")]
    WrongPassphrase(String),
    /// The store failed: damaged, written by a newer version, not a Hush store, or the disk
    /// or database failed.
    #[error("{0}")]
    Store(String),
    /// The store holds no account yet.
    #[error("{0}")]
    NoAccount(String),
    /// The store (or the file) holds an account already.
    #[error("{0}")]
    AccountExists(String),
    /// A contact card, display name, alias or relay address that is not valid.
    #[error("{0}")]
    InvalidInput(String),
    /// No contact by that alias.
    #[error("{0}")]
    UnknownContact(String),
    /// The alias or the identity is a contact already, or the card is this account's own.
    #[error("{0}")]
    ContactExists(String),
    /// The relay refused a request or could not be reached.
    #[error("{0}")]
    Relay(String),
    /// The contact's keys are not on their relay, or do not check out against their card
    /// (missing, stale card, another identity, a refused downgrade).
    #[error("{0}")]
    ContactKeys(String),
    /// The end-to-end protocol or the group layer refused an operation, or a message did not
    /// open.
    #[error("{0}")]
    Protocol(String),
    /// No group by that name.
    #[error("{0}")]
    UnknownGroup(String),
    /// A group by that name exists already.
    #[error("{0}")]
    GroupExists(String),
    /// This account is not (or no longer) a member of the group, or must be re-added.
    #[error("{0}")]
    NotInGroup(String),
    /// The contact is in the group already, or is not in it.
    #[error("{0}")]
    Membership(String),
    /// The group or the account's state kept changing under us: try again.
    #[error("{0}")]
    Busy(String),
    /// An attachment was refused (altered, truncated, too large), a file could not be read
    /// or written, or an interrupted upload cannot resume.
    #[error("{0}")]
    File(String),
    /// No pending event by that id, or the event carries no attachment.
    #[error("{0}")]
    UnknownEvent(String),
}

impl From<hush_client::Error> for HushError {
    fn from(e: hush_client::Error) -> Self {
        use hush_client::Error as E;
        let m = e.to_string();
        match e {
            E::Store(StoreError::WrongKey) => Self::WrongPassphrase(m),
            E::Store(_) | E::Corrupt(_) => Self::Store(m),
            E::NoAccount => Self::NoAccount(m),
            E::AccountExists => Self::AccountExists(m),
            E::Card(_) | E::Invalid { .. } | E::Link(_) => Self::InvalidInput(m),
            E::UnknownContact(_) => Self::UnknownContact(m),
            E::AliasTaken(_) | E::AlreadyContact(_) | E::OwnCard => Self::ContactExists(m),
            E::Relay(_) | E::SubscriptionEnded => Self::Relay(m),
            E::NotPublished { .. }
            | E::StaleCard(_)
            | E::BadDirectoryEntry { .. }
            | E::PqxdhDowngrade(_)
            | E::IdentityMismatch(_) => Self::ContactKeys(m),
            E::SenderMismatch | E::NoSession | E::Protocol(_) | E::Group(_) => Self::Protocol(m),
            E::UnknownGroup(_) => Self::UnknownGroup(m),
            E::GroupNameTaken(_) => Self::GroupExists(m),
            E::NotInGroup(_) | E::NeedsReAdd(_) => Self::NotInGroup(m),
            E::AlreadyMember { .. } | E::NotMember { .. } => Self::Membership(m),
            E::GroupBusy(_) | E::GenerationRace => Self::Busy(m),
            E::Attachment(_) | E::File { .. } | E::FileChanged(_) | E::UploadLost(_) => {
                Self::File(m)
            }
        }
    }
}

impl From<StoreError> for HushError {
    fn from(e: StoreError) -> Self {
        hush_client::Error::Store(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_key_is_its_own_variant_with_the_engines_message() {
        let e = HushError::from(StoreError::WrongKey);
        assert!(matches!(e, HushError::WrongPassphrase(_)));
        assert_eq!(e.to_string(), "wrong passphrase or key for this store");
    }

    #[test]
    fn unknown_contact_keeps_the_alias_in_its_message() {
        let e = HushError::from(hush_client::Error::UnknownContact("zed".into()));
        assert!(matches!(e, HushError::UnknownContact(_)));
        assert_eq!(e.to_string(), "unknown contact 'zed'");
    }
}
