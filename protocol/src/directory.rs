//! Blind directory entries (`spec/relay-protocol.md` §6.1).
//!
//! A mailbox owner publishes signed prekeys, one-time prekeys and MLS KeyPackages through the
//! relay's directory. Those blobs carry the owner's identity (the bundle's binding signature,
//! the MLS credential), so stored in the clear they would let the relay tie the mailbox to an
//! identity. Instead, every entry is sealed under a key that only holders of the owner's
//! contact card can derive, and fetching needs a token derived from the same card.
//!
//! The card carries a 32-byte [`DirectorySecret`]. From it and the mailbox address come
//! ([`DirectoryKeys::derive`]):
//!
//! * the **seal key** `HKDF-SHA256(ikm = DS, salt = none, info = "Hush-v1-Directory-Seal" ‖
//!   mailbox_address)`, 32 bytes, which seals each entry with XChaCha20-Poly1305
//!   ([`DirectoryKeys::seal`], [`DirectoryKeys::open`]);
//! * the **fetch token** `HKDF-SHA256(ikm = DS, salt = none, info = "Hush-v1-Directory-Fetch" ‖
//!   mailbox_address)`, 32 bytes, a bearer token sent with each fetch ([`FetchToken`]); the
//!   owner registers only its **verifier** `SHA-256("Hush-v1-Directory-Verifier" ‖ token)` with
//!   the relay, which compares the hash of a presented token with it in constant time.
//!
//! A sealed entry is `0x01 ‖ nonce (24) ‖ XChaCha20-Poly1305(seal_key, nonce, padded, aad)` with
//! `padded = u32 len(blob) ‖ blob ‖ zeros` up to the next multiple of [`SEALED_ENTRY_PAD`]
//! bytes and `aad = "Hush-v1-Directory-Entry" ‖ mailbox_address ‖ kind` ([`EntryKind`]).
//!
//! ```
//! use hush_protocol::directory::{DirectoryKeys, DirectorySecret, EntryKind};
//!
//! let mut rng = rand::rng();
//! let ds = DirectorySecret::generate(&mut rng);
//! let mailbox = [7u8; 32];
//! let keys = DirectoryKeys::derive(&ds, &mailbox);
//! let sealed = keys.seal(&mut rng, EntryKind::KeyPackage, b"key package bytes")?;
//! assert_eq!(keys.open(EntryKind::KeyPackage, &sealed)?, b"key package bytes");
//! // The same bytes under another kind (or mailbox, or secret) do not open.
//! assert!(keys.open(EntryKind::OneTimePrekey, &sealed).is_err());
//! // The relay stores the verifier; a fetch presents the token.
//! assert_eq!(keys.fetch_token().verifier(), hush_protocol::directory::fetch_verifier(keys.fetch_token().as_bytes()));
//! # Ok::<(), hush_protocol::Error>(())
//! ```

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of a [`DirectorySecret`].
pub const DIRECTORY_SECRET_LEN: usize = 32;
/// HKDF info prefix of the seal key (followed by the 32-byte mailbox address).
pub const DIRECTORY_SEAL_INFO: &[u8] = b"Hush-v1-Directory-Seal";
/// HKDF info prefix of the fetch token (followed by the 32-byte mailbox address).
pub const DIRECTORY_FETCH_INFO: &[u8] = b"Hush-v1-Directory-Fetch";
/// SHA-256 prefix of a fetch token's verifier.
pub const DIRECTORY_VERIFIER_CONTEXT: &[u8] = b"Hush-v1-Directory-Verifier";
/// Associated-data prefix of a sealed entry (followed by the mailbox address and the kind).
pub const DIRECTORY_ENTRY_AAD: &[u8] = b"Hush-v1-Directory-Entry";
/// First byte of a sealed entry.
pub const SEALED_ENTRY_VERSION: u8 = 1;
/// Sealed plaintexts (length prefix, blob, zeros) are padded to a multiple of this many bytes.
pub const SEALED_ENTRY_PAD: usize = 256;
/// Largest blob [`DirectoryKeys::seal`] accepts (64 KiB).
pub const MAX_ENTRY_LEN: usize = 64 * 1024;
/// Bytes a sealed entry adds to its padded plaintext: version (1), nonce (24), tag (16).
pub const SEALED_ENTRY_OVERHEAD: usize = 1 + 24 + 16;

/// What a directory entry is; bound into the entry's associated data, so the relay cannot
/// hand out an entry as another kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A signed prekey (X3DH bundle part).
    SignedPrekey = 1,
    /// A one-time prekey.
    OneTimePrekey = 2,
    /// An MLS KeyPackage from the stock.
    KeyPackage = 3,
    /// The reusable last-resort MLS KeyPackage.
    LastResortKeyPackage = 4,
    /// A signed KEM prekey (PQXDH bundle part), one-time or last-resort: its signed encoding
    /// names the kind (`spec/pqxdh.md`, section 3.1).
    KemPrekey = 5,
}

/// The 32-byte directory secret of a mailbox, carried in the owner's contact card.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DirectorySecret([u8; DIRECTORY_SECRET_LEN]);

impl DirectorySecret {
    /// A fresh random secret.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut b = [0u8; DIRECTORY_SECRET_LEN];
        rng.fill_bytes(&mut b);
        Self(b)
    }

    /// The secret with these bytes.
    pub fn from_bytes(bytes: [u8; DIRECTORY_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// The secret from a slice; [`Error::Malformed`] unless it is 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let b: [u8; DIRECTORY_SECRET_LEN] = bytes
            .try_into()
            .map_err(|_| Error::Malformed("directory secret"))?;
        Ok(Self(b))
    }

    /// The secret's bytes (to store or to put in a card).
    pub fn as_bytes(&self) -> &[u8; DIRECTORY_SECRET_LEN] {
        &self.0
    }
}

/// Compared in constant time.
impl PartialEq for DirectorySecret {
    fn eq(&self, other: &Self) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..]).into()
    }
}
impl Eq for DirectorySecret {}

impl core::fmt::Debug for DirectorySecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("DirectorySecret(..)")
    }
}

/// The bearer token that proves to the relay that a fetcher holds the card.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct FetchToken([u8; 32]);

impl FetchToken {
    /// The token's bytes, as sent in a fetch request.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `SHA-256("Hush-v1-Directory-Verifier" ‖ token)`: what the owner registers with the relay.
    pub fn verifier(&self) -> [u8; 32] {
        fetch_verifier(&self.0)
    }
}

impl core::fmt::Debug for FetchToken {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FetchToken(..)")
    }
}

/// The verifier of a token: `SHA-256("Hush-v1-Directory-Verifier" ‖ token)`. The relay computes
/// the same from a presented token (with its own SHA-256) and compares.
pub fn fetch_verifier(token: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DIRECTORY_VERIFIER_CONTEXT);
    h.update(token);
    h.finalize().into()
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct SealKey([u8; 32]);

/// The keys of one mailbox's directory, derived from its [`DirectorySecret`].
pub struct DirectoryKeys {
    mailbox: [u8; 32],
    seal_key: SealKey,
    fetch_token: FetchToken,
}

impl core::fmt::Debug for DirectoryKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DirectoryKeys")
            .field("mailbox", &self.mailbox)
            .finish_non_exhaustive()
    }
}

fn expand(ds: &DirectorySecret, label: &[u8], mailbox: &[u8; 32]) -> [u8; 32] {
    let mut info = Vec::with_capacity(label.len() + 32);
    info.extend_from_slice(label);
    info.extend_from_slice(mailbox);
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, &ds.0)
        .expand(&info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

impl DirectoryKeys {
    /// The seal key and fetch token of `mailbox_address` under `secret`.
    pub fn derive(secret: &DirectorySecret, mailbox_address: &[u8; 32]) -> Self {
        Self {
            mailbox: *mailbox_address,
            seal_key: SealKey(expand(secret, DIRECTORY_SEAL_INFO, mailbox_address)),
            fetch_token: FetchToken(expand(secret, DIRECTORY_FETCH_INFO, mailbox_address)),
        }
    }

    /// The mailbox address these keys belong to.
    pub fn mailbox_address(&self) -> &[u8; 32] {
        &self.mailbox
    }

    /// The fetch token.
    pub fn fetch_token(&self) -> &FetchToken {
        &self.fetch_token
    }

    /// The seal key's bytes (for test vectors and independent implementations).
    #[cfg(feature = "vectors")]
    pub fn seal_key_bytes(&self) -> [u8; 32] {
        self.seal_key.0
    }

    fn aad(&self, kind: EntryKind) -> Vec<u8> {
        let mut aad = Vec::with_capacity(DIRECTORY_ENTRY_AAD.len() + 33);
        aad.extend_from_slice(DIRECTORY_ENTRY_AAD);
        aad.extend_from_slice(&self.mailbox);
        aad.push(kind as u8);
        aad
    }

    /// Seals `blob` as an entry of `kind` with a random nonce.
    /// [`Error::Malformed`] for an empty blob or one longer than [`MAX_ENTRY_LEN`].
    pub fn seal<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        kind: EntryKind,
        blob: &[u8],
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        self.seal_with_nonce(&nonce, kind, blob)
    }

    /// [`DirectoryKeys::seal`] with a given nonce. A nonce must never repeat under one key:
    /// use [`DirectoryKeys::seal`] unless you are reproducing a test vector.
    pub fn seal_with_nonce(
        &self,
        nonce: &[u8; 24],
        kind: EntryKind,
        blob: &[u8],
    ) -> Result<Vec<u8>> {
        if blob.is_empty() || blob.len() > MAX_ENTRY_LEN {
            return Err(Error::Malformed("directory entry length"));
        }
        let padded_len = (4 + blob.len()).div_ceil(SEALED_ENTRY_PAD) * SEALED_ENTRY_PAD;
        let mut padded = Zeroizing::new(Vec::with_capacity(padded_len));
        // The bound above keeps the length within u32.
        padded.extend_from_slice(&(blob.len() as u32).to_be_bytes());
        padded.extend_from_slice(blob);
        padded.resize(padded_len, 0);
        let cipher = XChaCha20Poly1305::new_from_slice(&self.seal_key.0)
            .map_err(|_| Error::InvalidKey("directory seal"))?;
        let ct = cipher
            .encrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: &padded,
                    aad: &self.aad(kind),
                },
            )
            .map_err(|_| Error::Malformed("directory entry length"))?;
        let mut out = Vec::with_capacity(1 + 24 + ct.len());
        out.push(SEALED_ENTRY_VERSION);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed entry of `kind`. [`Error::UnsupportedVersion`] for another first byte
    /// (for example a legacy unsealed blob), [`Error::DecryptionFailed`] when the entry was not
    /// sealed for this mailbox, secret and kind or was altered, [`Error::Malformed`] for a bad
    /// length prefix.
    pub fn open(&self, kind: EntryKind, sealed: &[u8]) -> Result<Vec<u8>> {
        let Some((&version, rest)) = sealed.split_first() else {
            return Err(Error::Malformed("sealed directory entry"));
        };
        if version != SEALED_ENTRY_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "sealed directory entry",
                version: u32::from(version),
            });
        }
        if rest.len() < 24 + 16 {
            return Err(Error::Malformed("sealed directory entry"));
        }
        let (nonce, ct) = rest.split_at(24);
        let nonce =
            XNonce::try_from(nonce).map_err(|_| Error::Malformed("sealed directory entry"))?;
        let cipher = XChaCha20Poly1305::new_from_slice(&self.seal_key.0)
            .map_err(|_| Error::InvalidKey("directory seal"))?;
        let padded = Zeroizing::new(
            cipher
                .decrypt(
                    &nonce,
                    Payload {
                        msg: ct,
                        aad: &self.aad(kind),
                    },
                )
                .map_err(|_| Error::DecryptionFailed)?,
        );
        if padded.len() < 4 {
            return Err(Error::Malformed("sealed directory entry"));
        }
        let (len, body) = padded.split_at(4);
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 || len > body.len() || body[len..].iter().any(|&b| b != 0) {
            return Err(Error::Malformed("sealed directory entry"));
        }
        Ok(body[..len].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(seed: u8, mailbox: u8) -> DirectoryKeys {
        DirectoryKeys::derive(&DirectorySecret::from_bytes([seed; 32]), &[mailbox; 32])
    }

    #[test]
    fn seal_open_round_trip_and_padding() {
        let k = keys(1, 2);
        let mut rng = rand::rng();
        for len in [1usize, 100, 252, 253, 1000] {
            let blob = vec![0xab; len];
            let s = k.seal(&mut rng, EntryKind::OneTimePrekey, &blob).unwrap();
            assert_eq!((s.len() - SEALED_ENTRY_OVERHEAD) % SEALED_ENTRY_PAD, 0);
            assert_eq!(k.open(EntryKind::OneTimePrekey, &s).unwrap(), blob);
        }
        // Sizes up to 252 bytes all seal to the same length.
        let a = k.seal(&mut rng, EntryKind::KeyPackage, &[1; 10]).unwrap();
        let b = k.seal(&mut rng, EntryKind::KeyPackage, &[1; 252]).unwrap();
        assert_eq!(a.len(), b.len());
    }

    #[test]
    fn wrong_kind_mailbox_secret_or_bytes_fail() {
        let k = keys(1, 2);
        let s = k
            .seal_with_nonce(&[3; 24], EntryKind::SignedPrekey, b"spk")
            .unwrap();
        assert_eq!(
            k.open(EntryKind::OneTimePrekey, &s),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(
            keys(1, 3).open(EntryKind::SignedPrekey, &s),
            Err(Error::DecryptionFailed)
        );
        assert_eq!(
            keys(9, 2).open(EntryKind::SignedPrekey, &s),
            Err(Error::DecryptionFailed)
        );
        let mut bad = s.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(
            k.open(EntryKind::SignedPrekey, &bad),
            Err(Error::DecryptionFailed)
        );
        let mut v2 = s.clone();
        v2[0] = 2;
        assert!(matches!(
            k.open(EntryKind::SignedPrekey, &v2),
            Err(Error::UnsupportedVersion { .. })
        ));
        assert!(k.open(EntryKind::SignedPrekey, &s[..20]).is_err());
        assert!(k.open(EntryKind::SignedPrekey, &[]).is_err());
        assert!(
            k.seal_with_nonce(&[0; 24], EntryKind::KeyPackage, b"")
                .is_err()
        );
        assert!(
            k.seal_with_nonce(&[0; 24], EntryKind::KeyPackage, &vec![0; MAX_ENTRY_LEN + 1])
                .is_err()
        );
        // The largest entry (64 KiB: a KeyPackage with large extensions) seals and opens.
        assert_eq!(MAX_ENTRY_LEN, 65_536);
        let big = vec![7u8; MAX_ENTRY_LEN];
        let sealed = k
            .seal_with_nonce(&[0; 24], EntryKind::KeyPackage, &big)
            .unwrap();
        assert_eq!(k.open(EntryKind::KeyPackage, &sealed).unwrap(), big);
    }

    /// Seals `padded` as it is (no padding added), as only a holder of the seal key can.
    fn seal_raw(k: &DirectoryKeys, kind: EntryKind, padded: &[u8]) -> Vec<u8> {
        let nonce = [9u8; 24];
        let ct = XChaCha20Poly1305::new_from_slice(&k.seal_key.0)
            .unwrap()
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: padded,
                    aad: &k.aad(kind),
                },
            )
            .unwrap();
        [&[SEALED_ENTRY_VERSION][..], &nonce, &ct].concat()
    }

    #[test]
    fn authenticated_but_badly_padded_entries_are_refused() {
        let k = keys(4, 5);
        let kind = EntryKind::OneTimePrekey;
        let open = |padded: &[u8]| k.open(kind, &seal_raw(&k, kind, padded));
        assert_eq!(open(&[0, 0, 0, 2, 7, 7, 0, 0]).unwrap(), vec![7, 7]);
        assert_eq!(open(&[0, 0, 0, 2, 7, 7]).unwrap(), vec![7, 7]);
        let malformed = Err(Error::Malformed("sealed directory entry"));
        for bad in [
            &[][..],                // no length prefix
            &[0, 0, 2],             // a short one
            &[0, 0, 0, 0, 0, 0],    // an empty blob
            &[0, 0, 0, 3, 7, 7],    // longer than what follows
            &[0, 0, 0, 1, 7, 0, 1], // padding that is not zeros
            &[0, 0, 0, 1, 7, 1, 0],
        ] {
            assert_eq!(open(bad), malformed, "{bad:?}");
        }
    }

    #[test]
    fn debug_names_the_type_and_shows_no_secret() {
        let ds = DirectorySecret::from_bytes([0xab; 32]);
        assert_eq!(format!("{ds:?}"), "DirectorySecret(..)");
        let k = DirectoryKeys::derive(&ds, &[3; 32]);
        let shown = format!("{k:?}");
        assert!(shown.starts_with("DirectoryKeys {"), "{shown}");
        assert!(
            !shown.contains("171") && !shown.contains("seal_key"),
            "{shown}"
        );
    }

    #[test]
    fn tokens_differ_per_mailbox_and_from_seal_key() {
        let a = keys(1, 2);
        let b = keys(1, 3);
        assert_ne!(a.fetch_token().as_bytes(), b.fetch_token().as_bytes());
        assert_ne!(a.fetch_token().as_bytes(), &a.seal_key.0);
        assert_ne!(a.fetch_token().verifier(), *a.fetch_token().as_bytes());
        assert_eq!(format!("{:?}", a.fetch_token()), "FetchToken(..)");
    }
}
