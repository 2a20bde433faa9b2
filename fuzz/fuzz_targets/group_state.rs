//! Group-state and MLS wire decoding from arbitrary bytes: the persisted `GroupClient` (for a
//! fixed identity, and as an interop client), `MLSMessage`s and ratchet trees.
//!
//! Invariants: no panic; a state that restores re-serializes to a state that restores; a
//! wire message that decodes re-encodes to one that decodes to the same summary.
#![no_main]

#[path = "group_common.rs"]
mod group_common;

use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupClient, MlsRatchetTree, MlsWireMessage, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let f = group_common::group_fixture();
    let id = IdentityKeyPair::from_bytes(&f.bob_identity).expect("fixture identity");
    if let Ok(c) = GroupClient::from_bytes(&id, data) {
        let again = c.to_bytes().expect("a restored client serializes");
        GroupClient::from_bytes(&id, &again).expect("re-serialized state restores");
    }
    if let Ok(c) = GroupClient::interop_from_bytes(data) {
        let again = c.to_bytes().expect("a restored client serializes");
        GroupClient::interop_from_bytes(&again).expect("re-serialized state restores");
    }
    if let Ok(m) = MlsWireMessage::from_bytes(data) {
        let info = m.info();
        let bytes = m.to_bytes().expect("a decoded message encodes");
        let back = MlsWireMessage::from_bytes(&bytes).expect("re-encoded message decodes");
        assert_eq!(back.info(), info);
    }
    let _ = inspect(data);
    if let Ok(t) = MlsRatchetTree::from_bytes(data) {
        let bytes = t.to_bytes().expect("a decoded tree encodes");
        MlsRatchetTree::from_bytes(&bytes).expect("re-encoded tree decodes");
    }
});
