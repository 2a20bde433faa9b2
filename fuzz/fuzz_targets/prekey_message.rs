//! X3DH initial-message processing against a fixed responder: never panics, and a rejected
//! message leaves the prekey store unchanged.
#![no_main]

#[path = "common.rs"]
mod common;

use hush_protocol::{IdentityKeyPair, PreKeyStore, Session, SessionConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = common::fixture();
    let bob = IdentityKeyPair::from_bytes(&f.bob_identity).expect("fixture identity");
    let mut store = PreKeyStore::from_bytes(&f.bob_store).expect("fixture store");
    let mut rng = common::rng();
    if Session::respond(&mut rng, &bob, &mut store, data, SessionConfig::default()).is_err() {
        assert_eq!(
            *store.to_bytes(),
            f.bob_store,
            "rejected message changed the store"
        );
    }
});
