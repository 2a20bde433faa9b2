//! Helpers shared by the engine tests: an in-process relay on 127.0.0.1 and event bodies.
#![allow(dead_code)]

pub mod crashing;

use hush_client::store::{KdfParams, Store};
use hush_client::{Account, Engine, Event, EventKind};
use hush_relay::server::{Relay, RelayConfig, RelayHandle};
use hush_relay_client::{ClientOptions, RelayUrl};
use std::path::Path;
use std::time::Duration;

/// Key derivation cheap enough for tests (apps use `KdfParams::DEFAULT`).
pub const CHEAP: KdfParams = KdfParams {
    m_cost: 64,
    t_cost: 1,
    p_cost: 1,
};

/// Short timeouts: a relay that is down is given up on quickly.
pub fn quick() -> ClientOptions {
    ClientOptions {
        idle_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(2),
        ..ClientOptions::default()
    }
}

/// A new account `name` on `store`, home relay `url`, in an engine.
pub fn engine<S: Store>(store: S, name: &str, url: &RelayUrl) -> Engine<S> {
    Engine::new(Account::create(store, &mut rand::rng(), name, url.clone()).unwrap()).unwrap()
}

/// [`engine`] with [`quick`] timeouts.
pub fn quick_engine<S: Store>(store: S, name: &str, url: &RelayUrl) -> Engine<S> {
    let account = Account::create(store, &mut rand::rng(), name, url.clone()).unwrap();
    Engine::with_options(account, quick()).unwrap()
}

/// Makes `a` and `b` contacts of each other (as exchanging cards does).
pub fn introduce<S: Store, T: Store>(a: &mut Engine<S>, an: &str, b: &mut Engine<T>, bn: &str) {
    let ac = a.account().card().encode().unwrap();
    let bc = b.account().card().encode().unwrap();
    a.account_mut().add_contact(bn, &bc).unwrap();
    b.account_mut().add_contact(an, &ac).unwrap();
}

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
