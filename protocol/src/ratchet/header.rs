//! The Double Ratchet message header.

use crate::{Error, Result};

/// Length of an encoded header: ratchet public key (32) ‖ PN (4, big-endian) ‖ N (4, big-endian).
pub const HEADER_LEN: usize = 40;

/// `HEADER(dh_pair, pn, n)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// The sender's current ratchet public key.
    pub(crate) dh: [u8; 32],
    /// Number of messages in the sender's previous sending chain.
    pub(crate) pn: u32,
    /// Message number in the current sending chain.
    pub(crate) n: u32,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..32].copy_from_slice(&self.dh);
        out[32..36].copy_from_slice(&self.pn.to_be_bytes());
        out[36..].copy_from_slice(&self.n.to_be_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; HEADER_LEN] = bytes.try_into().map_err(|_| Error::Malformed("header"))?;
        let mut dh = [0u8; 32];
        dh.copy_from_slice(&bytes[..32]);
        let pn = u32::from_be_bytes([bytes[32], bytes[33], bytes[34], bytes[35]]);
        let n = u32::from_be_bytes([bytes[36], bytes[37], bytes[38], bytes[39]]);
        Ok(Self { dh, pn, n })
    }
}
