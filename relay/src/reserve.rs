//! The free-space reserve of the data folder (spec/relay-protocol.md §5 "Free-space
//! reserve"): while the file system that holds the embedded store has less free space than
//! the reserve, writes that add data (SEND, GROUP_APPEND, directory uploads) are refused
//! with `ERROR_CODE_RELAY_FULL`, so that ACKs, takes and the expiry sweep, which free space
//! but need some to commit, keep working, and the disk never fills up under the store.
//!
//! The free space is read with `statvfs` (a system call of a few microseconds, next to a
//! commit with fsync) for every such write, for readiness, and by the usage measurement
//! loop, which keeps the gauge current. A cached reading proved too coarse: 60 KB sends
//! to a tmpfs used up a 4 MiB reserve within 100 ms.
//! A backend that keeps its data elsewhere (PostgreSQL) has no data path and no reserve: its
//! own full disk is reported by the database (`STORAGE_UNAVAILABLE`).

use crate::cmd::CmdError;
use crate::proto::ErrorCode;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The `retry_after_ms` of a refusal.
pub(crate) const RETRY_AFTER: Duration = Duration::from_millis(100);
/// The default reserve's upper bound (the default is the smaller of this and
/// [`DEFAULT_RESERVE_PERCENT`] of the file system).
pub const DEFAULT_RESERVE_MAX_BYTES: u64 = 256 << 20;
/// The default reserve's share of the file system's size, in percent.
pub const DEFAULT_RESERVE_PERCENT: u64 = 5;

/// One reading.
#[derive(Debug, Clone, Copy)]
struct Reading {
    free: u64,
    reserve: u64,
}

/// The reserve of one relay node.
pub(crate) struct Reserve {
    /// The folder whose file system holds the store; `None`: no reserve.
    dir: Option<PathBuf>,
    /// The configured reserve: `None` for the default, `Some(0)` for none.
    setting: Option<u64>,
    below: AtomicBool,
}

impl Reserve {
    pub(crate) fn new(dir: Option<PathBuf>, setting: Option<u64>) -> Self {
        let dir = dir.filter(|_| setting != Some(0));
        Reserve {
            dir,
            setting,
            below: AtomicBool::new(false),
        }
    }

    /// Refuses a write that adds data while free space is below the reserve.
    pub(crate) fn check(&self) -> Result<(), CmdError> {
        let Some(r) = self.reading() else {
            return Ok(());
        };
        if r.free >= r.reserve {
            return Ok(());
        }
        metrics::counter!("hush_relay_writes_refused_total", "reason" => "reserve").increment(1);
        metrics::counter!("hush_relay_relay_full_total").increment(1);
        let mut e = CmdError::new(
            ErrorCode::RelayFull,
            format!(
                "relay full: {} bytes free in the relay's data folder, below its reserve of {} \
                 bytes (storage_reserve_bytes); nothing was stored",
                r.free, r.reserve
            ),
        );
        e.retry_after_ms = RETRY_AFTER.as_millis() as u64;
        Err(e)
    }

    /// For readiness: why new writes are refused, if they are.
    pub(crate) fn refusing(&self) -> Option<String> {
        let r = self.reading()?;
        (r.free < r.reserve).then(|| {
            format!(
                "free space in the data folder ({} bytes) is below the reserve ({} bytes): \
                 new writes are refused",
                r.free, r.reserve
            )
        })
    }

    /// Reads the free space now (for the gauges).
    pub(crate) fn sample(&self) {
        let _ = self.reading();
    }

    /// Reads the free space now; `None` without a reserve or when the file system cannot be
    /// asked (then nothing is refused).
    fn reading(&self) -> Option<Reading> {
        let dir = self.dir.as_ref()?;
        let (free, size) = match free_space(dir) {
            Ok(v) => v,
            Err(e) => {
                tracing::debug!(error = %e, dir = %dir.display(), "cannot read free space");
                return None;
            }
        };
        let reserve = self.setting.unwrap_or_else(|| default_reserve(size));
        metrics::gauge!("hush_relay_data_dir_free_bytes").set(free as f64);
        metrics::gauge!("hush_relay_storage_reserve_bytes").set(reserve as f64);
        let below = free < reserve;
        if self.below.swap(below, Ordering::Relaxed) != below {
            if below {
                tracing::warn!(
                    free_bytes = free,
                    reserve_bytes = reserve,
                    dir = %dir.display(),
                    "free space below the reserve: new writes are refused (RELAY_FULL) until space is freed"
                );
            } else {
                tracing::warn!(
                    free_bytes = free,
                    reserve_bytes = reserve,
                    "free space above the reserve again: new writes are accepted"
                );
            }
        }
        Some(Reading { free, reserve })
    }
}

/// The default reserve of a file system of `size` bytes.
pub fn default_reserve(size: u64) -> u64 {
    (size / 100 * DEFAULT_RESERVE_PERCENT).min(DEFAULT_RESERVE_MAX_BYTES)
}

/// Free bytes (for unprivileged users) and size of the file system holding `dir`.
#[cfg(unix)]
fn free_space(dir: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(dir)?;
    Ok((
        s.f_bavail.saturating_mul(s.f_frsize),
        s.f_blocks.saturating_mul(s.f_frsize),
    ))
}

#[cfg(not(unix))]
fn free_space(_dir: &std::path::Path) -> std::io::Result<(u64, u64)> {
    Err(std::io::Error::other("free space is only read on Unix"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_five_percent_up_to_256_mib() {
        assert_eq!(default_reserve(0), 0);
        assert_eq!(default_reserve(100 << 20), 5 << 20);
        assert_eq!(default_reserve(1 << 40), 256 << 20);
    }

    #[test]
    fn a_reserve_larger_than_the_free_space_refuses_and_none_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let all = Reserve::new(Some(dir.path().to_path_buf()), Some(u64::MAX));
        let e = all.check().unwrap_err();
        assert_eq!(e.code, ErrorCode::RelayFull);
        assert!(e.message.contains("storage_reserve_bytes"), "{}", e.message);
        assert!(e.retry_after_ms > 0);
        assert!(all.refusing().is_some());
        let none = Reserve::new(Some(dir.path().to_path_buf()), Some(0));
        assert!(none.check().is_ok() && none.refusing().is_none());
        let small = Reserve::new(Some(dir.path().to_path_buf()), Some(1));
        assert!(small.check().is_ok() && small.refusing().is_none());
    }
}
