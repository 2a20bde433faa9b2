//! Online backup of a running relay (embedded store): `hush-relay` writes one on SIGUSR1.

use std::path::{Path, PathBuf};

use crate::server::{DB_FILE, RelayError, RelayHandle};
use crate::tls::{CERT_FILE, KEY_FILE, RECEIPT_KEY_FILE};

impl RelayHandle {
    /// Writes a backup of this relay into the new folder `dir`, while it keeps serving: a
    /// consistent copy of the store as of one moment ([`DB_FILE`], see
    /// [`crate::storage::Storage::backup`]) and copies of the relay's keys that live in its
    /// data folder (self-signed certificate and its key, receipt key), so that `dir` is a
    /// complete data folder: a relay started on it (`--data DIR`) serves the backed-up
    /// mailboxes under the same address and signs receipts with the same key.
    ///
    /// Fails if `dir` exists, and with [`crate::storage::StorageError::Unsupported`] on a
    /// backend with backup tools of its own (PostgreSQL).
    pub async fn backup(&self, dir: &Path) -> Result<PathBuf, RelayError> {
        let io = |what: &str, e: std::io::Error| {
            RelayError::Config(format!("backup {what} {}: {e}", dir.display()))
        };
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io("folder", e))?;
        }
        std::fs::create_dir(dir).map_err(|e| io("folder", e))?;
        let result = self.fill(dir).await;
        if result.is_err() {
            let _ = std::fs::remove_dir_all(dir);
        }
        result.map(|()| dir.to_path_buf())
    }

    async fn fill(&self, dir: &Path) -> Result<(), RelayError> {
        // The keys first: they never change while the relay runs.
        for name in [CERT_FILE, KEY_FILE, RECEIPT_KEY_FILE] {
            let from = self.data_dir.join(name);
            if from.exists() {
                std::fs::copy(&from, dir.join(name)).map_err(|e| {
                    RelayError::Config(format!("backup cannot copy {}: {e}", from.display()))
                })?;
            }
        }
        self.storage.backup(dir.join(DB_FILE)).await?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| RelayError::Config(format!("backup folder {}: {e}", dir.display())))
    }
}
