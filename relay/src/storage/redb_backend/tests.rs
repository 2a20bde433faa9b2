//! Tests particular to the redb backend.

use super::*;
use crate::types::{EnvelopeId, MailboxAddress};

fn env(mb: u8, id: u64, len: usize, now: u64, ttl: u64) -> NewEnvelope {
    NewEnvelope {
        mailbox: MailboxAddress([mb; 32]),
        envelope_id: EnvelopeId::new(id.to_be_bytes().to_vec()).unwrap(),
        ciphertext: vec![mb; len],
        now_ms: now,
        expires_at_ms: now + ttl,
        forget_at_ms: now + 2 * ttl,
    }
}

const Q: MailboxQuota = MailboxQuota {
    max_count: 1000,
    max_bytes: 1 << 30,
};

fn open() -> (tempfile::TempDir, Arc<RedbStorage>) {
    let dir = tempfile::tempdir().unwrap();
    let s = RedbStorage::open(&dir.path().join("t.redb")).unwrap();
    (dir, Arc::new(s))
}

#[tokio::test]
async fn a_page_knows_whether_it_reached_the_end() {
    let (_d, s) = open();
    let a = MailboxAddress([1; 32]);
    for i in 0..3 {
        s.put_envelope(env(1, i, 100, 10, 1000), Q).await.unwrap();
    }
    // The last envelope has expired: a page that stops before it is still complete.
    s.put_envelope(env(1, 9, 100, 10, 5), Q).await.unwrap();
    let page = |cursor, limit, bytes| s.fetch_page(a, cursor, limit, bytes, 20);
    let all = page(0, 100, usize::MAX).await.unwrap();
    assert_eq!(all.envelopes.len(), 3);
    assert!(all.complete);
    let by_count = page(0, 2, usize::MAX).await.unwrap();
    assert_eq!(by_count.envelopes.len(), 2);
    assert!(!by_count.complete);
    let by_bytes = page(0, 100, 150).await.unwrap();
    assert_eq!(by_bytes.envelopes.len(), 1);
    assert!(!by_bytes.complete);
    let last = page(2, 1, usize::MAX).await.unwrap();
    assert_eq!(last.envelopes.len(), 1);
    assert!(
        !last.complete,
        "a key follows, even if it turns out to be expired"
    );
    assert!(page(3, 1, usize::MAX).await.unwrap().complete);
    s.close().await.unwrap();
}

/// A database written before `directory_counts` existed: its counts are built once,
/// when it is opened, and kept from then on.
#[tokio::test]
async fn directory_counts_are_built_for_an_older_database_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let (a, b) = ([1u8; 32], [2u8; 32]);
    {
        // The tables as an older relay wrote them, without directory_counts.
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut otpk = txn.open_table(ONE_TIME_PREKEYS).unwrap();
            for id in 0..5u64 {
                otpk.insert(key_prefix_u64(&a, id).as_slice(), [7u8; 33].as_slice())
                    .unwrap();
            }
            otpk.insert(key_prefix_u64(&b, 9).as_slice(), [7u8; 33].as_slice())
                .unwrap();
            let mut kps = txn.open_table(KEY_PACKAGES).unwrap();
            for i in 0..3u8 {
                let k = key_prefix_bytes(&a, &sha256(&[&[i]]));
                kps.insert(k.as_slice(), [i].as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let s = RedbStorage::open(&path).unwrap();
    let stock = s.directory_stock(MailboxAddress(a)).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.key_packages), (5, 3));
    let stock = s.directory_stock(MailboxAddress(b)).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.key_packages), (1, 0));

    // Kept with every change: uploads (a repeated id or KeyPackage counts once) and takes.
    let otpk = |id| OneTimePrekey {
        id,
        blob: vec![1; 33],
    };
    let stock = s
        .put_prekeys(
            MailboxAddress(a),
            None,
            vec![otpk(4), otpk(5), otpk(5)],
            100,
        )
        .await
        .unwrap();
    assert_eq!(stock.one_time_prekeys, 6);
    let stock = s
        .put_key_packages(
            MailboxAddress(a),
            vec![vec![0], vec![9], vec![9]],
            None,
            100,
        )
        .await
        .unwrap();
    assert_eq!(stock.key_packages, 4);
    s.take_key_package(MailboxAddress(a))
        .await
        .unwrap()
        .unwrap();
    s.put_prekeys(
        MailboxAddress(b),
        Some(SignedPrekey {
            id: 1,
            blob: vec![1],
        }),
        vec![],
        100,
    )
    .await
    .unwrap();
    let bundle = s
        .take_prekey_bundle(MailboxAddress(b))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bundle.one_time_prekey.map(|k| k.id), Some(9));
    s.close().await.unwrap();
    drop(s);

    assert_eq!(format_of(&path), Some(FORMAT_VERSION));
    // Reopened: the counts still match the tables.
    let s = RedbStorage::open(&path).unwrap();
    let stock = s.directory_stock(MailboxAddress(a)).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.key_packages), (6, 3));
    let stock = s.directory_stock(MailboxAddress(b)).await.unwrap();
    assert_eq!((stock.one_time_prekeys, stock.key_packages), (0, 0));
    s.close().await.unwrap();
}

fn format_of(path: &Path) -> Option<u64> {
    let db = Database::create(path).unwrap();
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).ok()?;
    meta.get(FORMAT_KEY).unwrap().map(|v| v.value())
}

#[tokio::test]
async fn the_file_records_its_format_and_a_newer_one_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let s = RedbStorage::open(&path).unwrap();
    s.put_envelope(env(1, 1, 10, 10, 1000), Q).await.unwrap();
    s.close().await.unwrap();
    drop(s);
    assert_eq!(format_of(&path), Some(FORMAT_VERSION));
    // Written by a future relay.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(FORMAT_KEY, FORMAT_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let e = RedbStorage::open(&path)
        .err()
        .expect("a newer format is refused");
    assert!(e.to_string().contains("newer than this relay"), "{e}");
    assert_eq!(format_of(&path), Some(FORMAT_VERSION + 1));
    // Back to this format: everything is still there.
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert(FORMAT_KEY, FORMAT_VERSION)
            .unwrap();
        txn.commit().unwrap();
    }
    let s = RedbStorage::open(&path).unwrap();
    let got = s
        .fetch_envelopes(MailboxAddress([1; 32]), 0, 10, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    s.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_get_distinct_sequence_numbers() {
    let (_d, s) = open();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.put_envelope(env(1, i, 64, 10, 1000), Q).await
        }));
    }
    let mut seqs = BTreeSet::new();
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert!(!out.duplicate);
        assert!(seqs.insert(out.seq));
    }
    assert_eq!(seqs, (0..200).collect());
    let got = s
        .fetch_envelopes(MailboxAddress([1; 32]), 0, 1000, usize::MAX, 11)
        .await
        .unwrap();
    assert_eq!(got.len(), 200);
    let st = s.commit_stats();
    assert_eq!(st.operations, 200);
    assert!(
        st.commits < st.operations,
        "concurrent writes share commits (group commit): {st:?}"
    );
    s.close().await.unwrap();
    assert_eq!(
        s.put_envelope(env(1, 999, 1, 10, 10), Q).await,
        Err(StorageError::Closed)
    );
}

// The backend-independent behaviour (quotas, welcomes atomic with their commit, TTL sweeps,
// ...) is checked for this backend and PostgreSQL alike in
// `relay/tests/storage_conformance.rs`; only what is particular to redb stays here.

/// While the slot refuses writes (as during recovery from an I/O error), every write is
/// refused at once with `Unavailable` and its retry time, nothing is stored, and reads keep
/// working; once it takes writes again they succeed.
#[tokio::test]
async fn a_failing_store_refuses_writes_and_keeps_reading() {
    let (_d, s) = open();
    let a = MailboxAddress([1; 32]);
    s.put_envelope(env(1, 1, 100, 10, 1000), Q).await.unwrap();
    s.slot.set_failing(
        slot::FailKind::DiskFull,
        "I/O error: No space left on device (os error 28)".into(),
        std::time::Duration::from_millis(250),
    );
    assert_eq!(s.slot.kind().label(), "disk_full");
    match s.put_envelope(env(1, 2, 100, 10, 1000), Q).await {
        Err(StorageError::Unavailable {
            reason,
            retry_after_ms,
        }) => {
            assert!(reason.contains("No space left"), "{reason}");
            assert_eq!(retry_after_ms, 250);
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        s.probe().await,
        Err(StorageError::Unavailable { .. })
    ));
    assert!(matches!(
        s.ack_envelopes(a, vec![0], 20).await,
        Err(StorageError::Unavailable { .. })
    ));
    let page = s.fetch_page(a, 0, 10, usize::MAX, 20).await.unwrap();
    assert_eq!(
        page.envelopes.len(),
        1,
        "reads work, nothing else was stored"
    );
    assert!(
        s.envelope_status(page.envelopes[0].envelope_id.clone(), 20)
            .await
            .unwrap()
            .is_some()
    );
    s.slot.set_ok();
    s.put_envelope(env(1, 2, 100, 10, 1000), Q).await.unwrap();
    s.probe().await.unwrap();
    s.close().await.unwrap();
}

/// redb's I/O failures (and a handle they poisoned) are `Unavailable`, which starts the
/// recovery; its other errors stay `Backend`.
#[test]
fn io_errors_are_unavailable_and_others_backend() {
    let full = std::io::Error::from_raw_os_error(28);
    let e = StorageError::from(redb::Error::Io(full));
    assert_eq!(
        slot::FailKind::of(&e),
        Some(slot::FailKind::DiskFull),
        "{e}"
    );
    let e = StorageError::from(redb::Error::PreviousIo);
    assert_eq!(slot::FailKind::of(&e), Some(slot::FailKind::Io), "{e}");
    let e = StorageError::from(redb::Error::DatabaseAlreadyOpen);
    assert!(matches!(e, StorageError::Backend(_)), "{e:?}");
    assert_eq!(slot::FailKind::of(&e), None);
}
