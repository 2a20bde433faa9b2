//! Human or JSON output (`--json`): every command that lists or reports prints, in JSON
//! mode, one JSON object per line instead of its human text (spec/cli.md, "JSON output").

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Switches JSON output on for this process (`--json`).
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// Whether output is JSON.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Prints one record: `human` (a line or several), or `value` as one JSON line.
pub fn emit(human: impl Display, value: serde_json::Value) {
    if json() {
        println!("{value}");
    } else {
        println!("{human}");
    }
}

/// A time in Unix milliseconds as RFC 3339 UTC, to the second (`2026-12-04T00:20:05Z`).
pub fn rfc3339(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// A duration in milliseconds, coarsely: `40 s`, `12 min`, `5 h`, `3 days`.
pub fn coarse(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..90 => format!("{s} s"),
        90..5400 => format!("{} min", (s + 30) / 60),
        5400..172_800 => format!("{} h", (s + 1800) / 3600),
        _ => format!("{} days", (s + 43_200) / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_780_000_000_999), "2026-05-28T20:26:40Z");
        assert_eq!(coarse(40_000), "40 s");
        assert_eq!(coarse(12 * 60_000), "12 min");
        assert_eq!(coarse(5 * 3_600_000), "5 h");
        assert_eq!(coarse(3 * 86_400_000), "3 days");
    }
}
