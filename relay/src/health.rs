//! Liveness and readiness of a running relay, for operators: the metrics listener's `/readyz`
//! (see [`crate::ops_http`]) asks [`Health::ready`].

use crate::refusals::Refusals;
use crate::reserve::Reserve;
use crate::server::RelayHandle;
use crate::storage::Storage;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Longest a readiness check waits for the storage probe.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a readiness check looks at: the relay's storage and whether it is shutting down.
/// Cheap to clone; it outlives the relay (and then answers "not ready").
#[derive(Clone)]
pub struct Health {
    storage: Arc<dyn Storage>,
    reserve: Arc<Reserve>,
    refusals: Arc<Refusals>,
    shutdown: watch::Receiver<bool>,
}

impl Health {
    /// `Ok` when the relay listens, is not shutting down, has the free-space reserve of its
    /// data folder, refused no write with `STORAGE_UNAVAILABLE` within the last
    /// [`crate::refusals::REFUSAL_WINDOW`], and its storage answers a probe (reachable and
    /// taking writes, [`Storage::probe`]) within [`PROBE_TIMEOUT`]; else why not.
    pub async fn ready(&self) -> Result<(), String> {
        if *self.shutdown.borrow() {
            return Err("shutting down".into());
        }
        if let Some(why) = self.reserve.refusing() {
            return Err(format!("storage: {why}"));
        }
        if let Some(why) = self.refusals.recent() {
            return Err(format!("storage: {why}"));
        }
        match tokio::time::timeout(PROBE_TIMEOUT, self.storage.probe()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("storage: {e}")),
            Err(_) => Err(format!(
                "storage: no answer within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        }
    }
}

impl RelayHandle {
    /// The readiness view of this relay, which is listening once this handle exists.
    pub fn health(&self) -> Health {
        Health {
            storage: self.storage.clone(),
            reserve: self.reserve.clone(),
            refusals: self.refusals.clone(),
            shutdown: self.shutdown_tx.subscribe(),
        }
    }
}
