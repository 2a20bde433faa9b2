//! `hush-bench`: a bounded load tool for a running Hush relay on this machine.
//!
//! It drives the relay over real QUIC with the relay crate's client (C connections, M
//! subscribed mailboxes, a duration or a message count, a target rate or open loop), checks
//! with `--verify` that every acknowledged envelope arrives exactly once and byte-identical,
//! can SIGKILL and restart the relay during the run (`--crash-every`, with `--relay-cmd`),
//! measures idle connections (`--idle-connections`), and, built with the `nats` feature,
//! runs the same store-and-forward workload against NATS JetStream (`--nats`), and with the
//! `mqtt` feature against an MQTT broker such as Mosquitto (`--mqtt`, QoS 1).
//! The last line of `--json` output is one JSON object. Only loopback targets are accepted.

mod blob;
mod contend;
mod drive;
mod hush;
mod idle;
#[cfg(feature = "mqtt")]
mod mqtt;
#[cfg(feature = "nats")]
mod nats;
mod nodes;
mod payload;
mod proxy;
mod relay_proc;
mod report;
mod tracker;

use anyhow::{Context, Result, bail};
use clap::Parser;
use nodes::Nodes;
pub(crate) use report::{FaultReport, Outcome, QuicTotals};
use serde_json::json;
use std::time::Duration;

const MAX_DURATION_S: f64 = 600.0;
const MAX_COUNT: u64 = 50_000_000;
const MAX_CONNECTIONS: usize = 20_000;
const MAX_MAILBOXES: usize = 100_000;
const MAX_INFLIGHT: usize = 200;
/// Most directory entries of each kind per mailbox (one upload; the relay's default stock
/// limit).
const MAX_DIRECTORY_STOCK: usize = 1000;
const MAX_SIZE: usize = 1024 * 1024;
const MAX_RATE: f64 = 10_000_000.0;
const MAX_IDLE: usize = 50_000;

/// Load a Hush relay (or NATS JetStream) on this machine and report throughput, latency,
/// losses and the relay's memory and CPU.
#[derive(Parser, Debug)]
#[command(name = "hush-bench", version)]
struct Args {
    /// The relay, hush://FPR@HOST:PORT (HOST must be 127.0.0.1, localhost or ::1)
    #[arg(long, value_name = "URL")]
    relay: Option<String>,

    /// Start the relay with this shell command (it must print `hush-relay listening on URL`
    /// first) and stop it at the end; needed by --crash-every, which reuses it to restart.
    /// Give it once per node to run several nodes on one database (connection c goes to node
    /// c mod N); `{node}` in it becomes the node's index and `{pg_proxy}` its --pg-proxy
    /// address
    #[arg(long, value_name = "CMD")]
    relay_cmd: Vec<String>,

    /// Put a TCP proxy the tool controls between each node and its database at HOST:PORT;
    /// `{pg_proxy}` in --relay-cmd names it (for --fault db:...)
    #[arg(long, value_name = "HOST:PORT", requires = "relay_cmd")]
    pg_proxy: Option<String>,

    /// At AT seconds into the load, do ACTION: kill:K, start:K, restart:K (node K, from 0),
    /// db:K|all:pass|delay=MS|stall|reset (with --pg-proxy) or sh:CMD; may be repeated.
    /// The report gives each node's time to its first receipt after the last fault
    #[arg(long, value_name = "AT:ACTION", requires = "relay_cmd")]
    fault: Vec<String>,

    /// Also race, from every node, takes of one-time prekeys and commits to group logs, and
    /// check that no prekey came out twice and no group epoch took two commits
    #[arg(long)]
    contend: bool,

    /// Load a NATS JetStream server instead, nats://HOST:PORT (loopback only)
    #[cfg(feature = "nats")]
    #[arg(long, value_name = "URL", conflicts_with_all = ["relay", "relay_cmd", "crash_every"])]
    nats: Option<String>,

    /// Load an MQTT broker (Mosquitto) instead, mqtt://HOST:PORT (loopback only): MQTT 5,
    /// QoS 1, persistent sessions
    #[cfg(feature = "mqtt")]
    #[arg(long, value_name = "URL", conflicts_with_all = ["relay", "relay_cmd", "crash_every"])]
    mqtt: Option<String>,

    /// Seconds of sending [default: 10, or 300 as a cap with --count]
    #[arg(long, value_name = "SECS")]
    duration: Option<f64>,

    /// Stop after this many messages
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Client connections (each also sends)
    #[arg(long, value_name = "C", default_value_t = 10)]
    connections: usize,

    /// Mailboxes, each owned and subscribed on connection (index mod C) [default: C]
    #[arg(long, value_name = "M")]
    mailboxes: Option<usize>,

    /// Envelope size on the wire, bytes: the padded ciphertext the relay stores (Hush pads
    /// 1:1 envelopes to 512 B, then powers of two up to 64 KiB)
    #[arg(long, value_name = "BYTES", default_value_t = 256)]
    size: usize,

    /// Target sends per second over all connections (open loop: sends are scheduled
    /// regardless of answers and latency counts from the scheduled time); without it each
    /// connection keeps --inflight sends outstanding (closed loop)
    #[arg(long, value_name = "PER_S")]
    rate: Option<f64>,

    /// Open loop: start every connection's send clock at the same instant, so that all
    /// connections send at once, --connections messages in a burst each period (the
    /// schedule of hush-bench before 2026-11-23). Without it the connections' clocks are
    /// spread evenly over the period and the sends arrive at an even rate
    #[arg(long, requires = "rate")]
    aligned: bool,

    /// Closed loop: sends outstanding per connection
    #[arg(long, value_name = "N", default_value_t = 1)]
    inflight: usize,

    /// Before the load, give every mailbox N one-time prekeys and N KeyPackages in the
    /// relay's directory, as a real user's mailbox holds (the relay reports a mailbox's
    /// directory stock with every page it pushes). Hush relay only
    #[arg(long, value_name = "N", default_value_t = 0)]
    directory_stock: usize,

    /// Authenticate every envelope and count lost, duplicated and corrupted ones
    #[arg(long)]
    verify: bool,

    /// Print the report as one JSON object on the last line
    #[arg(long)]
    json: bool,

    /// The relay's process id, for its peak RSS and CPU seconds (automatic with --relay-cmd;
    /// with --nats or --mqtt, the broker's)
    #[arg(long, value_name = "PID")]
    relay_pid: Option<u32>,

    /// SIGKILL and restart the relay every SECS seconds during the run (needs --relay-cmd
    /// with a fixed --listen port and --data folder)
    #[arg(long, value_name = "SECS", requires = "relay_cmd")]
    crash_every: Option<f64>,

    /// Instead of the load: hold K idle authenticated connections for --duration seconds and
    /// report the relay's RSS per connection (needs --relay-pid or --relay-cmd)
    #[arg(long, value_name = "K")]
    idle_connections: Option<usize>,

    /// Seconds to wait, after sending stops, for retries and outstanding deliveries
    #[arg(long, value_name = "SECS", default_value_t = 15.0)]
    drain: f64,

    /// Instead of the load: move one blob of BYTES through the relay's blob store (upload,
    /// download, and an upload cut off halfway then resumed) and the same bytes over a plain
    /// quinn stream, --rounds times, and report throughput ratios and peak memory
    #[arg(long, value_name = "BYTES")]
    blob_bytes: Option<u64>,

    /// Rounds of the --blob-bytes comparison
    #[arg(long, value_name = "N", default_value_t = 3, requires = "blob_bytes")]
    rounds: usize,

    /// Folder for the --blob-bytes scratch files (source, copy, the plain server's file)
    /// [default: the system's temporary folder]
    #[arg(long, value_name = "DIR", requires = "blob_bytes")]
    blob_dir: Option<std::path::PathBuf>,

    /// --blob-bytes: give the plain quinn stream the ACK frequency the relay and its client
    /// ask of each other (one ACK per five packets) instead of quinn's default
    #[arg(long)]
    plain_relay_acks: bool,

    /// Internal: serve as the plain quinn server of --blob-bytes, files in DIR
    #[arg(long, value_name = "DIR", hide = true)]
    quinn_sink: Option<std::path::PathBuf>,
}

/// The validated workload.
pub(crate) struct Load {
    pub duration: Duration,
    pub count: Option<u64>,
    pub connections: usize,
    pub mailboxes: usize,
    pub size: usize,
    pub rate: Option<f64>,
    pub aligned: bool,
    pub inflight: usize,
    pub directory_stock: usize,
    pub verify: bool,
    pub crash_every: Option<Duration>,
    pub drain: Duration,
    /// Scheduled faults, in time order.
    pub faults: Vec<nodes::Fault>,
    pub contend: bool,
}

impl Load {
    /// Open loop: the send clock of connection `i`, one tick every `period`. Spread evenly
    /// over the period unless `--aligned`.
    pub(crate) fn send_clock(&self, i: usize, period: Duration) -> tokio::time::Interval {
        let offset = if self.aligned {
            Duration::ZERO
        } else {
            period.mul_f64(i as f64 / self.connections.max(1) as f64)
        };
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        tick
    }
}

fn secs(what: &str, v: f64, max: f64) -> Result<Duration> {
    if !(v.is_finite() && v > 0.0 && v <= max) {
        bail!("{what} must be more than 0 and at most {max} seconds");
    }
    Ok(Duration::from_secs_f64(v))
}

impl Args {
    fn load(&self) -> Result<Load> {
        let duration = match (self.duration, self.count) {
            (Some(d), _) => d,
            (None, Some(_)) => 300.0,
            (None, None) => 10.0,
        };
        if let Some(c) = self.count
            && !(1..=MAX_COUNT).contains(&c)
        {
            bail!("--count must be 1..={MAX_COUNT}");
        }
        if !(1..=MAX_CONNECTIONS).contains(&self.connections) {
            bail!("--connections must be 1..={MAX_CONNECTIONS}");
        }
        let mailboxes = self.mailboxes.unwrap_or(self.connections);
        if !(1..=MAX_MAILBOXES).contains(&mailboxes) {
            bail!("--mailboxes must be 1..={MAX_MAILBOXES}");
        }
        if !(payload::MIN_SIZE..=MAX_SIZE).contains(&self.size) {
            bail!("--size must be {}..={MAX_SIZE} bytes", payload::MIN_SIZE);
        }
        if let Some(r) = self.rate
            && !(r.is_finite() && r > 0.0 && r <= MAX_RATE)
        {
            bail!("--rate must be more than 0 and at most {MAX_RATE}");
        }
        if !(1..=MAX_INFLIGHT).contains(&self.inflight) {
            bail!("--inflight must be 1..={MAX_INFLIGHT}");
        }
        if self.directory_stock > MAX_DIRECTORY_STOCK {
            bail!("--directory-stock must be 0..={MAX_DIRECTORY_STOCK}");
        }
        Ok(Load {
            duration: secs("--duration", duration, MAX_DURATION_S)?,
            count: self.count,
            connections: self.connections,
            mailboxes,
            size: self.size,
            rate: self.rate,
            aligned: self.aligned,
            inflight: self.inflight,
            directory_stock: self.directory_stock,
            verify: self.verify,
            crash_every: self
                .crash_every
                .map(|s| secs("--crash-every", s, MAX_DURATION_S))
                .transpose()?,
            drain: secs("--drain", self.drain, 120.0)?,
            faults: {
                let mut f = self
                    .fault
                    .iter()
                    .map(|f| {
                        nodes::Fault::parse(
                            f,
                            self.relay_cmd.len(),
                            self.pg_proxy.is_some(),
                            duration,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                f.sort_by_key(|f| f.at);
                f
            },
            contend: self.contend,
        })
    }
}

/// Refuses anything but this machine.
pub(crate) fn check_loopback(host: &str) -> Result<()> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let ok = h.eq_ignore_ascii_case("localhost") || h == "127.0.0.1" || h == "::1";
    if !ok {
        bail!("refusing to load {host}: only 127.0.0.1, localhost and ::1 are allowed");
    }
    Ok(())
}

async fn idle_report(
    args: &Args,
    url: &hush_relay_client::RelayUrl,
    k: usize,
    process: &Option<Nodes>,
    hold: Duration,
) -> Result<serde_json::Value> {
    if !(1..=MAX_IDLE).contains(&k) {
        bail!("--idle-connections must be 1..={MAX_IDLE}");
    }
    let pid = match (process, args.relay_pid) {
        (Some(p), _) => p.procs[0].pid().context("relay is not running")?,
        (None, Some(pid)) => pid,
        (None, None) => bail!("--idle-connections needs --relay-pid or --relay-cmd"),
    };
    let o = idle::run(url.clone(), k, pid, hold).await?;
    if !args.json {
        println!(
            "hush: {} idle authenticated connections held ({} failed), {:.1} s to open",
            o.held, o.failed, o.setup_s
        );
        println!(
            "  relay RSS {} KiB -> {} KiB: {:.0} bytes ({:.1} KiB) per connection",
            o.rss_before_kib,
            o.rss_after_kib,
            o.bytes_per_connection(),
            o.bytes_per_connection() / 1024.0
        );
        if let Some(e) = &o.first_error {
            println!("  first error: {e}");
        }
    }
    Ok(json!({
        "target": "hush",
        "idle_connections": o.requested,
        "held": o.held,
        "failed": o.failed,
        "first_error": o.first_error,
        "setup_seconds": o.setup_s,
        "relay_rss_before_kib": o.rss_before_kib,
        "relay_rss_after_kib": o.rss_after_kib,
        "relay_peak_rss_kib": o.hwm_kib,
        "relay_bytes_per_connection": o.bytes_per_connection(),
    }))
}

/// Whether the target is a NATS or MQTT server rather than a Hush relay.
#[allow(unused_variables)]
fn other_target(args: &Args) -> bool {
    #[cfg(feature = "nats")]
    if args.nats.is_some() {
        return true;
    }
    #[cfg(feature = "mqtt")]
    if args.mqtt.is_some() {
        return true;
    }
    false
}

async fn run() -> Result<bool> {
    let args = Args::parse();
    if let Some(dir) = &args.quinn_sink {
        blob::sink_main(dir.clone(), args.plain_relay_acks).await?;
        return Ok(true);
    }
    if args.plain_relay_acks && args.blob_bytes.is_none() {
        bail!("--plain-relay-acks goes with --blob-bytes");
    }
    if let Some(n) = args.blob_bytes {
        if !(1..=blob::MAX_BLOB_BYTES).contains(&n) {
            bail!("--blob-bytes must be 1..={}", blob::MAX_BLOB_BYTES);
        }
        if !(1..=blob::MAX_ROUNDS).contains(&args.rounds) {
            bail!("--rounds must be 1..={}", blob::MAX_ROUNDS);
        }
        if args.crash_every.is_some() || args.idle_connections.is_some() || other_target(&args) {
            bail!("--blob-bytes goes with --relay or --relay-cmd only");
        }
    }
    let load = args.load()?;
    if args.crash_every.is_some() && args.idle_connections.is_some() {
        bail!("--crash-every and --idle-connections do not go together");
    }
    if load.directory_stock > 0 && (args.idle_connections.is_some() || other_target(&args)) {
        bail!("--directory-stock applies to the load against a Hush relay only");
    }

    #[cfg(feature = "mqtt")]
    if let Some(url) = &args.mqtt {
        #[cfg(feature = "nats")]
        if args.nats.is_some() {
            bail!("give --mqtt or --nats, not both");
        }
        if args.idle_connections.is_some() {
            bail!("--idle-connections measures the Hush relay only");
        }
        let o = mqtt::run(url, &load, args.relay_pid).await?;
        return finish(&args, &load, report::report("mosquitto", &load, &o));
    }

    #[cfg(feature = "nats")]
    if let Some(url) = &args.nats {
        if args.idle_connections.is_some() {
            bail!("--idle-connections measures the Hush relay only");
        }
        let o = nats::run(url, &load, args.relay_pid).await?;
        let v = report::report(&o.0, &load, &o.1);
        return finish(&args, &load, v);
    }

    if args.relay_cmd.len() > 1 && (args.idle_connections.is_some() || args.blob_bytes.is_some()) {
        bail!("--idle-connections and --blob-bytes take one --relay-cmd");
    }
    if args.relay_cmd.len() > 16 {
        bail!("at most 16 --relay-cmd nodes");
    }
    if let Some(up) = &args.pg_proxy {
        check_loopback(up.rsplit_once(':').map_or(up.as_str(), |(h, _)| h))?;
    }
    let mut process = match args.relay_cmd.is_empty() {
        false => Some(Nodes::start(&args.relay_cmd, args.pg_proxy.as_deref()).await?),
        true => None,
    };
    let result = async {
        let urls = match (&args.relay, &process) {
            (Some(u), _) => vec![
                u.parse::<hush_relay_client::RelayUrl>()
                    .map_err(|e| anyhow::anyhow!("--relay: {e}"))?,
            ],
            (None, Some(p)) => p.urls(),
            (None, None) => bail!("give --relay URL or --relay-cmd CMD"),
        };
        for u in &urls {
            check_loopback(&u.host)?;
        }
        let url = urls[0].clone();
        if let Some(p) = &process
            && p.urls() != urls
        {
            bail!(
                "--relay {url} is not the relay --relay-cmd started ({})",
                p.urls()[0]
            );
        }
        if let Some(k) = args.idle_connections {
            return idle_report(&args, &url, k, &process, load.duration).await;
        }
        if let Some(n) = args.blob_bytes {
            let pid = process
                .as_ref()
                .and_then(|p| p.procs[0].pid())
                .or(args.relay_pid);
            let v = blob::run(
                &url,
                pid,
                n,
                args.rounds,
                args.blob_dir.clone(),
                args.plain_relay_acks,
            )
            .await?;
            if !args.json {
                blob::print_text(&v);
            }
            return Ok(v);
        }
        let o = hush::run(urls, &load, process.as_mut(), args.relay_pid).await?;
        Ok(report::report("hush", &load, &o))
    }
    .await;
    if let Some(p) = process {
        p.stop().await;
    }
    finish(&args, &load, result?)
}

/// Prints the report; false when --verify or --contend found a problem, a fault action
/// failed, or a node never served again after the faults.
fn finish(args: &Args, load: &Load, v: serde_json::Value) -> Result<bool> {
    if args.json {
        println!("{v}");
    } else if v.get("idle_connections").is_none() && v.get("blob_bytes").is_none() {
        report::print_text(&v); // the idle report printed its own text
    }
    let bad = |k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0) > 0;
    let verify_failed = load.verify && (bad("lost") || bad("duplicated") || bad("corrupted"));
    let contend_failed = v.get("contend").is_some_and(contend::failed);
    let fault_failed = v
        .get("faults")
        .and_then(|f| f.as_array())
        .is_some_and(|f| f.iter().any(|f| !f["error"].is_null()));
    let unrecovered = v
        .get("nodes_recovered_ms")
        .and_then(|r| r.as_array())
        .is_some_and(|r| r.iter().any(|x| x.is_null()));
    Ok(!(verify_failed || contend_failed || fault_failed || unrecovered))
}

fn main() {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hush-bench: cannot start runtime: {e}");
            std::process::exit(1);
        }
    };
    match rt.block_on(run()) {
        Ok(true) => {}
        Ok(false) => {
            eprintln!(
                "hush-bench: checks failed: lost, duplicated or corrupted envelopes, a broken \
                 --contend promise, a failed fault action or a node that never served again"
            );
            std::process::exit(2);
        }
        Err(e) => {
            let msg = format!("{e:#}");
            let one: Vec<&str> = msg
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            eprintln!("hush-bench: {}", one.join(" "));
            std::process::exit(1);
        }
    }
}
