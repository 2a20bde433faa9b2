//! What the full-disk tests share (`disk_full.rs`, `pg_disk_full.rs`): numbered 60 KB
//! envelopes of pseudo-random bytes (nothing a store could compress), filling a mailbox
//! until the store refuses, sending until it takes writes again, and reading the mailbox back
//! to check that every acknowledged envelope is there once.
#![allow(dead_code)]

use crate::common::toy_encrypt;
use hush_relay::proto::ErrorCode;
use hush_relay_client::{Client, ClientError, EnvelopeId, MailboxAddress};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Bytes per envelope.
pub const PAYLOAD: usize = 60_000;
/// More sends than a 16 MiB file system less its ballast can hold, at 60 KB each.
pub const MAX_SENDS: u64 = 400;

/// Envelope `n`'s bytes.
pub fn payload(n: u64) -> Vec<u8> {
    toy_encrypt(&[7; 32], n, &[0u8; PAYLOAD])
}

/// Envelope `n`'s id.
pub fn id(n: u64) -> EnvelopeId {
    EnvelopeId::new(n.to_be_bytes().to_vec()).unwrap()
}

/// The sends of a test: which were acknowledged, which refused, and the next number.
#[derive(Default)]
pub struct Sends {
    pub acked: BTreeSet<u64>,
    pub refused: BTreeSet<u64>,
    pub next: u64,
}

impl Sends {
    /// Sends envelope after envelope until one is refused; returns that refusal (its number
    /// is in `refused`). Fails the test if [`MAX_SENDS`] all fit.
    pub async fn fill(&mut self, sender: &Client, addr: &MailboxAddress) -> ClientError {
        loop {
            assert!(
                self.next < MAX_SENDS,
                "{MAX_SENDS} sends of {PAYLOAD} bytes all fitted"
            );
            let n = self.next;
            self.next += 1;
            match sender.send(addr, &id(n), payload(n)).await {
                Ok(_) => {
                    self.acked.insert(n);
                }
                Err(e) => {
                    self.refused.insert(n);
                    return e;
                }
            }
        }
    }

    /// Sends one more: `Ok` if acknowledged, else the refusal, which must carry `code`.
    pub async fn one(
        &mut self,
        sender: &Client,
        addr: &MailboxAddress,
        code: ErrorCode,
    ) -> Result<(), ClientError> {
        let n = self.next;
        self.next += 1;
        match sender.send(addr, &id(n), payload(n)).await {
            Ok(_) => {
                self.acked.insert(n);
                Ok(())
            }
            Err(e) => {
                assert_eq!(e.relay_code(), Some(code), "{e}");
                self.refused.insert(n);
                Err(e)
            }
        }
    }

    /// Sends until one is acknowledged (refusals must carry `code`), for at most 30 s.
    pub async fn until_stored(&mut self, sender: &Client, addr: &MailboxAddress, code: ErrorCode) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if self.one(sender, addr, code).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("writes still refused 30 s after space was freed");
    }

    /// Sends every refused envelope again: each must be stored now.
    pub async fn retry_refused(&mut self, sender: &Client, addr: &MailboxAddress) {
        for &r in &self.refused {
            sender
                .send(addr, &id(r), payload(r))
                .await
                .expect("retry stored");
            self.acked.insert(r);
        }
    }
}

/// Every envelope of the mailbox: id number → how often it is there, with its bytes checked.
pub async fn all_envelopes(owner: &Client, addr: &MailboxAddress) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    let mut cursor = 0;
    for _ in 0..1000 {
        let page = owner.fetch(addr, cursor, 50).await.expect("fetch works");
        if page.envelopes.is_empty() {
            return seen;
        }
        for e in &page.envelopes {
            let n = u64::from_be_bytes(e.envelope_id.as_bytes().try_into().unwrap());
            assert_eq!(e.ciphertext, payload(n), "envelope {n} has other bytes");
            *seen.entry(n).or_insert(0) += 1;
        }
        cursor = page.next_cursor;
    }
    panic!("mailbox never ended");
}

/// Checks that the mailbox holds each of `acked` exactly once and nothing else.
pub async fn holds_exactly(owner: &Client, addr: &MailboxAddress, acked: &BTreeSet<u64>) {
    let seen = all_envelopes(owner, addr).await;
    assert!(seen.values().all(|&c| c == 1), "duplicates: {seen:?}");
    assert_eq!(&seen.keys().copied().collect::<BTreeSet<_>>(), acked);
}
