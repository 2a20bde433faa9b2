//! MLS message processing through the group layer. The first byte picks the operation:
//! even, Bob (a member at epoch 1) processes the rest as a group log entry (application
//! message, proposal or commit); odd, Carol (KeyPackages published, no group) joins from the
//! rest as a Welcome.
//!
//! Invariants: no panic; an error leaves the client's serialized state byte-identical; a
//! client that accepted the input still serializes and restores.
#![no_main]

#[path = "group_common.rs"]
mod group_common;

use hush_protocol::group::GroupClient;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&op, input)) = data.split_first() else {
        return;
    };
    let f = group_common::group_fixture();
    let mut rng = group_common::rng();
    let (identity, state) = if op % 2 == 0 {
        (&f.bob_identity, &f.bob_state)
    } else {
        (&f.carol_identity, &f.carol_state)
    };
    let (id, mut client) = group_common::client(identity, state);
    let ok = if op % 2 == 0 {
        client.process(&mut rng, &f.group, input).is_ok()
    } else {
        client.join(&mut rng, input, None).is_ok()
    };
    let after = client.to_bytes().expect("a loaded client serializes");
    if ok {
        GroupClient::from_bytes(&id, &after)
            .expect("an accepted input leaves a state that restores");
    } else {
        assert_eq!(
            after.as_slice(),
            state.as_slice(),
            "a rejected input changed the state"
        );
    }
});
