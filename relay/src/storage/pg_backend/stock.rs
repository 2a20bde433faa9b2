//! The directory stock of a mailbox, read from its counters in SQL that larger queries
//! embed, the directory lock of the uploads, and the takes of a prekey bundle or KeyPackage.

use super::*;

/// The directory stock of a mailbox, as SQL that a larger query can embed (`$1` is the
/// mailbox address): one row of [`STOCK_COLUMNS`] columns, read from the mailbox's counter
/// row (migration 6, kept by triggers), zeros and `false` when it has none.
macro_rules! stock_sql {
    () => {
        "SELECT coalesce(d.one_time_prekeys, 0), coalesce(d.key_packages, 0),
            coalesce(d.signed_prekeys, 0) > 0, coalesce(d.last_resort_key_packages, 0) > 0,
            coalesce(d.one_time_kem_prekeys, 0), coalesce(d.last_resort_kem_prekeys, 0) > 0
         FROM (SELECT) AS one LEFT JOIN hush_directories d ON d.address = $1"
    };
}

pub(super) const STOCK_SQL: &str = stock_sql!();

/// How many columns [`STOCK_SQL`] has.
pub(super) const STOCK_COLUMNS: usize = 6;

/// Reads [`STOCK_SQL`]'s columns from `r`, starting at column `at`.
pub(super) fn stock_from(r: &Row, at: usize) -> DirectoryStock {
    DirectoryStock {
        one_time_prekeys: to_u(r.get(at)),
        key_packages: to_u(r.get(at + 1)),
        has_signed_prekey: r.get(at + 2),
        has_last_resort: r.get(at + 3),
        one_time_kem_prekeys: to_u(r.get(at + 4)),
        has_last_resort_kem_prekey: r.get(at + 5),
    }
}

pub(super) async fn stock_on<C: GenericClient>(c: &C, a: &[u8]) -> Result<DirectoryStock, Fail> {
    Ok(stock_from(&query_one(c, STOCK_SQL, &[&a]).await?, 0))
}

/// Locks the directory row of a mailbox for the rest of the transaction.
pub(super) async fn lock_directory(tx: &Tx<'_>, a: &[u8]) -> Result<(), Fail> {
    query(
        tx,
        "INSERT INTO hush_directories (address) VALUES ($1)
         ON CONFLICT (address) DO UPDATE SET address = EXCLUDED.address RETURNING 1",
        &[&a],
    )
    .await?;
    Ok(())
}

/// Locks the counter row of a mailbox (its `hush_directories` row) for the rest of the
/// transaction, if it has one: a mailbox without one has no directory entries to take.
async fn lock_stock(tx: &Tx<'_>, a: &[u8]) -> Result<(), Fail> {
    query_opt(
        tx,
        "SELECT 1 FROM hush_directories WHERE address = $1 FOR UPDATE",
        &[&a],
    )
    .await?;
    Ok(())
}

impl PgStorage {
    pub(super) async fn take_prekey_bundle_pg(
        &self,
        mailbox: MailboxAddress,
    ) -> Result<Option<PrekeyBundle>, StorageError> {
        let a = mailbox.0.as_slice();
        // One statement: the signed prekey, and a one-time prekey and a one-time KEM prekey
        // taken only if there is a signed one (a data-modifying CTE runs once, whether or not
        // the query reads it), or else the last-resort KEM prekey (kept).
        // In a transaction that first locks the mailbox's counter row, which the take's
        // triggers update: the lock order of the uploads (counter row, then the keys), so a
        // take and an upload replacing the keys cannot deadlock.
        let row = in_tx!(self, "take prekey", |tx| async {
            lock_stock(&tx, a).await?;
            query_opt(
                &tx,
                "WITH s AS (
                         SELECT id, blob FROM hush_signed_prekeys WHERE address = $1
                     ), o AS (
                         DELETE FROM hush_one_time_prekeys
                         WHERE address = $1 AND EXISTS (SELECT 1 FROM s) AND id = (
                             SELECT id FROM hush_one_time_prekeys WHERE address = $1
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING id, blob
                     ), q AS (
                         DELETE FROM hush_one_time_kem_prekeys
                         WHERE address = $1 AND EXISTS (SELECT 1 FROM s) AND id = (
                             SELECT id FROM hush_one_time_kem_prekeys WHERE address = $1
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING id, blob
                     ), k AS (
                         SELECT id, blob, false AS last_resort FROM q
                         UNION ALL
                         SELECT id, blob, true FROM hush_last_resort_kem_prekeys
                         WHERE address = $1 AND NOT EXISTS (SELECT 1 FROM q)
                     )
                     SELECT s.id, s.blob, o.id, o.blob, k.id, k.blob, k.last_resort
                     FROM s LEFT JOIN o ON true LEFT JOIN k ON true",
                &[&a],
            )
            .await
        })?;
        let Some(r) = row else { return Ok(None) };
        let signed = SignedPrekey {
            id: u32::try_from(r.get::<_, i64>(0))
                .map_err(|_| StorageError::Corrupt("signed prekey id".into()))?,
            blob: r.get(1),
        };
        let one_time = match (r.get::<_, Option<i64>>(2), r.get::<_, Option<Vec<u8>>>(3)) {
            (Some(id), Some(blob)) => Some(OneTimePrekey {
                id: unflip(id),
                blob,
            }),
            _ => None,
        };
        let (kem_prekey, kem_prekey_last_resort) = match (
            r.get::<_, Option<i64>>(4),
            r.get::<_, Option<Vec<u8>>>(5),
            r.get::<_, Option<bool>>(6),
        ) {
            (Some(id), Some(blob), Some(last_resort)) => (
                Some(KemPrekey {
                    id: unflip(id),
                    blob,
                }),
                last_resort,
            ),
            _ => (None, false),
        };
        Ok(Some(PrekeyBundle {
            signed_prekey: signed,
            one_time_prekey: one_time,
            kem_prekey,
            kem_prekey_last_resort,
        }))
    }

    pub(super) async fn take_key_package_pg(
        &self,
        mailbox: MailboxAddress,
    ) -> Result<Option<KeyPackage>, StorageError> {
        let a = mailbox.0.as_slice();
        // One statement: a KeyPackage taken, or else the last-resort one (kept).
        // After the counter row, as the prekey take.
        let row = in_tx!(self, "take key package", |tx| async {
            lock_stock(&tx, a).await?;
            query_opt(
                &tx,
                "WITH k AS (
                         DELETE FROM hush_key_packages
                         WHERE address = $1 AND digest = (
                             SELECT digest FROM hush_key_packages WHERE address = $1
                             ORDER BY digest LIMIT 1 FOR UPDATE SKIP LOCKED)
                         RETURNING blob
                     )
                     SELECT blob, false FROM k
                     UNION ALL
                     SELECT blob, true FROM hush_last_resort_key_packages
                     WHERE address = $1 AND NOT EXISTS (SELECT 1 FROM k)",
                &[&a],
            )
            .await
        })?;
        Ok(row.map(|r| KeyPackage {
            blob: r.get(0),
            last_resort: r.get(1),
        }))
    }

    pub(super) async fn directory_stock_pg(
        &self,
        mailbox: MailboxAddress,
    ) -> Result<DirectoryStock, StorageError> {
        let a = mailbox.0.as_slice();
        on_client!(self, "directory stock", |c| stock_on(&c, a))
    }
}
