//! The relay's request handling with no sockets: the input is a sequence of request streams
//! (each a length-prefixed frame) run through `hush_relay::dispatch::Dispatcher`, which applies
//! the real checks and command handlers to a redb store. Two mailboxes are authenticated on
//! the simulated connection so owner-only requests are reachable. After each input every
//! envelope and group entry expires (a sweep at the end of time), so inputs barely interact.
//!
//! Invariants: no panic; every non-empty stream gets at least one response; every response
//! carries the protocol version and a body, and fits a frame; no request makes the relay
//! answer `INTERNAL`; every stored receipt verifies with the relay's key.
#![no_main]

#[path = "relay_common.rs"]
mod relay_common;

use hush_relay::frame::{PROTOCOL_VERSION, encode_frame};
use hush_relay::proto::{ErrorCode, response};
use hush_relay::storage::Storage;
use hush_relay::types::StoredReceipt;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let h = relay_common::harness();
    let key = h.dispatcher.receipt_public_key();
    h.rt.block_on(async {
        for stream in relay_common::streams(data, 16) {
            let responses = h.dispatcher.handle_stream(stream).await;
            assert!(!responses.is_empty(), "a request got no answer");
            for r in responses {
                assert_eq!(r.version, PROTOCOL_VERSION);
                encode_frame(&r, relay_common::MAX_FRAME).expect("a response fits a frame");
                match r.body.expect("a response has a body") {
                    response::Body::Error(e) => {
                        assert_ne!(
                            e.code,
                            ErrorCode::Internal as i32,
                            "INTERNAL: {}",
                            e.message
                        )
                    }
                    response::Body::Send(s) => {
                        let p = s.receipt.expect("a send answer has a receipt");
                        let receipt = StoredReceipt::from_proto(&p).expect("receipt decodes");
                        receipt.verify(&key).expect("receipt verifies");
                    }
                    _ => {}
                }
            }
        }
        h.storage.sweep(u64::MAX).await.expect("sweep");
    });
});
