//! Sealed-sender envelope opening against a fixed recipient never panics.
#![no_main]

#[path = "common.rs"]
mod common;

use hush_protocol::IdentityKeyPair;
use hush_protocol::envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let bob = IdentityKeyPair::from_bytes(&f.bob_identity).expect("fixture identity");
    let _ = envelope::open(&bob, data);
});
