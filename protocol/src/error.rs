//! The typed errors of the protocol crate.

/// Everything that can go wrong in the protocol crate.
///
/// Every error leaves the object it was returned from unchanged: a failed decrypt does not
/// advance a session, a rejected initial message does not consume a prekey.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes could not be decoded as the named structure.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A structure carried a version this implementation does not know.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// Which structure.
        what: &'static str,
        /// The version found.
        version: u32,
    },
    /// A public key had the wrong length or was not a valid point.
    #[error("invalid {0} key")]
    InvalidKey(&'static str),
    /// A signature did not verify.
    #[error("bad signature on {0}")]
    BadSignature(&'static str),
    /// A Diffie-Hellman output was all zeros (the peer sent a low-order point).
    #[error("non-contributory Diffie-Hellman output (low-order public key)")]
    WeakKey,
    /// The initial message names a signed prekey this store does not hold.
    #[error("unknown signed prekey {0}")]
    UnknownSignedPreKey(u32),
    /// The initial message names a one-time prekey this store does not hold (already used, or never issued).
    #[error("unknown or already used one-time prekey {0}")]
    UnknownOneTimePreKey(u32),
    /// The PQXDH initial message names a KEM prekey this store does not hold (a one-time KEM
    /// prekey already used, a last-resort one rotated out, or never issued).
    #[error("unknown or already used KEM prekey {0}")]
    UnknownKemPreKey(u32),
    /// A signed prekey signed as offering PQXDH came without a KEM prekey (a bundle stripped
    /// of it), or an X3DH initial message was made with such a signed prekey
    /// (`spec/pqxdh.md`, section 6).
    #[error("PQXDH downgrade: the signed prekey offers PQXDH but no KEM prekey was used")]
    PqxdhDowngrade,
    /// The initial message was already accepted once: opening a second session from it is refused.
    #[error("replayed initial message")]
    ReplayedInitialMessage,
    /// An initial message for another session was given to this session.
    #[error("message belongs to a different session")]
    SessionMismatch,
    /// The session cannot send yet (a responder sends only after it has received).
    #[error("session has no sending chain yet")]
    NoSendingChain,
    /// Authenticated decryption failed: the ciphertext, header or associated data was altered.
    #[error("message authentication failed")]
    DecryptionFailed,
    /// No header key of the session opens this header.
    #[error("header authentication failed")]
    HeaderDecryptionFailed,
    /// The message was already decrypted once, or its key was evicted.
    #[error("duplicate or expired message (message key no longer held)")]
    DuplicateMessage,
    /// Decrypting would skip more message keys than the configured bound.
    #[error("message too far ahead: {skip} skipped keys needed, at most {max_skip} allowed")]
    TooFarAhead {
        /// How many keys would have been skipped.
        skip: u64,
        /// The configured `max_skip`.
        max_skip: u32,
    },
    /// A counter would overflow (more than 2^32 - 1 messages in one chain).
    #[error("message counter overflow")]
    CounterOverflow,
    /// A device list breaks a rule of `spec/multi-device.md` section 2 (the rule is named).
    #[error("invalid device list: {0}")]
    InvalidDeviceList(&'static str),
    /// A device list was signed by another person than the one expected.
    #[error("device list of another person")]
    DeviceListPerson,
    /// A device list older than the one held (a lower counter) was offered: refused, so a
    /// relay or a contact cannot bring back a revoked device.
    #[error("device list rollback: counter {got} offered, {have} held")]
    DeviceListRollback {
        /// The counter of the list held.
        have: u64,
        /// The counter of the list offered.
        got: u64,
    },
    /// Two different device lists carry the same counter: the held one is kept.
    #[error("two different device lists with counter {0}")]
    DeviceListEquivocation(u64),
    /// A newer device list gives a device id that was in use to another identity, or brings
    /// back a removed one.
    #[error("device list reuses device id {0}")]
    DeviceIdReused(u32),
    /// A link request or approval breaks a rule of `spec/multi-device.md` section 3 (named).
    #[error("invalid link: {0}")]
    InvalidLink(&'static str),
    /// A link request past its expiry time.
    #[error("link request expired")]
    LinkExpired,
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
