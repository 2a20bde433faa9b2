//! Safety numbers: a 60-digit number two people compare out of band to check that neither
//! conversation end talks to an impostor. Both sides compute the same number.

use sha2::{Digest, Sha512};

use crate::identity::IdentityPublicKey;

/// Context hashed into each half of a safety number.
pub const SAFETY_NUMBER_CONTEXT: &[u8] = b"Hush-v1-SafetyNumber";
/// SHA-512 iterations per half (as Signal's numeric fingerprints, to slow down search for
/// a colliding identity).
pub const SAFETY_NUMBER_ITERATIONS: u32 = 5200;

/// A safety number for a pair of identities. `Display` shows 12 groups of 5 digits.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SafetyNumber(String);

impl SafetyNumber {
    /// Computes the safety number of two identities; the order of the arguments does not matter.
    pub fn new(a: &IdentityPublicKey, b: &IdentityPublicKey) -> Self {
        let mut halves = [half(a), half(b)];
        halves.sort();
        SafetyNumber(halves.concat())
    }

    /// The 60 digits without spaces.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, group) in self.0.as_bytes().chunks(5).enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            // The string only ever holds ASCII digits.
            f.write_str(core::str::from_utf8(group).map_err(|_| core::fmt::Error)?)?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SafetyNumber({self})")
    }
}

/// 30 digits for one identity: h_0 = SHA-512(0x0001 ‖ context ‖ Encode(IK)),
/// h_i = SHA-512(h_{i-1} ‖ Encode(IK)); the first 30 bytes of the last hash, as six 5-byte
/// big-endian numbers, each mod 100000, zero-padded to 5 digits.
pub(crate) fn half(ik: &IdentityPublicKey) -> String {
    let key = ik.encode();
    let mut h = Sha512::new();
    h.update([0x00, 0x01]);
    h.update(SAFETY_NUMBER_CONTEXT);
    h.update(key);
    let mut digest = h.finalize();
    for _ in 1..SAFETY_NUMBER_ITERATIONS {
        let mut h = Sha512::new();
        h.update(digest);
        h.update(key);
        digest = h.finalize();
    }
    let mut out = String::with_capacity(30);
    for chunk in digest[..30].chunks(5) {
        let v = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        out.push_str(&format!("{:05}", v % 100_000));
    }
    out
}
