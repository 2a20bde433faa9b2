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
        let one_time = self
            .prekeys
            .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
        let key_packages = self
            .groups
            .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)?;
        let last_resort = self.groups.last_resort_key_package(&mut rng)?;
        let mut batch = Batch::new();
        self.put_group_changes(&mut batch)?;
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
        b.put(Table::Account, PUBLISHED, Zeroizing::new(vec![1]));
        self.account.store.commit(b)?;
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
