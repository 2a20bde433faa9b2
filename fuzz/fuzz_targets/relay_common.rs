#![allow(dead_code)]
//! A relay request dispatcher over a redb store in a temporary folder (in `/dev/shm` when it
//! exists, so commits cost no disk flush), with two mailboxes already authenticated.

use hush_relay::RelayConfig;
use hush_relay::dispatch::Dispatcher;
use hush_relay::storage::{RedbStorage, Storage};
use hush_relay::types::{Fingerprint, MailboxAddress};
use std::sync::Arc;
use std::time::Duration;

/// Mailboxes the simulated connection owns (seeds use them).
pub const OWNED: [MailboxAddress; 2] = [MailboxAddress([0xa1; 32]), MailboxAddress([0xb2; 32])];
/// Largest frame of the fuzzed relay.
pub const MAX_FRAME: usize = 64 * 1024;

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub dispatcher: Dispatcher,
    pub storage: Arc<RedbStorage>,
    _dir: tempfile::TempDir,
}

/// Small limits, so quotas and stock limits are reachable; no rate limit.
pub fn config() -> RelayConfig {
    RelayConfig {
        max_frame_bytes: MAX_FRAME,
        max_envelope_bytes: 8 * 1024,
        mailbox_max_envelopes: 32,
        mailbox_max_bytes: 64 * 1024,
        directory_max_stock: 16,
        low_stock_threshold: 4,
        rate_limit_per_sec: 1e12,
        rate_limit_burst: 1e12,
        ttl: Duration::from_secs(3600),
        ..RelayConfig::default()
    }
}

pub fn harness() -> &'static Harness {
    static H: std::sync::OnceLock<Harness> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .expect("temporary folder");
        let storage = Arc::new(RedbStorage::open(&dir.path().join("fuzz.redb")).expect("store"));
        let dispatcher = Dispatcher::new(
            config(),
            storage.clone() as Arc<dyn Storage>,
            [0x5e; 32],
            Fingerprint([0xf0; 32]),
        );
        for m in OWNED {
            assert!(dispatcher.authenticate(m));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        Harness {
            rt,
            dispatcher,
            storage,
            _dir: dir,
        }
    })
}

/// Splits fuzz input into request streams: each is one frame by its own length prefix
/// (truncated if the input ends first), at most `max` of them.
pub fn streams(mut data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !data.is_empty() && out.len() < max {
        let len = match data.get(..4) {
            Some(b) => u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize,
            None => data.len(),
        };
        let take = len.saturating_add(4).min(data.len());
        let (s, rest) = data.split_at(take);
        out.push(s);
        data = rest;
    }
    out
}
