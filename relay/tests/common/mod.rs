//! Helpers shared by the relay integration tests: in-process relays on 127.0.0.1:0.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
#[cfg(feature = "redb")]
use hush_relay::server::Relay;
use hush_relay::server::{RelayConfig, RelayHandle};
use hush_relay_client::{Client, MailboxAddress};
use std::path::Path;
use std::time::Duration;

/// A relay config for tests: ephemeral port, the given data folder, quick timeouts.
pub fn config(dir: &Path) -> RelayConfig {
    RelayConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        shutdown_grace: Duration::from_secs(5),
        ..RelayConfig::default()
    }
}

/// Starts a relay in `dir` (embedded store) with `tweak` applied to the test config.
#[cfg(feature = "redb")]
pub async fn start_in(dir: &Path, tweak: impl FnOnce(&mut RelayConfig)) -> RelayHandle {
    let mut c = config(dir);
    tweak(&mut c);
    Relay::start(c).await.expect("relay starts")
}

/// A deterministic mailbox key.
pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

/// Connects to a relay.
pub async fn connect(relay: &RelayHandle) -> Client {
    Client::connect(&relay.url())
        .await
        .expect("client connects")
}

/// Connects and authenticates the mailbox of `key`.
pub async fn login(relay: &RelayHandle, key: &SigningKey) -> (Client, MailboxAddress) {
    let c = connect(relay).await;
    let a = c.authenticate(key).await.expect("owner authenticates");
    (c, a)
}

/// A toy stream cipher for tests that need ciphertext (SHA-256 in counter mode, XOR).
/// It stands in for the protocol's AEAD: the relay must only ever see its output.
pub fn toy_encrypt(key: &[u8; 32], nonce: u64, plaintext: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut out = Vec::with_capacity(plaintext.len());
    for (i, chunk) in plaintext.chunks(32).enumerate() {
        let mut h = Sha256::new();
        h.update(key);
        h.update(nonce.to_be_bytes());
        h.update((i as u64).to_be_bytes());
        let ks = h.finalize();
        out.extend(chunk.iter().zip(ks.iter()).map(|(p, k)| p ^ k));
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Every regular file under `dir`, recursively, with its bytes.
pub fn read_tree(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}
