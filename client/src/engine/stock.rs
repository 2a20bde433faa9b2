//! Keeping the account's directory on its relay: the first publication (sealed entries and
//! the fetch verifier), refills when the relay reports the stock running low, and the
//! rotation of the signed prekey with the last-resort KEM prekey.
//!
//! PQXDH (`spec/pqxdh.md`): the KEM prekeys always go up first, and the signed prekey is
//! signed as offering PQXDH only once the relay's answer shows it keeps the last-resort KEM
//! prekey (a relay without KEM prekeys gets an X3DH signed prekey), so the relay never holds
//! a signed prekey that promises a KEM prekey it cannot hand out.

use super::{Engine, PUBLISHED};
use crate::directory::{self, Publication};
use crate::error::Error;
use crate::store::{Batch, Store, Table};
use hush_relay_client::{MailboxAddress, PrekeyUpload, RelayUrl, Stock};
use zeroize::Zeroizing;

/// One-time prekeys uploaded at a time.
pub const PREKEY_BATCH: usize = 50;
/// KeyPackages uploaded at a time.
pub const KEY_PACKAGE_BATCH: usize = 20;
/// Refill one-time prekeys below this many.
pub const PREKEY_LOW: u64 = 10;
/// Refill KeyPackages below this many.
pub const KEY_PACKAGE_LOW: u64 = 5;
/// One-time KEM prekeys (PQXDH) uploaded at a time (each sealed entry is about 1.3 KiB).
pub const KEM_PREKEY_BATCH: usize = 25;
/// Refill one-time KEM prekeys below this many.
pub const KEM_PREKEY_LOW: u64 = 10;
/// A new signed prekey replaces the current one this long after it was made (Signal rotates
/// weekly to monthly; the previous ones stay usable for sessions started meanwhile,
/// `hush_protocol::SIGNED_PREKEYS_KEPT`).
pub const SIGNED_PREKEY_ROTATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// The account record holding when the current signed prekey was made (u64 BE, Unix ms).
const SIGNED_PREKEY_AT: &[u8] = b"signed_prekey_at";

/// The account record set when our group credential changed (a link completed): the
/// KeyPackages in the directory carry the old one and are replaced at the next receive.
pub(crate) const KEY_PACKAGES_STALE: &[u8] = b"key_packages_stale";

impl<S: Store> Engine<S> {
    /// Replaces the directory on the relay with fresh sealed entries and registers the fetch
    /// verifier; the new keys are in the store before anything is uploaded.
    pub(crate) async fn publish(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
    ) -> Result<(), Error> {
        let mut rng = self.child_rng();
        let me = self.account.identity_key_pair();
        let signed_at = self.signed_prekey_at()?.unwrap_or(self.now_ms());
        let one_time = self
            .prekeys
            .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
        let one_time_kem =
            self.prekeys
                .generate_one_time_kem_prekeys(&mut rng, me, KEM_PREKEY_BATCH);
        let last_resort_kem = match self.prekeys.current_last_resort_kem_prekey(me) {
            Some(k) => k,
            None => self.prekeys.rotate_last_resort_kem_prekey(&mut rng, me),
        };
        let key_packages = self
            .groups
            .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)?;
        let last_resort = self.groups.last_resort_key_package(&mut rng)?;
        let mut batch = Batch::new();
        self.put_group_changes(&mut batch)?;
        batch.put(
            Table::Account,
            SIGNED_PREKEY_AT,
            Zeroizing::new(signed_at.to_be_bytes().to_vec()),
        );
        self.commit_with_prekeys(batch)?;
        let keys = self.account.directory_keys();
        let p = Publication {
            one_time,
            one_time_kem,
            last_resort_kem,
            key_packages,
            last_resort,
        };
        let stock =
            directory::publish(&mut rng, self.client(url).await?, mailbox, &keys, &p).await?;
        self.upload_signed_prekey(url, mailbox, &stock, false)
            .await?;
        let mut b = Batch::new();
        b.put(Table::Account, PUBLISHED, Zeroizing::new(vec![1]))
            .delete(Table::Account, crate::account::UNSEALED);
        self.account.store.commit(b)?;
        self.account.unsealed = false;
        Ok(())
    }

    /// Uploads the signed prekey after the KEM prekeys: one that offers PQXDH when `stock`
    /// (the relay's answer to the KEM prekey upload) shows a last-resort KEM prekey, else an
    /// X3DH one. A new signed prekey is made (and saved first) when `rotate`, or when the
    /// current one does not match what the relay supports.
    async fn upload_signed_prekey(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
        stock: &Stock,
        rotate: bool,
    ) -> Result<(), Error> {
        let mut rng = self.child_rng();
        let me = self.account.identity_key_pair();
        let pqxdh = stock.has_last_resort_kem_prekey;
        let signed = match self.prekeys.current_signed_prekey(me) {
            Some(s) if !rotate && s.offers_pqxdh() == pqxdh => s,
            _ => {
                let s = if pqxdh {
                    self.prekeys.rotate_signed_prekey_pqxdh(&mut rng, me)
                } else {
                    self.prekeys.rotate_signed_prekey(&mut rng, me)
                };
                self.commit_with_prekeys(Batch::new())?;
                s
            }
        };
        let keys = self.account.directory_keys();
        let entry = directory::signed_entry(&mut rng, &keys, &signed)?;
        self.client(url)
            .await?
            .upload_prekeys(mailbox, Some(entry), Vec::new())
            .await?;
        Ok(())
    }

    /// When the current signed prekey was made (`None`: not recorded, stores of the first
    /// release).
    fn signed_prekey_at(&self) -> Result<Option<u64>, Error> {
        self.account
            .store
            .get(Table::Account, SIGNED_PREKEY_AT)?
            .map(|b| {
                Ok(u64::from_be_bytes(
                    b.as_slice()
                        .try_into()
                        .map_err(|_| Error::Corrupt("signed prekey time"))?,
                ))
            })
            .transpose()
    }

    /// Replaces the signed prekey and the last-resort KEM prekey when the signed prekey is
    /// [`SIGNED_PREKEY_ROTATION_MS`] old: the new keys are saved (the previous ones stay
    /// usable) before they are uploaded, sealed, the KEM prekey first. This also moves an
    /// account made before PQXDH to PQXDH.
    pub(crate) async fn rotate_if_due(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
    ) -> Result<(), Error> {
        let now = self.now_ms();
        let Some(at) = self.signed_prekey_at()? else {
            // Not recorded yet: count from now.
            let mut b = Batch::new();
            b.put(
                Table::Account,
                SIGNED_PREKEY_AT,
                Zeroizing::new(now.to_be_bytes().to_vec()),
            );
            self.account.store.commit(b)?;
            return Ok(());
        };
        if now.saturating_sub(at) < SIGNED_PREKEY_ROTATION_MS {
            return Ok(());
        }
        let mut rng = self.child_rng();
        let kem = self
            .prekeys
            .rotate_last_resort_kem_prekey(&mut rng, self.account.identity_key_pair());
        let mut b = Batch::new();
        b.put(
            Table::Account,
            SIGNED_PREKEY_AT,
            Zeroizing::new(now.to_be_bytes().to_vec()),
        );
        self.commit_with_prekeys(b)?;
        let keys = self.account.directory_keys();
        let upload = PrekeyUpload {
            last_resort_kem_prekey: Some(directory::kem_entry(&mut rng, &keys, &kem)?),
            ..PrekeyUpload::default()
        };
        let stock = self
            .client(url)
            .await?
            .upload_prekey_set(mailbox, upload)
            .await?;
        self.upload_signed_prekey(url, mailbox, &stock, true).await
    }

    /// Uploads one-time prekeys, one-time KEM prekeys and KeyPackages when `stock` is below
    /// the thresholds (one-time KEM prekeys only while the relay keeps a last-resort KEM
    /// prekey, that is once this account offers PQXDH there).
    pub(crate) async fn replenish(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
        stock: &Stock,
    ) -> Result<(), Error> {
        let mut rng = self.child_rng();
        let keys = self.account.directory_keys();
        let me = self.account.identity_key_pair();
        let mut upload = PrekeyUpload::default();
        if stock.one_time_prekeys < PREKEY_LOW {
            let opks = self
                .prekeys
                .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
            upload.one_time_prekeys = directory::one_time_entries(&mut rng, &keys, &opks)?;
        }
        if stock.has_last_resort_kem_prekey && stock.one_time_kem_prekeys < KEM_PREKEY_LOW {
            let kems = self
                .prekeys
                .generate_one_time_kem_prekeys(&mut rng, me, KEM_PREKEY_BATCH);
            upload.one_time_kem_prekeys = directory::kem_entries(&mut rng, &keys, &kems)?;
        }
        if !upload.one_time_prekeys.is_empty() || !upload.one_time_kem_prekeys.is_empty() {
            self.commit_with_prekeys(Batch::new())?;
            self.client(url)
                .await?
                .upload_prekey_set(mailbox, upload)
                .await?;
        }
        if self
            .account
            .store
            .get(Table::Account, KEY_PACKAGES_STALE)?
            .is_some()
        {
            return self.replace_stale_key_packages(url, mailbox).await;
        }
        if stock.key_packages < KEY_PACKAGE_LOW {
            let kps = self
                .groups
                .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)?;
            self.commit_groups(Batch::new())?;
            let entries = directory::key_package_entries(&mut rng, &keys, &kps)?;
            self.client(url)
                .await?
                .upload_key_packages(mailbox, entries, None)
                .await?;
        }
        Ok(())
    }

    /// Replaces the KeyPackages in our directory with ones made with our current credential
    /// (`spec/multi-device.md` §5: after a link it names the person), then clears
    /// [`KEY_PACKAGES_STALE`].
    async fn replace_stale_key_packages(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
    ) -> Result<(), Error> {
        let mut rng = self.child_rng();
        let kps = self
            .groups
            .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)?;
        let last_resort = self.groups.last_resort_key_package(&mut rng)?;
        self.commit_groups(Batch::new())?;
        let keys = self.account.directory_keys();
        directory::replace_key_packages(
            &mut rng,
            self.client(url).await?,
            mailbox,
            &keys,
            &kps,
            &last_resort,
        )
        .await?;
        let mut b = Batch::new();
        b.delete(Table::Account, KEY_PACKAGES_STALE.to_vec());
        self.account.store.commit(b)?;
        Ok(())
    }
}
