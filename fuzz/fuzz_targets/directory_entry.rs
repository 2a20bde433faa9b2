//! Opening a sealed directory entry (relay-protocol.md §6.1) and decoding a group invitation
//! never panic; an entry sealed from the input opens to it under the same kind only.
//!
//! The keys are the ones of `test-vectors/directory.json`, so the committed seeds (the
//! vectors' sealed entries, prefixed with their kind byte) open and reach the padding checks.
#![no_main]

use hush_protocol::directory::{DirectoryKeys, DirectorySecret, EntryKind};
use hush_protocol::group::GroupInvitation;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "c3be154cccac55f6ea809719421ab9d0228aa3fe3cce66b2005d7b7f1581315b";
const MAILBOX: &str = "34b790366c367206e1ea9266e6be7a850a58caaaaea92cf05f649c47cd73933e";

const KINDS: [EntryKind; 4] = [
    EntryKind::SignedPrekey,
    EntryKind::OneTimePrekey,
    EntryKind::KeyPackage,
    EntryKind::LastResortKeyPackage,
];

fn keys() -> DirectoryKeys {
    let secret: [u8; 32] = hex::decode(SECRET).unwrap().try_into().unwrap();
    let mailbox: [u8; 32] = hex::decode(MAILBOX).unwrap().try_into().unwrap();
    DirectoryKeys::derive(&DirectorySecret::from_bytes(secret), &mailbox)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let kind = KINDS[usize::from(selector & 3)];
    if let Ok(blob) = keys.open(kind, rest) {
        assert!(!blob.is_empty(), "an opened entry is never empty");
        for other in KINDS {
            if other as u8 != kind as u8 {
                assert!(keys.open(other, rest).is_err(), "opened under another kind");
            }
        }
    }
    if selector & 4 != 0
        && let Ok(sealed) = keys.seal_with_nonce(&[selector; 24], kind, rest)
    {
        assert_eq!(keys.open(kind, &sealed).expect("own entry opens"), rest);
    }
    if let Ok(inv) = GroupInvitation::decode(rest) {
        assert_eq!(GroupInvitation::decode(&inv.encode()), Ok(inv));
    }
});
