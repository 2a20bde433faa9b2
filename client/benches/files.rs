//! What sending and saving a large file costs the engine against its floor, in the same run
//! (alternating rounds): `Engine::send_file` against the protocol's `Encryptor` over the file
//! into a file plus the relay client's blob upload of that ciphertext, and
//! `Engine::save_attachment` against the relay client's download plus the `Decryptor` into a
//! file and its fsync. Relay on 127.0.0.1 (embedded store, fsync before every receipt), in this process.
//! Wall time and this process's CPU time (relay included) per operation.
//!
//! The throughput of the blob transfer itself against a plain quinn stream is
//! `hush-bench --blob-bytes` (BENCHMARKS.md Part 5).
//!
//! `cargo bench -p hush-client --bench files` (env `SIZE` in MiB, default 256; `ROUNDS`,
//! default 3).

mod common;

use cpu_time::ProcessTime;
use hush_client::store::MemoryStore;
use hush_client::{Account, Engine};
use hush_protocol::attachment::{AttachmentKey, Decryptor, Encryptor};
use hush_relay::server::{Relay, RelayConfig};
use hush_relay_client::{Client, MailboxAddress};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Instant;

/// Wall and CPU seconds of one operation.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: f64,
    cpu: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
        }
    }
}

async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Cost) {
    let (w, c) = (Instant::now(), ProcessTime::now());
    let v = f.await;
    (
        v,
        Cost {
            wall: w.elapsed().as_secs_f64(),
            cpu: c.elapsed().as_secs_f64(),
        },
    )
}

/// The floor's encryption: the file through `Encryptor` into `out`, 64 KiB at a time, padded.
fn encrypt_into(src: &Path, out: &Path) -> u64 {
    let key = AttachmentKey::generate(&mut rand::rng());
    let mut input = std::fs::File::open(src).expect("source");
    let mut output = std::io::BufWriter::new(std::fs::File::create(out).expect("out"));
    let mut enc = Encryptor::new(&key);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        output
            .write_all(&enc.update(&buf[..n]).expect("encrypt"))
            .expect("write");
    }
    let done = enc.finish();
    output.write_all(&done.last_chunk).expect("write");
    let zeros = vec![0u8; 64 * 1024];
    let mut left = done.padding_len;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        output.write_all(&zeros[..n]).expect("write");
        left -= n as u64;
    }
    output.flush().expect("flush");
    done.padded_len
}

fn main() {
    let size = common::env("SIZE", 256) << 20;
    let rounds = common::env("ROUNDS", 3);
    let rt = common::runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(RelayConfig {
            // Every round stores two more blobs.
            blobs: hush_relay::blobs::BlobConfig {
                mailbox_quota_bytes: u64::MAX / 2,
                ..Default::default()
            },
            ..common::relay_config(dir.path())
        })
        .await
        .expect("relay starts");
        let url = relay.url();
        let account = |name: &str| {
            Account::create(MemoryStore::new(), &mut rand::rng(), name, url.clone())
                .expect("account")
        };
        let mut alice = Engine::new(account("Alice"))
            .expect("engine")
            .with_temp_dir(dir.path().join("alice-tmp"));
        let mut bob = Engine::new(account("Bob")).expect("engine");
        let (a_card, b_card) = (
            alice.account().card().encode().expect("card"),
            bob.account().card().encode().expect("card"),
        );
        alice.account_mut().add_contact("bob", &b_card).expect("contact");
        bob.account_mut().add_contact("alice", &a_card).expect("contact");
        bob.receive().await.expect("bob publishes");
        alice.send("bob", b"warm-up").await.expect("send");
        bob.receive().await.expect("receive");

        let src = dir.path().join("source.bin");
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&src).expect("source"));
            let mut buf = vec![0u8; 1 << 20];
            for _ in 0..size >> 20 {
                rand::Rng::fill_bytes(&mut rand::rng(), &mut buf);
                f.write_all(&buf).expect("write");
            }
            f.flush().expect("flush");
        }
        let client = Client::connect(&url).await.expect("connect");
        let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
        let mailbox: MailboxAddress = client.authenticate(&key).await.expect("auth");
        let (ct, pt) = (dir.path().join("floor.ct"), dir.path().join("floor.pt"));
        let (down_dir, saved_dir) = (dir.path().join("down.ct"), dir.path().join("saved"));

        let mut rows: [Vec<Cost>; 6] = Default::default();
        for round in 0..rounds {
            // Floor and engine take turns going first: each leaves dirty pages the other's
            // writes may have to wait for.
            for step in [round % 2, 1 - round % 2] {
                if step == 0 {
                    // Floor, send: encrypt into a file, then create + upload that blob.
                    let (padded, c) = timed(async { encrypt_into(&src, &ct) }).await;
                    rows[0].push(c);
                    let (_, c) = timed(async {
                        let (id, _) =
                            client.create_blob(&mailbox, padded, 0).await.expect("create");
                        let file = tokio::fs::File::open(&ct).await.expect("ciphertext");
                        let info = client.upload_blob(&id, 0, file).await.expect("upload");
                        assert!(info.complete);
                    })
                    .await;
                    rows[1].push(c);
                } else {
                    let (_, c) = timed(async {
                        alice
                            .send_file("bob", &src, &mut |_| {})
                            .await
                            .expect("send_file")
                    })
                    .await;
                    rows[2].push(c);
                }
            }
            let events = bob.receive().await.expect("receive");
            let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
            bob.confirm(&ids).expect("confirm");
            let att = events
                .iter()
                .find_map(|e| e.kind.attachment())
                .expect("an attachment");
            let r = &att.reference;
            let mut saved = None;
            for step in [round % 2, 1 - round % 2] {
                if step == 0 {
                    // Floor, save: the relay client's download of the same blob, then its
                    // decryption into a file.
                    let (_, c) = timed(async {
                        let out = tokio::fs::File::create(&down_dir).await.expect("down");
                        client.download_blob(&r.blob_id, 0, out).await.expect("download");
                    })
                    .await;
                    rows[3].push(c);
                    let (_, c) = timed(async {
                        let mut dec = Decryptor::new(&r.key, r.size, r.digest).expect("decryptor");
                        let mut input = std::fs::File::open(&down_dir).expect("ciphertext");
                        let mut output =
                            std::io::BufWriter::new(std::fs::File::create(&pt).expect("pt"));
                        let mut buf = vec![0u8; 64 * 1024];
                        loop {
                            let n = input.read(&mut buf).expect("read");
                            if n == 0 {
                                break;
                            }
                            output
                                .write_all(&dec.update(&buf[..n]).expect("decrypt"))
                                .expect("write");
                        }
                        dec.finish().expect("whole");
                        // Saved means on disk, as the engine makes it before naming the file.
                        output.into_inner().expect("flush").sync_all().expect("sync");
                    })
                    .await;
                    rows[4].push(c);
                } else {
                    let (path, c) = timed(async {
                        bob.save_attachment(&att, &saved_dir, &mut |_| {})
                            .await
                            .expect("save")
                    })
                    .await;
                    rows[5].push(c);
                    saved = Some(path);
                }
            }
            let saved = saved.expect("saved");
            assert_eq!(
                std::fs::metadata(&saved).expect("saved").len(),
                size as u64,
                "saved whole"
            );
            std::fs::remove_file(&saved).expect("remove");
        }
        let med = |v: &[Cost]| Cost {
            wall: common::median(v.iter().map(|c| c.wall).collect()),
            cpu: common::median(v.iter().map(|c| c.cpu).collect()),
        };
        let m: Vec<Cost> = rows.iter().map(|r| med(r)).collect();
        let mib = size as f64 / (1 << 20) as f64;
        println!(
            "file of {mib:.0} MiB, {rounds} rounds, medians (wall ms / CPU ms of this process, relay included; MiB/s by wall)"
        );
        let line = |name: &str, c: Cost| {
            println!(
                "  {name:<44} {:>9.0} {:>9.0} {:>8.0}",
                c.wall * 1e3,
                c.cpu * 1e3,
                mib / c.wall
            )
        };
        println!("  {:<44} {:>9} {:>9} {:>8}", "operation", "wall ms", "CPU ms", "MiB/s");
        line("floor: encrypt into a file", m[0]);
        line("floor: create + upload the blob", m[1]);
        line("floor: send (sum)", m[0] + m[1]);
        line("engine: send_file", m[2]);
        line("floor: download the blob", m[3]);
        line("floor: decrypt into a file", m[4]);
        line("floor: save (sum)", m[3] + m[4]);
        line("engine: save_attachment", m[5]);
        let send_floor = m[0] + m[1];
        let save_floor = m[3] + m[4];
        println!(
            "  send_file / floor: {:.2}x wall, {:.2}x CPU; save_attachment / floor: {:.2}x wall, {:.2}x CPU",
            m[2].wall / send_floor.wall,
            m[2].cpu / send_floor.cpu,
            m[5].wall / save_floor.wall,
            m[5].cpu / save_floor.cpu,
        );
        drop(client);
        let _ = relay.shutdown().await;
    });
}
