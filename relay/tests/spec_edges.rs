//! Edges of the relay specification that an independent client had to find by experiment,
//! now written down (spec/relay-protocol.md §2, §4, §5, §6, §7) and pinned here through the
//! socket-free [`Dispatcher`] (the real checks and handlers).

use ed25519_dalek::{Signer, SigningKey};
use hush_relay::dispatch::Dispatcher;
use hush_relay::frame::{self, PROTOCOL_VERSION};
use hush_relay::proto::{self, ErrorCode, request, response};
use hush_relay::server::RelayConfig;
use hush_relay::storage::RedbStorage;
use hush_relay::types::auth_message;
use hush_relay::{Fingerprint, MailboxAddress};
use std::sync::Arc;

const FPR: Fingerprint = Fingerprint([9; 32]);

fn dispatcher(tweak: impl FnOnce(&mut RelayConfig)) -> (tempfile::TempDir, Dispatcher) {
    let dir = tempfile::tempdir().unwrap();
    let storage = RedbStorage::open(&dir.path().join("t.redb")).unwrap();
    let mut config = RelayConfig::default();
    tweak(&mut config);
    (
        dir,
        Dispatcher::new(config, Arc::new(storage), [7; 32], FPR),
    )
}

fn req(body: request::Body) -> proto::Request {
    proto::Request {
        version: PROTOCOL_VERSION,
        body: Some(body),
    }
}

/// The one answer to a request: its body, or its error code and message.
async fn call(d: &Dispatcher, body: request::Body) -> Result<response::Body, (ErrorCode, String)> {
    answer(d.handle_request(&req(body)).await)
}

fn answer(r: Vec<proto::Response>) -> Result<response::Body, (ErrorCode, String)> {
    assert_eq!(r.len(), 1, "{r:?}");
    match r.into_iter().next().and_then(|r| r.body) {
        Some(response::Body::Error(e)) => Err((ErrorCode::try_from(e.code).unwrap(), e.message)),
        Some(b) => Ok(b),
        None => panic!("answer without a body"),
    }
}

fn code(r: Result<response::Body, (ErrorCode, String)>) -> ErrorCode {
    match r {
        Err((c, _)) => c,
        Ok(b) => panic!("expected an error, got {b:?}"),
    }
}

fn send(to: MailboxAddress, id: u8, ciphertext: Vec<u8>) -> request::Body {
    request::Body::Send(proto::SendRequest {
        mailbox_address: to.0.to_vec(),
        envelope_id: vec![id; 16],
        ciphertext,
    })
}

#[tokio::test]
async fn frames_empty_streams_and_trailing_bytes() {
    let (_dir, d) = dispatcher(|_| {});
    // §2: an empty stream gets no answer.
    assert!(d.handle_stream(&[]).await.is_empty());
    // A zero-length frame decodes to a request of version 0 without a body: the version
    // check comes first.
    assert_eq!(
        code(answer(d.handle_stream(&[0, 0, 0, 0]).await)),
        ErrorCode::UnsupportedVersion
    );
    // A request of the right version without a body (or with a body of an unknown kind).
    let empty = proto::Request {
        version: PROTOCOL_VERSION,
        body: None,
    };
    assert_eq!(
        code(answer(d.handle_request(&empty).await)),
        ErrorCode::Malformed
    );
    // Bytes after the frame are ignored: the request is served.
    let mut bytes =
        frame::encode_frame(&req(request::Body::Hello(proto::HelloRequest {})), 1 << 20).unwrap();
    bytes.extend_from_slice(b"trailing garbage");
    assert!(matches!(
        answer(d.handle_stream(&bytes).await),
        Ok(response::Body::Hello(_))
    ));
}

#[tokio::test]
async fn a_malformed_auth_keeps_its_challenge() {
    let (_dir, d) = dispatcher(|_| {});
    let key = SigningKey::from_bytes(&[3; 32]);
    // §4: no HELLO first; a CHALLENGE is the first request.
    let challenge = match call(&d, request::Body::Challenge(proto::ChallengeRequest {})).await {
        Ok(response::Body::Challenge(c)) => c.challenge,
        other => panic!("{other:?}"),
    };
    let c: [u8; 32] = challenge.clone().try_into().unwrap();
    let sig = key.sign(&auth_message(&c, &FPR)).to_bytes().to_vec();
    let auth = |pk: Vec<u8>, ch: Vec<u8>, sig: Vec<u8>| {
        request::Body::Auth(proto::AuthRequest {
            mailbox_public_key: pk,
            challenge: ch,
            signature: sig,
        })
    };
    let pk = key.verifying_key().to_bytes().to_vec();
    // Wrong lengths are MALFORMED, not BAD_SIGNATURE, and do not use up the challenge.
    for bad in [
        auth(pk[..31].to_vec(), challenge.clone(), sig.clone()),
        auth(pk.clone(), challenge[..31].to_vec(), sig.clone()),
        auth(pk.clone(), challenge.clone(), sig[..63].to_vec()),
    ] {
        assert_eq!(code(call(&d, bad).await), ErrorCode::Malformed);
    }
    // The challenge is still good for its one attempt.
    assert!(matches!(
        call(&d, auth(pk.clone(), challenge.clone(), sig.clone())).await,
        Ok(response::Body::Auth(_))
    ));
    assert_eq!(
        code(call(&d, auth(pk, challenge, sig)).await),
        ErrorCode::BadSignature
    );
}

#[tokio::test]
async fn envelope_edges() {
    let (_dir, d) = dispatcher(|c| c.mailbox_max_bytes = 100);
    let to = MailboxAddress([1; 32]);
    // §5: an empty ciphertext is malformed.
    assert_eq!(
        code(call(&d, send(to, 1, vec![])).await),
        ErrorCode::Malformed
    );
    // One envelope larger than a whole mailbox may hold: a message that says so.
    let (c, msg) = call(&d, send(to, 2, vec![1; 101])).await.unwrap_err();
    assert_eq!(c, ErrorCode::QuotaExceeded);
    assert!(
        msg.contains("envelope of 101 bytes exceeds the mailbox byte limit of 100"),
        "{msg}"
    );
    // The mailbox itself full: the stored counts.
    call(&d, send(to, 3, vec![1; 60])).await.unwrap();
    let (c, msg) = call(&d, send(to, 4, vec![1; 60])).await.unwrap_err();
    assert_eq!(c, ErrorCode::QuotaExceeded);
    assert!(
        msg.starts_with("mailbox full: 1 envelopes / 60 bytes"),
        "{msg}"
    );
    // A retry of the stored envelope is a duplicate even though the mailbox is full: the
    // duplicate check comes before the quota.
    assert!(matches!(
        call(&d, send(to, 3, vec![1; 60])).await,
        Ok(response::Body::Send(s)) if s.duplicate
    ));
    // More than 1000 sequence numbers in one ACK: MALFORMED.
    assert!(d.authenticate(to));
    let ack = request::Body::Ack(proto::AckRequest {
        mailbox_address: to.0.to_vec(),
        seqs: (0..1001).collect(),
    });
    assert_eq!(code(call(&d, ack).await), ErrorCode::Malformed);
}

#[tokio::test]
async fn group_and_directory_edges() {
    let (_dir, d) = dispatcher(|_| {});
    let append = |epoch, kind: proto::GroupMessageKind, message: Vec<u8>, welcomes| {
        request::Body::GroupAppend(proto::GroupAppendRequest {
            group_id: vec![4; 32],
            epoch,
            kind: kind as i32,
            message,
            welcomes,
        })
    };
    let welcome = proto::WelcomeDelivery {
        mailbox_address: vec![1; 32],
        envelope_id: vec![1; 16],
        ciphertext: vec![1; 10],
    };
    // §7: welcomes only with a commit; an empty message is malformed.
    let app = proto::GroupMessageKind::Application;
    assert_eq!(
        code(call(&d, append(0, app, vec![1], vec![welcome.clone()])).await),
        ErrorCode::Malformed
    );
    assert_eq!(
        code(call(&d, append(0, app, vec![], vec![])).await),
        ErrorCode::Malformed
    );
    // Before the first commit, current_epoch is 0; after a commit at E it is E + 1 >= 1.
    match call(&d, append(7, app, vec![1], vec![])).await {
        Ok(response::Body::GroupAppend(a)) => assert_eq!(a.current_epoch, 0),
        other => panic!("{other:?}"),
    }
    match call(
        &d,
        append(0, proto::GroupMessageKind::Commit, vec![2], vec![]),
    )
    .await
    {
        Ok(response::Body::GroupAppend(a)) => assert_eq!(a.current_epoch, 1),
        other => panic!("{other:?}"),
    }

    // §6: an uploaded id already in stock replaces that prekey and does not count again.
    let owner = MailboxAddress([2; 32]);
    assert!(d.authenticate(owner));
    let upload = |ids: Vec<u64>| {
        request::Body::PrekeyUpload(proto::PrekeyUploadRequest {
            mailbox_address: owner.0.to_vec(),
            signed_prekey: None,
            one_time_prekeys: ids
                .into_iter()
                .map(|id| proto::OneTimePrekey { id, blob: vec![5] })
                .collect(),
            replace_one_time_prekeys: false,
            ..Default::default()
        })
    };
    let stock = |r| match r {
        Ok(response::Body::DirectoryStock(s)) => s.one_time_prekeys,
        other => panic!("{other:?}"),
    };
    assert_eq!(stock(call(&d, upload(vec![1, 2, 3])).await), 3);
    assert_eq!(stock(call(&d, upload(vec![2, 3, 4, 4])).await), 4);
}
