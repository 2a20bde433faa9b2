//! Conformance checks of bounded storage (spec/relay-protocol.md §5 "Relay-wide storage
//! cap"): the usage a backend measures, and the cap enforced in front of each backend (the
//! requests run through [`Dispatcher`], the real handlers). Part of `storage_conformance.rs`.

use super::{Fixture, Q, env, gmsg, mb};
use hush_relay::dispatch::Dispatcher;
use hush_relay::frame::PROTOCOL_VERSION;
use hush_relay::proto::{self, ErrorCode, request, response};
use hush_relay::server::RelayConfig;
use hush_relay::storage::*;
use hush_relay::{Fingerprint, GroupId};
use std::time::Duration;

pub(crate) async fn usage_counts_envelopes_group_log_and_directory(f: &Fixture) {
    let s = f.open().await;
    assert_eq!(s.usage().await.unwrap(), StorageUsage::default());
    for i in 0..3u64 {
        s.put_envelope(env(1, i, &[1; 100], 1000, 60_000), Q)
            .await
            .unwrap();
    }
    s.put_envelope(env(2, 9, &[2; 50], 1000, 60_000), Q)
        .await
        .unwrap();
    // A duplicate stores nothing more.
    s.put_envelope(env(2, 9, &[2; 50], 1000, 60_000), Q)
        .await
        .unwrap();
    let g = GroupId::new(vec![4; 32]).unwrap();
    s.append_group(
        gmsg(&g, 0, GroupMessageKind::Application, &[3; 70]),
        vec![],
        Q,
    )
    .await
    .unwrap();
    s.put_prekeys(
        mb(1),
        Some(SignedPrekey {
            id: 1,
            blob: vec![5; 40],
        }),
        vec![
            OneTimePrekey {
                id: 1,
                blob: vec![6; 30],
            },
            OneTimePrekey {
                id: 2,
                blob: vec![6; 30],
            },
        ],
        10,
    )
    .await
    .unwrap();
    s.put_key_packages(mb(1), vec![vec![7; 20]], Some(vec![8; 10]), 10)
        .await
        .unwrap();
    let want = StorageUsage {
        envelopes: 4,
        envelope_bytes: 350,
        group_entries: 1,
        group_bytes: 70,
        directory_entries: 5,
        directory_bytes: 40 + 60 + 20 + 10,
    };
    assert_eq!(s.usage().await.unwrap(), want);
    assert_eq!(want.total_bytes(), 350 + 70 + 130);

    // ACKs and takes free what they remove.
    assert_eq!(s.ack_envelopes(mb(1), vec![0, 1], 2000).await.unwrap(), 2);
    s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
    s.take_key_package(mb(1)).await.unwrap().unwrap();
    let u = s.usage().await.unwrap();
    assert_eq!((u.envelopes, u.envelope_bytes), (2, 150));
    assert_eq!((u.directory_entries, u.directory_bytes), (3, 40 + 30 + 10));
    assert_eq!((u.group_entries, u.group_bytes), (1, 70));
    s.close().await.unwrap();
}

fn req(body: request::Body) -> proto::Request {
    proto::Request {
        version: PROTOCOL_VERSION,
        body: Some(body),
    }
}

async fn call(d: &Dispatcher, body: request::Body) -> Result<response::Body, ErrorCode> {
    let r = d.handle_request(&req(body)).await;
    match r.into_iter().next().and_then(|r| r.body) {
        Some(response::Body::Error(e)) => Err(ErrorCode::try_from(e.code).unwrap()),
        Some(b) => Ok(b),
        None => panic!("no answer"),
    }
}

fn send(to: u8, id: u8, len: usize) -> request::Body {
    request::Body::Send(proto::SendRequest {
        mailbox_address: mb(to).0.to_vec(),
        envelope_id: vec![id; 16],
        ciphertext: vec![id; len],
    })
}

pub(crate) async fn the_storage_cap_refuses_and_acks_make_room(f: &Fixture) {
    let s = f.open().await;
    // Something is stored before the relay starts: the first measurement sees it.
    s.put_envelope(env(3, 77, &[1; 500], 1000, 3_600_000), Q)
        .await
        .unwrap();
    let config = RelayConfig {
        max_storage_bytes: Some(3000),
        ..RelayConfig::default()
    };
    let d = Dispatcher::new(config, s.clone(), [7; 32], Fingerprint([9; 32]));
    assert!(d.authenticate(mb(1)));
    for id in 0..4 {
        call(&d, send(1, id, 500)).await.unwrap();
    }
    // A retried send that the store finds to be a duplicate gives its admitted bytes back:
    // 2500 bytes are stored, and after the retry the last 500 still fit.
    assert!(matches!(
        call(&d, send(1, 0, 500)).await,
        Ok(response::Body::Send(r)) if r.duplicate
    ));
    call(&d, send(1, 4, 500)).await.unwrap();
    // 3000 bytes stored: one more byte is refused, and nothing is stored.
    assert_eq!(call(&d, send(1, 5, 1)).await, Err(ErrorCode::RelayFull));
    assert_eq!(
        call(
            &d,
            request::Body::Status(proto::StatusRequest {
                envelope_id: vec![5; 16]
            })
        )
        .await,
        Err(ErrorCode::NotFound)
    );
    let u = s.usage().await.unwrap();
    assert_eq!((u.envelopes, u.envelope_bytes), (6, 3000));
    // Directory uploads count too.
    assert!(d.authenticate(mb(2)));
    let upload = request::Body::KeyPackageUpload(proto::KeyPackageUploadRequest {
        mailbox_address: mb(2).0.to_vec(),
        key_packages: vec![vec![1; 10]],
        last_resort: vec![],
        replace_key_packages: false,
    });
    assert_eq!(call(&d, upload).await, Err(ErrorCode::RelayFull));
    assert_eq!(s.directory_stock(mb(2)).await.unwrap().key_packages, 0);
    // Reads and ACKs keep working.
    let page = match call(
        &d,
        request::Body::Fetch(proto::FetchRequest {
            mailbox_address: mb(1).0.to_vec(),
            cursor: 0,
            limit: 0,
        }),
    )
    .await
    {
        Ok(response::Body::Fetch(p)) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(page.envelopes.len(), 5);
    let acked = call(
        &d,
        request::Body::Ack(proto::AckRequest {
            mailbox_address: mb(1).0.to_vec(),
            seqs: vec![page.envelopes[0].seq],
        }),
    )
    .await;
    assert!(matches!(acked, Ok(response::Body::Ack(a)) if a.deleted == 1));
    // The ACK freed 500 bytes: a send of 500 is taken (after at most a short wait for the
    // next measurement), and then the relay is full again.
    let mut taken = false;
    for _ in 0..50 {
        match call(&d, send(1, 6, 500)).await {
            Ok(_) => {
                taken = true;
                break;
            }
            Err(ErrorCode::RelayFull) => tokio::time::sleep(Duration::from_millis(50)).await,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(taken, "the send after the ACK was refused");
    assert_eq!(call(&d, send(1, 7, 1)).await, Err(ErrorCode::RelayFull));
    assert_eq!(s.usage().await.unwrap().envelope_bytes, 3000);
    s.close().await.unwrap();
}

pub(crate) async fn concurrent_sends_never_exceed_the_cap(f: &Fixture) {
    let s = f.open().await;
    let config = RelayConfig {
        max_storage_bytes: Some(1000),
        ..RelayConfig::default()
    };
    let d = std::sync::Arc::new(Dispatcher::new(
        config,
        s.clone(),
        [7; 32],
        Fingerprint([9; 32]),
    ));
    // 30 sends of 100 bytes at once to a cap of 1000: exactly 10 are stored.
    let tasks: Vec<_> = (0..30u8)
        .map(|id| {
            let d = d.clone();
            tokio::spawn(async move { call(&d, send(1 + id % 3, id, 100)).await })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(response::Body::Send(r)) if !r.duplicate => stored += 1,
            Err(ErrorCode::RelayFull) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(stored, 10);
    let u = s.usage().await.unwrap();
    assert_eq!((u.envelopes, u.envelope_bytes), (10, 1000));
    s.close().await.unwrap();
}
