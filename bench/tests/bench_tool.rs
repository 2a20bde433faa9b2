//! Runs the built `hush-bench` against the real `hush-relay` binary on 127.0.0.1: a short
//! verified load run, a run that SIGKILLs and restarts the relay, a scheduled fault with the
//! prekey and group-epoch races of `--contend`, and the guards on what the tool accepts.

use serde_json::Value;
use std::process::{Command, Output, Stdio};

const BENCH: &str = env!("CARGO_BIN_EXE_hush-bench");

/// The `hush-relay` binary of the same build (it lives in another package, so Cargo does not
/// name it here): next to `hush-bench`. A workspace test run builds it; alone, build it first.
fn relay_bin() -> std::path::PathBuf {
    let path = std::path::Path::new(BENCH)
        .with_file_name("hush-relay")
        .with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p hush-relay` (same profile) first",
        path.display()
    );
    path
}

/// The relay command line hush-bench starts (and restarts), on a fixed or ephemeral port.
fn relay_cmd(dir: &std::path::Path, port: u16) -> String {
    let relay = relay_bin();
    format!(
        "'{}' --listen 127.0.0.1:{port} --data '{}' --rate-limit-per-second 1000000 --rate-limit-burst 1000000 --log warn",
        relay.display(),
        dir.display()
    )
}

fn run_bench(args: &[&str]) -> (Output, Option<Value>) {
    let out = Command::new(BENCH)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("hush-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str::<Value>(l).ok());
    (out, json)
}

/// Runs hush-bench, which must succeed, and returns its JSON report.
fn run_ok(args: &[&str]) -> Value {
    let (out, json) = run_bench(args);
    assert!(
        out.status.success(),
        "hush-bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    json.expect("last line is a JSON object")
}

/// A UDP port free now on 127.0.0.1, so a restarted relay comes back at the same address.
fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("report lacks numeric {key}: {v}"))
}

fn assert_verified(v: &Value) {
    for k in ["lost", "duplicated", "corrupted"] {
        assert_eq!(num(v, k), 0.0, "{k} must be 0: {v}");
    }
    assert!(num(v, "sends") > 0.0, "no acknowledged sends: {v}");
    assert_eq!(num(v, "deliveries"), num(v, "sends"), "{v}");
}

#[test]
fn verified_load_run_reports_json() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = relay_cmd(dir.path(), 0);
    let v = run_ok(&[
        "--relay-cmd",
        &cmd,
        "--duration",
        "2",
        "--connections",
        "4",
        "--mailboxes",
        "6",
        "--size",
        "512",
        "--directory-stock",
        "20",
        "--verify",
        "--json",
    ]);
    for k in [
        "sends_per_s",
        "deliveries_per_s",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "max_ms",
        "errors",
        "relay_peak_rss_kib",
        "relay_cpu_s",
    ] {
        num(&v, k);
    }
    assert!(v["errors_by_kind"].is_object(), "{v}");
    assert_verified(&v);
    assert!(num(&v, "sends_per_s") > 0.0);
    assert!(num(&v, "p50_ms") <= num(&v, "p99_ms"));
    assert!(num(&v, "p99_ms") <= num(&v, "max_ms"));
    assert!(num(&v, "relay_peak_rss_kib") > 0.0);
    assert_eq!(num(&v, "mailboxes"), 6.0);
    assert_eq!(num(&v, "directory_stock"), 20.0);
    // The client's QUIC counters: at least a request and its answer per send, and streams
    // ended without STOP_SENDING.
    let q = &v["client_quic"];
    assert!(num(q, "datagrams_per_send") >= 2.0, "{v}");
    assert!(
        num(q, "stop_sending_received") <= num(&v, "sends") / 10.0,
        "{v}"
    );
}

#[test]
fn crash_every_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // A fixed port, so the relay comes back at the same address.
    let port = free_udp_port();
    let cmd = relay_cmd(dir.path(), port);
    let v = run_ok(&[
        "--relay-cmd",
        &cmd,
        "--duration",
        "5",
        "--crash-every",
        "1.5",
        "--connections",
        "3",
        "--inflight",
        "4",
        "--verify",
        "--json",
    ]);
    assert!(num(&v, "crashes") >= 2.0, "relay was not crashed: {v}");
    assert_verified(&v);
    assert_eq!(num(&v, "redelivered"), 0.0, "{v}");
}

#[test]
fn faults_and_contention_keep_every_promise() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let cmd = relay_cmd(dir.path(), port);
    let v = run_ok(&[
        "--relay-cmd",
        &cmd,
        "--duration",
        "4",
        "--fault",
        "1:kill:0",
        "--fault",
        "2:start:0",
        "--contend",
        "--connections",
        "3",
        "--verify",
        "--json",
    ]);
    assert_verified(&v);
    assert_eq!(num(&v, "crashes"), 1.0, "{v}");
    let faults = v["faults"].as_array().expect("faults in the report");
    assert_eq!(faults.len(), 2, "{v}");
    assert!(faults.iter().all(|f| f["error"].is_null()), "{v}");
    assert_eq!(faults[0]["action"], "kill:0");
    let recovered = v["nodes_recovered_ms"].as_array().expect("recovery");
    assert_eq!(recovered.len(), 1);
    assert!(recovered[0].as_f64().is_some_and(|ms| ms < 10_000.0), "{v}");
    let c = &v["contend"];
    assert!(num(c, "prekeys_taken") > 0.0, "{v}");
    assert!(num(c, "commits_acknowledged") > 0.0, "{v}");
    assert!(
        num(c, "commits_in_logs") >= num(c, "commits_acknowledged"),
        "{v}"
    );
    for k in [
        "prekeys_taken_twice",
        "prekeys_never_uploaded",
        "epochs_with_two_commits",
        "epoch_gaps",
        "acknowledged_commits_missing",
        "foreign_commits",
    ] {
        assert_eq!(num(c, k), 0.0, "{k}: {v}");
    }
}

#[test]
fn bad_fault_schedules_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = relay_cmd(dir.path(), 0);
    for (fault, says) in [
        ("1:kill:3", "node 3 does not exist"),
        ("1:db:0:stall", "need --pg-proxy"),
        ("x:kill:0", "not a number"),
        ("1:explode", "ACTION is"),
        ("99:kill:0", "AT must be"),
    ] {
        let (out, _) = run_bench(&["--relay-cmd", &cmd, "--duration", "2", "--fault", fault]);
        assert!(!out.status.success(), "{fault} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{fault}: {err}");
    }
}

#[test]
fn refuses_targets_off_this_machine() {
    let fpr = "ab".repeat(32);
    let (out, _) = run_bench(&[
        "--relay",
        &format!("hush://{fpr}@192.0.2.1:4433"),
        "--duration",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refusing"), "{err}");
    assert_eq!(err.lines().count(), 1, "one-line error: {err}");
}

#[test]
fn blob_run_moves_the_bytes_both_ways_and_resumes_a_cut_upload() {
    let dir = tempfile::tempdir().unwrap();
    let cmd = relay_cmd(&dir.path().join("relay"), 0);
    let scratch = dir.path().join("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    // Three syncs' worth, so the cut upload has a durable prefix to resume from.
    let len: u64 = 24 << 20;
    let v = run_ok(&[
        "--relay-cmd",
        &cmd,
        "--blob-bytes",
        &len.to_string(),
        "--rounds",
        "1",
        "--blob-dir",
        scratch.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(num(&v, "blob_bytes"), len as f64);
    for k in [
        "hush_upload",
        "hush_download",
        "plain_upload_discard",
        "plain_upload_file",
        "plain_download",
    ] {
        assert!(num(&v[k], "mib_s") > 0.0, "{k}: {v}");
        assert!(num(&v[k], "server_peak_rss_mib") > 0.0, "{k}: {v}");
        assert!(num(&v[k], "client_peak_rss_mib") > 0.0, "{k}: {v}");
    }
    for k in [
        "upload_vs_plain_discard",
        "upload_vs_plain_file",
        "download_vs_plain",
    ] {
        assert!(num(&v, k) > 0.0, "{k}: {v}");
    }
    // Cut at half: the relay kept a durable prefix (a sync every 8 MiB) and at most what
    // arrived; the resumed upload completed (the tool checked its download byte for byte).
    let cut = num(&v, "resume_cut_at");
    let durable = num(&v, "resume_durable_offset");
    assert_eq!(cut, (len / 2) as f64);
    assert!(durable >= (8 << 20) as f64 && durable <= cut, "{v}");
    assert!(num(&v, "resume_s") > 0.0);
    // The scratch files went with the run.
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}
