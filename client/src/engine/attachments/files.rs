//! The file side of attachments (blocking I/O, run on the blocking pool): encrypting a file
//! into a temporary blob file, decrypting a downloaded blob into a fresh file, and names.

use crate::error::Error;
use hush_protocol::attachment::{AttachmentKey, Decryptor, Encryptor, Finished, MAX_NAME_LEN};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use tempfile::NamedTempFile;
use zeroize::Zeroizing;

/// Bytes read or written at a time (one chunk).
const BUF: usize = 64 * 1024;

/// Name prefix of the encrypted copies of files being sent.
const UPLOAD_PREFIX: &str = ".hush-upload-";

/// An encrypted copy younger than this is never swept: its maker may not have locked it yet.
const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(60);

/// The most " (n)" suffixes tried for a free name.
const MAX_NAME_TRIES: u32 = 10_000;

/// An I/O error about `path`.
pub(crate) fn file_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| Error::File { what, path, source }
}

/// Encrypts `path` under `key` into a new temporary file in `temp_dir` (else the system's
/// temporary folder): the blob, chunks and padding, holding one chunk of plaintext at a time.
pub(crate) fn encrypt_file(
    path: &Path,
    key: &AttachmentKey,
    temp_dir: Option<&Path>,
) -> Result<(NamedTempFile, Finished), Error> {
    let mut input = File::open(path).map_err(file_err("reading", path))?;
    let temp_dir = temp_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
    std::fs::create_dir_all(&temp_dir).map_err(file_err("creating", &temp_dir))?;
    sweep_stale_uploads(&temp_dir);
    let mut tmp = tempfile::Builder::new()
        .prefix(UPLOAD_PREFIX)
        .tempfile_in(&temp_dir)
        .map_err(file_err("creating", &temp_dir))?;
    let tmp_path = tmp.path().to_path_buf();
    // Held while the copy lives, and released by the kernel if the process dies: an unlocked
    // copy is one a killed sender left behind.
    tmp.as_file()
        .try_lock()
        .map_err(|e| file_err("locking", &tmp_path)(e.into()))?;
    let out = tmp.as_file_mut();
    let mut enc = Encryptor::new(key);
    let mut buf = Zeroizing::new(vec![0u8; BUF]);
    loop {
        let n = input.read(&mut buf).map_err(file_err("reading", path))?;
        if n == 0 {
            break;
        }
        let ct = enc.update(&buf[..n])?;
        out.write_all(&ct).map_err(file_err("writing", &tmp_path))?;
    }
    let done = enc.finish();
    out.write_all(&done.last_chunk)
        .map_err(file_err("writing", &tmp_path))?;
    let zeros = vec![0u8; BUF];
    let mut left = done.padding_len;
    while left > 0 {
        let n = left.min(BUF as u64) as usize;
        out.write_all(&zeros[..n])
            .map_err(file_err("writing", &tmp_path))?;
        left -= n as u64;
    }
    out.flush().map_err(file_err("writing", &tmp_path))?;
    Ok((tmp, done))
}

/// Removes the encrypted copies in `dir` that no process holds: those a sender killed
/// mid-upload left behind (an interrupted upload is encrypted again when it resumes; the copy
/// is only a cache). Copies younger than [`SWEEP_MIN_AGE`] are kept, whatever their lock.
/// Best effort: a copy that cannot be read or removed stays.
pub(crate) fn sweep_stale_uploads(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        if !e.file_name().to_string_lossy().starts_with(UPLOAD_PREFIX) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age >= SWEEP_MIN_AGE);
        if !old {
            continue;
        }
        let Ok(f) = File::open(e.path()) else {
            continue;
        };
        if f.try_lock().is_ok() {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Decrypts the downloaded blob `part` into a temporary file in `dir`, checks it whole
/// (length, every chunk, padding, digest), then moves it to a fresh name made from `name`
/// (never over an existing file). On a refusal nothing is left in `dir` but `part`'s removal.
pub(crate) fn decrypt_file(
    part: &Path,
    mut dec: Decryptor,
    dir: &Path,
    name: &str,
) -> Result<PathBuf, Error> {
    let result = (|| {
        let mut input = File::open(part).map_err(file_err("reading", part))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".hush-")
            .suffix(".tmp")
            .tempfile_in(dir)
            .map_err(file_err("writing", dir))?;
        let mut buf = vec![0u8; BUF];
        loop {
            let n = input.read(&mut buf).map_err(file_err("reading", part))?;
            if n == 0 {
                break;
            }
            let plain = Zeroizing::new(dec.update(&buf[..n])?);
            tmp.write_all(&plain).map_err(file_err("writing", dir))?;
        }
        dec.finish()?;
        tmp.as_file().sync_all().map_err(file_err("writing", dir))?;
        let dest = reserve_fresh(dir, &safe_file_name(name))?;
        tmp.persist(&dest)
            .map_err(|e| file_err("writing", &dest)(e.error))?;
        Ok(dest)
    })();
    match &result {
        // A refused blob is not kept: a new try downloads it again.
        Ok(_) | Err(Error::Attachment(_)) => {
            let _ = std::fs::remove_file(part);
        }
        Err(_) => {}
    }
    result
}

/// A file name safe to create in a directory, made from a name a sender chose: no path
/// separators, control characters or characters Windows refuses, not hidden (no leading
/// `.`), not `.`/`..`, not a Windows device name, not empty, at most 200 bytes.
pub fn safe_file_name(name: &str) -> String {
    let mut s: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    s = s.trim_matches(|c: char| c.is_whitespace()).to_string();
    while s.ends_with('.') {
        s.pop();
    }
    if s.starts_with('.') {
        s.insert(0, '_');
    }
    let stem = s.split('.').next().unwrap_or("").to_ascii_uppercase();
    let device = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if device {
        s.insert(0, '_');
    }
    if s.is_empty() {
        s = "attachment".into();
    }
    let mut end = s.len().min(200);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// Creates an empty file in `dir` under `name`, or `stem (1).ext`, `stem (2).ext`... the
/// first that does not exist (atomically: an existing file is never touched).
fn reserve_fresh(dir: &Path, name: &str) -> Result<PathBuf, Error> {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    for i in 0..MAX_NAME_TRIES {
        let candidate = if i == 0 {
            name.to_string()
        } else {
            format!("{stem} ({i}){ext}")
        };
        let path = dir.join(candidate);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(file_err("creating", &path)(e)),
        }
    }
    Err(file_err("creating", &dir.join(name))(std::io::Error::new(
        ErrorKind::AlreadyExists,
        "no free name",
    )))
}

/// The name a reference carries for `path`: its last component, with `/`, `\` and NUL
/// replaced, cut to [`MAX_NAME_LEN`] bytes.
pub(crate) fn reference_name(path: &Path) -> String {
    let raw = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut s: String = raw
        .chars()
        .map(|c| {
            if matches!(c, '/' | '\\' | '\0') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut end = s.len().min(MAX_NAME_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

/// A media type from a file name's extension (empty when unknown).
pub(crate) fn media_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "svg" => "image/svg+xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "json" => "application/json",
        "txt" | "md" => "text/plain",
        "mp3" => "audio/mpeg",
        "ogg" | "opus" => "audio/ogg",
        "m4a" => "audio/mp4",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mov" => "video/quicktime",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_copies_no_process_holds_are_swept() {
        let dir = tempfile::tempdir().unwrap();
        let old = std::time::SystemTime::now() - 2 * SWEEP_MIN_AGE;
        let make = |name: &str, age: Option<std::time::SystemTime>| {
            let p = dir.path().join(name);
            let f = File::create(&p).unwrap();
            if let Some(t) = age {
                f.set_modified(t).unwrap();
            }
            (p, f)
        };
        let (stale, _) = make(".hush-upload-stale", Some(old));
        let (held, held_file) = make(".hush-upload-held", Some(old));
        held_file.try_lock().unwrap();
        let (young, _) = make(".hush-upload-young", None);
        let (other, _) = make("someone-elses-file", Some(old));
        sweep_stale_uploads(dir.path());
        assert!(!stale.exists());
        assert!(held.exists(), "a live sender's copy is kept");
        assert!(young.exists());
        assert!(other.exists());
        drop(held_file);
        sweep_stale_uploads(dir.path());
        assert!(!held.exists(), "released when its holder is gone");
        sweep_stale_uploads(&dir.path().join("missing"));
    }

    #[test]
    fn hostile_names_become_plain_names() {
        assert_eq!(safe_file_name(".."), "attachment");
        assert_eq!(safe_file_name("."), "attachment");
        assert_eq!(safe_file_name(".bashrc"), "_.bashrc");
        assert_eq!(safe_file_name("a/../../b"), "a_.._.._b");
        assert_eq!(safe_file_name("..\\..\\x.exe"), "_.._.._x.exe");
        assert_eq!(safe_file_name("C:evil"), "C_evil");
        assert_eq!(safe_file_name("bell\u{7}\n.txt"), "bell__.txt");
        assert_eq!(safe_file_name("  "), "attachment");
        assert_eq!(safe_file_name("con.txt"), "_con.txt");
        assert_eq!(safe_file_name("COM1"), "_COM1");
        assert_eq!(safe_file_name("photo.png"), "photo.png");
        assert_eq!(safe_file_name(&"é".repeat(200)).len(), 200);
    }

    #[test]
    fn media_types_by_extension() {
        assert_eq!(media_type("a.PNG"), "image/png");
        assert_eq!(media_type("noext"), "");
        assert_eq!(media_type("x.unknown"), "");
    }

    #[test]
    fn fresh_names_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"keep").unwrap();
        let p = reserve_fresh(dir.path(), "a.txt").unwrap();
        assert_eq!(p, dir.path().join("a (1).txt"));
        let q = reserve_fresh(dir.path(), "a.txt").unwrap();
        assert_eq!(q, dir.path().join("a (2).txt"));
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), b"keep");
        let r = reserve_fresh(dir.path(), "noext").unwrap();
        let s = reserve_fresh(dir.path(), "noext").unwrap();
        assert_eq!(r, dir.path().join("noext"));
        assert_eq!(s, dir.path().join("noext (1)"));
    }
}
