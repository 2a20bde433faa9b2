//! Conformance checks of the KEM prekeys of PQXDH (spec/relay-protocol.md §6, spec/pqxdh.md):
//! one-time KEM prekeys handed out at most once, the last-resort one when none is left, the
//! stock limits, replacing uploads, and mailboxes without KEM prekeys (X3DH only). Part of
//! `storage_conformance.rs` (run against both backends by its `conformance!` macro).

use super::{Fixture, mb};
use hush_relay::storage::*;
use std::collections::HashSet;

fn kem(id: u64, tag: &str) -> KemPrekey {
    KemPrekey {
        id,
        blob: format!("{tag}-{id}").into_bytes(),
    }
}

fn signed(b: u8) -> SignedPrekey {
    SignedPrekey {
        id: u32::from(b),
        blob: vec![b; 4],
    }
}

pub(crate) async fn kem_prekeys_once_then_last_resort_under_concurrency(f: &Fixture) {
    let s = f.open().await;
    // KEM prekeys without a signed prekey are stocked but not handed out.
    let upload = PrekeyUpload {
        one_time_kem_prekeys: (0..20).map(|i| kem(1000 + i, "otk")).collect(),
        last_resort_kem_prekey: Some(kem(7, "lr")),
        ..PrekeyUpload::default()
    };
    let stock = s.upload_prekeys(mb(7), upload, 100).await.unwrap();
    assert_eq!(
        (stock.one_time_kem_prekeys, stock.has_last_resort_kem_prekey),
        (20, true)
    );
    assert!(!stock.has_signed_prekey);
    assert_eq!(s.take_prekey_bundle(mb(7)).await.unwrap(), None);
    s.put_prekeys(mb(7), Some(signed(1)), vec![], 100)
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = s.clone();
        tasks.push(tokio::spawn(
            async move { s.take_prekey_bundle(mb(7)).await },
        ));
    }
    let mut ids = HashSet::new();
    let mut last_resort = 0;
    for t in tasks {
        let b = t.await.unwrap().unwrap().unwrap();
        assert_eq!(b.signed_prekey, signed(1));
        assert_eq!(b.one_time_prekey, None);
        let k = b.kem_prekey.expect("a KEM prekey in every bundle");
        if b.kem_prekey_last_resort {
            assert_eq!(k, kem(7, "lr"));
            last_resort += 1;
        } else {
            assert_eq!(k, kem(k.id, "otk"));
            assert!(
                ids.insert(k.id),
                "one-time KEM prekey {} handed out twice",
                k.id
            );
        }
    }
    assert_eq!((ids.len(), last_resort), (20, 30));
    let stock = s.directory_stock(mb(7)).await.unwrap();
    assert_eq!(
        (stock.one_time_kem_prekeys, stock.has_last_resort_kem_prekey),
        (0, true)
    );
    // Lowest id first, over the whole u64 range.
    let upload = PrekeyUpload {
        one_time_kem_prekeys: [u64::MAX, 5, 1 << 63]
            .iter()
            .map(|&i| kem(i, "o"))
            .collect(),
        ..PrekeyUpload::default()
    };
    s.upload_prekeys(mb(7), upload, 100).await.unwrap();
    let mut order = Vec::new();
    for _ in 0..3 {
        let b = s.take_prekey_bundle(mb(7)).await.unwrap().unwrap();
        assert!(!b.kem_prekey_last_resort);
        order.push(b.kem_prekey.unwrap().id);
    }
    assert_eq!(order, vec![5, 1 << 63, u64::MAX]);
    // An owner without KEM prekeys (X3DH only) gets bundles without one, as before.
    s.put_prekeys(
        mb(8),
        Some(signed(2)),
        vec![OneTimePrekey {
            id: 1,
            blob: vec![1],
        }],
        100,
    )
    .await
    .unwrap();
    let b = s.take_prekey_bundle(mb(8)).await.unwrap().unwrap();
    assert_eq!((b.kem_prekey, b.kem_prekey_last_resort), (None, false));
    assert_eq!(b.one_time_prekey.map(|k| k.id), Some(1));
    let stock = s.directory_stock(mb(8)).await.unwrap();
    assert_eq!(
        (stock.one_time_kem_prekeys, stock.has_last_resort_kem_prekey),
        (0, false)
    );
    s.close().await.unwrap();
}

pub(crate) async fn kem_prekey_uploads_are_atomic_replaced_and_durable(f: &Fixture) {
    let s = f.open().await;
    let otpk = |r: std::ops::Range<u64>| {
        r.map(|id| OneTimePrekey { id, blob: vec![1] })
            .collect::<Vec<_>>()
    };
    let upload = PrekeyUpload {
        signed_prekey: Some(signed(1)),
        one_time_prekeys: otpk(0..4),
        one_time_kem_prekeys: (0..8).map(|i| kem(i, "a")).collect(),
        last_resort_kem_prekey: Some(kem(100, "lr")),
        replace_one_time: false,
    };
    let stock = s.upload_prekeys(mb(1), upload, 10).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.one_time_kem_prekeys), (4, 8));
    let before = s.usage().await.unwrap();
    // Over the KEM limit (8 + 3 new > 10): nothing of the upload is stored, not even the
    // one-time prekeys or the signed prekey that would fit.
    let over = PrekeyUpload {
        signed_prekey: Some(signed(2)),
        one_time_prekeys: otpk(4..5),
        one_time_kem_prekeys: (6..11).map(|i| kem(i, "b")).collect(),
        last_resort_kem_prekey: Some(kem(101, "lr")),
        replace_one_time: false,
    };
    assert!(matches!(
        s.upload_prekeys(mb(1), over, 10).await,
        Err(StorageError::DirectoryFull(_))
    ));
    assert_eq!(s.usage().await.unwrap(), before);
    let stock = s.directory_stock(mb(1)).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.one_time_kem_prekeys), (4, 8));
    // Ids already stored count once (6, 7 replaced, 8, 9 new).
    let upload = PrekeyUpload {
        one_time_kem_prekeys: (6..10).map(|i| kem(i, "c")).collect(),
        ..PrekeyUpload::default()
    };
    let stock = s.upload_prekeys(mb(1), upload, 10).await.unwrap();
    assert_eq!(stock.one_time_kem_prekeys, 10);
    // A replacing upload (the classic call too) removes the old one-time KEM prekeys; the
    // last-resort one stays until replaced.
    let stock = s
        .replace_prekeys(mb(1), None, otpk(50..52), 10)
        .await
        .unwrap();
    assert_eq!(
        (
            stock.one_time_prekeys,
            stock.one_time_kem_prekeys,
            stock.has_last_resort_kem_prekey
        ),
        (2, 0, true)
    );
    let upload = PrekeyUpload {
        one_time_kem_prekeys: vec![kem(200, "d")],
        last_resort_kem_prekey: Some(kem(102, "lr")),
        replace_one_time: true,
        ..PrekeyUpload::default()
    };
    let stock = s.upload_prekeys(mb(1), upload, 10).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.one_time_kem_prekeys), (0, 1));
    s.close().await.unwrap();
    drop(s);
    // Durable: a reopened store hands out the one-time KEM prekey, then the new last resort.
    let s = f.open().await;
    let b = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
    assert_eq!(
        (b.kem_prekey, b.kem_prekey_last_resort),
        (Some(kem(200, "d")), false)
    );
    let b = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
    assert_eq!(
        (b.kem_prekey, b.kem_prekey_last_resort),
        (Some(kem(102, "lr")), true)
    );
    assert_eq!(b.signed_prekey, signed(1));
    s.close().await.unwrap();
}
