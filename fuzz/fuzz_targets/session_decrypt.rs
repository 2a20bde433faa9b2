//! Double Ratchet decrypt of arbitrary bytes against a fixed session: never panics, and a
//! failed decrypt leaves the session state byte-identical.
#![no_main]

#[path = "common.rs"]
mod common;

use hush_protocol::Session;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let mut session = Session::from_bytes(&f.alice_session).expect("fixture state");
    let mut rng = common::rng();
    if session.decrypt(&mut rng, data).is_err() {
        assert_eq!(
            *session.to_bytes(),
            f.alice_session,
            "failed decrypt changed the state"
        );
    }
});
