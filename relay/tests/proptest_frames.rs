//! Property tests for the relay's wire forms: every request and response kind survives a
//! frame round trip (encode → read → equal), arbitrary bytes never make the frame reader or
//! the identifier, receipt and URL parsers panic, frames above the maximum are refused, and
//! signed receipts round-trip through their wire form and still verify.

use ed25519_dalek::SigningKey;
use hush_relay::frame::{FrameError, PROTOCOL_VERSION, encode_frame, read_frame, read_message};
use hush_relay::proto::{self, request, response};
use hush_relay::types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
    parse_public_key,
};
use hush_relay::url::RelayUrl;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn stored_receipt() -> impl Strategy<Value = proto::StoredReceipt> {
    (bytes(70), bytes(40), any::<u64>(), bytes(70)).prop_map(|(e, m, t, s)| proto::StoredReceipt {
        envelope_id: e,
        mailbox_address: m,
        stored_at_ms: t,
        signature: s,
    })
}

fn delivered_receipt() -> impl Strategy<Value = proto::DeliveredReceipt> {
    (bytes(70), bytes(40), any::<u64>(), bytes(70)).prop_map(|(e, m, t, s)| {
        proto::DeliveredReceipt {
            envelope_id: e,
            mailbox_address: m,
            delivered_at_ms: t,
            signature: s,
        }
    })
}

fn signed_prekey() -> impl Strategy<Value = proto::SignedPrekey> {
    (any::<u32>(), bytes(120)).prop_map(|(id, blob)| proto::SignedPrekey { id, blob })
}

fn one_time_prekey() -> impl Strategy<Value = proto::OneTimePrekey> {
    (any::<u64>(), bytes(60)).prop_map(|(id, blob)| proto::OneTimePrekey { id, blob })
}

fn kem_prekey() -> impl Strategy<Value = proto::KemPrekey> {
    (any::<u64>(), bytes(60)).prop_map(|(id, blob)| proto::KemPrekey { id, blob })
}

fn stock() -> impl Strategy<Value = proto::DirectoryStock> {
    (any::<u64>(), any::<u64>(), any::<u64>(), any::<[bool; 4]>()).prop_map(|(o, k, q, f)| {
        proto::DirectoryStock {
            one_time_prekeys: o,
            key_packages: k,
            has_signed_prekey: f[0],
            has_last_resort: f[1],
            low: f[2],
            one_time_kem_prekeys: q,
            has_last_resort_kem_prekey: f[3],
        }
    })
}

fn request_body() -> impl Strategy<Value = request::Body> {
    use request::Body as B;
    let welcome = (bytes(40), bytes(70), bytes(100)).prop_map(|(m, e, c)| proto::WelcomeDelivery {
        mailbox_address: m,
        envelope_id: e,
        ciphertext: c,
    });
    prop_oneof![
        Just(B::Hello(proto::HelloRequest {})),
        Just(B::Challenge(proto::ChallengeRequest {})),
        (bytes(40), bytes(40), bytes(70)).prop_map(|(k, c, s)| B::Auth(proto::AuthRequest {
            mailbox_public_key: k,
            challenge: c,
            signature: s,
        })),
        (bytes(40), bytes(70), bytes(300)).prop_map(|(m, e, c)| B::Send(proto::SendRequest {
            mailbox_address: m,
            envelope_id: e,
            ciphertext: c,
        })),
        (bytes(40), any::<u64>(), any::<u32>()).prop_map(|(m, c, l)| B::Fetch(
            proto::FetchRequest {
                mailbox_address: m,
                cursor: c,
                limit: l,
            }
        )),
        (bytes(40), any::<u64>()).prop_map(|(m, c)| B::Subscribe(proto::SubscribeRequest {
            mailbox_address: m,
            cursor: c,
        })),
        (bytes(40), vec(any::<u64>(), 0..8)).prop_map(|(m, s)| B::Ack(proto::AckRequest {
            mailbox_address: m,
            seqs: s,
        })),
        bytes(70).prop_map(|e| B::Status(proto::StatusRequest { envelope_id: e })),
        (
            bytes(40),
            option::of(signed_prekey()),
            vec(one_time_prekey(), 0..4),
            any::<bool>(),
            vec(kem_prekey(), 0..3),
            option::of(kem_prekey()),
        )
            .prop_map(
                |(m, s, o, r, q, l)| B::PrekeyUpload(proto::PrekeyUploadRequest {
                    mailbox_address: m,
                    signed_prekey: s,
                    one_time_prekeys: o,
                    replace_one_time_prekeys: r,
                    one_time_kem_prekeys: q,
                    last_resort_kem_prekey: l,
                })
            ),
        (bytes(40), bytes(40)).prop_map(|(m, t)| B::PrekeyFetch(proto::PrekeyFetchRequest {
            mailbox_address: m,
            fetch_token: t
        })),
        (bytes(40), vec(bytes(100), 0..4), bytes(100), any::<bool>()).prop_map(|(m, k, l, r)| {
            B::KeyPackageUpload(proto::KeyPackageUploadRequest {
                mailbox_address: m,
                key_packages: k,
                last_resort: l,
                replace_key_packages: r,
            })
        }),
        (bytes(40), bytes(40)).prop_map(|(m, t)| B::KeyPackageFetch(
            proto::KeyPackageFetchRequest {
                mailbox_address: m,
                fetch_token: t
            }
        )),
        (bytes(40), bytes(40)).prop_map(|(m, v)| B::DirectoryAccess(
            proto::DirectoryAccessRequest {
                mailbox_address: m,
                fetch_verifier: v
            }
        )),
        bytes(40)
            .prop_map(|m| B::DirectoryStock(proto::DirectoryStockRequest { mailbox_address: m })),
        (
            bytes(300),
            any::<u64>(),
            -1i32..5,
            bytes(200),
            vec(welcome, 0..3)
        )
            .prop_map(|(g, e, k, m, w)| B::GroupAppend(proto::GroupAppendRequest {
                group_id: g,
                epoch: e,
                kind: k,
                message: m,
                welcomes: w,
            })),
        (bytes(300), any::<u64>(), any::<u32>()).prop_map(|(g, c, l)| B::GroupFetch(
            proto::GroupFetchRequest {
                group_id: g,
                cursor: c,
                limit: l,
            }
        )),
        (bytes(300), any::<u64>()).prop_map(|(g, c)| B::GroupSubscribe(
            proto::GroupSubscribeRequest {
                group_id: g,
                cursor: c,
            }
        )),
    ]
}

fn response_body() -> impl Strategy<Value = response::Body> {
    use response::Body as B;
    let envelope = (
        any::<u64>(),
        bytes(70),
        any::<u64>(),
        any::<u64>(),
        bytes(200),
    )
        .prop_map(|(seq, e, s, x, c)| proto::Envelope {
            seq,
            envelope_id: e,
            stored_at_ms: s,
            expires_at_ms: x,
            ciphertext: c,
        });
    let entry = (
        any::<u64>(),
        any::<u64>(),
        -1i32..5,
        any::<u64>(),
        bytes(200),
    )
        .prop_map(|(seq, epoch, kind, at, m)| proto::GroupEntry {
            seq,
            epoch,
            kind,
            stored_at_ms: at,
            message: m,
        });
    prop_oneof![
        (-1i32..15, ".{0,40}", option::of(any::<u64>()), any::<u64>()).prop_map(
            |(code, message, current_epoch, retry_after_ms)| B::Error(proto::ErrorResponse {
                code,
                message,
                current_epoch,
                retry_after_ms,
            })
        ),
        (
            vec(any::<u32>(), 4..=4),
            bytes(40),
            vec(any::<u64>(), 2..=2)
        )
            .prop_map(|(n, k, t)| {
                B::Hello(proto::HelloResponse {
                    min_version: n[0],
                    max_version: n[1],
                    receipt_public_key: k,
                    server_time_ms: t[0],
                    max_frame_bytes: n[2],
                    max_envelope_bytes: n[3],
                    ttl_seconds: t[1],
                })
            }),
        bytes(40).prop_map(|c| B::Challenge(proto::ChallengeResponse { challenge: c })),
        bytes(40).prop_map(|m| B::Auth(proto::AuthResponse { mailbox_address: m })),
        (option::of(stored_receipt()), any::<bool>()).prop_map(|(r, d)| B::Send(
            proto::SendResponse {
                receipt: r,
                duplicate: d,
            }
        )),
        (vec(envelope, 0..4), any::<u64>(), option::of(stock())).prop_map(|(e, n, s)| {
            B::Fetch(proto::FetchResponse {
                envelopes: e,
                next_cursor: n,
                stock: s,
            })
        }),
        any::<u32>().prop_map(|d| B::Ack(proto::AckResponse { deleted: d })),
        (
            -1i32..5,
            option::of(stored_receipt()),
            option::of(delivered_receipt()),
            any::<u64>()
        )
            .prop_map(|(st, s, d, x)| B::Status(proto::StatusResponse {
                state: st,
                stored: s,
                delivered: d,
                expired_at_ms: x,
            })),
        stock().prop_map(B::DirectoryStock),
        (
            option::of(signed_prekey()),
            option::of(one_time_prekey()),
            option::of(kem_prekey()),
            any::<bool>()
        )
            .prop_map(|(s, o, k, l)| {
                B::PrekeyBundle(proto::PrekeyBundle {
                    signed_prekey: s,
                    one_time_prekey: o,
                    kem_prekey: k,
                    kem_prekey_last_resort: l,
                })
            }),
        (bytes(200), any::<bool>()).prop_map(|(k, l)| B::KeyPackage(proto::KeyPackageResponse {
            key_package: k,
            last_resort: l,
        })),
        (
            any::<u64>(),
            any::<u64>(),
            vec(stored_receipt(), 0..3),
            any::<bool>()
        )
            .prop_map(|(s, e, w, d)| B::GroupAppend(proto::GroupAppendResponse {
                seq: s,
                current_epoch: e,
                welcome_receipts: w,
                duplicate: d,
            })),
        (vec(entry, 0..4), any::<u64>(), option::of(any::<u64>())).prop_map(|(e, n, c)| {
            B::GroupFetch(proto::GroupFetchResponse {
                entries: e,
                next_cursor: n,
                current_epoch: c,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip_through_frames(
        version in prop_oneof![Just(PROTOCOL_VERSION), any::<u32>()],
        body in option::of(request_body()),
    ) {
        let req = proto::Request { version, body };
        let frame = encode_frame(&req, usize::MAX).expect("encodes");
        let mut r = frame.as_slice();
        let back: Option<proto::Request> = block_on(read_message(&mut r, frame.len()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, Some(req));
        prop_assert!(r.is_empty());
        // One byte less than the payload is refused before anything is read.
        let payload = frame.len() - 4;
        if payload > 0 {
            let mut r = frame.as_slice();
            let small = block_on(read_frame(&mut r, payload - 1));
            prop_assert!(
                matches!(small, Err(FrameError::TooLarge { len, .. }) if len == payload),
                "frame over the maximum accepted"
            );
        }
    }

    #[test]
    fn responses_round_trip_through_frames(
        version in any::<u32>(),
        body in option::of(response_body()),
    ) {
        let resp = proto::Response { version, body };
        let frame = encode_frame(&resp, usize::MAX).expect("encodes");
        let mut r = frame.as_slice();
        let back: Option<proto::Response> = block_on(read_message(&mut r, frame.len()))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, Some(resp));
    }

    #[test]
    fn several_frames_on_one_stream_read_back_in_order(
        bodies in vec(request_body(), 1..5),
    ) {
        let reqs: Vec<proto::Request> = bodies
            .into_iter()
            .map(|b| proto::Request { version: PROTOCOL_VERSION, body: Some(b) })
            .collect();
        let stream: Vec<u8> = reqs
            .iter()
            .flat_map(|q| encode_frame(q, usize::MAX).expect("encodes"))
            .collect();
        let mut r = stream.as_slice();
        let back = block_on(async {
            let mut out = Vec::new();
            while let Some(q) = read_message::<proto::Request, _>(&mut r, usize::MAX).await? {
                out.push(q);
            }
            Ok::<_, FrameError>(out)
        })
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(back, reqs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in bytes(800), max in 0usize..1024) {
        block_on(async {
            let mut r = data.as_slice();
            while let Ok(Some(_)) = read_message::<proto::Request, _>(&mut r, max).await {}
            let mut r = data.as_slice();
            while let Ok(Some(_)) = read_message::<proto::Response, _>(&mut r, max).await {}
            let mut r = data.as_slice();
            if let Ok(Some(f)) = read_frame(&mut r, max) .await {
                assert!(f.len() <= max);
            }
        });
        let _ = MailboxAddress::from_slice(&data);
        let _ = EnvelopeId::new(data.clone());
        let _ = GroupId::new(data.clone());
        let _ = parse_public_key(&data);
        let text = String::from_utf8_lossy(&data);
        let _ = Fingerprint::from_hex(&text);
        let _ = text.parse::<RelayUrl>();
        use prost::Message;
        if let Ok(p) = proto::StoredReceipt::decode(data.as_slice()) {
            let _ = StoredReceipt::from_proto(&p);
        }
        if let Ok(p) = proto::DeliveredReceipt::decode(data.as_slice()) {
            let _ = DeliveredReceipt::from_proto(&p);
        }
    }

    #[test]
    fn identifiers_round_trip(
        mailbox in any::<[u8; 32]>(),
        id in bytes(80),
        group in bytes(300),
        fpr in any::<[u8; 32]>(),
        port in 1u16..,
    ) {
        let a = MailboxAddress::from_slice(&mailbox).expect("32 bytes");
        prop_assert_eq!(a.as_bytes(), &mailbox);
        if let Ok(e) = EnvelopeId::new(id.clone()) {
            prop_assert_eq!(e.as_bytes(), id.as_slice());
        }
        if let Ok(g) = GroupId::new(group.clone()) {
            prop_assert_eq!(g.as_bytes(), group.as_slice());
        }
        let f = Fingerprint(fpr);
        prop_assert_eq!(Fingerprint::from_hex(&f.to_hex()).ok(), Some(f));
        let url: RelayUrl = format!("hush://{}@relay.example:{port}", f.to_hex())
            .parse()
            .map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let again: RelayUrl = url.to_string().parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(again, url);
    }

    #[test]
    fn receipts_round_trip_and_verify(
        seed in any::<[u8; 32]>(),
        id in bytes(64),
        mailbox in any::<[u8; 32]>(),
        at in any::<u64>(),
    ) {
        let key = SigningKey::from_bytes(&seed);
        let Ok(id) = EnvelopeId::new(id) else { return Ok(()); };
        let mailbox = MailboxAddress(mailbox);
        let s = StoredReceipt::sign(&key, id.clone(), mailbox, at);
        let back = StoredReceipt::from_proto(&s.to_proto()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &s);
        prop_assert!(back.verify(&key.verifying_key()).is_ok());
        let d = DeliveredReceipt::sign(&key, id, mailbox, at);
        let back = DeliveredReceipt::from_proto(&d.to_proto()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &d);
        prop_assert!(back.verify(&key.verifying_key()).is_ok());
        // A receipt for another time does not verify.
        let mut forged = s.to_proto();
        forged.stored_at_ms ^= 1;
        let forged = StoredReceipt::from_proto(&forged).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(forged.verify(&key.verifying_key()).is_err());
    }
}
