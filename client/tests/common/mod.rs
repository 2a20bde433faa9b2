//! Helpers shared by the engine tests: an in-process relay on 127.0.0.1 and event bodies.
#![allow(dead_code)]

pub mod crashing;

use hush_client::{Event, EventKind};
use hush_relay::server::{Relay, RelayConfig, RelayHandle};
use std::path::Path;
use std::time::Duration;

/// The relay config of the tests: data in `dir`, `listen` (port 0 for any).
pub fn relay_config(dir: &Path, listen: std::net::SocketAddr) -> RelayConfig {
    RelayConfig {
        listen,
        data_dir: dir.to_path_buf(),
        shutdown_grace: Duration::from_secs(5),
        ..RelayConfig::default()
    }
}

/// A relay on an ephemeral port of 127.0.0.1.
pub async fn relay(dir: &Path) -> RelayHandle {
    Relay::start(relay_config(dir, "127.0.0.1:0".parse().unwrap()))
        .await
        .expect("relay starts")
}

/// (sender alias, body as text) of each event; unreadable ones as `unreadable: why`.
pub fn texts(events: &[Event]) -> Vec<(Option<String>, String)> {
    events
        .iter()
        .map(|e| match &e.kind {
            EventKind::Message { from, body } => (
                from.alias.clone(),
                String::from_utf8_lossy(body).into_owned(),
            ),
            EventKind::GroupMessage { group, from, body } => (
                from.alias.clone(),
                format!("[{group}] {}", String::from_utf8_lossy(body)),
            ),
            EventKind::Joined { group, by } => (by.alias.clone(), format!("joined {group}")),
            EventKind::Removed { group } => (None, format!("removed from {group}")),
            EventKind::MembersChanged {
                group,
                added,
                removed,
                ..
            } => (
                None,
                format!("{group}: +{} -{}", added.len(), removed.len()),
            ),
            EventKind::Unreadable { reason } => (None, format!("unreadable: {reason}")),
            _ => (None, "unknown event".into()),
        })
        .collect()
}

/// The bodies of [`texts`].
pub fn bodies(events: &[Event]) -> Vec<String> {
    texts(events).into_iter().map(|(_, b)| b).collect()
}
