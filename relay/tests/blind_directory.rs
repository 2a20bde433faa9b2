//! The relay's side of the blind directory (spec/relay-protocol.md §6.1), through the
//! socket-free dispatcher: fetch tokens checked against the registered verifier, refused
//! fetches take nothing, legacy mailboxes are served as before, and replacing uploads.

use hush_relay::dispatch::Dispatcher;
use hush_relay::frame::PROTOCOL_VERSION;
use hush_relay::proto::{self, ErrorCode, request, response};
use hush_relay::storage::RedbStorage;
use hush_relay::{Fingerprint, MailboxAddress, RelayConfig};
use sha2::{Digest, Sha256};
use std::sync::Arc;

fn dispatcher() -> (tempfile::TempDir, Dispatcher) {
    let dir = tempfile::tempdir().unwrap();
    let storage = RedbStorage::open(&dir.path().join("t.redb")).unwrap();
    let d = Dispatcher::new(
        RelayConfig::default(),
        Arc::new(storage),
        [7; 32],
        Fingerprint([9; 32]),
    );
    (dir, d)
}

async fn call(d: &Dispatcher, body: request::Body) -> Result<response::Body, ErrorCode> {
    let r = d
        .handle_request(&proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(body),
        })
        .await;
    match r.into_iter().next().and_then(|r| r.body) {
        Some(response::Body::Error(e)) => Err(ErrorCode::try_from(e.code).unwrap()),
        Some(b) => Ok(b),
        None => panic!("no answer"),
    }
}

fn verifier(token: &[u8]) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(b"Hush-v1-Directory-Verifier");
    h.update(token);
    h.finalize().to_vec()
}

fn upload(m: &MailboxAddress, ids: std::ops::Range<u64>, replace: bool) -> request::Body {
    request::Body::PrekeyUpload(proto::PrekeyUploadRequest {
        mailbox_address: m.0.to_vec(),
        signed_prekey: Some(proto::SignedPrekey {
            id: 1,
            blob: vec![0x53; 41 + 256],
        }),
        one_time_prekeys: ids
            .map(|id| proto::OneTimePrekey {
                id,
                blob: vec![id as u8; 41 + 256],
            })
            .collect(),
        replace_one_time_prekeys: replace,
        ..Default::default()
    })
}

fn prekey_fetch(m: &MailboxAddress, token: &[u8]) -> request::Body {
    request::Body::PrekeyFetch(proto::PrekeyFetchRequest {
        mailbox_address: m.0.to_vec(),
        fetch_token: token.to_vec(),
    })
}

fn kp_fetch(m: &MailboxAddress, token: &[u8]) -> request::Body {
    request::Body::KeyPackageFetch(proto::KeyPackageFetchRequest {
        mailbox_address: m.0.to_vec(),
        fetch_token: token.to_vec(),
    })
}

fn stock(b: response::Body) -> proto::DirectoryStock {
    match b {
        response::Body::DirectoryStock(s) => s,
        other => panic!("not a stock: {other:?}"),
    }
}

#[tokio::test]
async fn fetches_need_the_token_once_a_verifier_is_registered() {
    let (_dir, d) = dispatcher();
    let m = MailboxAddress([1; 32]);
    let token = [0x42u8; 32];
    let access = |v: Vec<u8>| {
        request::Body::DirectoryAccess(proto::DirectoryAccessRequest {
            mailbox_address: m.0.to_vec(),
            fetch_verifier: v,
        })
    };
    // Owner-only, like every directory upload.
    assert_eq!(
        call(&d, access(verifier(&token))).await.err(),
        Some(ErrorCode::Unauthenticated)
    );
    assert!(d.authenticate(m));
    assert_eq!(
        call(&d, access(vec![1; 31])).await.err(),
        Some(ErrorCode::Malformed)
    );
    stock(call(&d, upload(&m, 0..5, false)).await.unwrap());
    stock(
        call(
            &d,
            request::Body::KeyPackageUpload(proto::KeyPackageUploadRequest {
                mailbox_address: m.0.to_vec(),
                key_packages: vec![vec![0x4b; 300]; 1],
                last_resort: vec![0x4c; 300],
                replace_key_packages: false,
            }),
        )
        .await
        .unwrap(),
    );

    // Legacy: no verifier, served to anyone, with or without a token.
    assert!(call(&d, prekey_fetch(&m, &[])).await.is_ok());
    assert!(call(&d, prekey_fetch(&m, &[9; 32])).await.is_ok());

    let s = stock(call(&d, access(verifier(&token))).await.unwrap());
    assert_eq!(s.one_time_prekeys, 3);
    for bad in [&[][..], &[0x41; 32][..], &token[..31], &[0x42; 33][..]] {
        assert_eq!(
            call(&d, prekey_fetch(&m, bad)).await.err(),
            Some(ErrorCode::FetchTokenInvalid)
        );
        assert_eq!(
            call(&d, kp_fetch(&m, bad)).await.err(),
            Some(ErrorCode::FetchTokenInvalid)
        );
    }
    // Nothing was taken by the refused fetches.
    let s = stock(
        call(
            &d,
            request::Body::DirectoryStock(proto::DirectoryStockRequest {
                mailbox_address: m.0.to_vec(),
            }),
        )
        .await
        .unwrap(),
    );
    assert_eq!((s.one_time_prekeys, s.key_packages), (3, 1));
    match call(&d, prekey_fetch(&m, &token)).await.unwrap() {
        response::Body::PrekeyBundle(b) => assert_eq!(b.one_time_prekey.unwrap().id, 2),
        other => panic!("{other:?}"),
    }
    match call(&d, kp_fetch(&m, &token)).await.unwrap() {
        response::Body::KeyPackage(k) => assert!(!k.last_resort),
        other => panic!("{other:?}"),
    }
    // Another mailbox's token does not open this one; a new verifier retires the old token.
    let other = [0x43u8; 32];
    assert_eq!(
        call(&d, prekey_fetch(&m, &other)).await.err(),
        Some(ErrorCode::FetchTokenInvalid)
    );
    stock(call(&d, access(verifier(&other))).await.unwrap());
    assert_eq!(
        call(&d, prekey_fetch(&m, &token)).await.err(),
        Some(ErrorCode::FetchTokenInvalid)
    );
    assert!(call(&d, prekey_fetch(&m, &other)).await.is_ok());
}

#[tokio::test]
async fn a_replacing_upload_removes_every_legacy_one_time_prekey() {
    let (_dir, d) = dispatcher();
    let m = MailboxAddress([2; 32]);
    assert!(d.authenticate(m));
    assert_eq!(
        stock(call(&d, upload(&m, 0..6, false)).await.unwrap()).one_time_prekeys,
        6
    );
    assert_eq!(
        stock(call(&d, upload(&m, 100..102, true)).await.unwrap()).one_time_prekeys,
        2
    );
    let mut ids = Vec::new();
    while let Ok(response::Body::PrekeyBundle(b)) = call(&d, prekey_fetch(&m, &[])).await {
        match b.one_time_prekey {
            Some(k) => ids.push(k.id),
            None => break,
        }
    }
    assert_eq!(ids, vec![100, 101]);
}
