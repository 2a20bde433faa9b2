//! What the engine benches share: their settings from the environment, the runtime, and a
//! relay on 127.0.0.1 that never rate-limits the bench.

#![allow(dead_code)]

use hush_relay::server::RelayConfig;
use std::path::Path;
use std::time::Duration;

/// The setting `name` from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The median (the upper one of an even count).
pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The benches' runtime: two workers, as the machine has two cores.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A relay in `dir/relay` on an ephemeral port of 127.0.0.1, without rate limits.
pub fn relay_config(dir: &Path) -> RelayConfig {
    RelayConfig {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: dir.join("relay"),
        rate_limit_per_sec: 1e9,
        rate_limit_burst: 1e9,
        shutdown_grace: Duration::from_secs(5),
        ..RelayConfig::default()
    }
}
