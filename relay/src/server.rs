//! The relay server: configuration, startup, the accept loop, the expiry sweeper and
//! graceful shutdown.

use crate::admission::{self, Admission, Decision};
use crate::capacity::{self, Capacity};
pub use crate::config::RelayConfig;
use crate::connection;
use crate::notify::Notifier;
use crate::reserve::Reserve;
use crate::shared::Shared;
use crate::shutdown::Shutdown;
#[cfg(feature = "redb")]
use crate::storage::RedbStorage;
use crate::storage::{Storage, StorageError};
use crate::tls::{self, RelayIdentity, TlsError};
use crate::types::Fingerprint;
use crate::url::RelayUrl;
use ed25519_dalek::VerifyingKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Name of the embedded store's database file inside the data folder (and in a backup).
pub const DB_FILE: &str = "hush.redb";

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

/// Starts relays.
pub struct Relay;

impl Relay {
    /// Opens the embedded store in `config.data_dir` and starts serving (feature `redb`).
    #[cfg(feature = "redb")]
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
    /// `PgStorage`, feature `postgres`, shared with other relay nodes).
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
            .ack_frequency_config(Some(hush_wire::quic::ack_frequency()))
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
        let blobs = open_blobs(&config, &*storage).await?;
        let shared = Arc::new(Shared {
            refusals: Arc::new(crate::refusals::Refusals::new()),
            blobs: Some(blobs.clone()),
            capacity: Capacity::new(
                config.max_storage_bytes,
                Reserve::new(storage.data_dir(), config.storage_reserve_bytes),
                Some(blobs),
            ),
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
        let reserve = shared.capacity.reserve.clone();
        let refusals = shared.refusals.clone();
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
            reserve,
            refusals,
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
    /// For readiness (`health.rs`).
    pub(crate) reserve: Arc<Reserve>,
    pub(crate) refusals: Arc<crate::refusals::Refusals>,
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
    let blob_sweeper = tokio::spawn(blob_sweep_loop(
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
    let _ = blob_sweeper.await;
    let _ = measurer.await;
    shared.storage.close().await?;
    tracing::info!("relay stopped");
    Ok(())
}

/// The blob store (spec §11.5): in the database on a node whose storage is PostgreSQL (so
/// any node serves any blob), else files in `<data>/blobs/`.
async fn open_blobs(
    config: &RelayConfig,
    storage: &dyn Storage,
) -> Result<Arc<crate::blobs::Blobs>, RelayError> {
    #[cfg(feature = "postgres")]
    if let Some(pool) = storage.blob_pool() {
        let store = crate::blobs::PgBlobStore::new(pool, config.blobs.clone());
        return Ok(Arc::new(crate::blobs::Blobs::Pg(Arc::new(store))));
    }
    let _ = storage;
    let dir = config.data_dir.join(crate::blobs::BLOBS_DIR);
    let bc = config.blobs.clone();
    let now = config.clock.now_ms();
    let store = tokio::task::spawn_blocking(move || crate::blobs::BlobStore::open(&dir, bc, now))
        .await
        .map_err(|e| RelayError::Task(e.to_string()))?
        .map_err(|e| RelayError::Config(format!("blob store: {e}")))?;
    Ok(Arc::new(crate::blobs::Blobs::Files(Arc::new(store))))
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
    if c.blobs.sweep_interval.is_zero() {
        return Err(RelayError::Config(
            "blob sweep interval must be positive".into(),
        ));
    }
    if c.blobs.default_ttl.is_zero() || c.blobs.max_ttl.is_zero() {
        return Err(RelayError::Config(
            "blob default and maximum TTL must be positive".into(),
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

/// Deletes expired blobs every `blobs.sweep_interval` until shutdown, so they go (and give
/// their space back to the storage cap) even when nobody creates or touches a blob.
async fn blob_sweep_loop(shared: Arc<Shared>, mut shutdown: Shutdown) {
    let Some(blobs) = shared.blobs.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(shared.config.blobs.sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        match blobs.sweep(shared.config.clock.now_ms()).await {
            Ok(0) => {}
            Ok(n) => {
                shared.capacity.freed();
                metrics::counter!("hush_relay_blobs_expired_total").increment(n as u64);
                tracing::info!(blobs = n, "blob expiry sweep");
            }
            Err(e) => {
                metrics::counter!("hush_relay_errors_total", "kind" => "storage").increment(1);
                tracing::error!(error = %e, "blob expiry sweep failed");
            }
        }
    }
}
