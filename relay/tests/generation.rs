//! GENERATION over real QUIC: the state generation of a mailbox is read and advanced only by
//! its authenticated owner, compare-and-set, and survives a restart.

mod common;

use common::*;
use hush_relay::proto::{self, ErrorCode, request, response};
use hush_relay_client::generation::Generation;
use std::time::Duration;

/// Every test finishes in bounded time.
async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_reads_or_advances_its_generation() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(1)).await;
        assert_eq!(owner.generation(&addr).await.unwrap(), 0);

        // Nobody else: neither an anonymous connection nor the owner of another mailbox.
        let anon = connect(&relay).await;
        let e = anon.generation(&addr).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        let e = anon.advance_generation(&addr, 0, 1).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        let (other, other_addr) = login(&relay, &key(2)).await;
        let e = other.advance_generation(&addr, 0, 1).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        let e = other.generation(&addr).await.unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Unauthenticated));
        assert_eq!(owner.generation(&addr).await.unwrap(), 0);

        // Compare-and-set.
        assert_eq!(
            owner.advance_generation(&addr, 0, 1).await.unwrap(),
            Generation {
                current: 1,
                advanced: true
            }
        );
        // A stale copy of the owner's state learns the newer value; nothing changes.
        assert_eq!(
            owner.advance_generation(&addr, 0, 1).await.unwrap(),
            Generation {
                current: 1,
                advanced: false
            }
        );
        // `next` must grow.
        for next in [0, 1] {
            let e = owner.advance_generation(&addr, 1, next).await.unwrap_err();
            assert_eq!(e.relay_code(), Some(ErrorCode::Malformed));
        }
        assert_eq!(owner.generation(&addr).await.unwrap(), 1);
        // The other mailbox has its own counter.
        assert_eq!(other.generation(&other_addr).await.unwrap(), 0);

        // A raw request without a mailbox address is malformed, not a crash.
        let r = owner
            .raw_request(&proto::Request {
                version: 1,
                body: Some(request::Body::Generation(proto::GenerationRequest {
                    mailbox_address: vec![1, 2, 3],
                    expected: None,
                    next: 0,
                })),
            })
            .await
            .unwrap();
        assert!(
            matches!(&r.body, Some(response::Body::Error(e)) if e.code == ErrorCode::Malformed as i32),
            "{r:?}"
        );
        owner.close().await;
        other.close().await;
        anon.close().await;
    })
    .await;

    // Durable: a restarted relay has the value.
    within(30, relay.shutdown()).await.unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(1)).await;
        assert_eq!(owner.generation(&addr).await.unwrap(), 1);
        assert!(
            owner
                .advance_generation(&addr, 1, 2)
                .await
                .unwrap()
                .advanced
        );
        owner.close().await;
    })
    .await;
    within(30, relay.shutdown()).await.unwrap();
}
