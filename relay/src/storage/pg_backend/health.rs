//! The health probe on PostgreSQL (`/readyz`): one transaction on a pooled connection that
//! inserts a row the relay never uses (version -1 of `hush_schema_version`) and rolls it back.
//! The insert needs a primary server that accepts writes (a standby or a read-only server
//! refuses it), a pooled connection and the schema; nothing of it stays. Transient failures
//! are retried like every other operation.

use super::*;

impl PgStorage {
    pub(super) async fn probe_pg(&self) -> Result<(), StorageError> {
        retrying!("health probe", async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            execute(
                &tx,
                "INSERT INTO hush_schema_version (version) VALUES (-1)",
                &[],
            )
            .await?;
            tx.rollback().await?;
            Ok(())
        })
    }
}
