//! `hush-relay`: the Hush blind relay binary.
//!
//! Every setting can come from a flag, an environment variable or the TOML config file, in
//! that order of precedence; see `hush-relay --help`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use hush_relay::server::{RelayConfig, RelayHandle};
use hush_relay::tls::CertSource;
use hush_relay::url::{PublicAddress, RelayUrl};
use serde::Deserialize;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[path = "binary/config_error.rs"]
mod config_error;
#[path = "binary/init.rs"]
mod init;
#[path = "binary/storage.rs"]
mod storage;

/// Settings. Each is a flag, an environment variable (`HUSH_RELAY_...`) and a key of the
/// TOML config file (the same name with `_` for `-`).
#[derive(Parser, Deserialize, Debug, Default)]
#[command(
    name = "hush-relay",
    version = storage::VERSION,
    about = "Hush blind relay: stores and forwards only ciphertext over QUIC"
)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[command(subcommand)]
    #[serde(skip)]
    command: Option<init::Command>,

    /// UDP address to listen on [default: 127.0.0.1:4433]
    #[arg(long, env = "HUSH_RELAY_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Host (and port) clients reach this relay at, printed in its hush:// address; needed when
    /// listening on 0.0.0.0 or [::] or behind NAT/a load balancer [default: the listen address]
    #[arg(long, env = "HUSH_RELAY_PUBLIC_ADDRESS", value_name = "HOST[:PORT]")]
    public_address: Option<String>,

    /// Data folder for the database, certificate and keys [default: ./hush-data]
    #[arg(long, env = "HUSH_RELAY_DATA", value_name = "DIR")]
    data: Option<PathBuf>,

    /// Storage: "embedded" (redb in the data folder) or postgres://USER[:PASSWORD]@HOST[:PORT]/DB,
    /// a database several relay nodes can share; each needs its Cargo feature in the build
    /// (`redb`, `postgres`; both by default)
    #[cfg_attr(feature = "redb", doc = "[default: embedded]")]
    #[arg(long, env = "HUSH_RELAY_STORAGE", value_name = "URL")]
    storage: Option<String>,

    /// Most PostgreSQL connections in this node's pool [default: 16]
    #[arg(long, env = "HUSH_RELAY_STORAGE_POOL_SIZE", value_name = "N")]
    storage_pool_size: Option<usize>,

    /// PEM CA file for TLS to PostgreSQL, used when the storage URL names no sslrootcert; with no
    /// sslmode in the URL it means sslmode=verify-full (certificate chain and host name checked)
    #[arg(long, env = "HUSH_RELAY_STORAGE_CA", value_name = "FILE")]
    storage_ca: Option<PathBuf>,

    /// TOML config file; flags and environment variables override its values
    #[arg(long, env = "HUSH_RELAY_CONFIG", value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,

    /// Serve /metrics (Prometheus), /healthz and /readyz over HTTP on this address (off when unset)
    #[arg(long, env = "HUSH_RELAY_METRICS", value_name = "ADDR")]
    metrics: Option<SocketAddr>,

    /// Log format: text or json [default: text]
    #[arg(long, env = "HUSH_RELAY_LOG_FORMAT", value_name = "FORMAT")]
    log_format: Option<String>,

    /// Log filter, tracing syntax such as "info" or "hush_relay=debug"; RUST_LOG is used when this is not set [default: info]
    #[arg(long, env = "HUSH_RELAY_LOG", value_name = "FILTER")]
    log: Option<String>,

    /// PEM certificate chain (for example CA-issued) instead of the self-signed one; needs --tls-key
    #[arg(long, env = "HUSH_RELAY_TLS_CERT", value_name = "FILE")]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert
    #[arg(long, env = "HUSH_RELAY_TLS_KEY", value_name = "FILE")]
    tls_key: Option<PathBuf>,

    /// Seconds an unread envelope is kept [default: 2592000 = 30 days]
    #[arg(long, env = "HUSH_RELAY_TTL_SECONDS", value_name = "SECS")]
    ttl_seconds: Option<u64>,

    /// Seconds envelope ids and receipts are remembered after the TTL [default: 604800]
    #[arg(
        long,
        env = "HUSH_RELAY_RECEIPT_RETENTION_SECONDS",
        value_name = "SECS"
    )]
    receipt_retention_seconds: Option<u64>,

    /// Milliseconds between expiry sweeps [default: 60000]
    #[arg(long, env = "HUSH_RELAY_SWEEP_INTERVAL_MS", value_name = "MS")]
    sweep_interval_ms: Option<u64>,

    /// Largest frame in bytes [default: 1114112]
    #[arg(long, env = "HUSH_RELAY_MAX_FRAME_BYTES", value_name = "BYTES")]
    max_frame_bytes: Option<usize>,

    /// Largest envelope ciphertext in bytes [default: 1048576]
    #[arg(long, env = "HUSH_RELAY_MAX_ENVELOPE_BYTES", value_name = "BYTES")]
    max_envelope_bytes: Option<usize>,

    /// Most envelopes one mailbox holds [default: 10000]
    #[arg(long, env = "HUSH_RELAY_MAILBOX_MAX_ENVELOPES", value_name = "N")]
    mailbox_max_envelopes: Option<u64>,

    /// Most ciphertext bytes one mailbox holds [default: 268435456]
    #[arg(long, env = "HUSH_RELAY_MAILBOX_MAX_BYTES", value_name = "BYTES")]
    mailbox_max_bytes: Option<u64>,

    /// Most one-time prekeys (and KeyPackages) one mailbox may stock [default: 1000]
    #[arg(long, env = "HUSH_RELAY_DIRECTORY_MAX_STOCK", value_name = "N")]
    directory_max_stock: Option<u64>,

    /// Stock below which the owner is told it runs low [default: 10]
    #[arg(long, env = "HUSH_RELAY_LOW_STOCK_THRESHOLD", value_name = "N")]
    low_stock_threshold: Option<u64>,

    /// Largest directory entry (signed or one-time prekey, KeyPackage) in bytes; a larger one is refused whole [default: 16384]
    #[arg(
        long,
        env = "HUSH_RELAY_MAX_DIRECTORY_ENTRY_BYTES",
        value_name = "BYTES"
    )]
    max_directory_entry_bytes: Option<usize>,

    /// Relay-wide cap on stored bytes (envelopes, group logs, directory, blobs); writes beyond it get RELAY_FULL; 0 = no cap [default: 0]
    #[arg(long, env = "HUSH_RELAY_MAX_STORAGE_BYTES", value_name = "BYTES")]
    max_storage_bytes: Option<u64>,

    /// Seconds between measurements of what the store holds (storage cap, storage gauges) [default: 10]
    #[arg(
        long,
        env = "HUSH_RELAY_STORAGE_USAGE_INTERVAL_SECONDS",
        value_name = "SECS"
    )]
    storage_usage_interval_seconds: Option<u64>,

    /// Free space kept in the data folder's file system (embedded store): below it, writes that add data get RELAY_FULL so that ACKs and the expiry sweep keep room; 0 = none; unset: the smaller of 256 MiB and 5 % of the file system
    #[arg(long, env = "HUSH_RELAY_STORAGE_RESERVE_BYTES", value_name = "BYTES")]
    storage_reserve_bytes: Option<u64>,

    /// Most simultaneous connections; a connection counts once its handshake completed [default: 10000]
    #[arg(long, env = "HUSH_RELAY_MAX_CONNECTIONS", value_name = "N")]
    max_connections: Option<usize>,

    /// Most simultaneous connections from one IPv4 address or IPv6 /64 [default: 1000]
    #[arg(long, env = "HUSH_RELAY_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    max_connections_per_ip: Option<usize>,

    /// Most connections whose QUIC handshake is in progress (half-open) [default: 1000]
    #[arg(long, env = "HUSH_RELAY_MAX_HALF_OPEN", value_name = "N")]
    max_half_open: Option<usize>,

    /// Most half-open connections from one address that proved it with a Retry token [default: 128]
    #[arg(long, env = "HUSH_RELAY_MAX_HALF_OPEN_PER_IP", value_name = "N")]
    max_half_open_per_ip: Option<usize>,

    /// Half-open connections from which on a client must first prove its address with a QUIC Retry (one more round trip; 0 = always) [default: 64]
    #[arg(long, env = "HUSH_RELAY_HALF_OPEN_RETRY_THRESHOLD", value_name = "N")]
    half_open_retry_threshold: Option<usize>,

    /// Seconds a QUIC handshake may take before the half-open connection is dropped [default: 10]
    #[arg(
        long,
        env = "HUSH_RELAY_HANDSHAKE_TIMEOUT_SECONDS",
        value_name = "SECS"
    )]
    handshake_timeout_seconds: Option<u64>,

    /// Most simultaneous request streams per connection (a connection starts with 8; the limit doubles up to this one as it is used); each live subscription holds one [default: 256]
    #[arg(long, env = "HUSH_RELAY_MAX_STREAMS_PER_CONNECTION", value_name = "N")]
    max_streams_per_connection: Option<u32>,

    /// Seconds without traffic before a connection is closed [default: 60]
    #[arg(long, env = "HUSH_RELAY_IDLE_TIMEOUT_SECONDS", value_name = "SECS")]
    idle_timeout_seconds: Option<u64>,

    /// Sustained requests per second per connection [default: 500]
    #[arg(long, env = "HUSH_RELAY_RATE_LIMIT_PER_SECOND", value_name = "N")]
    rate_limit_per_second: Option<f64>,

    /// Burst of requests per connection [default: 1000]
    #[arg(long, env = "HUSH_RELAY_RATE_LIMIT_BURST", value_name = "N")]
    rate_limit_burst: Option<f64>,

    /// Seconds a shutdown waits for in-flight requests [default: 10]
    #[arg(long, env = "HUSH_RELAY_SHUTDOWN_GRACE_SECONDS", value_name = "SECS")]
    shutdown_grace_seconds: Option<u64>,

    /// Largest blob (encrypted attachment) in bytes; BLOB_CREATE asking for more gets BLOB_TOO_LARGE [default: 2214592512]
    #[arg(long, env = "HUSH_RELAY_MAX_BLOB_BYTES", value_name = "BYTES")]
    max_blob_bytes: Option<u64>,

    /// Bytes of live blobs one mailbox may hold (declared lengths, reserved at creation); beyond, QUOTA_EXCEEDED [default: 4294967296]
    #[arg(long, env = "HUSH_RELAY_BLOB_QUOTA_BYTES", value_name = "BYTES")]
    blob_quota_bytes: Option<u64>,

    /// Live blobs one mailbox may hold; beyond, QUOTA_EXCEEDED [default: 1000]
    #[arg(long, env = "HUSH_RELAY_BLOB_QUOTA_COUNT", value_name = "N")]
    blob_quota_count: Option<u64>,

    /// Seconds a blob lives when its uploader asks for no time to live (at most the maximum) [default: 604800 = 7 days]
    #[arg(long, env = "HUSH_RELAY_BLOB_DEFAULT_TTL_SECONDS", value_name = "SECS")]
    blob_default_ttl_seconds: Option<u64>,

    /// Longest time to live of a blob in seconds; longer requests are cut to it [default: 2592000 = 30 days]
    #[arg(long, env = "HUSH_RELAY_BLOB_MAX_TTL_SECONDS", value_name = "SECS")]
    blob_max_ttl_seconds: Option<u64>,

    /// Seconds between sweeps that delete expired blobs (also when nobody touches one) [default: 600]
    #[arg(
        long,
        env = "HUSH_RELAY_BLOB_SWEEP_INTERVAL_SECONDS",
        value_name = "SECS"
    )]
    blob_sweep_interval_seconds: Option<u64>,
}

macro_rules! merge {
    ($cli:ident, $file:ident, $($f:ident),*) => {
        $( if $cli.$f.is_none() { $cli.$f = $file.$f.take(); } )*
    };
}

impl Settings {
    /// Flags and environment first, then the config file.
    fn load() -> Result<Settings> {
        let mut s = Settings::parse();
        // RUST_LOG, an environment variable, wins over the file; --log and HUSH_RELAY_LOG win
        // over it.
        if s.log.is_none() {
            s.log = rust_log();
        }
        if let Some(path) = &s.config {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let mut f: Settings = toml::from_str(&text)
                .map_err(|e| anyhow::anyhow!(config_error::describe(path, &text, &e)))?;
            merge!(
                s,
                f,
                listen,
                public_address,
                data,
                storage,
                storage_pool_size,
                storage_ca,
                metrics,
                log_format,
                log,
                tls_cert,
                tls_key,
                ttl_seconds,
                receipt_retention_seconds,
                sweep_interval_ms,
                max_frame_bytes,
                max_envelope_bytes,
                mailbox_max_envelopes,
                mailbox_max_bytes,
                directory_max_stock,
                low_stock_threshold,
                max_directory_entry_bytes,
                max_storage_bytes,
                storage_usage_interval_seconds,
                storage_reserve_bytes,
                max_connections,
                max_connections_per_ip,
                max_half_open,
                max_half_open_per_ip,
                half_open_retry_threshold,
                handshake_timeout_seconds,
                max_streams_per_connection,
                idle_timeout_seconds,
                rate_limit_per_second,
                rate_limit_burst,
                shutdown_grace_seconds,
                max_blob_bytes,
                blob_quota_bytes,
                blob_quota_count,
                blob_default_ttl_seconds,
                blob_max_ttl_seconds,
                blob_sweep_interval_seconds
            );
        }
        Ok(s)
    }

    fn relay_config(&self) -> Result<RelayConfig> {
        let d = RelayConfig::default();
        let cert = match (&self.tls_cert, &self.tls_key) {
            (None, None) => CertSource::SelfSigned,
            (Some(cert), Some(key)) => CertSource::Pem {
                cert: cert.clone(),
                key: key.clone(),
            },
            _ => bail!("tls_cert and tls_key must be given together"),
        };
        Ok(RelayConfig {
            listen: self.listen.unwrap_or(d.listen),
            data_dir: self.data.clone().unwrap_or(d.data_dir),
            cert,
            ttl: self.ttl_seconds.map(Duration::from_secs).unwrap_or(d.ttl),
            receipt_retention: self
                .receipt_retention_seconds
                .map(Duration::from_secs)
                .unwrap_or(d.receipt_retention),
            sweep_interval: self
                .sweep_interval_ms
                .map(|ms| Duration::from_millis(ms.max(10)))
                .unwrap_or(d.sweep_interval),
            max_frame_bytes: self.max_frame_bytes.unwrap_or(d.max_frame_bytes),
            max_envelope_bytes: self.max_envelope_bytes.unwrap_or(d.max_envelope_bytes),
            mailbox_max_envelopes: self
                .mailbox_max_envelopes
                .unwrap_or(d.mailbox_max_envelopes),
            mailbox_max_bytes: self.mailbox_max_bytes.unwrap_or(d.mailbox_max_bytes),
            directory_max_stock: self.directory_max_stock.unwrap_or(d.directory_max_stock),
            low_stock_threshold: self.low_stock_threshold.unwrap_or(d.low_stock_threshold),
            max_directory_entry_bytes: self
                .max_directory_entry_bytes
                .unwrap_or(d.max_directory_entry_bytes),
            max_storage_bytes: match self.max_storage_bytes {
                Some(0) | None => None,
                Some(n) => Some(n),
            },
            storage_usage_interval: self
                .storage_usage_interval_seconds
                .map(|s| Duration::from_secs(s.max(1)))
                .unwrap_or(d.storage_usage_interval),
            storage_reserve_bytes: self.storage_reserve_bytes.or(d.storage_reserve_bytes),
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_connections_per_ip: self
                .max_connections_per_ip
                .unwrap_or(d.max_connections_per_ip),
            max_half_open: self.max_half_open.unwrap_or(d.max_half_open),
            max_half_open_per_ip: self.max_half_open_per_ip.unwrap_or(d.max_half_open_per_ip),
            half_open_retry_threshold: self
                .half_open_retry_threshold
                .unwrap_or(d.half_open_retry_threshold),
            handshake_timeout: self
                .handshake_timeout_seconds
                .map(Duration::from_secs)
                .unwrap_or(d.handshake_timeout),
            max_streams_per_connection: self
                .max_streams_per_connection
                .unwrap_or(d.max_streams_per_connection),
            idle_timeout: self
                .idle_timeout_seconds
                .map(Duration::from_secs)
                .unwrap_or(d.idle_timeout),
            rate_limit_per_sec: self.rate_limit_per_second.unwrap_or(d.rate_limit_per_sec),
            rate_limit_burst: self.rate_limit_burst.unwrap_or(d.rate_limit_burst),
            shutdown_grace: self
                .shutdown_grace_seconds
                .map(Duration::from_secs)
                .unwrap_or(d.shutdown_grace),
            clock: d.clock,
            blobs: self.blob_config(d.blobs),
        })
    }

    /// The blob store's limits (spec/relay-protocol.md §11), over `d`, the defaults.
    fn blob_config(&self, d: hush_relay::blobs::BlobConfig) -> hush_relay::blobs::BlobConfig {
        let secs = |v: Option<u64>, default: Duration| v.map_or(default, Duration::from_secs);
        hush_relay::blobs::BlobConfig {
            max_blob_bytes: self.max_blob_bytes.unwrap_or(d.max_blob_bytes),
            mailbox_quota_bytes: self.blob_quota_bytes.unwrap_or(d.mailbox_quota_bytes),
            mailbox_max_blobs: self.blob_quota_count.unwrap_or(d.mailbox_max_blobs),
            default_ttl: secs(self.blob_default_ttl_seconds, d.default_ttl),
            max_ttl: secs(self.blob_max_ttl_seconds, d.max_ttl),
            sync_every_bytes: d.sync_every_bytes,
            sweep_interval: secs(self.blob_sweep_interval_seconds, d.sweep_interval),
        }
    }
}

/// `RUST_LOG` when set and not empty.
fn rust_log() -> Option<String> {
    std::env::var("RUST_LOG")
        .ok()
        .filter(|v| !v.trim().is_empty())
}

/// Logs to standard error: filter `log` (`--log`, `HUSH_RELAY_LOG`, `RUST_LOG`, the config file,
/// else `info`), colours only on a terminal and without `NO_COLOR`.
fn init_logging(s: &Settings) -> Result<()> {
    let spec = s.log.as_deref().unwrap_or("info");
    let filter = tracing_subscriber::EnvFilter::try_new(spec)
        .with_context(|| format!("invalid log filter {spec:?}"))?;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match s.log_format.as_deref().unwrap_or("text") {
        "text" => builder.init(),
        "json" => builder.json().init(),
        other => bail!("unknown log format {other:?} (expected text or json)"),
    }
    Ok(())
}

/// Starts the metrics listener (`/metrics`, `/healthz`, `/readyz`; see `hush_relay::ops_http`).
async fn init_metrics(addr: SocketAddr, ready: hush_relay::ops_http::Readiness) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot serve metrics on {addr}"))?;
    let handle = hush_relay::telemetry::install().context("metrics recorder")?;
    hush_relay::ops_http::serve(listener, handle, ready);
    Ok(())
}

/// Waits for SIGTERM or SIGINT. Meanwhile each SIGUSR1 writes an online backup of the
/// embedded store into `DATA/backups/backup-<unix ms>` (see `RelayHandle::backup`).
async fn wait_for_signal(relay: &RelayHandle, data: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?;
        let mut usr1 =
            signal(SignalKind::user_defined1()).context("cannot install SIGUSR1 handler")?;
        loop {
            tokio::select! {
                _ = term.recv() => break,
                r = tokio::signal::ctrl_c() => {
                    r.context("cannot listen for SIGINT")?;
                    break;
                }
                _ = usr1.recv() => {
                    let dir = data
                        .join("backups")
                        .join(format!("backup-{}", hush_relay::types::now_ms()));
                    match relay.backup(&dir).await {
                        Ok(dir) => tracing::info!(dir = %dir.display(), "backup written"),
                        Err(e) => tracing::error!(error = %e, "backup failed"),
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = (relay, data);
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("cannot listen for Ctrl-C")?;
    Ok(())
}

async fn run() -> Result<()> {
    let settings = Settings::load()?;
    if let Some(init::Command::Init(args)) = &settings.command {
        return init::run(args);
    }
    init_logging(&settings)?;
    let ready = hush_relay::ops_http::Readiness::default();
    if let Some(addr) = settings.metrics {
        init_metrics(addr, ready.clone()).await?;
    }
    let config = settings.relay_config()?;
    let public_address = settings
        .public_address
        .as_deref()
        .map(|a| {
            a.parse::<PublicAddress>()
                .with_context(|| format!("invalid public_address {a:?} (expected HOST[:PORT])"))
        })
        .transpose()?;
    let data_dir = config.data_dir.clone();
    let choice = storage::choose(settings.storage.as_deref(), settings.storage_pool_size)?;
    let relay = storage::start(choice, config, settings.storage_ca.as_deref()).await?;
    let _ = ready.set(relay.health());
    let announced = RelayUrl::announced(
        relay.fingerprint(),
        relay.local_addr(),
        public_address.as_ref(),
    );
    if let Some(warning) = &announced.warning {
        // Not only a log line: the log filter may hide it, and it concerns the printed address.
        eprintln!("hush-relay: warning: {warning}");
        tracing::warn!("{warning}");
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "hush-relay listening on {}", announced.url)?;
        out.flush()?;
    }
    wait_for_signal(&relay, &data_dir).await?;
    tracing::info!("signal received, shutting down");
    relay.shutdown().await.context("shutdown")?;
    Ok(())
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hush-relay: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run()) {
        // One line: the cause chain, joined.
        let msg = format!("{e:#}");
        let one: Vec<&str> = msg
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        eprintln!("hush-relay: {}", one.join(" "));
        std::process::exit(1);
    }
}
