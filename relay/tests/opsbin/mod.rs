//! Helpers for the operator tests that run the real `hush-relay` binary: start it, read the
//! address it prints, keep its standard error in a file, stop it on drop.
#![allow(dead_code)]

use hush_relay::RelayUrl;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hush-relay");

/// A running relay process, killed when dropped.
pub struct Running {
    pub child: Child,
    pub url: RelayUrl,
    pub stderr: PathBuf,
}

impl Running {
    /// What the relay wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A command running the binary with a fresh environment for the relay's settings (no
/// `HUSH_RELAY_*` or `RUST_LOG` inherited from the caller).
pub fn relay(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("HUSH_RELAY_") || k == "RUST_LOG" {
            c.env_remove(k);
        }
    }
    c.args(args);
    c
}

/// Starts `cmd`, standard error into `stderr`, and waits (bounded) for its
/// `hush-relay listening on URL` line.
pub fn start(cmd: &mut Command, stderr: &Path) -> Running {
    let err = std::fs::File::create(stderr).unwrap();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(err))
        .spawn()
        .expect("binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    let url = match line.trim().strip_prefix("hush-relay listening on ") {
        Some(u) => u.parse().expect("listen line carries a hush:// URL"),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no listen line (got {line:?}); stderr: {}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
    };
    Running {
        child,
        url,
        stderr: stderr.to_path_buf(),
    }
}

/// Runs `cmd` to its end (at most 30 s) and returns its output.
pub fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary starts");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// One HTTP/1.1 GET on 127.0.0.1 (bounded): status code and body.
pub fn http_get(addr: std::net::SocketAddr, path: &str) -> Option<(u16, String)> {
    http(addr, "GET", path)
}

/// One HTTP/1.1 request without a body on 127.0.0.1 (bounded): status code and body.
pub fn http(addr: std::net::SocketAddr, method: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((status, body))
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_tcp_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}
