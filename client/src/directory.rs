//! The account's sealed directory on its relay (`spec/relay-protocol.md` §6.1), and fetching
//! a contact's prekeys and KeyPackages with the keys from their card.
//!
//! Every entry the engine uploads is sealed under the seal key derived from the directory
//! secret in the account's card, and the relay hands entries out only for the fetch token
//! derived from the same secret: only holders of the card can start a session or add the
//! account to a group, and the relay cannot tie the mailbox to the identity.

use crate::card::Card;
use crate::error::Error;
use hush_protocol::directory::{DirectoryKeys, EntryKind};
use hush_protocol::{
    CryptoRng, KemPreKeyPublic, OneTimePreKeyPublic, PreKeyBundle, SignedPreKeyPublic,
};
use hush_relay_client::{
    Client, ErrorCode, KemPrekey, MailboxAddress, OneTimePrekey, PrekeyUpload, SignedPrekey, Stock,
};

/// What an account publishes in its directory (the signed prekey goes up after the KEM
/// prekeys, see [`crate::engine`]'s `publish`).
pub(crate) struct Publication {
    /// Fresh one-time prekeys.
    pub one_time: Vec<OneTimePreKeyPublic>,
    /// Fresh one-time KEM prekeys.
    pub one_time_kem: Vec<KemPreKeyPublic>,
    /// The current last-resort KEM prekey.
    pub last_resort_kem: KemPreKeyPublic,
    /// Fresh KeyPackages.
    pub key_packages: Vec<Vec<u8>>,
    /// The last-resort KeyPackage.
    pub last_resort: Vec<u8>,
}

fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    kind: EntryKind,
    blob: &[u8],
) -> Result<Vec<u8>, Error> {
    Ok(keys.seal(rng, kind, blob)?)
}

/// A signed prekey as a sealed relay entry.
pub(crate) fn signed_entry<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    signed: &SignedPreKeyPublic,
) -> Result<SignedPrekey, Error> {
    Ok(SignedPrekey {
        id: signed.id(),
        blob: seal(rng, keys, EntryKind::SignedPrekey, &signed.to_bytes())?,
    })
}

/// One-time prekeys as sealed relay entries.
pub(crate) fn one_time_entries<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    opks: &[OneTimePreKeyPublic],
) -> Result<Vec<OneTimePrekey>, Error> {
    opks.iter()
        .map(|k| {
            Ok(OneTimePrekey {
                id: u64::from(k.id()),
                blob: seal(rng, keys, EntryKind::OneTimePrekey, &k.to_bytes())?,
            })
        })
        .collect()
}

/// A KEM prekey as a sealed relay entry.
pub(crate) fn kem_entry<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    k: &KemPreKeyPublic,
) -> Result<KemPrekey, Error> {
    Ok(KemPrekey {
        id: u64::from(k.id()),
        blob: seal(rng, keys, EntryKind::KemPrekey, &k.to_bytes())?,
    })
}

/// KEM prekeys as sealed relay entries.
pub(crate) fn kem_entries<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    ks: &[KemPreKeyPublic],
) -> Result<Vec<KemPrekey>, Error> {
    ks.iter().map(|k| kem_entry(rng, keys, k)).collect()
}

/// KeyPackages as sealed relay entries.
pub(crate) fn key_package_entries<R: CryptoRng + ?Sized>(
    rng: &mut R,
    keys: &DirectoryKeys,
    kps: &[Vec<u8>],
) -> Result<Vec<Vec<u8>>, Error> {
    kps.iter()
        .map(|kp| seal(rng, keys, EntryKind::KeyPackage, kp))
        .collect()
}

/// Replaces everything the mailbox's directory holds, except the signed prekey, with `p`
/// sealed under `keys`, then registers the fetch verifier. Returns the stock the relay
/// reported after the prekey upload: `has_last_resort_kem_prekey` is false from a relay
/// without KEM prekeys. `mailbox` must be authenticated on `client`.
pub(crate) async fn publish<R: CryptoRng + ?Sized>(
    rng: &mut R,
    client: &Client,
    mailbox: &MailboxAddress,
    keys: &DirectoryKeys,
    p: &Publication,
) -> Result<Stock, Error> {
    let upload = PrekeyUpload {
        signed_prekey: None,
        one_time_prekeys: one_time_entries(rng, keys, &p.one_time)?,
        one_time_kem_prekeys: kem_entries(rng, keys, &p.one_time_kem)?,
        last_resort_kem_prekey: Some(kem_entry(rng, keys, &p.last_resort_kem)?),
        replace_one_time: true,
    };
    let stock = client.upload_prekey_set(mailbox, upload).await?;
    replace_key_packages(rng, client, mailbox, keys, &p.key_packages, &p.last_resort).await?;
    client
        .register_fetch_verifier(mailbox, keys.fetch_token().verifier())
        .await?;
    Ok(stock)
}

/// Replaces the mailbox's KeyPackages, the last-resort one included, with `kps` and
/// `last_resort` sealed under `keys`. `mailbox` must be authenticated on `client`.
pub(crate) async fn replace_key_packages<R: CryptoRng + ?Sized>(
    rng: &mut R,
    client: &Client,
    mailbox: &MailboxAddress,
    keys: &DirectoryKeys,
    kps: &[Vec<u8>],
    last_resort: &[u8],
) -> Result<(), Error> {
    let last_resort = seal(rng, keys, EntryKind::LastResortKeyPackage, last_resort)?;
    let kps = key_package_entries(rng, keys, kps)?;
    client
        .replace_key_packages(mailbox, kps, Some(last_resort))
        .await?;
    Ok(())
}

fn fetch_error(alias: &str, what: &'static str, e: hush_relay_client::ClientError) -> Error {
    match e.relay_code() {
        Some(ErrorCode::NotFound) => Error::NotPublished {
            alias: alias.to_string(),
            what,
        },
        Some(ErrorCode::FetchTokenInvalid) => Error::StaleCard(alias.to_string()),
        _ => Error::Relay(e),
    }
}

/// Fetches and opens a contact's prekey bundle with the token and seal key of their card
/// (plainly for a version 1 card, whose directory is not sealed).
pub(crate) async fn fetch_bundle(
    client: &Client,
    alias: &str,
    card: &Card,
) -> Result<PreKeyBundle, Error> {
    let keys = card.directory_keys();
    let b = client
        .fetch_prekey_bundle_with_token(
            &card.mailbox,
            keys.as_ref().map(|k| k.fetch_token().as_bytes()),
        )
        .await
        .map_err(|e| fetch_error(alias, "prekeys", e))?;
    let open = |kind, blob: Vec<u8>| -> Result<Vec<u8>, Error> {
        match &keys {
            None => Ok(blob),
            Some(k) => k.open(kind, &blob).map_err(|_| Error::BadDirectoryEntry {
                alias: alias.to_string(),
                what: "prekeys",
            }),
        }
    };
    let signed = open(EntryKind::SignedPrekey, b.signed_prekey.blob)?;
    let one_time = b
        .one_time_prekey
        .map(|k| open(EntryKind::OneTimePrekey, k.blob))
        .transpose()?;
    let kem = b
        .kem_prekey
        .map(|k| open(EntryKind::KemPrekey, k.blob))
        .transpose()?;
    PreKeyBundle::from_parts_pqxdh(&signed, one_time.as_deref(), kem.as_deref()).map_err(
        |e| match e {
            hush_protocol::Error::PqxdhDowngrade => Error::PqxdhDowngrade(alias.to_string()),
            _ => Error::BadDirectoryEntry {
                alias: alias.to_string(),
                what: "prekeys",
            },
        },
    )
}

/// Fetches and opens one KeyPackage of a contact (as [`fetch_bundle`]); the relay takes it
/// out of their directory (the last-resort one stays).
pub(crate) async fn fetch_key_package(
    client: &Client,
    alias: &str,
    card: &Card,
) -> Result<Vec<u8>, Error> {
    let keys = card.directory_keys();
    let kp = client
        .fetch_key_package_with_token(
            &card.mailbox,
            keys.as_ref().map(|k| k.fetch_token().as_bytes()),
        )
        .await
        .map_err(|e| fetch_error(alias, "KeyPackages", e))?;
    match keys {
        None => Ok(kp.blob),
        Some(k) => {
            let kind = if kp.last_resort {
                EntryKind::LastResortKeyPackage
            } else {
                EntryKind::KeyPackage
            };
            k.open(kind, &kp.blob)
                .map_err(|_| Error::BadDirectoryEntry {
                    alias: alias.to_string(),
                    what: "KeyPackages",
                })
        }
    }
}
