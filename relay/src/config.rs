//! The relay's configuration as the library takes it (the binary reads it from TOML and flags).

use crate::clock::Clock;
use crate::tls::CertSource;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything an operator can tune. [`Default`] gives the documented defaults.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// UDP address to listen on (default `127.0.0.1:4433`).
    pub listen: SocketAddr,
    /// Data folder: database, certificate, keys (default `./hush-data`).
    pub data_dir: PathBuf,
    /// Where the TLS certificate comes from.
    pub cert: CertSource,
    /// How long an unread envelope (and a group log entry) is kept (default 30 days).
    pub ttl: Duration,
    /// How long an envelope id and its receipts are remembered after its TTL (default 7 days).
    pub receipt_retention: Duration,
    /// How often the expiry sweep runs (default 60 s).
    pub sweep_interval: Duration,
    /// Largest frame in bytes (default 1 MiB + 64 KiB).
    pub max_frame_bytes: usize,
    /// Largest envelope (or group message) ciphertext in bytes (default 1 MiB).
    pub max_envelope_bytes: usize,
    /// Most envelopes one mailbox holds (default 10 000).
    pub mailbox_max_envelopes: u64,
    /// Most ciphertext bytes one mailbox holds (default 256 MiB).
    pub mailbox_max_bytes: u64,
    /// Most one-time prekeys, and most KeyPackages, one mailbox may stock (default 1000).
    pub directory_max_stock: u64,
    /// Stock below which the owner is told it runs low (default 10).
    pub low_stock_threshold: u64,
    /// Largest directory entry (signed prekey, one-time prekey, KeyPackage, last-resort
    /// KeyPackage) in bytes (default 16 KiB); a larger one is refused with
    /// `ERROR_CODE_DIRECTORY_ENTRY_TOO_LARGE` and nothing of its upload is stored.
    pub max_directory_entry_bytes: usize,
    /// Relay-wide cap on stored bytes (envelopes, group log, directory, the declared lengths
    /// of live blobs), `None` for no cap
    /// (the default). A write that would exceed it is refused with `ERROR_CODE_RELAY_FULL`.
    pub max_storage_bytes: Option<u64>,
    /// How often the relay measures what the store holds, for the storage cap and the
    /// storage gauges (default 10 s).
    pub storage_usage_interval: Duration,
    /// Free space the relay keeps in the file system of its store (embedded store only):
    /// while less is free, writes that add data are refused with `ERROR_CODE_RELAY_FULL`,
    /// so that ACKs, takes and the expiry sweep keep room to run. `None` (the default): the
    /// smaller of 256 MiB and 5 % of the file system; `Some(0)`: no reserve.
    pub storage_reserve_bytes: Option<u64>,
    /// Most simultaneous established connections (default 10 000). A connection counts
    /// once its handshake has completed.
    pub max_connections: usize,
    /// Most simultaneous established connections from one address: an IPv4 address, or
    /// an IPv6 /64 (default 1000).
    pub max_connections_per_ip: usize,
    /// Most connections whose handshake is in progress (default 1000).
    pub max_half_open: usize,
    /// Most connections in handshake from one address that proved it (by a Retry token)
    /// (default 128).
    pub max_half_open_per_ip: usize,
    /// Once this many connections are in handshake, a client whose address is not
    /// validated gets a QUIC Retry first, which proves its address at the cost of one round
    /// trip (default 64; 0 = always).
    pub half_open_retry_threshold: usize,
    /// A handshake not completed within this time is dropped (default 10 s).
    pub handshake_timeout: Duration,
    /// Most simultaneous request streams per connection (default 256); a live subscription
    /// holds one for as long as it runs. A connection starts with 8 and the limit doubles up
    /// to this one whenever more than half is in use: quinn keeps state for every stream a
    /// peer may open, so the limit costs memory on every connection, idle or not.
    pub max_streams_per_connection: u32,
    /// A connection with no traffic for this long is closed (default 60 s).
    pub idle_timeout: Duration,
    /// Requests per second per connection, sustained (default 500).
    pub rate_limit_per_sec: f64,
    /// Requests per connection in a burst (default 1000).
    pub rate_limit_burst: f64,
    /// How long shutdown waits for in-flight requests (default 10 s).
    pub shutdown_grace: Duration,
    /// Where handlers and the expiry sweep read the time (default: the system clock; tests
    /// pin it).
    pub clock: Clock,
    /// Limits of the blob store (spec §11).
    pub blobs: crate::blobs::BlobConfig,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4433)),
            data_dir: PathBuf::from("./hush-data"),
            cert: CertSource::SelfSigned,
            ttl: Duration::from_secs(30 * 24 * 3600),
            receipt_retention: Duration::from_secs(7 * 24 * 3600),
            sweep_interval: Duration::from_secs(60),
            max_frame_bytes: crate::frame::DEFAULT_MAX_FRAME,
            max_envelope_bytes: 1024 * 1024,
            mailbox_max_envelopes: 10_000,
            mailbox_max_bytes: 256 * 1024 * 1024,
            directory_max_stock: 1000,
            low_stock_threshold: 10,
            max_directory_entry_bytes: 16 * 1024,
            max_storage_bytes: None,
            storage_usage_interval: Duration::from_secs(10),
            storage_reserve_bytes: None,
            max_connections: 10_000,
            max_connections_per_ip: 1000,
            max_half_open: 1000,
            max_half_open_per_ip: 128,
            half_open_retry_threshold: 64,
            handshake_timeout: Duration::from_secs(10),
            max_streams_per_connection: 256,
            idle_timeout: Duration::from_secs(60),
            rate_limit_per_sec: 500.0,
            rate_limit_burst: 1000.0,
            shutdown_grace: Duration::from_secs(10),
            clock: Clock::system(),
            blobs: crate::blobs::BlobConfig::default(),
        }
    }
}
