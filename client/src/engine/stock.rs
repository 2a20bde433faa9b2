//! Keeping the account's directory on its relay: the first publication (sealed entries and
//! the fetch verifier) and refills when the relay reports the stock running low.

use super::{Engine, PUBLISHED};
use crate::directory::{self, Publication};
use crate::error::Error;
use crate::store::{Batch, Store, Table};
use hush_relay_client::{MailboxAddress, RelayUrl, Stock};
use zeroize::Zeroizing;

/// One-time prekeys uploaded at a time.
pub const PREKEY_BATCH: usize = 50;
/// KeyPackages uploaded at a time.
pub const KEY_PACKAGE_BATCH: usize = 20;
/// Refill one-time prekeys below this many.
pub const PREKEY_LOW: u64 = 10;
/// Refill KeyPackages below this many.
pub const KEY_PACKAGE_LOW: u64 = 5;
/// A new signed prekey replaces the current one this long after it was made (Signal rotates
/// weekly to monthly; the previous ones stay usable for sessions started meanwhile,
/// `hush_protocol::SIGNED_PREKEYS_KEPT`).
pub const SIGNED_PREKEY_ROTATION_MS: u64 = 7 * 24 * 3600 * 1000;
/// The account record holding when the current signed prekey was made (u64 BE, Unix ms).
const SIGNED_PREKEY_AT: &[u8] = b"signed_prekey_at";

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
        let signed = match self.prekeys.current_signed_prekey(me) {
            Some(s) => s,
            None => self.prekeys.rotate_signed_prekey(&mut rng, me),
        };
        let signed_at = self.signed_prekey_at()?.unwrap_or(self.now_ms());
        let one_time = self
            .prekeys
            .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
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
            signed,
            one_time,
            key_packages,
            last_resort,
        };
        directory::publish(&mut rng, self.client(url).await?, mailbox, &keys, &p).await?;
        let mut b = Batch::new();
        b.put(Table::Account, PUBLISHED, Zeroizing::new(vec![1]))
            .delete(Table::Account, crate::account::UNSEALED);
        self.account.store.commit(b)?;
        self.account.unsealed = false;
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

    /// Replaces the signed prekey when it is [`SIGNED_PREKEY_ROTATION_MS`] old: the new one
    /// is saved (the previous ones stay usable) before it is uploaded, sealed.
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
        let signed = self
            .prekeys
            .rotate_signed_prekey(&mut rng, self.account.identity_key_pair());
        let mut b = Batch::new();
        b.put(
            Table::Account,
            SIGNED_PREKEY_AT,
            Zeroizing::new(now.to_be_bytes().to_vec()),
        );
        self.commit_with_prekeys(b)?;
        let keys = self.account.directory_keys();
        let entry = directory::signed_entry(&mut rng, &keys, &signed)?;
        self.client(url)
            .await?
            .upload_prekeys(mailbox, Some(entry), Vec::new())
            .await?;
        Ok(())
    }

    /// Uploads one-time prekeys and KeyPackages when `stock` is below the thresholds.
    pub(crate) async fn replenish(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
        stock: &Stock,
    ) -> Result<(), Error> {
        let mut rng = self.child_rng();
        let keys = self.account.directory_keys();
        if stock.one_time_prekeys < PREKEY_LOW {
            let opks = self
                .prekeys
                .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
            self.commit_with_prekeys(Batch::new())?;
            let entries = directory::one_time_entries(&mut rng, &keys, &opks)?;
            self.client(url)
                .await?
                .upload_prekeys(mailbox, None, entries)
                .await?;
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
}
