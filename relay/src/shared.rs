//! The state every connection and request handler shares. Handlers take it, the connection
//! and the time; they never reach into the server that created it.

use crate::capacity::Capacity;
use crate::config::RelayConfig;
use crate::notify::Notifier;
use crate::storage::Storage;
use crate::types::Fingerprint;
use ed25519_dalek::SigningKey;
use std::sync::Arc;

/// State shared by every connection and request handler.
pub(crate) struct Shared {
    pub(crate) config: RelayConfig,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) notifier: Notifier,
    pub(crate) receipt_key: SigningKey,
    pub(crate) fingerprint: Fingerprint,
    /// The relay-wide storage cap (`capacity.rs`).
    pub(crate) capacity: Capacity,
    /// Recent `STORAGE_UNAVAILABLE` refusals, for readiness (`refusals.rs`).
    pub(crate) refusals: Arc<crate::refusals::Refusals>,
    /// SHA-256 of the whole certificate: AUTH also accepts it, from clients made before key
    /// pinning (spec §1).
    pub(crate) certificate_fingerprint: Fingerprint,
    /// The blob store (spec §11): files in `<data>/blobs/`, or the database on PostgreSQL
    /// nodes; `None` only in a socket-free dispatcher over a store without a data folder.
    pub(crate) blobs: Option<Arc<crate::blobs::Blobs>>,
}
