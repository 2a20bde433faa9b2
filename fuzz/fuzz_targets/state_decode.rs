//! Decoding of persisted state and public wire structures from arbitrary bytes never panics.
#![no_main]

use hush_protocol::{
    IdentityKeyPair, IdentityPublicKey, PreKeyBundle, PreKeyStore, Session, SignedPreKeyPublic,
    message_kind,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Session::from_bytes(data) {
        // A state that decodes re-encodes to a state that decodes.
        Session::from_bytes(&s.to_bytes()).expect("re-encoded session decodes");
    }
    let _ = PreKeyStore::from_bytes(data);
    let _ = IdentityKeyPair::from_bytes(data);
    let _ = IdentityPublicKey::from_bytes(data);
    let _ = PreKeyBundle::from_bytes(data);
    let _ = SignedPreKeyPublic::from_bytes(data);
    let _ = message_kind(data);
});
