//! Conformance checks of the blind directory's storage (spec/relay-protocol.md §6.1): fetch
//! verifiers, and uploads that replace a mailbox's whole stock. Part of
//! `storage_conformance.rs` (run against both backends by its `conformance!` macro).

use super::{Fixture, mb};
use hush_relay::storage::*;

pub(crate) async fn fetch_verifiers_are_kept_per_mailbox_and_replaced(f: &Fixture) {
    let s = f.open().await;
    assert_eq!(s.fetch_verifier(mb(1)).await.unwrap(), None);
    let stock = s.set_fetch_verifier(mb(1), [7; 32]).await.unwrap();
    assert_eq!(stock, DirectoryStock::default());
    assert_eq!(s.fetch_verifier(mb(1)).await.unwrap(), Some([7; 32]));
    assert_eq!(s.fetch_verifier(mb(2)).await.unwrap(), None);
    s.set_fetch_verifier(mb(1), [8; 32]).await.unwrap();
    assert_eq!(s.fetch_verifier(mb(1)).await.unwrap(), Some([8; 32]));
    s.close().await.unwrap();
    drop(s);
    // Durable: a reopened store still has it.
    let s = f.open().await;
    assert_eq!(s.fetch_verifier(mb(1)).await.unwrap(), Some([8; 32]));
    s.close().await.unwrap();
}

pub(crate) async fn replacing_uploads_remove_the_old_stock_atomically(f: &Fixture) {
    let s = f.open().await;
    let keys = |r: std::ops::Range<u64>, b: u8| {
        r.map(|id| OneTimePrekey { id, blob: vec![b] })
            .collect::<Vec<_>>()
    };
    let spk = |b: u8| SignedPrekey {
        id: 1,
        blob: vec![b; 4],
    };
    // Legacy (plain) entries, and another mailbox's that must stay.
    s.put_prekeys(mb(1), Some(spk(1)), keys(0..8, 1), 10)
        .await
        .unwrap();
    s.put_prekeys(mb(2), Some(spk(1)), keys(0..3, 1), 10)
        .await
        .unwrap();
    let plain: Vec<Vec<u8>> = (0..4u8).map(|i| vec![i; 8]).collect();
    s.put_key_packages(mb(1), plain.clone(), Some(b"old".to_vec()), 10)
        .await
        .unwrap();
    s.put_key_packages(mb(2), plain.clone(), None, 10)
        .await
        .unwrap();

    // A replacement that would not fit changes nothing.
    assert!(matches!(
        s.replace_prekeys(mb(1), Some(spk(2)), keys(100..111, 2), 10)
            .await,
        Err(StorageError::DirectoryFull(_))
    ));
    assert_eq!(s.directory_stock(mb(1)).await.unwrap().one_time_prekeys, 8);
    // The limit counts the new stock only (the old one goes): 10 replace 8 under a limit of 10.
    let stock = s
        .replace_prekeys(mb(1), Some(spk(2)), keys(100..110, 2), 10)
        .await
        .unwrap();
    assert_eq!(stock.one_time_prekeys, 10);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let b = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
        assert_eq!(b.signed_prekey.blob, vec![2; 4]);
        let k = b.one_time_prekey.unwrap();
        assert_eq!(k.blob, vec![2], "an old one-time prekey survived");
        ids.push(k.id);
    }
    assert_eq!(ids, (100..110).collect::<Vec<_>>());
    let b = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
    assert!(b.one_time_prekey.is_none());

    let sealed: Vec<Vec<u8>> = (0..3u8).map(|i| vec![0x50 + i; 8]).collect();
    let stock = s
        .replace_key_packages(mb(1), sealed.clone(), Some(b"new".to_vec()), 10)
        .await
        .unwrap();
    assert_eq!((stock.key_packages, stock.has_last_resort), (3, true));
    for _ in 0..3 {
        let kp = s.take_key_package(mb(1)).await.unwrap().unwrap();
        assert!(!kp.last_resort);
        assert!(sealed.contains(&kp.blob), "an old KeyPackage survived");
    }
    let kp = s.take_key_package(mb(1)).await.unwrap().unwrap();
    assert_eq!((kp.blob.as_slice(), kp.last_resort), (&b"new"[..], true));
    // An empty replacement empties the stock; the last resort stays when none is given.
    s.replace_key_packages(mb(1), sealed, None, 10)
        .await
        .unwrap();
    let stock = s
        .replace_key_packages(mb(1), vec![], None, 10)
        .await
        .unwrap();
    assert_eq!((stock.key_packages, stock.has_last_resort), (0, true));

    // The other mailbox is untouched.
    let other = s.directory_stock(mb(2)).await.unwrap();
    assert_eq!((other.one_time_prekeys, other.key_packages), (3, 4));
    s.close().await.unwrap();
}
