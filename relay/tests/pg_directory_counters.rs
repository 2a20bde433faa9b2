//! The PostgreSQL backend's directory stock, kept as counters by triggers (migration 6): the
//! counters follow every upload, replacement and take, from any node and at once, and a
//! database written before the counters existed opens with them right.
//!
//! Needs `HUSH_TEST_POSTGRES` (see `tests/common/pg.rs`).

#[path = "common/pg.rs"]
mod pg;

use hush_relay::MailboxAddress;
use hush_relay::storage::*;
use std::sync::Arc;
use std::time::Duration;

fn mb(n: u16) -> MailboxAddress {
    let mut a = [0u8; 32];
    a[..2].copy_from_slice(&n.to_be_bytes());
    MailboxAddress(a)
}

fn prekeys(ids: std::ops::Range<u64>) -> Vec<OneTimePrekey> {
    ids.map(|id| OneTimePrekey {
        id,
        blob: format!("prekey {id}").into_bytes(),
    })
    .collect()
}

fn kem_prekeys(ids: std::ops::Range<u64>) -> Vec<KemPrekey> {
    ids.map(|id| KemPrekey {
        id,
        blob: format!("kem {id}").into_bytes(),
    })
    .collect()
}

fn key_packages(tag: u8, n: u8) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![tag, i, 7, 7]).collect()
}

fn signed() -> Option<SignedPrekey> {
    Some(SignedPrekey {
        id: 1,
        blob: b"signed".to_vec(),
    })
}

/// The stock of `m` counted from the rows themselves, as the relay did before the counters.
async fn counted(c: &tokio_postgres::Client, m: MailboxAddress) -> DirectoryStock {
    let a = m.0.as_slice();
    let r = c
        .query_one(
            "SELECT (SELECT count(*) FROM hush_one_time_prekeys WHERE address = $1),
                    (SELECT count(*) FROM hush_key_packages WHERE address = $1),
                    EXISTS (SELECT 1 FROM hush_signed_prekeys WHERE address = $1),
                    EXISTS (SELECT 1 FROM hush_last_resort_key_packages WHERE address = $1),
                    (SELECT count(*) FROM hush_one_time_kem_prekeys WHERE address = $1),
                    EXISTS (SELECT 1 FROM hush_last_resort_kem_prekeys WHERE address = $1)",
            &[&a],
        )
        .await
        .unwrap();
    DirectoryStock {
        one_time_prekeys: r.get::<_, i64>(0) as u64,
        key_packages: r.get::<_, i64>(1) as u64,
        has_signed_prekey: r.get(2),
        has_last_resort: r.get(3),
        one_time_kem_prekeys: r.get::<_, i64>(4) as u64,
        has_last_resort_kem_prekey: r.get(5),
    }
}

/// Checks that both ways of reading the stock (on its own and with a page) give what the rows
/// hold, and returns it.
async fn agrees(s: &PgStorage, c: &tokio_postgres::Client, m: MailboxAddress) -> DirectoryStock {
    let rows = counted(c, m).await;
    assert_eq!(s.directory_stock(m).await.unwrap(), rows, "stock of {m:?}");
    let page = s.fetch_page(m, 0, 10, 1 << 20, 0).await.unwrap();
    assert_eq!(page.stock, rows, "page stock of {m:?}");
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_every_write_from_every_node() {
    let Some(db) = pg::TestDb::create("pg_dir_counters").await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(120), async {
        let a = Arc::new(PgStorage::connect(&db.url, 4).await.unwrap());
        let b = Arc::new(PgStorage::connect(&db.url, 4).await.unwrap());
        let c = db.client().await;
        // A mailbox without a directory reads as empty.
        assert_eq!(agrees(&a, &c, mb(9)).await, DirectoryStock::default());

        let up = PrekeyUpload {
            signed_prekey: signed(),
            one_time_prekeys: prekeys(0..20),
            one_time_kem_prekeys: kem_prekeys(0..10),
            last_resort_kem_prekey: kem_prekeys(99..100).pop(),
            replace_one_time: false,
        };
        let after = a.upload_prekeys(mb(1), up, 1000).await.unwrap();
        assert_eq!(after, agrees(&b, &c, mb(1)).await);
        assert_eq!(
            (after.one_time_prekeys, after.one_time_kem_prekeys),
            (20, 10)
        );
        assert!(after.has_signed_prekey && after.has_last_resort_kem_prekey);
        // Ids already stored are replaced in place, not counted twice; the signed prekey and
        // the last-resort KEM prekey stay one each.
        let up = PrekeyUpload {
            signed_prekey: signed(),
            one_time_prekeys: prekeys(10..30),
            one_time_kem_prekeys: kem_prekeys(5..15),
            last_resort_kem_prekey: kem_prekeys(98..99).pop(),
            replace_one_time: false,
        };
        b.upload_prekeys(mb(1), up, 1000).await.unwrap();
        let s = agrees(&a, &c, mb(1)).await;
        assert_eq!((s.one_time_prekeys, s.one_time_kem_prekeys), (30, 15));
        // Refused for want of room: nothing moves.
        let e = a
            .put_prekeys(mb(1), None, prekeys(100..200), 50)
            .await
            .unwrap_err();
        assert!(matches!(e, StorageError::DirectoryFull(_)), "{e}");
        assert_eq!(agrees(&b, &c, mb(1)).await, s);
        // KeyPackages: repeats are one; the last resort is a flag.
        a.put_key_packages(mb(1), key_packages(1, 8), Some(b"lr".to_vec()), 1000)
            .await
            .unwrap();
        b.put_key_packages(mb(1), key_packages(1, 12), None, 1000)
            .await
            .unwrap();
        let s = agrees(&a, &c, mb(1)).await;
        assert_eq!(s.key_packages, 12);
        assert!(s.has_last_resort);
        // Replacing: what was there goes, what comes is counted.
        let s = a
            .replace_prekeys(mb(1), None, prekeys(500..505), 1000)
            .await
            .unwrap();
        assert_eq!((s.one_time_prekeys, s.one_time_kem_prekeys), (5, 0));
        assert_eq!(agrees(&b, &c, mb(1)).await, s);
        let s = b
            .replace_key_packages(mb(1), key_packages(2, 3), None, 1000)
            .await
            .unwrap();
        assert_eq!(s.key_packages, 3);
        assert_eq!(agrees(&a, &c, mb(1)).await, s);

        // All at once, from both nodes: takes on two mailboxes, and uploads and replacements
        // of their stock. Both lock the mailbox's counter row first: no deadlock (counted by
        // PostgreSQL, below).
        for m in [mb(2), mb(3)] {
            let up = PrekeyUpload {
                signed_prekey: signed(),
                one_time_prekeys: prekeys(0..40),
                one_time_kem_prekeys: kem_prekeys(0..40),
                last_resort_kem_prekey: None,
                replace_one_time: false,
            };
            a.upload_prekeys(m, up, 1000).await.unwrap();
            a.put_key_packages(m, key_packages(3, 40), None, 1000)
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for i in 0..60u64 {
            let s: Arc<dyn Storage> = if i % 2 == 0 { a.clone() } else { b.clone() };
            let m = if i % 3 == 0 { mb(2) } else { mb(3) };
            tasks.push(tokio::spawn(async move {
                match i % 10 {
                    0 => {
                        s.replace_prekeys(m, None, prekeys(1000 + i..1010 + i), 1000)
                            .await
                            .unwrap();
                    }
                    5 => {
                        s.put_key_packages(m, key_packages(4 + i as u8, 5), None, 1000)
                            .await
                            .unwrap();
                    }
                    _ => {
                        s.take_prekey_bundle(m).await.unwrap().unwrap();
                        s.take_key_package(m).await.unwrap();
                    }
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        for m in [mb(1), mb(2), mb(3)] {
            agrees(&a, &c, m).await;
        }
        // Every counter row agrees with its rows.
        let off = c
            .query_one(
                "SELECT count(*) FROM hush_directories d WHERE
                   one_time_prekeys <> (SELECT count(*) FROM hush_one_time_prekeys t
                                        WHERE t.address = d.address)
                OR key_packages <> (SELECT count(*) FROM hush_key_packages t
                                    WHERE t.address = d.address)
                OR one_time_kem_prekeys <> (SELECT count(*) FROM hush_one_time_kem_prekeys t
                                            WHERE t.address = d.address)",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(off.get::<_, i64>(0), 0);
        a.close().await.unwrap();
        b.close().await.unwrap();
        // A backend reports its statistics when it exits, and the nodes' backends are gone
        // once their connections are: wait for that, then read the database's deadlock count.
        let gone = "SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid()";
        for _ in 0..100 {
            if c.query_one(gone, &[]).await.unwrap().get::<_, i64>(0) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.batch_execute("SELECT pg_stat_clear_snapshot()")
            .await
            .unwrap();
        let deadlocks: i64 = c
            .query_one(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(deadlocks, 0, "takes and uploads deadlocked");
    })
    .await
    .expect("within two minutes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_the_counters_opens_with_them() {
    let Some(db) = pg::TestDb::create("pg_dir_counters_old").await else {
        return;
    };
    tokio::time::timeout(Duration::from_secs(60), async {
        // The database as a relay of schema 5 left it: directory rows, written as its uploads
        // did (each under its mailbox's lock row), and one mailbox whose rows lack a lock row.
        let mut c = db.client().await;
        assert_eq!(migrate_up_to(&mut c, 5).await.unwrap(), 5);
        let (one, two) = (mb(1).0.to_vec(), mb(2).0.to_vec());
        c.execute(
            "INSERT INTO hush_directories (address) VALUES ($1)",
            &[&one],
        )
        .await
        .unwrap();
        for (sql, n) in [
            ("INSERT INTO hush_signed_prekeys VALUES ($1, $2, 's')", 1),
            ("INSERT INTO hush_one_time_prekeys VALUES ($1, $2, 'o')", 7),
            (
                "INSERT INTO hush_key_packages VALUES ($1, int8send($2), 'k')",
                4,
            ),
            (
                "INSERT INTO hush_last_resort_key_packages VALUES ($1, 'l')",
                1,
            ),
            (
                "INSERT INTO hush_one_time_kem_prekeys VALUES ($1, $2, 'q')",
                3,
            ),
            (
                "INSERT INTO hush_last_resort_kem_prekeys VALUES ($1, $2, 'r')",
                1,
            ),
        ] {
            for i in 0..n {
                let i = i64::from(i);
                if sql.contains("$2") {
                    c.execute(sql, &[&one, &i]).await.unwrap();
                } else {
                    c.execute(sql, &[&one]).await.unwrap();
                }
            }
        }
        for i in 0..2i64 {
            c.execute(
                "INSERT INTO hush_key_packages VALUES ($1, int8send($2), 'k')",
                &[&two, &i],
            )
            .await
            .unwrap();
        }
        // A relay of schema 6 opens it and reports what is there.
        let s = PgStorage::connect(&db.url, 2).await.unwrap();
        let want = DirectoryStock {
            one_time_prekeys: 7,
            key_packages: 4,
            has_signed_prekey: true,
            has_last_resort: true,
            one_time_kem_prekeys: 3,
            has_last_resort_kem_prekey: true,
        };
        assert_eq!(agrees(&s, &c, mb(1)).await, want);
        let s2 = agrees(&s, &c, mb(2)).await;
        assert_eq!((s2.key_packages, s2.has_signed_prekey), (2, false));
        // And keeps counting from there.
        let bundle = s.take_prekey_bundle(mb(1)).await.unwrap().unwrap();
        assert!(bundle.one_time_prekey.is_some() && !bundle.kem_prekey_last_resort);
        s.take_key_package(mb(2)).await.unwrap().unwrap();
        let after = agrees(&s, &c, mb(1)).await;
        assert_eq!((after.one_time_prekeys, after.one_time_kem_prekeys), (6, 2));
        assert_eq!(agrees(&s, &c, mb(2)).await.key_packages, 1);
        s.close().await.unwrap();
    })
    .await
    .expect("within a minute");
}
