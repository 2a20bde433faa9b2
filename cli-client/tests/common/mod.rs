//! Helpers for tests that run the real `hush` binary against a relay.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hush_relay::{Relay, RelayConfig, RelayHandle};

pub const HUSH: &str = env!("CARGO_BIN_EXE_hush");
pub const PASS: &str = "test passphrase";

/// A relay running in this test process, on 127.0.0.1 with an ephemeral port.
pub struct TestRelay {
    rt: tokio::runtime::Runtime,
    handle: Option<RelayHandle>,
    pub url: String,
    pub data: PathBuf,
}

impl TestRelay {
    pub fn start(data: &Path) -> Self {
        Self::start_on(data, "127.0.0.1:0".parse().unwrap())
    }

    pub fn start_on(data: &Path, listen: std::net::SocketAddr) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let config = RelayConfig {
            listen,
            data_dir: data.to_path_buf(),
            shutdown_grace: Duration::from_secs(2),
            ..RelayConfig::default()
        };
        let handle = rt.block_on(Relay::start(config)).expect("relay starts");
        let url = handle.url().to_string();
        TestRelay {
            rt,
            handle: Some(handle),
            url,
            data: data.to_path_buf(),
        }
    }

    /// Stops the relay (gracefully, bounded by its shutdown grace).
    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = self.rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(20), h.shutdown()).await
            });
        }
    }
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One user's home folder.
pub struct User {
    pub home: PathBuf,
    pub pass: String,
    /// `HUSH_CONNECT_TIMEOUT`: generous, so a loaded CI machine does not fail a live relay.
    pub connect_timeout: String,
}

impl User {
    pub fn new(root: &Path, name: &str) -> Self {
        User {
            home: root.join(name),
            pass: PASS.to_string(),
            connect_timeout: "20".to_string(),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(HUSH);
        c.arg("--home")
            .arg(&self.home)
            .args(args)
            .env("HUSH_PASSPHRASE", &self.pass)
            .env("HUSH_CONNECT_TIMEOUT", &self.connect_timeout)
            .env_remove("HUSH_HOME")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("hush runs")
    }

    /// Runs and expects success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hush {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs and expects a clean failure (an exit code of spec/cli.md "Exit codes", one
    /// `hush: error:` line); returns the code and that line.
    pub fn failure(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let code = out.status.code().unwrap_or(-1);
        assert!(
            (1..=7).contains(&code),
            "hush {args:?} should fail with a code 1-7, got {code}; stdout {} stderr {stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        let line = stderr
            .lines()
            .find(|l| l.starts_with("hush: error: "))
            .unwrap_or_else(|| panic!("no error line in {stderr:?}"));
        assert!(!stderr.contains("panicked"), "{stderr}");
        (code, line.to_string())
    }

    /// Runs and expects a clean failure; returns the error line.
    pub fn fails(&self, args: &[&str]) -> String {
        self.failure(args).1
    }

    /// Runs and expects a clean failure with exit code `code`; returns the error line.
    pub fn fails_with(&self, code: i32, args: &[&str]) -> String {
        let (got, line) = self.failure(args);
        assert_eq!(got, code, "hush {args:?}: {line}");
        line
    }

    pub fn init(&self, relay: &str, name: &str) {
        self.ok(&["init", "--relay", relay, "--name", name]);
    }

    pub fn card(&self) -> String {
        self.ok(&["card"]).trim().to_string()
    }

    pub fn state_bytes(&self) -> Vec<u8> {
        std::fs::read(self.home.join("state.hush")).expect("state file")
    }

    /// `recv --json`, parsed.
    pub fn recv_json(&self) -> Vec<serde_json::Value> {
        self.ok(&["recv", "--json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l:?}: {e}")))
            .collect()
    }
}

/// `(from, group, text)` of the message events.
pub fn messages(events: &[serde_json::Value]) -> Vec<(String, Option<String>, String)> {
    events
        .iter()
        .filter(|e| e["event"] == "message")
        .map(|e| {
            (
                e["from"].as_str().unwrap_or_default().to_string(),
                e["group"].as_str().map(str::to_string),
                e["text"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// A relay and two users who are each other's contacts: Alice (alias `alice`) and Bob
/// (alias `bob`).
pub struct Pair {
    pub relay: TestRelay,
    pub alice: User,
    pub bob: User,
}

/// Starts a relay under `dir` and makes [`Pair`]'s two users.
pub fn pair(dir: &Path) -> Pair {
    let relay = TestRelay::start(&dir.join("relay"));
    let alice = User::new(dir, "alice");
    let bob = User::new(dir, "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    Pair { relay, alice, bob }
}

/// Spawns `recv --wait SECS --json` for `user`; its stdout lines arrive on the channel.
pub fn spawn_recv_wait(
    user: &User,
    secs: u64,
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = user
        .cmd(&["recv", "--wait", &secs.to_string(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hush runs");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// Makes `a` and `b` contacts of each other under the given aliases.
pub fn introduce(a: &User, a_alias_for_b: &str, b: &User, b_alias_for_a: &str) {
    a.ok(&["contact", "add", a_alias_for_b, &b.card()]);
    b.ok(&["contact", "add", b_alias_for_a, &a.card()]);
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Asserts no file under `dir` contains any of `needles`.
pub fn assert_absent(dir: &Path, needles: &[&str]) {
    let files = files_under(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for n in needles {
            assert!(
                !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                "{} contains the plaintext {n:?}",
                f.display()
            );
        }
    }
}
