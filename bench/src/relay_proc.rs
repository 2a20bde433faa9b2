//! The relay process: its memory and CPU from `/proc`, and, with `--relay-cmd`, starting,
//! SIGKILLing and restarting it.

use anyhow::{Context, Result, bail};
use hush_relay_client::RelayUrl;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Sample {
    /// Peak resident set (VmHWM), KiB.
    pub hwm_kib: u64,
    /// Current resident set (VmRSS), KiB.
    pub rss_kib: u64,
    /// User + system CPU time, clock ticks.
    pub cpu_ticks: u64,
}

impl Sample {
    /// CPU seconds in `ticks`.
    pub(crate) fn cpu_s(ticks: u64) -> f64 {
        ticks as f64 / TICKS_PER_S
    }
}

/// Reads `/proc/PID/status` and `/proc/PID/stat`.
pub(crate) fn sample(pid: u32) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status (is the relay running?)"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("unexpected /proc/PID/stat format")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| -> u64 { f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Ok(Sample {
        hwm_kib: kib("VmHWM:"),
        rss_kib: kib("VmRSS:"),
        cpu_ticks: field(11) + field(12),
    })
}

/// A relay the tool started from `--relay-cmd`.
pub(crate) struct RelayProcess {
    cmd: String,
    child: Child,
    _stdout: BufReader<ChildStdout>,
    url: RelayUrl,
    /// SIGKILL + restart cycles so far.
    pub crashes: u32,
    /// Largest VmHWM of the killed incarnations, KiB.
    dead_hwm_kib: u64,
    /// CPU ticks of the killed incarnations.
    dead_cpu_ticks: u64,
}

async fn spawn(cmd: &str) -> Result<(Child, BufReader<ChildStdout>, RelayUrl)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("exec {cmd}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run --relay-cmd")?;
    let stdout = child.stdout.take().context("relay stdout")?;
    let mut out = BufReader::new(stdout);
    let mut line = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), out.read_line(&mut line)).await;
    match read {
        Ok(Ok(n)) if n > 0 => {}
        _ => {
            let _ = child.kill().await;
            bail!("--relay-cmd printed no `hush-relay listening on URL` line within 30 s");
        }
    }
    let url = line
        .trim()
        .strip_prefix("hush-relay listening on ")
        .with_context(|| format!("unexpected first line from --relay-cmd: {:?}", line.trim()))?
        .parse::<RelayUrl>()
        .map_err(|e| anyhow::anyhow!("--relay-cmd printed a bad URL: {e}"))?;
    Ok((child, out, url))
}

impl RelayProcess {
    /// Starts the relay and waits for its URL.
    pub(crate) async fn start(cmd: &str) -> Result<RelayProcess> {
        let (child, out, url) = spawn(cmd).await?;
        Ok(RelayProcess {
            cmd: cmd.to_string(),
            child,
            _stdout: out,
            url,
            crashes: 0,
            dead_hwm_kib: 0,
            dead_cpu_ticks: 0,
        })
    }

    pub(crate) fn url(&self) -> &RelayUrl {
        &self.url
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Peak RSS over every incarnation and CPU ticks summed over them (those of the killed
    /// incarnations alone while it is down).
    pub(crate) fn sample(&self) -> Result<Sample> {
        let s = match self.pid() {
            Some(pid) => sample(pid)?,
            None => Sample::default(),
        };
        Ok(Sample {
            hwm_kib: s.hwm_kib.max(self.dead_hwm_kib),
            rss_kib: s.rss_kib,
            cpu_ticks: s.cpu_ticks + self.dead_cpu_ticks,
        })
    }

    /// SIGKILLs the relay and starts it again on the same command (same data folder and
    /// address); fails if it comes back under another URL.
    pub(crate) async fn crash_and_restart(&mut self) -> Result<()> {
        self.kill().await?;
        self.start_again().await
    }

    /// SIGKILLs the relay (its peak memory and CPU are kept for the report).
    pub(crate) async fn kill(&mut self) -> Result<()> {
        if let Some(pid) = self.pid()
            && let Ok(s) = sample(pid)
        {
            self.dead_hwm_kib = self.dead_hwm_kib.max(s.hwm_kib);
            self.dead_cpu_ticks += s.cpu_ticks;
        }
        self.child
            .kill()
            .await
            .context("cannot SIGKILL the relay")?;
        self.crashes += 1;
        Ok(())
    }

    /// Starts the relay again after [`RelayProcess::kill`]; fails if it comes back under
    /// another URL.
    pub(crate) async fn start_again(&mut self) -> Result<()> {
        let (child, out, url) = spawn(&self.cmd).await?;
        self.child = child;
        self._stdout = out;
        if url != self.url {
            bail!(
                "the relay came back as {url}, not {} (give --relay-cmd a fixed --listen port and --data folder)",
                self.url
            );
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL after 15 s.
    pub(crate) async fn stop(mut self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
            if tokio::time::timeout(Duration::from_secs(15), self.child.wait())
                .await
                .is_ok()
            {
                return;
            }
        }
        let _ = self.child.kill().await;
    }
}
