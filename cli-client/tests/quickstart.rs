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

/// The `sh` blocks, joined.
fn script() -> String {
    let mut out = String::new();
    let mut inside = false;
    let section = README
        .split_once("<!-- quickstart:begin -->")
        .and_then(|(_, rest)| rest.split_once("<!-- quickstart:end -->"))
        .map(|(section, _)| section)
        .expect("README has a quickstart section");
    for line in section.lines() {
        if line.trim_start().starts_with("```") {
            inside = !inside && line.trim() == "```sh";
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
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

    let mut child = Command::new("bash");
    child
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", &path)
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
        if start.elapsed() > Duration::from_secs(120) {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever happened, nothing the script started outlives the test.
    kill_group(pid);
    let _ = child.wait();
    let out = out_reader.join().unwrap();
    let err = err_reader.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("quickstart timed out\n{out}\n{err}"));
    assert!(
        status.success(),
        "quickstart failed\nstdout:\n{out}\nstderr:\n{err}"
    );

    let mut rest = out.as_str();
    for p in &promised {
        let at = rest
            .find(p.as_str())
            .unwrap_or_else(|| panic!("missing {p:?} in order in output:\n{out}"));
        rest = &rest[at + p.len()..];
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
