//! Runs the README's CLI quickstart (between `<!-- quickstart:begin -->` and
//! `<!-- quickstart:end -->`) as written: every `sh` block, in order, in one shell, and
//! checks each `# prints:` comment against the output (in order). The `cargo build` line is
//! skipped (the test already runs on freshly built binaries) and the relay's port is
//! replaced by a free one.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const README: &str = include_str!("../../README.md");
const PORT: &str = "127.0.0.1:4433";

/// The `sh` blocks, in order.
fn blocks() -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    let section = README
        .split_once("<!-- quickstart:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- quickstart:end -->"))
        .map(|(section, _)| section)
        .expect("README has a quickstart section");
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            if inside {
                out.push(String::new());
            }
            continue;
        }
        if inside && let Some(block) = out.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    out
}

/// The `sh` blocks, joined.
fn script() -> String {
    blocks().concat()
}

/// What the `# prints:` comments promise, in order.
fn promises(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| {
            l.split_once("# prints: ")
                .map(|(_, p)| p.trim().to_string())
        })
        .collect()
}

/// The script with every promising command's standard output framed by marker lines, so the
/// test can compare exactly what each one printed.
fn framed(script: &str) -> String {
    let mut n = 0;
    script
        .lines()
        .map(|l| match l.split_once("# prints: ") {
            Some((cmd, _)) => {
                n += 1;
                format!("echo '@@promise {n}@@'; {}; echo '@@end {n}@@'", cmd.trim())
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the command of promise `n` (from 1) printed, between its markers.
fn printed(out: &str, n: usize) -> Option<&str> {
    let begin = format!("@@promise {n}@@\n");
    let end = format!("@@end {n}@@\n");
    let start = out.find(&begin)? + begin.len();
    let len = out[start..].find(&end)?;
    Some(&out[start..start + len])
}

/// Checks a command's output against its promise: exactly that line, or, when the promise
/// ends with ` …`, output that begins with the text before it and goes on (more text on the
/// line, or more lines).
fn check_promise(promise: &str, output: &str) -> Result<(), String> {
    let ok = match promise.strip_suffix(" …") {
        Some(start) => output.len() > start.len() + 1 && output.starts_with(start),
        None => output == format!("{promise}\n"),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("promised {promise:?}, printed {output:?}"))
    }
}

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// SIGKILLs the process group `pgid`. Spelled `kill -s KILL -- -PGID`: procps-ng 4.0's
/// `kill -KILL -PGID` reads only the first digit of the group and so kills group 1, 2, ...
/// (`kill(-1, SIGKILL)`: every process the caller may signal).
fn kill_group(pgid: u32) {
    assert!(pgid > 1, "not a process group of ours: {pgid}");
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .status();
}

/// Runs `script` with `bash -euo pipefail` in `dir`, in a process group of its own that is
/// killed afterwards; `None` as status when it did not end within `limit`.
fn run_bash(
    script: &str,
    dir: &Path,
    path: &std::ffi::OsStr,
    limit: Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    let mut child = Command::new("bash");
    child
        .args(["-euo", "pipefail", "-c", script])
        .current_dir(dir)
        .env("PATH", path)
        .env("HUSH_CONNECT_TIMEOUT", "20")
        .env_remove("HUSH_PASSPHRASE")
        .env_remove("HUSH_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut child, 0);
    let mut child = child.spawn().expect("bash runs");
    let pid = child.id();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever happened, nothing the script started outlives the test.
    kill_group(pid);
    let _ = child.wait();
    (
        status,
        out_reader.join().unwrap(),
        err_reader.join().unwrap(),
    )
}

#[test]
fn promises_are_checked_exactly() {
    assert!(check_promise("stored", "stored\n").is_ok());
    assert!(check_promise("stored", "stored\nmore\n").is_err());
    assert!(check_promise("stored", "not stored\n").is_err());
    assert!(check_promise("stored", "").is_err());
    assert!(check_promise("initialized a …", "initialized a\nfpr\n").is_ok());
    assert!(check_promise("added b, fingerprint …", "added b, fingerprint 0a64\n").is_ok());
    assert!(check_promise("initialized a …", "initialized a\n").is_err());
    assert!(check_promise("initialized a …", "initialized x\nfpr\n").is_err());
    let f = framed("x=1\nhush recv   # prints: a: b\n");
    assert_eq!(f, "x=1\necho '@@promise 1@@'; hush recv; echo '@@end 1@@'");
    assert_eq!(
        printed("@@promise 1@@\na: b\n@@end 1@@\n", 1),
        Some("a: b\n")
    );
}

/// A relay that cannot start (its port is taken) makes the quickstart stop with the relay's
/// error within its 10-second wait, instead of hanging.
#[test]
fn quickstart_stops_with_the_relay_error_when_the_relay_cannot_start() {
    let bin_dir = Path::new(HUSH).parent().unwrap().to_path_buf();
    if !bin_dir.join("hush-relay").exists() {
        // Only when just this package was built; `cargo test --workspace` builds the relay.
        eprintln!("note: no hush-relay binary beside hush; this test needs the real relay");
        return;
    }
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let blocks = blocks();
    let start: String = blocks[..2]
        .concat()
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(PORT, &listen);
    assert!(start.contains("RELAY=$("), "{start}");
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let began = Instant::now();
    let (status, out, err) = run_bash(&start, dir.path(), &path, Duration::from_secs(30));
    let status = status.unwrap_or_else(|| panic!("the quickstart hung\n{out}\n{err}"));
    assert!(!status.success(), "{out}\n{err}");
    assert!(began.elapsed() < Duration::from_secs(25));
    assert!(
        out.to_lowercase().contains("address") || out.contains("in use"),
        "the relay's error is shown: {out:?} {err:?}"
    );
    drop(taken);
}

#[test]
fn quickstart_runs_as_written() {
    let script = script();
    assert!(script.contains("hush-relay --listen 127.0.0.1:4433"));
    assert!(script.contains("group add friends"));
    let promised = promises(&script);
    assert!(promised.len() >= 10, "{promised:?}");

    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let listen = format!("127.0.0.1:{port}");
    let script: String = script
        .lines()
        .filter(|l| !l.starts_with("cargo build"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(PORT, &listen);
    let script = framed(&script);

    let bin_dir = Path::new(HUSH).parent().unwrap().to_path_buf();
    let mut path = std::env::join_paths(std::iter::once(bin_dir.clone()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    // The relay binary is built with the workspace (`cargo test --workspace`). When only this
    // package was built, run the same relay in-process on the same address and data folder,
    // behind a stand-in `hush-relay` that prints its address.
    let forced = std::env::var_os("HUSH_TEST_INPROCESS_RELAY").is_some();
    let _fallback = if bin_dir.join("hush-relay").exists() && !forced {
        None
    } else {
        eprintln!("note: no hush-relay binary beside hush; using an in-process relay");
        let data = dir.path().join("hush-demo").join("relay-data");
        let relay = TestRelay::start_on(&data, listen.parse().unwrap());
        let shim = dir.path().join("shim");
        std::fs::create_dir_all(&shim).unwrap();
        let exe = shim.join("hush-relay");
        std::fs::write(
            &exe,
            format!(
                "#!/bin/sh\necho 'hush-relay listening on {}'\nexec sleep 300\n",
                relay.url
            ),
        )
        .unwrap();
        std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path = std::env::join_paths(std::iter::once(shim).chain(std::env::split_paths(&path)))
            .unwrap();
        Some(relay)
    };

    let (status, out, err) = run_bash(&script, dir.path(), &path, Duration::from_secs(120));
    let status = status.unwrap_or_else(|| panic!("quickstart timed out\n{out}\n{err}"));
    assert!(
        status.success(),
        "quickstart failed\nstdout:\n{out}\nstderr:\n{err}"
    );

    for (i, p) in promised.iter().enumerate() {
        let got = printed(&out, i + 1)
            .unwrap_or_else(|| panic!("promise {} ({p:?}) was not reached:\n{out}", i + 1));
        if let Err(e) = check_promise(p, got) {
            panic!("README quickstart line {}: {e}", i + 1);
        }
    }
    // Both safety number commands print the same number.
    let numbers: Vec<&str> = out
        .lines()
        .filter(|l| l.len() == 71 && l.chars().all(|c| c.is_ascii_digit() || c == ' '))
        .collect();
    assert_eq!(numbers.len(), 2, "{out}");
    assert_eq!(numbers[0], numbers[1]);

    let data = match &_fallback {
        Some(r) => r.data.clone(),
        None => dir.path().join("hush-demo").join("relay-data"),
    };
    assert_absent(
        &data,
        &[
            "Hi Bob, it's Alice",
            "Hi Alice!",
            "Hello, friends",
            "Welcome, both",
        ],
    );
}
