//! A real, small tmpfs for the full-disk tests: mounted when the test runs as root (CI
//! does), skipped LOUDLY otherwise, and required when `HUSH_REQUIRE_TMPFS=1` (set by
//! `scripts/test` in CI) so that a CI that lost the privilege fails instead of skipping.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted on drop.
pub struct Tmpfs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `"16m"`); `None` (after a loud warning on stderr) when
    /// mounting is not allowed here.
    pub fn mount(size: &str, test: &str) -> Option<Tmpfs> {
        Self::mount_as(size, test, None)
    }

    /// [`Tmpfs::mount`] with its root owned by `owner` (uid, gid), reachable by that user
    /// (the folders above it are made traversable): for a server running as another user.
    pub fn mount_as(size: &str, test: &str, owner: Option<(u32, u32)>) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).expect("mount point");
        let mut options = format!("size={size},mode=0700");
        if let Some((uid, gid)) = owner {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
                .expect("temp dir traversable");
            options.push_str(&format!(",uid={uid},gid={gid}"));
        }
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "tmpfs"])
            .arg(&path)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => {
                return Some(Tmpfs { path, _dir: dir });
            }
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
            Err(e) => e.to_string(),
        };
        let required = std::env::var("HUSH_REQUIRE_TMPFS").is_ok_and(|v| v == "1");
        let banner = "#".repeat(78);
        eprintln!(
            "{banner}\n## WARNING: {test} SKIPPED: cannot mount a tmpfs here ({why}).\n\
             ## It needs root (CI runs it as root; HUSH_REQUIRE_TMPFS=1 makes this fatal).\n{banner}"
        );
        assert!(
            !required,
            "HUSH_REQUIRE_TMPFS=1 but mounting a tmpfs failed: {why}"
        );
        None
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a ballast file of `bytes` that [`Tmpfs::free_ballast`] removes.
    pub fn ballast(&self, bytes: usize) {
        std::fs::write(self.path.join("ballast"), vec![0x5a; bytes]).expect("ballast fits");
    }

    /// Removes the ballast: frees its space.
    pub fn free_ballast(&self) {
        std::fs::remove_file(self.path.join("ballast")).expect("ballast removed");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a file still open (a relay not yet gone) does not keep it mounted.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
