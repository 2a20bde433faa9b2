//! Files end to end: `hush send-file`, `hush group send-file`, and `hush recv` saving them
//! into the downloads folder, with real `hush` processes and a relay.

mod common;

use common::*;
use std::path::Path;

fn data(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

/// The `file` objects of the message events.
fn files(events: &[serde_json::Value]) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event"] == "message" && e.get("file").is_some())
        .map(|e| e["file"].clone())
        .collect()
}

#[test]
fn files_to_a_contact_and_a_group_land_in_downloads() {
    let dir = tempfile::tempdir().unwrap();
    let Pair {
        relay: _relay,
        alice,
        bob,
    } = pair(dir.path());
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let report = data(200_000, 1);
    std::fs::write(src.join("report.pdf"), &report).unwrap();
    std::fs::write(src.join("empty.txt"), b"").unwrap();

    // Text and files interleave; stdout is not a terminal here: no progress bar.
    alice.ok(&["send", "bob", "the report follows"]);
    let out = alice.run(&["send-file", "bob", src.join("report.pdf").to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap();
    assert_eq!(id.trim().len(), 32, "{id}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("ETA"));
    alice.ok(&["send-file", "bob", src.join("empty.txt").to_str().unwrap()]);

    // Human output: the saved paths, under <home>/downloads by default.
    let shown = bob.ok(&["recv"]);
    let downloads = bob.home.join("downloads");
    let mut lines = shown.lines();
    assert_eq!(lines.next(), Some("alice: the report follows"));
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "alice: [file] {} (200000 bytes)",
            downloads.join("report.pdf").display()
        )
    );
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "alice: [file] {} (0 bytes)",
            downloads.join("empty.txt").display()
        )
    );
    assert_eq!(std::fs::read(downloads.join("report.pdf")).unwrap(), report);
    assert_eq!(std::fs::read(downloads.join("empty.txt")).unwrap(), b"");

    // The same file again, into another folder given with --downloads, as JSON.
    alice.ok(&["send-file", "bob", src.join("report.pdf").to_str().unwrap()]);
    let other = dir.path().join("elsewhere");
    let events: Vec<serde_json::Value> = bob
        .ok(&["--json", "recv", "--downloads", other.to_str().unwrap()])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got = files(&events);
    assert_eq!(got.len(), 1, "{events:?}");
    assert_eq!(got[0]["name"], "report.pdf");
    assert_eq!(got[0]["size"], 200_000);
    assert_eq!(got[0]["media_type"], "application/pdf");
    assert_eq!(events[0]["from"], "alice");
    assert!(events[0]["text"].is_null());
    let path = got[0]["path"].as_str().unwrap();
    assert_eq!(Path::new(path), other.join("report.pdf"));
    assert_eq!(std::fs::read(path).unwrap(), report);

    // A group: the file goes to every member; an existing file is never overwritten.
    alice.ok(&["group", "create", "team"]);
    alice.ok(&["group", "add", "team", "bob"]);
    alice.ok(&[
        "group",
        "send-file",
        "team",
        src.join("report.pdf").to_str().unwrap(),
    ]);
    let events = bob.recv_json();
    let got = files(&events);
    assert_eq!(got.len(), 1, "{events:?}");
    let g = events.iter().find(|e| e.get("file").is_some()).unwrap();
    assert_eq!(g["group"], "team");
    let path = got[0]["path"].as_str().unwrap();
    assert_eq!(Path::new(path), downloads.join("report (1).pdf"));
    assert_eq!(std::fs::read(path).unwrap(), report);

    // The encrypted copies waited in the home's tmp folder, and are gone.
    assert_eq!(
        std::fs::read_dir(alice.home.join("tmp")).unwrap().count(),
        0
    );

    // Mistakes fail cleanly, before anything is uploaded.
    let line = alice.fails(&[
        "send-file",
        "carol",
        src.join("report.pdf").to_str().unwrap(),
    ]);
    assert!(line.contains("carol"), "{line}");
    let line = alice.fails(&[
        "send-file",
        "bob",
        src.join("missing.bin").to_str().unwrap(),
    ]);
    assert!(line.contains("missing.bin"), "{line}");
    let line = alice.fails(&[
        "group",
        "send-file",
        "nope",
        src.join("empty.txt").to_str().unwrap(),
    ]);
    assert!(line.contains("nope"), "{line}");
}

/// The `.part` (uploading) and `.meta` files of the relay's blob store.
fn blob_files(relay_data: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(relay_data.join("blobs"))
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == ext))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_send_file_killed_halfway_resumes_on_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let Pair { relay, alice, bob } = pair(dir.path());
    let src = dir.path().join("big.bin");
    let body = data(64 << 20, 7);
    std::fs::write(&src, &body).unwrap();
    let src_arg = src.to_str().unwrap();

    // SIGKILL the sender once the relay holds part of the upload, durably, and not all of it.
    let mut child = alice
        .cmd(&["send-file", "bob", src_arg])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let held = loop {
        let part = blob_files(&relay.data, "part")
            .first()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len());
        if part >= 8 << 20 {
            break part;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "send-file ended before it was killed"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the upload did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(held < body.len() as u64, "the whole file was uploaded");
    assert_eq!(blob_files(&relay.data, "meta").len(), 1);
    // Nothing reached Bob yet: the message goes only after the whole upload.
    assert!(files(&bob.recv_json()).is_empty());

    // The killed command's encrypted copy is still there; a later run removes it once it is
    // old enough that no live sender could still be making it (age it by two minutes).
    let stale: Vec<_> = std::fs::read_dir(alice.home.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(stale.len(), 1, "{stale:?}");
    let then = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
    std::fs::File::options()
        .write(true)
        .open(&stale[0])
        .unwrap()
        .set_modified(then)
        .unwrap();

    // The same command again finishes that upload instead of starting another.
    alice.ok(&["send-file", "bob", src_arg]);
    assert_eq!(blob_files(&relay.data, "meta").len(), 1);
    assert!(blob_files(&relay.data, "part").is_empty());
    let events = bob.recv_json();
    let got = files(&events);
    assert_eq!(got.len(), 1, "{events:?}");
    assert_eq!(
        std::fs::read(got[0]["path"].as_str().unwrap()).unwrap(),
        body
    );
    let left: Vec<_> = std::fs::read_dir(alice.home.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
