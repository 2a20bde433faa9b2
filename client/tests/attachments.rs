//! Attachments through the engine and a relay on 127.0.0.1: 1:1 and group round trips at
//! chunk edges, hostile file names, tampered references refused.

mod common;

use common::{engine, introduce, relay};
use hush_client::store::{MemoryStore, Store};
use hush_client::{
    Attachment, AttachmentError, Content, Engine, Error, EventKind, OutgoingState, Progress,
};
use std::path::{Path, PathBuf};

const CHUNK: usize = 64 * 1024;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 11) as u8)
        .collect()
}

/// The attachments among the events `e` receives now (confirmed).
async fn received<S: Store>(e: &mut Engine<S>) -> Vec<Attachment> {
    let events = e.receive().await.unwrap();
    let ids: Vec<u64> = events.iter().map(|ev| ev.id).collect();
    e.confirm(&ids).unwrap();
    events
        .iter()
        .filter_map(|ev| ev.kind.attachment())
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A relay in `dir`, and Alice and Bob (memory stores) as each other's contacts, Bob's keys
/// published.
async fn alice_and_bob(
    dir: &Path,
) -> (
    hush_relay::server::RelayHandle,
    Engine<MemoryStore>,
    Engine<MemoryStore>,
) {
    let relay = relay(&dir.join("relay")).await;
    let url = relay.url();
    let mut alice = engine(MemoryStore::new(), "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    (relay, alice, bob)
}

/// Starts sending `path` to `bob` and drops the upload (its future) once half of it is
/// through.
async fn stop_upload_halfway<S: Store>(alice: &mut Engine<S>, path: &Path) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut told = false;
    let mut progress = move |p: Progress| {
        if !told && p.done >= p.total / 2 {
            told = true;
            let _ = tx.send(p.done);
        }
    };
    tokio::select! {
        biased;
        _ = rx.recv() => {}
        r = alice.send_file("bob", path, &mut progress) => panic!("the upload finished: {r:?}"),
    }
}

/// Sends `bytes` as `name` with `send` and checks the progress reports.
fn checked_progress(seen: &[Progress]) {
    let last = seen.last().expect("progress reported");
    assert_eq!(last.done, last.total);
    assert!(last.total >= 64 * 1024);
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done));
}

async fn save<S: Store>(e: &mut Engine<S>, a: &Attachment, dir: &Path) -> Result<PathBuf, Error> {
    let mut seen = Vec::new();
    let r = e.save_attachment(a, dir, &mut |p| seen.push(p)).await;
    if r.is_ok() {
        checked_progress(&seen);
    }
    r
}

/// Files in `dir`, names sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

const SIZES: [usize; 6] = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * 1024 * 1024 + 17];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_to_one_round_trips_at_chunk_edges() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, mut alice, mut bob) = alice_and_bob(dir.path()).await;
    let url = relay.url();
    let files = dir.path().join("files");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&files).unwrap();

    alice.send("bob", b"text first").await.unwrap();
    for (i, &n) in SIZES.iter().enumerate() {
        let bytes = data(n, i as u8);
        let path = write(&files, &format!("f{i}.bin"), &bytes);
        let mut seen = Vec::new();
        let out = alice
            .send_file("bob", &path, &mut |p| seen.push(p))
            .await
            .unwrap();
        assert!(matches!(out.state, OutgoingState::Stored(_)), "{n}");
        checked_progress(&seen);
        assert!(alice.pending_uploads().unwrap().is_empty());

        let got = received(&mut bob).await;
        assert_eq!(got.len(), 1, "size {n}");
        let a = &got[0];
        assert_eq!(a.size(), n as u64);
        assert_eq!(a.name(), format!("f{i}.bin"));
        assert_eq!(a.relay, url);
        let saved = save(&mut bob, a, &downloads).await.unwrap();
        assert_eq!(saved, downloads.join(format!("f{i}.bin")));
        assert!(std::fs::read(&saved).unwrap() == bytes, "size {n}");
    }
    // No partial or temporary file is left behind.
    assert_eq!(listing(&downloads).len(), SIZES.len());
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_round_trips_and_existing_files_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, mut alice, mut bob) = alice_and_bob(dir.path()).await;
    alice.create_group("team").unwrap();
    alice.add_members("team", &["bob"]).await.unwrap();
    let files = dir.path().join("files");
    let downloads = dir.path().join("downloads");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    std::fs::write(downloads.join("photo.png"), b"already here").unwrap();

    for (i, &n) in SIZES.iter().enumerate() {
        let bytes = data(n, 100 + i as u8);
        let path = write(&files, "photo.png", &bytes);
        let mut seen = Vec::new();
        let out = alice
            .send_file_to_group("team", &path, &mut |p| seen.push(p))
            .await
            .unwrap();
        assert!(matches!(out.state, OutgoingState::InLog { .. }), "{n}");
        checked_progress(&seen);

        let events = bob.receive().await.unwrap();
        let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
        bob.confirm(&ids).unwrap();
        let msgs: Vec<_> = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::GroupMessage { .. }))
            .collect();
        assert_eq!(msgs.len(), 1, "size {n}");
        let a = msgs[0].kind.attachment().expect("an attachment");
        assert_eq!(a.reference.media_type, "image/png");
        let saved = save(&mut bob, &a, &downloads).await.unwrap();
        assert_eq!(saved, downloads.join(format!("photo ({}).png", i + 1)));
        assert!(std::fs::read(&saved).unwrap() == bytes, "size {n}");
    }
    assert_eq!(
        std::fs::read(downloads.join("photo.png")).unwrap(),
        b"already here"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_and_tampered_references() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, mut alice, mut bob) = alice_and_bob(dir.path()).await;
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let bytes = data(CHUNK * 2 + 5, 7);
    let path = write(&files, "doc.pdf", &bytes);
    alice.send_file("bob", &path, &mut |_| {}).await.unwrap();
    let a = received(&mut bob).await.remove(0);

    // Names a sender controls never leave the downloads folder nor hide or replace a file.
    let downloads = dir.path().join("downloads");
    for hostile in [
        "..",
        ".",
        "",
        ".bashrc",
        "..hidden",
        "C:evil.exe",
        "con.txt",
        "tab\tnew\nline",
        "   ",
        "trailing. . .",
    ] {
        let mut h = a.clone();
        h.reference.name = hostile.to_string();
        let saved = save(&mut bob, &h, &downloads).await.unwrap();
        assert_eq!(saved.parent(), Some(downloads.as_path()), "{hostile:?}");
        let name = saved.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.starts_with('.'), "{hostile:?} -> {name}");
        assert!(!name.contains(['/', '\\', ':', '\n', '\t']), "{name}");
        assert!(std::fs::read(&saved).unwrap() == bytes);
    }
    // A name with a path separator does not even decode as an attachment.
    let mut body = a.to_body().unwrap().to_vec();
    let at = body
        .windows(7)
        .position(|w| w == b"doc.pdf")
        .expect("name in the body");
    body[at + 3] = b'/';
    assert!(matches!(Content::of(&body), Content::Malformed(_)));
    assert!(matches!(
        Content::of(b"plain text"),
        Content::Bytes(b"plain text")
    ));

    // Tampered references are refused and leave nothing behind.
    let refused = dir.path().join("refused");
    let mut wrong_digest = a.clone();
    wrong_digest.reference.digest[0] ^= 1;
    assert!(matches!(
        save(&mut bob, &wrong_digest, &refused).await,
        Err(Error::Attachment(AttachmentError::DigestMismatch))
    ));
    let mut wrong_key = a.clone();
    wrong_key.reference.key = hush_protocol::attachment::AttachmentKey::from_bytes([9; 32]);
    assert!(matches!(
        save(&mut bob, &wrong_key, &refused).await,
        Err(Error::Attachment(AttachmentError::ChunkAuthentication {
            index: 0
        }))
    ));
    let mut wrong_size = a.clone();
    wrong_size.reference.size -= 1;
    assert!(matches!(
        save(&mut bob, &wrong_size, &refused).await,
        Err(Error::Attachment(AttachmentError::ChunkAuthentication {
            index: 2
        }))
    ));
    let mut other_bucket = a.clone();
    other_bucket.reference.size = 10 * CHUNK as u64;
    assert!(matches!(
        save(&mut bob, &other_bucket, &refused).await,
        Err(Error::Attachment(AttachmentError::Truncated { .. }))
    ));
    assert!(listing(&refused).is_empty(), "{:?}", listing(&refused));
    relay.shutdown().await.unwrap();
}

/// Resumption: an upload whose engine was dropped halfway finishes from the relay's durable
/// offset when the same file is sent again by a reopened engine; a changed file is refused;
/// a download cut halfway resumes from its partial file, and a damaged partial file is
/// refused and fetched again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_and_downloads_resume() {
    use hush_client::Account;
    use hush_client::store::{KeySource, SqliteStore};

    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::relay_config(&dir.path().join("relay"), "127.0.0.1:0".parse().unwrap());
    cfg.blobs.sync_every_bytes = 128 * 1024;
    let relay = hush_relay::server::Relay::start(cfg).await.unwrap();
    let url = relay.url();
    let db = dir.path().join("alice.db");
    let key = [7u8; 32];
    let store = SqliteStore::create_with(&db, KeySource::Key(&key), common::CHEAP).unwrap();
    let mut alice = engine(store, "Alice", &url);
    let mut bob = engine(MemoryStore::new(), "Bob", &url);
    introduce(&mut alice, "alice", &mut bob, "bob");
    bob.receive().await.unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let bytes = data(6 * 1024 * 1024 + 3, 42);
    let path = write(&files, "big.bin", &bytes);

    // The engine stops halfway through the upload (its future is dropped, then the engine).
    stop_upload_halfway(&mut alice, &path).await;
    drop(alice.shutdown().await);
    let tmp = dir.path().join("tmp");
    let reopen = || {
        let store = SqliteStore::open(&db, KeySource::Key(&key)).unwrap();
        Engine::new(Account::open(store).unwrap())
            .unwrap()
            .with_temp_dir(&tmp)
    };
    let mut alice = reopen();
    let pending = alice.pending_uploads().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].to.as_str(), pending[0].group), ("bob", false));
    assert_eq!(pending[0].size, bytes.len() as u64);

    // A changed file is not resumed (that would reuse the key on other bytes).
    let mut changed = bytes.clone();
    changed[10] ^= 1;
    std::fs::write(&path, &changed).unwrap();
    assert!(matches!(
        alice.send_file("bob", &path, &mut |_| {}).await,
        Err(Error::FileChanged(_))
    ));
    assert!(alice.pending_uploads().unwrap().is_empty());
    std::fs::write(&path, &bytes).unwrap();

    // Interrupted again, then resumed: the second run starts past the first's durable bytes.
    stop_upload_halfway(&mut alice, &path).await;
    drop(alice.shutdown().await);
    let mut alice = reopen();
    assert_eq!(alice.pending_uploads().unwrap().len(), 1);
    let mut seen = Vec::new();
    let out = alice
        .send_file("bob", &path, &mut |p| seen.push(p))
        .await
        .unwrap();
    assert!(matches!(out.state, OutgoingState::Stored(_)));
    let total = seen[0].total;
    assert!(
        seen[0].done > 0 && seen[0].done < total,
        "resumed at {} of {total}",
        seen[0].done
    );
    checked_progress(&seen);
    assert!(alice.pending_uploads().unwrap().is_empty());
    // The encrypted copy waited in the engine's temporary folder and is gone.
    assert!(tmp.is_dir() && listing(&tmp).is_empty());

    let got = received(&mut bob).await;
    assert_eq!(got.len(), 1);
    let a = &got[0];

    // The download is cut halfway: the partial file stays, and the next save resumes it.
    let downloads = dir.path().join("downloads");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut told = false;
    let mut cut = move |p: Progress| {
        if !told && p.done >= p.total / 2 {
            told = true;
            let _ = tx.send(p.done);
        }
    };
    tokio::select! {
        biased;
        _ = rx.recv() => {}
        r = bob.save_attachment(a, &downloads, &mut cut) => panic!("the download finished: {r:?}"),
    }
    let partial: Vec<String> = listing(&downloads);
    assert_eq!(partial.len(), 1, "{partial:?}");
    assert!(partial[0].starts_with(".hush-") && partial[0].ends_with(".blob.part"));
    let part_len = std::fs::metadata(downloads.join(&partial[0]))
        .unwrap()
        .len();
    assert!(part_len > 0 && part_len < total, "{part_len}");
    let mut seen = Vec::new();
    let saved = bob
        .save_attachment(a, &downloads, &mut |p| seen.push(p))
        .await
        .unwrap();
    assert_eq!(seen[0].done, part_len);
    assert!(std::fs::read(&saved).unwrap() == bytes);
    assert_eq!(listing(&downloads), vec!["big.bin".to_string()]);

    // A damaged partial file is refused whole, removed, and the next save starts afresh.
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let part = other.join(&partial[0]);
    let mut damaged = vec![0u8; 100_000];
    damaged[5] = 1;
    std::fs::write(&part, &damaged).unwrap();
    assert!(matches!(
        bob.save_attachment(a, &other, &mut |_| {}).await,
        Err(Error::Attachment(AttachmentError::ChunkAuthentication {
            index: 0
        }))
    ));
    assert!(listing(&other).is_empty());
    let saved = bob.save_attachment(a, &other, &mut |_| {}).await.unwrap();
    assert!(std::fs::read(&saved).unwrap() == bytes);
    relay.shutdown().await.unwrap();
}

/// Files of this many bytes are compared in pieces, never held twice in memory.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::io::Read;
    let (mut fa, mut fb) = (
        std::fs::File::open(a).unwrap(),
        std::fs::File::open(b).unwrap(),
    );
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = fa.read(&mut ba).unwrap();
        let mut m = 0;
        while m < n {
            let k = fb.read(&mut bb[m..n]).unwrap();
            if k == 0 {
                return false;
            }
            m += k;
        }
        if ba[..n] != bb[..n] {
            return false;
        }
        if n == 0 {
            return fb.read(&mut bb).unwrap() == 0;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_mib_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, mut alice, mut bob) = alice_and_bob(dir.path()).await;
    let path = dir.path().join("video.mp4");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for i in 0..100u8 {
            f.write_all(&data(1 << 20, i)).unwrap();
        }
        f.flush().unwrap();
    }
    let mut seen = Vec::new();
    alice
        .send_file("bob", &path, &mut |p| seen.push(p))
        .await
        .unwrap();
    checked_progress(&seen);
    let a = received(&mut bob).await.remove(0);
    assert_eq!(a.reference.size, 100 << 20);
    assert_eq!(a.reference.media_type, "video/mp4");
    let saved = save(&mut bob, &a, &dir.path().join("downloads"))
        .await
        .unwrap();
    assert!(same_file(&saved, &path));
    relay.shutdown().await.unwrap();
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_in_a_sent_file_never_reaches_the_relays_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, mut alice, mut bob) = alice_and_bob(dir.path()).await;
    let canary = b"CANARY-engine-attachment-41c7e2";
    let mut bytes = data(5 * CHUNK + 99, 4);
    bytes[3 * CHUNK - 10..3 * CHUNK - 10 + canary.len()].copy_from_slice(canary);
    let path = write(dir.path(), "secret.txt", &bytes);
    alice.send_file("bob", &path, &mut |_| {}).await.unwrap();
    let a = received(&mut bob).await.remove(0);
    let saved = save(&mut bob, &a, &dir.path().join("downloads"))
        .await
        .unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), bytes);
    relay.shutdown().await.unwrap();
    let stored = files_under(&dir.path().join("relay"));
    assert!(
        stored
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "blob"))
    );
    for p in stored {
        let held = std::fs::read(&p).unwrap();
        assert!(
            !held.windows(canary.len()).any(|w| w == canary),
            "canary in {}",
            p.display()
        );
    }
}
