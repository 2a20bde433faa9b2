//! Options of a [`GroupClient`](super::GroupClient) and the ciphersuites it offers.

use openmls::prelude::Ciphersuite;

use super::error::{GroupError, GroupResult};

/// Default capacity of the per-group buffer of messages for future epochs.
pub const DEFAULT_FUTURE_BUFFER_CAPACITY: usize = 256;
/// Default padding: application messages are padded to a multiple of this many bytes.
pub const DEFAULT_PADDING_SIZE: usize = 64;
/// Default number of past epochs whose application secrets are kept, so that messages sent
/// just before a commit still decrypt after it.
pub const DEFAULT_MAX_PAST_EPOCHS: usize = 2;

/// The MLS ciphersuites the group layer offers. Both sign with Ed25519, the algorithm of the
/// Hush identity key that member credentials bind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum GroupCiphersuite {
    /// `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (0x0001), mandatory to implement in RFC 9420.
    X25519Aes128GcmSha256Ed25519,
    /// `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519` (0x0003), Hush's default.
    #[default]
    X25519ChaCha20Poly1305Sha256Ed25519,
}

impl GroupCiphersuite {
    /// The RFC 9420 code point.
    pub fn code(self) -> u16 {
        match self {
            Self::X25519Aes128GcmSha256Ed25519 => 0x0001,
            Self::X25519ChaCha20Poly1305Sha256Ed25519 => 0x0003,
        }
    }

    /// The suite with RFC 9420 code point `code`, if the group layer offers it.
    pub fn from_code(code: u16) -> GroupResult<Self> {
        match code {
            0x0001 => Ok(Self::X25519Aes128GcmSha256Ed25519),
            0x0003 => Ok(Self::X25519ChaCha20Poly1305Sha256Ed25519),
            other => Err(GroupError::UnsupportedCiphersuite(other)),
        }
    }

    pub(crate) fn mls(self) -> Ciphersuite {
        match self {
            Self::X25519Aes128GcmSha256Ed25519 => {
                Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
            }
            Self::X25519ChaCha20Poly1305Sha256Ed25519 => {
                Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519
            }
        }
    }
}

/// Options of a group client; they apply to every group it creates or joins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupConfig {
    /// Ciphersuite of the KeyPackages it publishes and the groups it creates.
    pub ciphersuite: GroupCiphersuite,
    /// Application and handshake messages are padded to a multiple of this many bytes
    /// (openmls' `padding_size`; 0 disables padding).
    pub padding_size: usize,
    /// Past epochs whose decryption secrets are kept (openmls' `max_past_epochs`).
    pub max_past_epochs: usize,
    /// Most messages for future epochs buffered per group; one more is
    /// [`GroupError::FutureBufferFull`].
    pub future_buffer_capacity: usize,
}

impl Default for GroupConfig {
    fn default() -> Self {
        Self {
            ciphersuite: GroupCiphersuite::default(),
            padding_size: DEFAULT_PADDING_SIZE,
            max_past_epochs: DEFAULT_MAX_PAST_EPOCHS,
            future_buffer_capacity: DEFAULT_FUTURE_BUFFER_CAPACITY,
        }
    }
}

impl GroupConfig {
    pub(crate) fn check(&self) -> GroupResult<()> {
        if self.padding_size > u16::MAX as usize {
            return Err(GroupError::InvalidConfig(
                "padding_size must be at most 65535",
            ));
        }
        if self.max_past_epochs > 1024 {
            return Err(GroupError::InvalidConfig(
                "max_past_epochs must be at most 1024",
            ));
        }
        if self.future_buffer_capacity > 1 << 20 {
            return Err(GroupError::InvalidConfig(
                "future_buffer_capacity must be at most 2^20",
            ));
        }
        Ok(())
    }
}
