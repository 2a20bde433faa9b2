//! The relay server: configuration, startup, the accept loop, the expiry sweeper and
//! graceful shutdown.

use crate::admission::{self, Admission, Decision};
use crate::capacity::{self, Capacity};
use crate::clock::Clock;
use crate::connection;
use crate::notify::Notifier;
use crate::shutdown::Shutdown;
use crate::storage::{RedbStorage, Storage, StorageError};
use crate::tls::{self, CertSource, RelayIdentity, TlsError};
use crate::types::Fingerprint;
use crate::url::RelayUrl;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Name of the database file inside the data folder.
pub const DB_FILE: &str = "hush.redb";

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
    /// Relay-wide cap on stored bytes (envelopes, group log, directory), `None` for no cap
    /// (the default). A write that would exceed it is refused with `ERROR_CODE_RELAY_FULL`.
    pub max_storage_bytes: Option<u64>,
    /// How often the relay measures what the store holds, for the storage cap and the
    /// storage gauges (default 10 s).
    pub storage_usage_interval: Duration,
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
        }
    }
}

/// Why the relay could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Certificate or key problem.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The database could not be opened or closed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The UDP socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The server task failed.
    #[error("server task failed: {0}")]
    Task(String),
}

/// State shared by every connection and request handler.
pub(crate) struct Shared {
    pub(crate) config: RelayConfig,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) notifier: Notifier,
    pub(crate) receipt_key: SigningKey,
    pub(crate) fingerprint: Fingerprint,
    /// The relay-wide storage cap (`capacity.rs`).
    pub(crate) capacity: Capacity,
    /// SHA-256 of the whole certificate: AUTH also accepts it, from clients made before key
    /// pinning (spec §1).
    pub(crate) certificate_fingerprint: Fingerprint,
}

/// Starts relays.
pub struct Relay;

impl Relay {
    /// Opens the embedded store in `config.data_dir` and starts serving.
    pub async fn start(config: RelayConfig) -> Result<RelayHandle, RelayError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            RelayError::Config(format!("data folder {}: {e}", config.data_dir.display()))
        })?;
        let path = config.data_dir.join(DB_FILE);
        let storage = tokio::task::spawn_blocking(move || RedbStorage::open(&path))
            .await
            .map_err(|e| RelayError::Task(e.to_string()))??;
        Self::start_with_storage(config, Arc::new(storage)).await
    }

    /// Starts serving on top of an already opened storage backend (for example a
    /// [`crate::storage::PgStorage`] shared with other relay nodes).
    pub async fn start_with_storage(
        config: RelayConfig,
        storage: Arc<dyn Storage>,
    ) -> Result<RelayHandle, RelayError> {
        if config.max_envelope_bytes + 16 * 1024 > config.max_frame_bytes {
            return Err(RelayError::Config(format!(
                "max frame ({}) must exceed max envelope ({}) by at least 16 KiB",
                config.max_frame_bytes, config.max_envelope_bytes
            )));
        }
        check_connection_limits(&config)?;
        let identity = RelayIdentity::load_or_create(&config.data_dir, &config.cert)?;
        let crypto = tls::server_crypto(&identity)?;
        let mut server_config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        let mut transport = quinn::TransportConfig::default();
        transport
            .max_concurrent_bidi_streams(
                connection::initial_stream_limit(config.max_streams_per_connection).into(),
            )
            .max_concurrent_uni_streams(0u32.into())
            // The relay protocol has no use for QUIC datagrams: don't offer them.
            .datagram_receive_buffer_size(None)
            .datagram_send_buffer_size(0)
            .ack_frequency_config(Some(connection::ack_frequency()))
            .max_idle_timeout(Some(
                quinn::IdleTimeout::try_from(config.idle_timeout)
                    .map_err(|e| RelayError::Config(format!("idle timeout: {e}")))?,
            ));
        server_config.transport_config(Arc::new(transport));
        let endpoint = quinn::Endpoint::server(server_config, config.listen).map_err(|source| {
            RelayError::Bind {
                addr: config.listen,
                source,
            }
        })?;
        let local_addr = endpoint.local_addr().map_err(|source| RelayError::Bind {
            addr: config.listen,
            source,
        })?;
        let receipt_public_key = identity.receipt_key.verifying_key();
        let fingerprint = identity.fingerprint;
        let notifier = Notifier::default();
        {
            // A shared backend (PostgreSQL) reports other nodes' writes here.
            let notifier = notifier.clone();
            storage.set_wake_sink(Arc::new(move |w| notifier.wake(w)));
        }
        let shared = Arc::new(Shared {
            capacity: Capacity::new(config.max_storage_bytes),
            config,
            storage,
            notifier,
            receipt_key: identity.receipt_key,
            fingerprint,
            certificate_fingerprint: identity.certificate_fingerprint,
        });
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let storage = shared.storage.clone();
        let data_dir = shared.config.data_dir.clone();
        let task = tokio::spawn(run(endpoint, shared, shutdown_rx));
        tracing::info!(
            %local_addr,
            %fingerprint,
            certificate_fingerprint = %identity.certificate_fingerprint,
            "relay started"
        );
        Ok(RelayHandle {
            local_addr,
            fingerprint,
            receipt_public_key,
            shutdown_tx,
            task,
            storage,
            data_dir,
        })
    }
}

/// A running relay.
pub struct RelayHandle {
    local_addr: SocketAddr,
    fingerprint: Fingerprint,
    receipt_public_key: VerifyingKey,
    pub(crate) shutdown_tx: watch::Sender<bool>,
    task: JoinHandle<Result<(), RelayError>>,
    /// For [`RelayHandle::backup`] (`backup.rs`).
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) data_dir: PathBuf,
}

impl RelayHandle {
    /// The bound UDP address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The relay's key fingerprint: SHA-256 of its certificate's SubjectPublicKeyInfo.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The key that signs receipts.
    pub fn receipt_public_key(&self) -> VerifyingKey {
        self.receipt_public_key
    }

    /// `hush://FPR@IP:PORT` for the bound address.
    pub fn url(&self) -> RelayUrl {
        RelayUrl {
            fingerprint: self.fingerprint,
            host: self.local_addr.ip().to_string(),
            port: self.local_addr.port(),
        }
    }

    /// Graceful shutdown: stop accepting, let in-flight requests finish (their writes
    /// are committed), close connections and the store.
    pub async fn shutdown(self) -> Result<(), RelayError> {
        let _ = self.shutdown_tx.send(true);
        self.task
            .await
            .map_err(|e| RelayError::Task(e.to_string()))?
    }
}

async fn run(
    endpoint: quinn::Endpoint,
    shared: Arc<Shared>,
    shutdown_rx: watch::Receiver<bool>,
) -> Result<(), RelayError> {
    let mut shutdown = Shutdown::new(shutdown_rx.clone());
    // Every connection task holds a clone; recv() returns None when all are gone.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    let admission = Admission::new(admission::Limits::of(&shared.config));
    let sweeper = tokio::spawn(sweep_loop(
        shared.clone(),
        Shutdown::new(shutdown_rx.clone()),
    ));
    let measurer = tokio::spawn(capacity::measure_loop(
        shared.clone(),
        shared.config.storage_usage_interval,
        Shutdown::new(shutdown_rx.clone()),
    ));
    loop {
        tokio::select! {
            incoming = endpoint.accept() => {
                let Some(incoming) = incoming else { break };
                let slot = match admission.decide(
                    incoming.remote_address().ip(),
                    incoming.remote_address_validated(),
                ) {
                    Decision::Accept(slot) => slot,
                    Decision::Retry => {
                        metrics::counter!("hush_relay_retries_total").increment(1);
                        if let Err(e) = incoming.retry() {
                            // Only an Initial that already carries a Retry token cannot get
                            // another one; it is validated, so this does not happen.
                            e.into_incoming().refuse();
                        }
                        continue;
                    }
                    Decision::Refuse(why) => {
                        why.record();
                        tracing::debug!(remote = %incoming.remote_address(), reason = why.reason(), "connection refused");
                        incoming.refuse();
                        continue;
                    }
                };
                tokio::spawn(connection::handle(
                    incoming,
                    slot,
                    shared.clone(),
                    Shutdown::new(shutdown_rx.clone()),
                    done_tx.clone(),
                ));
            }
            _ = shutdown.recv() => break,
        }
    }
    tracing::info!("shutting down: no new connections, finishing in-flight requests");
    endpoint.set_server_config(None);
    drop(done_tx);
    if tokio::time::timeout(shared.config.shutdown_grace, done_rx.recv())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
    endpoint.close(0u32.into(), b"relay shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
    let _ = sweeper.await;
    let _ = measurer.await;
    shared.storage.close().await?;
    tracing::info!("relay stopped");
    Ok(())
}

/// Refuses connection limits that cannot work.
fn check_connection_limits(c: &RelayConfig) -> Result<(), RelayError> {
    for (name, v) in [
        ("max connections", c.max_connections),
        ("max connections per ip", c.max_connections_per_ip),
        ("max half-open", c.max_half_open),
        ("max half-open per ip", c.max_half_open_per_ip),
    ] {
        if v == 0 {
            return Err(RelayError::Config(format!("{name} must be at least 1")));
        }
    }
    if c.max_directory_entry_bytes == 0 {
        return Err(RelayError::Config(
            "max directory entry bytes must be at least 1".into(),
        ));
    }
    if c.storage_usage_interval.is_zero() {
        return Err(RelayError::Config(
            "storage usage interval must be positive".into(),
        ));
    }
    if c.handshake_timeout.is_zero() {
        return Err(RelayError::Config(
            "handshake timeout must be positive".into(),
        ));
    }
    Ok(())
}

async fn sweep_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(shared.config.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        match shared.storage.sweep(shared.config.clock.now_ms()).await {
            Ok(r) => {
                shared.capacity.freed();
                if r.envelopes_expired > 0 || r.ids_forgotten > 0 || r.group_entries_expired > 0 {
                    tracing::info!(
                        envelopes = r.envelopes_expired,
                        bytes = r.bytes_expired,
                        ids = r.ids_forgotten,
                        group_entries = r.group_entries_expired,
                        "expiry sweep"
                    );
                }
                metrics::counter!("hush_relay_envelopes_expired_total")
                    .increment(r.envelopes_expired);
                metrics::counter!("hush_relay_envelope_bytes_expired_total")
                    .increment(r.bytes_expired);
            }
            Err(e) => {
                metrics::counter!("hush_relay_errors_total", "kind" => "storage").increment(1);
                tracing::error!(error = %e, "expiry sweep failed");
            }
        }
        shared.notifier.prune();
    }
}
