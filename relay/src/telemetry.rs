//! The relay's Prometheus metrics: the recorder with its histogram buckets, a description
//! (`# HELP`) for every metric the relay emits, and `hush_relay_build_info`. The table of
//! metrics is in `spec/relay-protocol.md` §10.

use metrics::{describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of `hush_relay_request_duration_seconds`.
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Buckets of `hush_relay_commit_batch_size` (operations per group commit, at most 512).
const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// Every metric the relay emits: name, kind, description.
pub const METRICS: &[(&str, Kind, &str)] = &[
    (
        "hush_relay_build_info",
        Kind::Gauge,
        "Always 1; the label `version` is the relay's version",
    ),
    (
        "hush_relay_connections_total",
        Kind::Counter,
        "Connections whose handshake completed",
    ),
    (
        "hush_relay_connections_active",
        Kind::Gauge,
        "Established connections now",
    ),
    (
        "hush_relay_connections_half_open",
        Kind::Gauge,
        "Connections whose handshake is in progress",
    ),
    (
        "hush_relay_connections_refused_total",
        Kind::Counter,
        "Connections refused by a limit (every refusal)",
    ),
    (
        "hush_relay_connections_refused_per_ip_total",
        Kind::Counter,
        "Connections refused by a per-address cap (also in _refused_total)",
    ),
    (
        "hush_relay_retries_total",
        Kind::Counter,
        "QUIC Retry packets sent",
    ),
    (
        "hush_relay_envelopes_stored_total",
        Kind::Counter,
        "Envelopes and group messages stored",
    ),
    (
        "hush_relay_envelopes_delivered_total",
        Kind::Counter,
        "Envelopes acknowledged by their mailbox owner",
    ),
    (
        "hush_relay_envelopes_expired_total",
        Kind::Counter,
        "Envelopes removed unread at their TTL",
    ),
    (
        "hush_relay_envelope_bytes_stored_total",
        Kind::Counter,
        "Ciphertext bytes of stored envelopes",
    ),
    (
        "hush_relay_envelope_bytes_expired_total",
        Kind::Counter,
        "Ciphertext bytes of envelopes removed at their TTL",
    ),
    (
        "hush_relay_errors_total",
        Kind::Counter,
        "Errors by kind: error code name, handshake, handshake_timeout, storage, database, notify",
    ),
    (
        "hush_relay_request_duration_seconds",
        Kind::Histogram,
        "Seconds from a request's arrival to its answer, by request kind",
    ),
    (
        "hush_relay_commit_batch_size",
        Kind::Histogram,
        "Operations per group commit (embedded store; PostgreSQL backend: sends and acks per batch)",
    ),
    (
        "hush_relay_prekey_bundles_without_one_time_total",
        Kind::Counter,
        "Prekey bundles handed out without a one-time prekey",
    ),
    (
        "hush_relay_prekey_bundles_with_last_resort_kem_total",
        Kind::Counter,
        "Prekey bundles handed out with the last-resort KEM prekey (no one-time KEM prekey left)",
    ),
    (
        "hush_relay_pg_listen_reconnects_total",
        Kind::Counter,
        "PostgreSQL notification connection re-established",
    ),
    (
        "hush_relay_stored_envelopes",
        Kind::Gauge,
        "Envelopes in mailboxes (whole store), as last measured",
    ),
    (
        "hush_relay_stored_envelope_bytes",
        Kind::Gauge,
        "Ciphertext bytes in mailboxes (whole store), as last measured",
    ),
    (
        "hush_relay_stored_group_entries",
        Kind::Gauge,
        "Group log entries (whole store), as last measured",
    ),
    (
        "hush_relay_stored_group_bytes",
        Kind::Gauge,
        "Group log message bytes (whole store), as last measured",
    ),
    (
        "hush_relay_directory_entries",
        Kind::Gauge,
        "Directory entries: signed and one-time prekeys, KeyPackages, last-resort KeyPackages",
    ),
    (
        "hush_relay_directory_bytes",
        Kind::Gauge,
        "Directory blob bytes (whole store), as last measured",
    ),
    (
        "hush_relay_stored_bytes",
        Kind::Gauge,
        "Bytes counted against max_storage_bytes: envelopes, group log, directory and blobs",
    ),
    (
        "hush_relay_stored_blob_bytes",
        Kind::Gauge,
        "Declared lengths of live blobs (attachments), as last measured",
    ),
    (
        "hush_relay_blobs_expired_total",
        Kind::Counter,
        "Blobs deleted by the periodic blob expiry sweep",
    ),
    (
        "hush_relay_max_storage_bytes",
        Kind::Gauge,
        "The relay-wide storage cap in bytes (0: none)",
    ),
    (
        "hush_relay_relay_full_total",
        Kind::Counter,
        "Writes refused with RELAY_FULL because the storage cap would be exceeded",
    ),
    (
        "hush_relay_data_dir_free_bytes",
        Kind::Gauge,
        "Free space in the file system of the embedded store's data folder",
    ),
    (
        "hush_relay_storage_reserve_bytes",
        Kind::Gauge,
        "Free space kept in that file system: below it, writes that add data get RELAY_FULL",
    ),
    (
        "hush_relay_storage_writable",
        Kind::Gauge,
        "1 while the store takes writes, 0 while it refuses them (disk full, I/O error, read-only)",
    ),
    (
        "hush_relay_writes_refused_total",
        Kind::Counter,
        "Writes refused with STORAGE_UNAVAILABLE (disk_full, io_error, read_only) or below the free-space reserve (reserve)",
    ),
    (
        "hush_relay_storage_failures_total",
        Kind::Counter,
        "Store failures that started a refusal of writes, by reason",
    ),
    (
        "hush_relay_directory_entries_too_large_total",
        Kind::Counter,
        "Directory uploads refused because an entry exceeds max_directory_entry_bytes",
    ),
];

/// The Prometheus kind of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// A histogram with fixed buckets.
    Histogram,
}

/// Installs the global Prometheus recorder, describes every metric in [`METRICS`] and sets
/// `hush_relay_build_info{version}` to 1. The caller serves the handle's
/// [`PrometheusHandle::render`] and runs its [`PrometheusHandle::run_upkeep`] now and then
/// ([`crate::ops_http::serve`] does both).
pub fn install() -> Result<PrometheusHandle, BuildError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("hush_relay_request_duration_seconds".into()),
            DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full("hush_relay_commit_batch_size".into()),
            BATCH_BUCKETS,
        )?
        .install_recorder()?;
    for &(name, kind, help) in METRICS {
        match kind {
            Kind::Counter => describe_counter!(name, help),
            Kind::Gauge => describe_gauge!(name, help),
            Kind::Histogram => describe_histogram!(name, help),
        }
    }
    metrics::gauge!("hush_relay_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Names in `counter!("…"`, `gauge!("…"` and `histogram!("…"` calls under `dir`.
    fn emitted(dir: &Path, out: &mut Vec<(String, Kind, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                // The load tool's own metrics are not the relay's.
                if path.file_name().is_some_and(|n| n != "bin") {
                    emitted(&path, out);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (macro_name, kind) in [
                ("counter!(", Kind::Counter),
                ("gauge!(", Kind::Gauge),
                ("histogram!(", Kind::Histogram),
            ] {
                for (i, _) in text.match_indices(macro_name) {
                    let rest = text[i + macro_name.len()..].trim_start();
                    if let Some(lit) = rest.strip_prefix('"') {
                        let name = lit.split('"').next().unwrap_or_default();
                        // Skips this scanner's own patterns and prose, which are no names.
                        if !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                        {
                            out.push((name.to_string(), kind, path.display().to_string()));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_emitted_metric_is_described_with_its_kind() {
        let mut found = Vec::new();
        emitted(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert!(
            found.len() >= 15,
            "the scan finds the relay's metrics: {found:?}"
        );
        for (name, kind, file) in &found {
            assert!(
                METRICS.iter().any(|(n, k, _)| n == name && k == kind),
                "{file} emits {name} ({kind:?}) but telemetry::METRICS does not describe it"
            );
        }
        for (name, _, help) in METRICS {
            assert!(name.starts_with("hush_relay_") && !help.is_empty());
        }
    }
}
