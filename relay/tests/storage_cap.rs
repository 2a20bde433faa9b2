//! Bounded relay storage over real QUIC (spec/relay-protocol.md §5 "Relay-wide storage cap",
//! §6): oversized directory entries are refused whole, and the relay-wide cap refuses writes
//! with RELAY_FULL, stores nothing, keeps reads and ACKs working, and takes writes again
//! once ACKs have freed space.

mod common;

use common::*;
use hush_relay::proto::ErrorCode;
use hush_relay_client::{ClientError, EnvelopeId, GroupId};
use hush_relay_client::{GroupMessageKind, OneTimePrekey, SignedPrekey};
use std::time::Duration;

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (ErrorCode, String) {
    match r {
        Err(ClientError::Relay { code, message, .. }) => (code, message),
        other => panic!("expected a relay error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_directory_entries_are_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| c.max_directory_entry_bytes = 1024).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(1)).await;
        let spk = |len| SignedPrekey {
            id: 1,
            blob: vec![7; len],
        };
        let otpk = |id, len| OneTimePrekey {
            id,
            blob: vec![8; len],
        };

        // One oversized one-time prekey among good ones: nothing of the upload is stored.
        let (c, msg) = code(
            owner
                .upload_prekeys(
                    &addr,
                    Some(spk(1024)),
                    vec![otpk(1, 100), otpk(2, 1025), otpk(3, 100)],
                )
                .await,
        );
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);
        assert!(msg.contains("1025") && msg.contains("1024"), "{msg}");
        // An oversized signed prekey, with the replacing upload too.
        let (c, _) = code(owner.upload_prekeys(&addr, Some(spk(1025)), vec![]).await);
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);
        let (c, _) = code(
            owner
                .replace_prekeys(&addr, Some(spk(1025)), vec![otpk(1, 10)])
                .await,
        );
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);
        // An oversized KeyPackage, and an oversized last-resort one.
        let (c, msg) = code(
            owner
                .upload_key_packages(&addr, vec![vec![1; 10], vec![2; 2000]], None)
                .await,
        );
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);
        assert!(msg.contains("KeyPackage of 2000 bytes"), "{msg}");
        let (c, _) = code(
            owner
                .upload_key_packages(&addr, vec![vec![1; 10]], Some(vec![3; 1025]))
                .await,
        );
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);
        let (c, _) = code(
            owner
                .replace_key_packages(&addr, vec![vec![2; 1025]], None)
                .await,
        );
        assert_eq!(c, ErrorCode::DirectoryEntryTooLarge);

        // Nothing was stored.
        let stock = owner.directory_stock(&addr).await.unwrap();
        assert_eq!(stock.one_time_prekeys, 0);
        assert_eq!(stock.key_packages, 0);
        assert!(!stock.has_signed_prekey && !stock.has_last_resort);
        let (c, _) = code(owner.fetch_prekey_bundle(&addr).await);
        assert_eq!(c, ErrorCode::NotFound);
        let (c, _) = code(owner.fetch_key_package(&addr).await);
        assert_eq!(c, ErrorCode::NotFound);

        // Entries at the limit are taken.
        let stock = owner
            .upload_prekeys(&addr, Some(spk(1024)), vec![otpk(1, 1024)])
            .await
            .unwrap();
        assert_eq!(stock.one_time_prekeys, 1);
        let stock = owner
            .upload_key_packages(&addr, vec![vec![1; 1024]], Some(vec![3; 1024]))
            .await
            .unwrap();
        assert_eq!(stock.key_packages, 1);
        owner.close().await;
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_cap_refuses_writes_until_acks_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |c| {
        c.max_storage_bytes = Some(4000);
        // Only the on-demand measurements run during the test.
        c.storage_usage_interval = Duration::from_secs(3600);
    })
    .await;
    within(60, async {
        let (owner, addr) = login(&relay, &key(2)).await;
        let sender = connect(&relay).await;
        let id = |n: u8| EnvelopeId::new(vec![n]).unwrap();
        for n in 0..3 {
            sender.send(&addr, &id(n), vec![n; 1000]).await.unwrap();
        }
        // A fourth fits exactly (4000 bytes); a fifth does not.
        sender.send(&addr, &id(3), vec![3; 1000]).await.unwrap();
        let (c, msg) = code(sender.send(&addr, &id(4), vec![4; 1]).await);
        assert_eq!(c, ErrorCode::RelayFull);
        assert!(msg.contains("4000"), "{msg}");
        // Nothing was stored: the id is unknown and the mailbox holds four.
        let (c, _) = code(sender.status(&id(4)).await);
        assert_eq!(c, ErrorCode::NotFound);
        let page = owner.fetch(&addr, 0, 100).await.unwrap();
        assert_eq!(page.envelopes.len(), 4);
        // Directory uploads and group appends count too.
        let (c, _) = code(
            owner
                .upload_key_packages(&addr, vec![vec![1; 10]], None)
                .await,
        );
        assert_eq!(c, ErrorCode::RelayFull);
        let group = GroupId::new(vec![5; 32]).unwrap();
        let (c, _) = code(
            sender
                .group_append(
                    &group,
                    0,
                    GroupMessageKind::Application,
                    vec![1; 10],
                    vec![],
                )
                .await,
        );
        assert_eq!(c, ErrorCode::RelayFull);
        assert_eq!(owner.directory_stock(&addr).await.unwrap().key_packages, 0);

        // ACKs work and free space: sends are taken again.
        let seqs: Vec<u64> = page.envelopes.iter().take(2).map(|e| e.seq).collect();
        assert_eq!(owner.ack(&addr, &seqs).await.unwrap(), 2);
        let mut stored = false;
        for _ in 0..50 {
            match sender.send(&addr, &id(4), vec![4; 1000]).await {
                Ok(_) => {
                    stored = true;
                    break;
                }
                Err(e) if e.relay_code() == Some(ErrorCode::RelayFull) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert!(stored, "a send after the ACK was still refused");
        sender.send(&addr, &id(5), vec![5; 1000]).await.unwrap();
        let (c, _) = code(sender.send(&addr, &id(6), vec![6; 1000]).await);
        assert_eq!(c, ErrorCode::RelayFull);
        assert_eq!(owner.fetch(&addr, 0, 100).await.unwrap().envelopes.len(), 4);
        owner.close().await;
        sender.close().await;
    })
    .await;
    relay.shutdown().await.unwrap();
}
