//! Our mailbox's sealed directory (`spec/relay-protocol.md` §6.1), and fetching a contact's
//! prekeys and KeyPackages with the keys from their card.
//!
//! Every entry this home uploads is sealed under the seal key derived from the directory
//! secret in its card, and the relay hands them out only for the fetch token derived from the
//! same secret. A home made before sealed directories gets a secret on the first command that
//! opens its mailbox ([`Engine::seal_directory`]), which replaces every plaintext entry.

use anyhow::{Context, Result, anyhow};
use hush_protocol::directory::{DirectoryKeys, DirectorySecret, EntryKind};
use hush_protocol::{OneTimePreKeyPublic, PreKeyBundle, SignedPreKeyPublic};
use hush_relay_client::ErrorCode;
use hush_relay_client::{Client, MailboxAddress};
use hush_relay_client::{ClientError, OneTimePrekey, SignedPrekey};
use zeroize::Zeroizing;

use crate::card::Card;
use crate::cmd::basic::{KEY_PACKAGE_BATCH, PREKEY_BATCH};
use crate::engine::Engine;
use crate::net;
use crate::state::Secret;

/// Seals (with `keys`) or passes through (legacy, `None`) one entry.
fn entry(keys: Option<&DirectoryKeys>, kind: EntryKind, blob: Vec<u8>) -> Result<Vec<u8>> {
    match keys {
        None => Ok(blob),
        Some(k) => k
            .seal(&mut rand::rng(), kind, &blob)
            .context("cannot seal a directory entry"),
    }
}

/// One-time prekeys as relay entries.
pub fn one_time_entries(
    keys: Option<&DirectoryKeys>,
    opks: &[OneTimePreKeyPublic],
) -> Result<Vec<OneTimePrekey>> {
    opks.iter()
        .map(|k| {
            Ok(OneTimePrekey {
                id: u64::from(k.id()),
                blob: entry(keys, EntryKind::OneTimePrekey, k.to_bytes())?,
            })
        })
        .collect()
}

/// KeyPackages as relay entries.
pub fn key_package_entries(
    keys: Option<&DirectoryKeys>,
    kps: Vec<Vec<u8>>,
) -> Result<Vec<Vec<u8>>> {
    kps.into_iter()
        .map(|kp| entry(keys, EntryKind::KeyPackage, kp))
        .collect()
}

/// What a home publishes in its directory.
pub struct Publication {
    /// The current signed prekey.
    pub signed: SignedPreKeyPublic,
    /// Fresh one-time prekeys.
    pub one_time: Vec<OneTimePreKeyPublic>,
    /// Fresh KeyPackages.
    pub key_packages: Vec<Vec<u8>>,
    /// The last-resort KeyPackage.
    pub last_resort: Vec<u8>,
}

/// Replaces everything the mailbox's directory holds with `p` sealed under `keys`, then
/// registers the fetch verifier: from then on only card holders can fetch.
pub async fn publish_sealed(
    client: &Client,
    mailbox: &MailboxAddress,
    keys: &DirectoryKeys,
    p: Publication,
) -> Result<()> {
    let signed = SignedPrekey {
        id: p.signed.id(),
        blob: entry(Some(keys), EntryKind::SignedPrekey, p.signed.to_bytes())?,
    };
    client
        .replace_prekeys(
            mailbox,
            Some(signed),
            one_time_entries(Some(keys), &p.one_time)?,
        )
        .await
        .map_err(net::err("cannot upload prekeys"))?;
    let last_resort = entry(Some(keys), EntryKind::LastResortKeyPackage, p.last_resort)?;
    client
        .replace_key_packages(
            mailbox,
            key_package_entries(Some(keys), p.key_packages)?,
            Some(last_resort),
        )
        .await
        .map_err(net::err("cannot upload KeyPackages"))?;
    client
        .register_fetch_verifier(mailbox, keys.fetch_token().verifier())
        .await
        .map_err(net::err("cannot protect the directory"))?;
    Ok(())
}

/// A fetch refused or failed, explained for `alias`.
fn fetch_error(alias: &str, card: &Card, what: &str, e: &ClientError) -> anyhow::Error {
    match e.relay_code() {
        Some(ErrorCode::NotFound) => anyhow!(
            "{alias} has no {what} on {} (is the card current?)",
            card.relay
        ),
        Some(ErrorCode::FetchTokenInvalid) => anyhow!(
            "{alias}'s relay wants a newer contact card to hand out {what}: ask {alias} for \
             their current card (or wait for a message from them, which carries it)"
        ),
        _ => anyhow!("cannot fetch {alias}'s {what}: {}", net::describe(e)),
    }
}

/// Fetches and opens a contact's prekey bundle: with the token and seal key of a version 2
/// card, or plainly for a version 1 card.
pub async fn fetch_bundle(client: &Client, alias: &str, card: &Card) -> Result<PreKeyBundle> {
    let keys = card.directory_keys();
    let b = client
        .fetch_prekey_bundle_with_token(
            &card.mailbox,
            keys.as_ref().map(|k| k.fetch_token().as_bytes()),
        )
        .await
        .map_err(|e| fetch_error(alias, card, "prekeys", &e))?;
    let open = |kind, blob: Vec<u8>| -> Result<Vec<u8>> {
        match &keys {
            None => Ok(blob),
            Some(k) => k
                .open(kind, &blob)
                .map_err(|e| anyhow!("{alias}'s prekeys do not open with their card: {e}")),
        }
    };
    let signed = open(EntryKind::SignedPrekey, b.signed_prekey.blob)?;
    let one_time = b
        .one_time_prekey
        .map(|k| open(EntryKind::OneTimePrekey, k.blob))
        .transpose()?;
    PreKeyBundle::from_parts(&signed, one_time.as_deref())
        .with_context(|| format!("{alias}'s prekey bundle is invalid"))
}

/// Fetches and opens one KeyPackage of a contact (as [`fetch_bundle`]).
pub async fn fetch_key_package(client: &Client, alias: &str, card: &Card) -> Result<Vec<u8>> {
    let keys = card.directory_keys();
    let kp = client
        .fetch_key_package_with_token(
            &card.mailbox,
            keys.as_ref().map(|k| k.fetch_token().as_bytes()),
        )
        .await
        .map_err(|e| fetch_error(alias, card, "KeyPackages", &e))?;
    match keys {
        None => Ok(kp.blob),
        Some(k) => {
            let kind = if kp.last_resort {
                EntryKind::LastResortKeyPackage
            } else {
                EntryKind::KeyPackage
            };
            k.open(kind, &kp.blob)
                .map_err(|e| anyhow!("{alias}'s KeyPackage does not open with their card: {e}"))
        }
    }
}

impl Engine {
    /// The keys of our sealed directory, `None` while it is not sealed yet.
    pub fn directory_keys(&self) -> Result<Option<DirectoryKeys>> {
        if !self.l.state.directory_sealed {
            return Ok(None);
        }
        let mailbox = self.l.state.mailbox()?;
        Ok(self
            .l
            .state
            .directory_secret()?
            .map(|ds| DirectoryKeys::derive(&ds, mailbox.as_bytes())))
    }

    /// Moves a home whose directory is not sealed yet (made before sealed directories) to a
    /// sealed one: makes a directory secret (saved first), then replaces every entry on the
    /// relay by sealed fresh ones (the current signed prekey, new one-time prekeys and
    /// KeyPackages, a new last-resort KeyPackage), registers the fetch verifier and marks the
    /// state sealed, so that our card becomes version 2. `mailbox` must be authenticated on
    /// our relay connection. Does nothing for a sealed home.
    pub async fn seal_directory(&mut self, mailbox: &MailboxAddress) -> Result<()> {
        if self.l.state.directory_sealed {
            return Ok(());
        }
        let mut rng = rand::rng();
        let ds = match self.l.state.directory_secret()? {
            Some(ds) => ds,
            None => {
                let ds = DirectorySecret::generate(&mut rng);
                self.l.state.directory_secret =
                    Some(Secret::new(Zeroizing::new(ds.as_bytes().to_vec())));
                ds
            }
        };
        let keys = DirectoryKeys::derive(&ds, mailbox.as_bytes());
        let signed = match self.prekeys.current_signed_prekey(&self.me) {
            Some(s) => s,
            None => self.prekeys.rotate_signed_prekey(&mut rng, &self.me),
        };
        let one_time = self
            .prekeys
            .generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
        let key_packages = self
            .gc
            .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)
            .context("cannot make KeyPackages")?;
        let last_resort = self
            .gc
            .last_resort_key_package(&mut rng)
            .context("cannot make KeyPackages")?;
        // The secret and the new keys are on disk before anything is uploaded.
        self.save()?;
        let url = self.l.state.relay_url()?;
        let client = self.client(&url).await?;
        publish_sealed(
            client,
            mailbox,
            &keys,
            Publication {
                signed,
                one_time,
                key_packages,
                last_resort,
            },
        )
        .await?;
        self.l.state.directory_sealed = true;
        self.save()
    }
}
