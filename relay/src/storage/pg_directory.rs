//! The directory writes of the PostgreSQL backend: prekey and KeyPackage uploads (adding to
//! or replacing a mailbox's stock, under the mailbox's directory lock) and the blind
//! directory's fetch verifiers (`spec/relay-protocol.md` §6.1, table
//! `hush_directory_verifiers`, migration 2).

use super::*;

impl PgStorage {
    pub(super) fn upload_prekeys_pg(
        &self,
        mailbox: MailboxAddress,
        upload: PrekeyUpload,
        max_stock: u64,
    ) -> StorageFuture<'_, DirectoryStock> {
        Box::pin(async move {
            let replace = upload.replace_one_time;
            let signed = upload.signed_prekey;
            // Later duplicates of an id win, as in a sequence of inserts.
            let keys: BTreeMap<u64, Vec<u8>> = upload
                .one_time_prekeys
                .into_iter()
                .map(|k| (k.id, k.blob))
                .collect();
            let ids: Vec<i64> = keys.keys().map(|id| flip(*id)).collect();
            let blobs: Vec<Vec<u8>> = keys.into_values().collect();
            let kem =
                kem::KemUpload::new(upload.one_time_kem_prekeys, upload.last_resort_kem_prekey);
            let a = mailbox.0.as_slice();
            in_tx!(self, "put prekeys", |tx| async {
                lock_directory(&tx, a).await?;
                if replace {
                    execute(
                        &tx,
                        "DELETE FROM hush_one_time_prekeys WHERE address = $1",
                        &[&a],
                    )
                    .await?;
                }
                if !ids.is_empty() {
                    let r = query_one(
                        &tx,
                        "SELECT (SELECT count(*) FROM hush_one_time_prekeys WHERE address = $1),
                                (SELECT count(*) FROM unnest($2::bigint[]) AS n(id)
                                 WHERE NOT EXISTS (SELECT 1 FROM hush_one_time_prekeys k
                                                   WHERE k.address = $1 AND k.id = n.id))",
                        &[&a, &ids],
                    )
                    .await?;
                    let (have, new) = (to_u(r.get(0)), to_u(r.get(1)));
                    if have + new > max_stock {
                        return Err(Fail::Storage(StorageError::DirectoryFull(format!(
                            "{have} one-time prekeys stored, {new} more would exceed {max_stock}"
                        ))));
                    }
                    execute(
                        &tx,
                        "INSERT INTO hush_one_time_prekeys (address, id, blob)
                         SELECT $1, n.id, n.blob FROM unnest($2::bigint[], $3::bytea[]) AS n(id, blob)
                         ON CONFLICT (address, id) DO UPDATE SET blob = EXCLUDED.blob",
                        &[&a, &ids, &blobs],
                    )
                    .await?;
                }
                kem.put_on(&tx, a, max_stock, replace).await?;
                if let Some(s) = &signed {
                    execute(
                        &tx,
                        "INSERT INTO hush_signed_prekeys (address, id, blob) VALUES ($1, $2, $3)
                         ON CONFLICT (address) DO UPDATE SET id = EXCLUDED.id, blob = EXCLUDED.blob",
                        &[&a, &i64::from(s.id), &s.blob],
                    )
                    .await?;
                }
                stock_on(&tx, a).await
            })
        })
    }

    pub(super) fn put_key_packages_replacing(
        &self,
        mailbox: MailboxAddress,
        key_packages: Vec<Vec<u8>>,
        last_resort: Option<Vec<u8>>,
        max_stock: u64,
        replace: bool,
    ) -> StorageFuture<'_, DirectoryStock> {
        Box::pin(async move {
            let kps: BTreeMap<[u8; 32], Vec<u8>> = key_packages
                .into_iter()
                .map(|kp| (sha256(&[&kp]), kp))
                .collect();
            let digests: Vec<Vec<u8>> = kps.keys().map(|d| d.to_vec()).collect();
            let blobs: Vec<Vec<u8>> = kps.into_values().collect();
            let a = mailbox.0.as_slice();
            in_tx!(self, "put key packages", |tx| async {
                lock_directory(&tx, a).await?;
                if replace {
                    execute(
                        &tx,
                        "DELETE FROM hush_key_packages WHERE address = $1",
                        &[&a],
                    )
                    .await?;
                }
                if !digests.is_empty() {
                    let r = query_one(
                        &tx,
                        "SELECT (SELECT count(*) FROM hush_key_packages WHERE address = $1),
                                (SELECT count(*) FROM unnest($2::bytea[]) AS n(digest)
                                 WHERE NOT EXISTS (SELECT 1 FROM hush_key_packages k
                                                   WHERE k.address = $1 AND k.digest = n.digest))",
                        &[&a, &digests],
                    )
                    .await?;
                    let (have, new) = (to_u(r.get(0)), to_u(r.get(1)));
                    if have + new > max_stock {
                        return Err(Fail::Storage(StorageError::DirectoryFull(format!(
                            "{have} KeyPackages stored, {new} more would exceed {max_stock}"
                        ))));
                    }
                    execute(
                        &tx,
                        "INSERT INTO hush_key_packages (address, digest, blob)
                         SELECT $1, n.digest, n.blob
                         FROM unnest($2::bytea[], $3::bytea[]) AS n(digest, blob)
                         ON CONFLICT (address, digest) DO NOTHING",
                        &[&a, &digests, &blobs],
                    )
                    .await?;
                }
                if let Some(lr) = &last_resort {
                    execute(
                        &tx,
                        "INSERT INTO hush_last_resort_key_packages (address, blob) VALUES ($1, $2)
                         ON CONFLICT (address) DO UPDATE SET blob = EXCLUDED.blob",
                        &[&a, lr],
                    )
                    .await?;
                }
                stock_on(&tx, a).await
            })
        })
    }

    pub(super) fn set_fetch_verifier_impl(
        &self,
        mailbox: MailboxAddress,
        verifier: [u8; 32],
    ) -> StorageFuture<'_, DirectoryStock> {
        Box::pin(async move {
            let a = mailbox.0.as_slice();
            let v = verifier.as_slice();
            in_tx!(self, "set fetch verifier", |tx| async {
                execute(
                    &tx,
                    "INSERT INTO hush_directory_verifiers (address, verifier) VALUES ($1, $2)
                     ON CONFLICT (address) DO UPDATE SET verifier = EXCLUDED.verifier",
                    &[&a, &v],
                )
                .await?;
                stock_on(&tx, a).await
            })
        })
    }

    pub(super) fn fetch_verifier_impl(
        &self,
        mailbox: MailboxAddress,
    ) -> StorageFuture<'_, Option<[u8; 32]>> {
        Box::pin(async move {
            let a = mailbox.0.as_slice();
            let row = on_client!(self, "fetch verifier", |c| query_opt(
                &c,
                "SELECT verifier FROM hush_directory_verifiers WHERE address = $1",
                &[&a]
            ))?;
            match row {
                None => Ok(None),
                Some(r) => <[u8; 32]>::try_from(r.get::<_, Vec<u8>>(0).as_slice())
                    .map(Some)
                    .map_err(|_| StorageError::Corrupt("directory verifier".into())),
            }
        })
    }
}
