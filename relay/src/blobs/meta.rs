//! A blob's metadata file (`<id>.meta` next to its data, spec/relay-protocol.md §11.4): owner
//! mailbox, length, expiry, durable offset, completeness. Replaced atomically (temporary file,
//! fsync, rename, directory fsync), so a crash leaves the old or the new version.

use std::io::Write;
use std::path::Path;

/// Magic and version of the metadata file.
const MAGIC: &[u8; 4] = b"HBM1";
/// Encoded length: magic, owner (32), length, expiry, durable offset (8 each), complete (1).
pub(crate) const META_LEN: usize = 4 + 32 + 8 + 8 + 8 + 1;

/// What the relay keeps about one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Meta {
    /// The mailbox whose quota the blob counts toward.
    pub(crate) owner: [u8; 32],
    pub(crate) length: u64,
    pub(crate) expires_at_ms: u64,
    /// Bytes from the start known to be on stable storage.
    pub(crate) durable: u64,
    /// All bytes durable and the data file renamed to its final name.
    pub(crate) complete: bool,
}

impl Meta {
    pub(crate) fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4..36].copy_from_slice(&self.owner);
        b[36..44].copy_from_slice(&self.length.to_be_bytes());
        b[44..52].copy_from_slice(&self.expires_at_ms.to_be_bytes());
        b[52..60].copy_from_slice(&self.durable.to_be_bytes());
        b[60] = u8::from(self.complete);
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Self> {
        if b.len() != META_LEN || &b[..4] != MAGIC || b[60] > 1 {
            return None;
        }
        let u = |r: std::ops::Range<usize>| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[r]);
            u64::from_be_bytes(a)
        };
        let m = Meta {
            owner: b[4..36].try_into().ok()?,
            length: u(36..44),
            expires_at_ms: u(44..52),
            durable: u(52..60),
            complete: b[60] == 1,
        };
        (m.durable <= m.length && (!m.complete || m.durable == m.length)).then_some(m)
    }
}

/// Fsyncs a folder, so renames and creations in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `meta` to `path` atomically and durably (temporary name, fsync, rename, folder
/// fsync).
pub(crate) fn write_meta(dir: &Path, path: &Path, meta: &Meta) -> std::io::Result<()> {
    let tmp = path.with_extension("meta.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&meta.encode())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}
