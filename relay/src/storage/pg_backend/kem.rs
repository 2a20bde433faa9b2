//! The KEM prekeys (PQXDH) of the PostgreSQL backend, written with a prekey upload under the
//! mailbox's directory lock (tables `hush_one_time_kem_prekeys` and
//! `hush_last_resort_kem_prekeys`, migration 4). The take is part of the prekey bundle's
//! statement (`stock.rs`).

use super::*;

/// The KEM part of a prekey upload, ready for its statements.
pub(super) struct KemUpload {
    /// Flipped ids, one per distinct id (a later duplicate wins).
    ids: Vec<i64>,
    blobs: Vec<Vec<u8>>,
    last_resort: Option<(i64, Vec<u8>)>,
}

impl KemUpload {
    pub(super) fn new(one_time: Vec<KemPrekey>, last_resort: Option<KemPrekey>) -> Self {
        let keys: BTreeMap<u64, Vec<u8>> = one_time.into_iter().map(|k| (k.id, k.blob)).collect();
        Self {
            ids: keys.keys().map(|id| flip(*id)).collect(),
            blobs: keys.into_values().collect(),
            last_resort: last_resort.map(|k| (flip(k.id), k.blob)),
        }
    }

    /// Writes it inside the upload's transaction (which holds the directory lock): with
    /// `replace`, first removes the mailbox's one-time KEM prekeys; refuses with
    /// `DirectoryFull` if the one-time KEM stock would exceed `max_stock`.
    pub(super) async fn put_on(
        &self,
        tx: &Tx<'_>,
        a: &[u8],
        max_stock: u64,
        replace: bool,
    ) -> Result<(), Fail> {
        if replace {
            execute(
                tx,
                "DELETE FROM hush_one_time_kem_prekeys WHERE address = $1",
                &[&a],
            )
            .await?;
        }
        if !self.ids.is_empty() {
            let r = query_one(
                tx,
                "SELECT (SELECT count(*) FROM hush_one_time_kem_prekeys WHERE address = $1),
                        (SELECT count(*) FROM unnest($2::bigint[]) AS n(id)
                         WHERE NOT EXISTS (SELECT 1 FROM hush_one_time_kem_prekeys k
                                           WHERE k.address = $1 AND k.id = n.id))",
                &[&a, &self.ids],
            )
            .await?;
            let (have, new) = (to_u(r.get(0)), to_u(r.get(1)));
            if have + new > max_stock {
                return Err(Fail::Storage(StorageError::DirectoryFull(format!(
                    "{have} one-time KEM prekeys stored, {new} more would exceed {max_stock}"
                ))));
            }
            execute(
                tx,
                "INSERT INTO hush_one_time_kem_prekeys (address, id, blob)
                 SELECT $1, n.id, n.blob FROM unnest($2::bigint[], $3::bytea[]) AS n(id, blob)
                 ON CONFLICT (address, id) DO UPDATE SET blob = EXCLUDED.blob",
                &[&a, &self.ids, &self.blobs],
            )
            .await?;
        }
        if let Some((id, blob)) = &self.last_resort {
            execute(
                tx,
                "INSERT INTO hush_last_resort_kem_prekeys (address, id, blob) VALUES ($1, $2, $3)
                 ON CONFLICT (address) DO UPDATE SET id = EXCLUDED.id, blob = EXCLUDED.blob",
                &[&a, id, blob],
            )
            .await?;
        }
        Ok(())
    }
}
