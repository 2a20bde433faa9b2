//! The store of skipped message keys (out-of-order and lost messages).

use std::collections::VecDeque;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::message_key::MessageKey;

/// Identifies a receiving chain: the sender's ratchet public key with plain headers, the
/// header key with encrypted headers.
///
/// Header keys are secret, so chain ids compare in constant time.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct ChainId(pub(crate) [u8; 32]);

impl ChainId {
    pub(crate) fn is(&self, other: &[u8; 32]) -> bool {
        bool::from(self.0.ct_eq(other))
    }
}

impl PartialEq for ChainId {
    fn eq(&self, other: &Self) -> bool {
        self.is(&other.0)
    }
}

impl Eq for ChainId {}

/// One skipped message key.
pub(crate) struct SkippedKey {
    pub(crate) chain: ChainId,
    pub(crate) n: u32,
    pub(crate) key: MessageKey,
}

/// Skipped message keys, oldest first, bounded in total: inserting past the bound evicts
/// the oldest keys. Keys are removed as soon as they are used.
#[derive(Default)]
pub(crate) struct SkippedKeys {
    keys: VecDeque<SkippedKey>,
}

impl SkippedKeys {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &SkippedKey> {
        self.keys.iter()
    }

    fn position(&self, chain: &[u8; 32], n: u32) -> Option<usize> {
        self.keys.iter().position(|k| k.n == n && k.chain.is(chain))
    }

    pub(crate) fn get(&self, chain: &[u8; 32], n: u32) -> Option<&MessageKey> {
        self.position(chain, n).map(|i| &self.keys[i].key)
    }

    pub(crate) fn remove(&mut self, chain: &[u8; 32], n: u32) {
        if let Some(i) = self.position(chain, n) {
            self.keys.remove(i);
        }
    }

    /// The distinct chains that have skipped keys, oldest first.
    pub(crate) fn chains(&self) -> Vec<&ChainId> {
        let mut out: Vec<&ChainId> = Vec::new();
        for k in &self.keys {
            if !out.iter().any(|c| **c == k.chain) {
                out.push(&k.chain);
            }
        }
        out
    }

    /// Appends keys (in order), then evicts the oldest until at most `max_total` remain.
    pub(crate) fn extend(&mut self, staged: Vec<SkippedKey>, max_total: usize) {
        self.keys.extend(staged);
        while self.keys.len() > max_total {
            self.keys.pop_front();
        }
    }
}
