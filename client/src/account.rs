//! The account: who this device is (identity, mailbox key, directory secret, name, home
//! relay), kept in a [`Store`].

use crate::card::{Card, MAX_NAME_LEN};
use crate::error::Error;
use crate::records::Profile;
use crate::store::{Batch, Store, Table};
use ed25519_dalek::SigningKey;
use hush_protocol::directory::{DirectoryKeys, DirectorySecret};
use hush_protocol::group::{GroupClient, GroupConfig};
use hush_protocol::{CryptoRng, IdentityKeyPair, IdentityPublicKey, PreKeyStore};
use hush_relay_client::{MailboxAddress, RelayUrl};
use prost::Message;
use zeroize::Zeroizing;

pub(crate) const IDENTITY: &[u8] = b"identity";
pub(crate) const MAILBOX_KEY: &[u8] = b"mailbox_key";
pub(crate) const DIRECTORY_SECRET: &[u8] = b"directory_secret";
pub(crate) const PROFILE: &[u8] = b"profile";
pub(crate) const PREKEYS: &[u8] = b"prekeys";
/// Where stores of earlier versions kept the whole MLS client (now one record per entry).
pub(crate) const GROUP_CLIENT: &[u8] = b"group_client";
/// Present while the account's directory entries on the relay are still plaintext (an
/// account imported from before sealed directories): its card stays version 1 until the
/// engine replaces them by sealed ones.
pub(crate) const UNSEALED: &[u8] = b"unsealed";

/// An account open on its store.
pub struct Account<S: Store> {
    pub(crate) store: S,
    identity: IdentityKeyPair,
    mailbox_key: SigningKey,
    directory: DirectorySecret,
    profile: Profile,
    relay: RelayUrl,
    /// See [`UNSEALED`].
    pub(crate) unsealed: bool,
}

impl<S: Store> std::fmt::Debug for Account<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("identity", &self.identity.public().fingerprint())
            .field("relay", &self.relay.to_string())
            .finish_non_exhaustive()
    }
}

/// Checks a display name: 1 to [`MAX_NAME_LEN`] bytes, no control characters.
pub fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(Error::Invalid {
            what: "name",
            why: format!("1 to {MAX_NAME_LEN} bytes without control characters"),
        });
    }
    Ok(())
}

/// Adds the records of an account (identity, mailbox key seed, directory secret, profile,
/// prekeys) to `b`.
pub(crate) fn put_account(
    b: &mut Batch,
    identity: &IdentityKeyPair,
    seed: &[u8; 32],
    directory: &DirectorySecret,
    profile: &Profile,
    prekeys: Zeroizing<Vec<u8>>,
) {
    b.put(Table::Account, IDENTITY, identity.to_bytes())
        .put(Table::Account, MAILBOX_KEY, Zeroizing::new(seed.to_vec()))
        .put(
            Table::Account,
            DIRECTORY_SECRET,
            Zeroizing::new(directory.as_bytes().to_vec()),
        )
        .put(
            Table::Account,
            PROFILE,
            Zeroizing::new(profile.encode_to_vec()),
        )
        .put(Table::Account, PREKEYS, prekeys);
}

impl<S: Store> Account<S> {
    /// Makes a new identity in an empty store: identity key, mailbox key (unlinkable to the
    /// identity), directory secret, a signed prekey and the MLS client, written in one batch.
    pub fn create<R: CryptoRng + ?Sized>(
        mut store: S,
        rng: &mut R,
        name: &str,
        relay: RelayUrl,
    ) -> Result<Self, Error> {
        check_name(name)?;
        if store.get(Table::Account, IDENTITY)?.is_some() {
            return Err(Error::AccountExists);
        }
        let identity = IdentityKeyPair::generate(rng);
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let mailbox_key = SigningKey::from_bytes(&seed);
        let directory = DirectorySecret::generate(rng);
        let mut prekeys = PreKeyStore::new();
        prekeys.rotate_signed_prekey(rng, &identity);
        let mut groups = GroupClient::new(&identity, GroupConfig::default())?;
        let profile = Profile {
            name: name.to_string(),
            relay: relay.to_string(),
        };
        let mut b = Batch::new();
        put_account(
            &mut b,
            &identity,
            &seed,
            &directory,
            &profile,
            prekeys.to_bytes(),
        );
        crate::engine::groups::put_changes(&mut b, groups.take_changes()?);
        store.commit(b)?;
        Ok(Self {
            store,
            identity,
            mailbox_key,
            directory,
            profile,
            relay,
            unsealed: false,
        })
    }

    /// Opens the account a store holds.
    pub fn open(store: S) -> Result<Self, Error> {
        let identity = store
            .get(Table::Account, IDENTITY)?
            .ok_or(Error::NoAccount)?;
        let identity =
            IdentityKeyPair::from_bytes(&identity).map_err(|_| Error::Corrupt("identity"))?;
        let get = |key: &[u8], what: &'static str| -> Result<Zeroizing<Vec<u8>>, Error> {
            store.get(Table::Account, key)?.ok_or(Error::Corrupt(what))
        };
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            get(MAILBOX_KEY, "mailbox key")?
                .as_slice()
                .try_into()
                .map_err(|_| Error::Corrupt("mailbox key"))?,
        );
        let mailbox_key = SigningKey::from_bytes(&seed);
        let directory = DirectorySecret::from_slice(&get(DIRECTORY_SECRET, "directory secret")?)
            .map_err(|_| Error::Corrupt("directory secret"))?;
        let profile = Profile::decode(get(PROFILE, "profile")?.as_slice())
            .map_err(|_| Error::Corrupt("profile"))?;
        let relay = profile
            .relay
            .parse()
            .map_err(|_| Error::Corrupt("relay URL"))?;
        let unsealed = store.get(Table::Account, UNSEALED)?.is_some();
        Ok(Self {
            store,
            identity,
            mailbox_key,
            directory,
            profile,
            relay,
            unsealed,
        })
    }

    /// This account's identity.
    pub fn identity(&self) -> &IdentityPublicKey {
        self.identity.public()
    }

    pub(crate) fn identity_key_pair(&self) -> &IdentityKeyPair {
        &self.identity
    }

    /// The display name on this account's card.
    pub fn name(&self) -> &str {
        &self.profile.name
    }

    /// Writes `name` as the account's display name into `b` (and takes it from now on).
    pub(crate) fn set_name_in(&mut self, b: &mut Batch, name: &str) {
        self.profile.name = name.to_string();
        b.put(
            Table::Account,
            PROFILE,
            Zeroizing::new(self.profile.encode_to_vec()),
        );
    }

    /// The home relay.
    pub fn relay(&self) -> &RelayUrl {
        &self.relay
    }

    /// The mailbox key (signs the relay's AUTH challenges).
    pub fn mailbox_key(&self) -> &SigningKey {
        &self.mailbox_key
    }

    /// The mailbox address on the home relay.
    pub fn mailbox(&self) -> MailboxAddress {
        MailboxAddress::from_public_key(&self.mailbox_key.verifying_key())
    }

    /// This account's contact card: version 2, with the directory secret (version 1, without
    /// it, for an account imported with plaintext directory entries until the engine has
    /// sealed them, see [`crate::Import::directory`]).
    pub fn card(&self) -> Card {
        Card {
            name: self.profile.name.clone(),
            identity: self.identity.public().clone(),
            mailbox: self.mailbox(),
            relay: self.relay.clone(),
            directory: (!self.unsealed).then(|| self.directory.clone()),
        }
    }

    /// The keys of this account's sealed directory (seal key, fetch token).
    pub(crate) fn directory_keys(&self) -> DirectoryKeys {
        DirectoryKeys::derive(&self.directory, self.mailbox().as_bytes())
    }

    /// The mailbox key's seed, the directory secret, and whether the directory is still
    /// unsealed (for a backup).
    pub(crate) fn secrets(&self) -> (Zeroizing<[u8; 32]>, DirectorySecret, bool) {
        (
            Zeroizing::new(self.mailbox_key.to_bytes()),
            self.directory.clone(),
            self.unsealed,
        )
    }

    /// The prekey store, as last saved.
    pub fn prekeys(&self) -> Result<PreKeyStore, Error> {
        let b = self
            .store
            .get(Table::Account, PREKEYS)?
            .ok_or(Error::Corrupt("prekeys"))?;
        PreKeyStore::from_bytes(&b).map_err(|_| Error::Corrupt("prekeys"))
    }

    /// The store (read-only: changes go through the account).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Gives the store back.
    pub fn into_store(self) -> S {
        self.store
    }
}
