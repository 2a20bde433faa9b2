//! What the independent vector checks share: reading the files, hex, bare X25519 and the
//! `VectorRng` stream of test-vectors/README.md, written from the README alone.

#![allow(dead_code)] // each test file uses its own part

use std::path::PathBuf;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// A file of `test-vectors/`.
pub fn load(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The bytes of a hex string value.
pub fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}

/// X25519(private, public).
pub fn x25519(private: &[u8], public: &[u8]) -> Vec<u8> {
    let s = x25519_dalek::StaticSecret::from(<[u8; 32]>::try_from(private).unwrap());
    let p = x25519_dalek::PublicKey::from(<[u8; 32]>::try_from(public).unwrap());
    s.diffie_hellman(&p).as_bytes().to_vec()
}

/// `VectorRng` from test-vectors/README.md: SHA-256("Hush-v1-VectorRNG" ‖ seed ‖ counter).
pub struct Stream {
    seed: Vec<u8>,
    counter: u64,
    pending: Vec<u8>,
}

impl Stream {
    /// The stream of `seed`.
    pub fn new(seed: &[u8]) -> Self {
        Self {
            seed: seed.to_vec(),
            counter: 0,
            pending: Vec::new(),
        }
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Vec<u8> {
        while self.pending.len() < n {
            let mut h = Sha256::new();
            h.update(b"Hush-v1-VectorRNG");
            h.update(&self.seed);
            h.update(self.counter.to_be_bytes());
            self.pending.extend_from_slice(&h.finalize());
            self.counter += 1;
        }
        self.pending.drain(..n).collect()
    }
}
