//! The encrypted state file: one file per home, sealed with a key derived from the
//! passphrase (Argon2id), replaced atomically on every write.
//!
//! Layout (all integers little-endian), see `spec/cli.md`:
//!
//! ```text
//! magic "HUSHSTAT" (8) | format version (1) = 1 | kdf (1) = 1 (Argon2id v1.3)
//! | m_cost KiB (4) | t_cost (4) | p_cost (4) | salt (16) | nonce (24)
//! | XChaCha20-Poly1305(key, nonce, aad = the 62 header bytes above, body)
//! ```

use crate::exit::{Failure, fail};
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use rand::Rng;
use zeroize::Zeroizing;

/// First bytes of every state file.
pub const MAGIC: &[u8; 8] = b"HUSHSTAT";
/// Version of the file layout.
pub const FORMAT_VERSION: u8 = 1;
/// KDF identifier: Argon2id, version 0x13.
pub const KDF_ARGON2ID: u8 = 1;
/// Argon2id memory in KiB (19 MiB, OWASP's minimum recommendation).
pub const DEFAULT_M_COST: u32 = 19 * 1024;
/// Argon2id passes.
pub const DEFAULT_T_COST: u32 = 2;
/// Argon2id lanes.
pub const DEFAULT_P_COST: u32 = 1;
/// Length of the header, which is also the AEAD's associated data.
pub const HEADER_LEN: usize = 8 + 1 + 1 + 4 + 4 + 4 + 16 + 24;

// Bounds on parameters read from a file, so a tampered header cannot make us allocate
// gigabytes or spin for minutes before the AEAD says the file is bad.
const MAX_M_COST: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// A key derived from the passphrase, with the salt and parameters it was derived with.
pub struct StateKey {
    key: Zeroizing<[u8; 32]>,
    salt: [u8; 16],
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
}

impl StateKey {
    /// Derives a key for a new state file (fresh salt, default parameters).
    pub fn new(passphrase: &[u8]) -> Result<Self> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        Self::derive(
            passphrase,
            salt,
            DEFAULT_M_COST,
            DEFAULT_T_COST,
            DEFAULT_P_COST,
        )
    }

    /// Derives a key with explicit salt and Argon2id parameters (memory KiB, iterations,
    /// lanes). For tests and fuzzing: cheap parameters make a state file quick to open.
    pub fn with_params(
        passphrase: &[u8],
        salt: [u8; 16],
        m_cost: u32,
        t_cost: u32,
        p_cost: u32,
    ) -> Result<Self> {
        Self::derive(passphrase, salt, m_cost, t_cost, p_cost)
    }

    fn derive(passphrase: &[u8], salt: [u8; 16], m: u32, t: u32, p: u32) -> Result<Self> {
        let params = Params::new(m, t, p, Some(32))
            .map_err(|e| anyhow::anyhow!("invalid Argon2id parameters: {e}"))?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, &salt, key.as_mut())
            .map_err(|e| anyhow::anyhow!("key derivation failed: {e}"))?;
        Ok(Self {
            key,
            salt,
            m_cost: m,
            t_cost: t,
            p_cost: p,
        })
    }

    fn header(&self, nonce: &[u8; 24]) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[..8].copy_from_slice(MAGIC);
        h[8] = FORMAT_VERSION;
        h[9] = KDF_ARGON2ID;
        h[10..14].copy_from_slice(&self.m_cost.to_le_bytes());
        h[14..18].copy_from_slice(&self.t_cost.to_le_bytes());
        h[18..22].copy_from_slice(&self.p_cost.to_le_bytes());
        h[22..38].copy_from_slice(&self.salt);
        h[38..62].copy_from_slice(nonce);
        h
    }

    /// Encrypts `body` into a complete state file image (fresh nonce).
    pub fn seal(&self, body: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let header = self.header(&nonce);
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| anyhow::anyhow!("bad key length"))?;
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &header,
                },
            )
            .map_err(|_| anyhow::anyhow!("state encryption failed"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&ct);
        Ok(out)
    }
}

/// The clear header of a state file image: key derivation parameters, salt and nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Argon2id memory cost, KiB.
    pub m_cost: u32,
    /// Argon2id iterations.
    pub t_cost: u32,
    /// Argon2id lanes.
    pub p_cost: u32,
    /// Argon2id salt.
    pub salt: [u8; 16],
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
}

impl Header {
    /// Parses and checks the header of a state file image (magic, versions, parameter
    /// bounds, room for the tag). Runs no key derivation.
    pub fn parse(image: &[u8]) -> Result<Self> {
        if image.len() < HEADER_LEN + 16 || &image[..8] != MAGIC {
            bail!("the state file is not a Hush state file (bad magic or truncated)");
        }
        if image[8] != FORMAT_VERSION {
            bail!(
                "the state file has format version {}, this hush reads version {FORMAT_VERSION}",
                image[8]
            );
        }
        if image[9] != KDF_ARGON2ID {
            bail!(
                "the state file uses an unknown key derivation ({})",
                image[9]
            );
        }
        let u32_at = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(&image[i..i + 4]);
            u32::from_le_bytes(b)
        };
        let (m, t, p) = (u32_at(10), u32_at(14), u32_at(18));
        if m > MAX_M_COST || t > MAX_T_COST || p > MAX_P_COST || t == 0 || p == 0 {
            bail!("the state file's key derivation parameters are out of range");
        }
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&image[22..38]);
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&image[38..62]);
        Ok(Header {
            m_cost: m,
            t_cost: t,
            p_cost: p,
            salt,
            nonce,
        })
    }
}

impl StateKey {
    /// Decrypts a state file image sealed under this key. Fails unless the image's header is
    /// valid and names this key's salt and parameters, and the ciphertext authenticates.
    pub fn open(&self, image: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let h = Header::parse(image)?;
        if h.salt != self.salt
            || (h.m_cost, h.t_cost, h.p_cost) != (self.m_cost, self.t_cost, self.p_cost)
        {
            bail!("the state file was sealed under another key");
        }
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| anyhow::anyhow!("bad key length"))?;
        let body = cipher
            .decrypt(
                &XNonce::from(h.nonce),
                Payload {
                    msg: &image[HEADER_LEN..],
                    aad: &image[..HEADER_LEN],
                },
            )
            .map_err(|_| {
                fail(
                    Failure::WrongPassphrase,
                    "wrong passphrase (or the state file was altered): cannot decrypt it",
                )
            })?;
        Ok(Zeroizing::new(body))
    }
}

/// Parses a state file image and decrypts it with `passphrase`; returns the body and the key
/// (to re-seal later writes without running Argon2id again).
pub fn open(image: &[u8], passphrase: &[u8]) -> Result<(Zeroizing<Vec<u8>>, StateKey)> {
    let h = Header::parse(image)?;
    let key = StateKey::derive(passphrase, h.salt, h.m_cost, h.t_cost, h.p_cost)?;
    let body = key.open(image)?;
    Ok((body, key))
}

/// Replaces `path` with `bytes` atomically: write a temporary file beside it, fsync it,
/// rename it over `path`, fsync the folder. A crash at any point leaves either the old or the
/// new file, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .context("state file path has no parent folder")?;
    let tmp = path.with_extension("tmp");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(bytes)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.sync_all()
            .with_context(|| format!("cannot sync {}", tmp.display()))?;
    }
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync folder {}", dir.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_wrong_passphrase() {
        let key = StateKey::new(b"correct horse").unwrap();
        let image = key.seal(b"secret body").unwrap();
        assert_eq!(&image[..8], MAGIC);
        let (body, _) = open(&image, b"correct horse").unwrap();
        assert_eq!(body.as_slice(), b"secret body");
        let err = open(&image, b"wrong").err().unwrap().to_string();
        assert!(err.contains("wrong passphrase"), "{err}");
    }

    #[test]
    fn tampering_is_detected() {
        let key = StateKey::new(b"pw").unwrap();
        let image = key.seal(b"body").unwrap();
        // Flip a header byte covered by the AEAD (the salt) and a ciphertext byte.
        for i in [30, HEADER_LEN + 1] {
            let mut bad = image.clone();
            bad[i] ^= 1;
            assert!(open(&bad, b"pw").is_err());
        }
        assert!(open(&image[..HEADER_LEN], b"pw").is_err());
        let mut bad = image.clone();
        bad[10..14].copy_from_slice(&u32::MAX.to_le_bytes());
        let err = open(&bad, b"pw").err().unwrap().to_string();
        assert!(err.contains("out of range"), "{err}");
    }

    #[test]
    fn a_key_opens_only_its_own_images() {
        let key = StateKey::with_params(b"pw", [3; 16], 8, 1, 1).unwrap();
        let image = key.seal(b"body").unwrap();
        let h = Header::parse(&image).unwrap();
        assert_eq!((h.m_cost, h.t_cost, h.p_cost, h.salt), (8, 1, 1, [3; 16]));
        assert_eq!(key.open(&image).unwrap().as_slice(), b"body");
        let (body, _) = open(&image, b"pw").unwrap();
        assert_eq!(body.as_slice(), b"body");
        let other = StateKey::with_params(b"pw", [4; 16], 8, 1, 1).unwrap();
        assert!(other.open(&image).is_err());
        let wrong = StateKey::with_params(b"other", [3; 16], 8, 1, 1).unwrap();
        assert!(wrong.open(&image).is_err());
    }
}
