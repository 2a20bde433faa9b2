//! The benchmark envelope: what a sender puts in the ciphertext so the receiver can check it.
//!
//! Layout (`--size` bytes in all, the on-wire envelope ciphertext size):
//! `magic (8) | run nonce (8) | message number (8) | send time, ns since the tool started (8) |
//! mailbox index (4) | length (4) | filler | tag (32)`. The tag is SHA-256 over a per-run secret
//! and every byte before it, so any change to a stored envelope is seen as corruption. Without
//! `--verify` the tag is left zero and not checked (the relay cannot tell the difference).

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"HUSHBNCH";
const HEADER: usize = 40;
const TAG: usize = 32;
/// The smallest envelope the tool can send.
pub(crate) const MIN_SIZE: usize = HEADER + TAG;

/// A decoded benchmark envelope.
pub(crate) struct Decoded {
    /// Message number.
    pub n: u64,
    /// Mailbox index it was sent to.
    pub mailbox: u32,
    /// When it was (scheduled to be) sent, ns since the tool started.
    pub sent_ns: u64,
}

/// Encodes and checks benchmark envelopes of one run.
pub(crate) struct Codec {
    nonce: u64,
    key: [u8; 32],
    size: usize,
    verify: bool,
}

impl Codec {
    pub(crate) fn new(size: usize, verify: bool) -> Result<Codec, getrandom::Error> {
        let mut seed = [0u8; 40];
        getrandom::fill(&mut seed)?;
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&seed[..8]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&seed[8..]);
        Ok(Codec {
            nonce: u64::from_be_bytes(nonce),
            key,
            size,
            verify,
        })
    }

    /// The run nonce (also seeds the mailbox keys).
    pub(crate) fn nonce(&self) -> u64 {
        self.nonce
    }

    /// The envelope id of message `n`: run nonce and message number, 16 bytes.
    pub(crate) fn envelope_id(&self, n: u64) -> Vec<u8> {
        let mut id = Vec::with_capacity(16);
        id.extend_from_slice(&self.nonce.to_be_bytes());
        id.extend_from_slice(&n.to_be_bytes());
        id
    }

    fn tag(&self, body: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(body);
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize());
        out
    }

    /// The bytes of message `n` for mailbox `mailbox`, sent at `sent_ns`.
    pub(crate) fn encode(&self, n: u64, mailbox: u32, sent_ns: u64) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.size);
        v.extend_from_slice(MAGIC);
        v.extend_from_slice(&self.nonce.to_be_bytes());
        v.extend_from_slice(&n.to_be_bytes());
        v.extend_from_slice(&sent_ns.to_be_bytes());
        v.extend_from_slice(&mailbox.to_be_bytes());
        v.extend_from_slice(&(self.size as u32).to_be_bytes());
        let fill = (n as u8).wrapping_mul(167) ^ 0x5a;
        v.extend((HEADER..self.size - TAG).map(|i| fill.wrapping_add(i as u8)));
        let tag = if self.verify { self.tag(&v) } else { [0u8; 32] };
        v.extend_from_slice(&tag);
        v
    }

    /// Parses and (with `--verify`) authenticates an envelope; `None` means corrupted.
    pub(crate) fn decode(&self, b: &[u8]) -> Option<Decoded> {
        if b.len() != self.size || &b[..8] != MAGIC {
            return None;
        }
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(a)
        };
        let u32_at = |i: usize| {
            let mut a = [0u8; 4];
            a.copy_from_slice(&b[i..i + 4]);
            u32::from_be_bytes(a)
        };
        if u64_at(8) != self.nonce || u32_at(36) as usize != self.size {
            return None;
        }
        let body = self.size - TAG;
        if self.verify && self.tag(&b[..body])[..] != b[body..] {
            return None;
        }
        Some(Decoded {
            n: u64_at(16),
            sent_ns: u64_at(24),
            mailbox: u32_at(32),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = Codec::new(256, true).unwrap();
        let mut e = c.encode(7, 3, 99);
        assert_eq!(e.len(), 256);
        let d = c.decode(&e).unwrap();
        assert_eq!((d.n, d.mailbox, d.sent_ns), (7, 3, 99));
        e[100] ^= 1;
        assert!(c.decode(&e).is_none());
        let other = Codec::new(256, true).unwrap();
        assert!(other.decode(&c.encode(1, 0, 0)).is_none());
    }
}
