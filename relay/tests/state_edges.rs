//! State edges over real QUIC, with the relay's clock pinned: an envelope acked after its
//! expiry stays expired whatever the sweep timing, and a commit at the last epoch is
//! malformed (spec/relay-protocol.md §5 ACK, §7).

mod common;

use common::*;
use hush_relay::clock::Clock;
use hush_relay::proto::ErrorCode;
use hush_relay::{EnvelopeId, GroupId};
use hush_relay_client::{GroupMessageKind, Status};
use std::time::Duration;

async fn within<T>(secs: u64, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), f)
        .await
        .expect("test took too long")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_acked_after_its_expiry_stays_expired() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Clock::pinned(1_000_000);
    let relay = start_in(dir.path(), |c| {
        c.clock = clock.clone();
        c.ttl = Duration::from_secs(60);
        // No sweep runs during the test.
        c.sweep_interval = Duration::from_secs(3600);
    })
    .await;
    within(30, async {
        let (owner, addr) = login(&relay, &key(3)).await;
        let id = EnvelopeId::new(vec![9]).unwrap();
        owner.send(&addr, &id, vec![1; 64]).await.unwrap();
        let page = owner.fetch(&addr, 0, 10).await.unwrap();
        assert_eq!(page.envelopes.len(), 1);
        let seq = page.envelopes[0].seq;
        // The TTL passes (expires_at = 1,060,000); the sweep has not run.
        clock.advance(Duration::from_secs(61));
        assert_eq!(owner.ack(&addr, &[seq]).await.unwrap(), 0);
        let st = owner.status(&id).await.unwrap();
        assert!(
            matches!(st.status, Status::Expired { at_ms: 1_060_000 }),
            "{:?}",
            st.status
        );
        // It is gone from the mailbox all the same.
        assert!(
            owner
                .fetch(&addr, 0, 10)
                .await
                .unwrap()
                .envelopes
                .is_empty()
        );
        owner.close().await;
    })
    .await;
    relay.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_commit_at_the_last_epoch_is_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    within(30, async {
        let c = connect(&relay).await;
        let g = GroupId::new(b"last".to_vec()).unwrap();
        let e = c
            .group_append(
                &g,
                u64::MAX,
                GroupMessageKind::Commit,
                b"c".to_vec(),
                vec![],
            )
            .await
            .unwrap_err();
        assert_eq!(e.relay_code(), Some(ErrorCode::Malformed), "{e}");
        assert_eq!(e.epoch_conflict(), None);
        // Nothing was stored: the group still takes its first commit.
        let r = c
            .group_append(&g, 5, GroupMessageKind::Commit, b"c5".to_vec(), vec![])
            .await
            .unwrap();
        assert_eq!((r.seq, r.current_epoch), (0, 6));
        c.close().await;
    })
    .await;
    relay.shutdown().await.unwrap();
}
