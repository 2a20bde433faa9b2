//! The relay nodes a run started (`--relay-cmd`, once per node), the database proxies in
//! front of them (`--pg-proxy`), and the faults scheduled against them (`--fault`).
//!
//! A fault is `AT:ACTION`, AT seconds after the load starts:
//!
//! - `kill:K` SIGKILLs node K (0-based), `start:K` starts it again on its command,
//!   `restart:K` does both at once;
//! - `db:K:MODE` (K a node or `all`) sets node K's database proxy: `pass`, `delay=MS` (each
//!   chunk of bytes waits MS milliseconds, each way), `stall` (nothing passes, connections stay
//!   open), `reset` (every connection closed, new ones refused);
//! - `sh:CMD` runs a shell command and waits for it (at most 120 s), for example
//!   `pg_ctl -m immediate stop`.
//!
//! The fault period ends when the last action has run; the report says, for each node, how
//! long after that its first send was receipted (it serves again).

use crate::proxy::{Mode, Proxy};
use crate::relay_proc::{RelayProcess, Sample};
use anyhow::{Context, Result, bail};
use hush_relay_client::RelayUrl;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The placeholder of `--relay-cmd` replaced by the node's database proxy address.
pub(crate) const PROXY_PLACEHOLDER: &str = "{pg_proxy}";
/// The placeholder of `--relay-cmd` replaced by the node's index.
pub(crate) const NODE_PLACEHOLDER: &str = "{node}";

/// Longest a `sh:` fault command may run.
const SH_TIMEOUT: Duration = Duration::from_secs(120);

/// One scheduled fault.
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub at: Duration,
    pub action: Action,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    Kill(usize),
    Start(usize),
    Restart(usize),
    Db(Option<usize>, Mode),
    Sh(String),
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Kill(k) => write!(f, "kill:{k}"),
            Action::Start(k) => write!(f, "start:{k}"),
            Action::Restart(k) => write!(f, "restart:{k}"),
            Action::Db(k, m) => {
                let k = k.map_or("all".to_owned(), |k| k.to_string());
                match m {
                    Mode::Pass => write!(f, "db:{k}:pass"),
                    Mode::Delay(d) => write!(f, "db:{k}:delay={}", d.as_millis()),
                    Mode::Stall => write!(f, "db:{k}:stall"),
                    Mode::Reset => write!(f, "db:{k}:reset"),
                }
            }
            Action::Sh(c) => write!(f, "sh:{c}"),
        }
    }
}

fn node_index(s: &str, nodes: usize) -> Result<usize> {
    let k: usize = s
        .parse()
        .with_context(|| format!("{s:?} is not a node index"))?;
    if k >= nodes {
        bail!("node {k} does not exist (nodes are 0..{nodes})");
    }
    Ok(k)
}

impl Fault {
    /// Parses `AT:ACTION` for a run of `nodes` nodes, `proxies` telling whether they have
    /// database proxies.
    pub(crate) fn parse(s: &str, nodes: usize, proxies: bool, max_at: f64) -> Result<Fault> {
        let (at, action) = s
            .split_once(':')
            .with_context(|| format!("--fault {s:?}: expected AT:ACTION"))?;
        let at: f64 = at
            .parse()
            .with_context(|| format!("--fault {s:?}: {at:?} is not a number of seconds"))?;
        if !(at.is_finite() && (0.0..=max_at).contains(&at)) {
            bail!("--fault {s:?}: AT must be 0..={max_at} seconds");
        }
        let (kind, arg) = action.split_once(':').unwrap_or((action, ""));
        let action = match kind {
            "kill" => Action::Kill(node_index(arg, nodes)?),
            "start" => Action::Start(node_index(arg, nodes)?),
            "restart" => Action::Restart(node_index(arg, nodes)?),
            "db" => {
                if !proxies {
                    bail!("--fault {s:?}: db faults need --pg-proxy");
                }
                let (k, mode) = arg
                    .split_once(':')
                    .with_context(|| format!("--fault {s:?}: expected db:K:MODE"))?;
                let k = if k == "all" {
                    None
                } else {
                    Some(node_index(k, nodes)?)
                };
                let mode = match mode {
                    "pass" => Mode::Pass,
                    "stall" => Mode::Stall,
                    "reset" => Mode::Reset,
                    m => match m.strip_prefix("delay=").map(str::parse::<u64>) {
                        Some(Ok(ms)) if ms <= 10_000 => Mode::Delay(Duration::from_millis(ms)),
                        _ => bail!(
                            "--fault {s:?}: MODE is pass, stall, reset or delay=MS (MS at most 10000)"
                        ),
                    },
                };
                Action::Db(k, mode)
            }
            "sh" if !arg.is_empty() => Action::Sh(arg.to_owned()),
            _ => bail!("--fault {s:?}: ACTION is kill:K, start:K, restart:K, db:K:MODE or sh:CMD"),
        };
        Ok(Fault {
            at: Duration::from_secs_f64(at),
            action,
        })
    }
}

/// The nodes of a run and their proxies.
pub(crate) struct Nodes {
    pub procs: Vec<RelayProcess>,
    proxies: Vec<Proxy>,
    /// Node of the next `--crash-every` SIGKILL.
    next_crash: usize,
}

impl Nodes {
    /// Starts a proxy to `pg_upstream` per node (if given), then the nodes, one after the
    /// other, each command with its placeholders filled in.
    pub(crate) async fn start(cmds: &[String], pg_upstream: Option<&str>) -> Result<Nodes> {
        let mut proxies = Vec::new();
        let mut procs = Vec::new();
        for (i, cmd) in cmds.iter().enumerate() {
            let mut cmd = cmd.replace(NODE_PLACEHOLDER, &i.to_string());
            if let Some(up) = pg_upstream {
                let p = Proxy::start(up).await?;
                cmd = cmd.replace(PROXY_PLACEHOLDER, &p.addr.to_string());
                proxies.push(p);
            }
            procs.push(
                RelayProcess::start(&cmd)
                    .await
                    .with_context(|| format!("node {i}"))?,
            );
        }
        Ok(Nodes {
            procs,
            proxies,
            next_crash: 0,
        })
    }

    pub(crate) fn urls(&self) -> Vec<RelayUrl> {
        self.procs.iter().map(|p| p.url().clone()).collect()
    }

    /// Every node's memory and CPU together: peaks and CPU summed over the nodes.
    pub(crate) fn sample(&self) -> Result<Sample> {
        let mut total = Sample::default();
        for p in &self.procs {
            let s = p.sample()?;
            total.hwm_kib += s.hwm_kib;
            total.rss_kib += s.rss_kib;
            total.cpu_ticks += s.cpu_ticks;
        }
        Ok(total)
    }

    /// SIGKILLs and restarts the next node in turn (`--crash-every`).
    pub(crate) async fn crash_next(&mut self) -> Result<()> {
        let k = self.next_crash % self.procs.len();
        self.next_crash += 1;
        self.procs[k].crash_and_restart().await
    }

    pub(crate) fn crashes(&self) -> u32 {
        self.procs.iter().map(|p| p.crashes).sum()
    }

    /// Carries out one fault action.
    pub(crate) async fn act(&mut self, action: &Action) -> Result<()> {
        match action {
            Action::Kill(k) => self.procs[*k].kill().await,
            Action::Start(k) => self.procs[*k].start_again().await,
            Action::Restart(k) => self.procs[*k].crash_and_restart().await,
            Action::Db(k, mode) => {
                for (i, p) in self.proxies.iter().enumerate() {
                    if k.is_none_or(|k| k == i) {
                        p.set(*mode);
                    }
                }
                Ok(())
            }
            Action::Sh(cmd) => {
                let mut child = tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(cmd)
                    .stdin(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .with_context(|| format!("cannot run fault command {cmd:?}"))?;
                let status = tokio::time::timeout(SH_TIMEOUT, child.wait())
                    .await
                    .with_context(|| format!("fault command {cmd:?} ran over 120 s"))??;
                if !status.success() {
                    bail!("fault command {cmd:?} failed: {status}");
                }
                Ok(())
            }
        }
    }

    /// Stops every node (SIGTERM, then SIGKILL after 15 s each).
    pub(crate) async fn stop(self) {
        for p in self.procs {
            p.stop().await;
        }
    }
}

/// When each node served again after the fault period: the first receipt of a send made
/// on a node's connections once the last fault action had run.
pub(crate) struct Recovery {
    /// Nanoseconds after the run's start when the fault period ended (`u64::MAX` until then).
    healed_ns: AtomicU64,
    /// Per node: nanoseconds after the run's start of its first receipt after that.
    first_ok_ns: Vec<AtomicU64>,
    t0: Instant,
}

impl Recovery {
    pub(crate) fn new(nodes: usize, t0: Instant) -> Recovery {
        Recovery {
            healed_ns: AtomicU64::new(u64::MAX),
            first_ok_ns: (0..nodes).map(|_| AtomicU64::new(u64::MAX)).collect(),
            t0,
        }
    }

    fn now_ns(&self) -> u64 {
        self.t0.elapsed().as_nanos() as u64
    }

    /// The fault period ended now.
    pub(crate) fn healed(&self) {
        self.healed_ns.store(self.now_ns(), Ordering::SeqCst);
    }

    /// A send made on node `k` was receipted now.
    pub(crate) fn receipt(&self, k: usize) {
        let healed = self.healed_ns.load(Ordering::Relaxed);
        if healed == u64::MAX {
            return;
        }
        if let Some(first) = self.first_ok_ns.get(k) {
            let now = self.now_ns();
            if now >= healed {
                let _ = first.compare_exchange(u64::MAX, now, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }

    /// Per node, milliseconds from the end of the fault period to its first receipt (`None`:
    /// none came); empty when there was no fault period.
    pub(crate) fn report(&self) -> Vec<Option<f64>> {
        let healed = self.healed_ns.load(Ordering::SeqCst);
        if healed == u64::MAX {
            return Vec::new();
        }
        self.first_ok_ns
            .iter()
            .map(|f| {
                let f = f.load(Ordering::SeqCst);
                (f != u64::MAX).then(|| (f - healed) as f64 / 1e6)
            })
            .collect()
    }
}
