//! The CLI's encrypted state file and the JSON body inside it.
//!
//! The input is read three ways: as a state file image (header checks, then decryption under
//! a fixed key with cheap Argon2id parameters, so the seeded images open and mutated ones
//! exercise the AEAD check), and as a decrypted JSON body whose every stored blob (identity,
//! mailbox key, relay URL, prekeys, group client, sessions, contact and peer cards) is then
//! decoded the way the commands decode them.
//!
//! Invariants: no panic; a body that decodes re-encodes to a body that decodes.
#![no_main]

use hush_cli::card::Card;
use hush_cli::state::State;
use hush_cli::store::{Header, StateKey};
use hush_protocol::Session;
use libfuzzer_sys::fuzz_target;

/// The key the seed generator seals state file images with.
const PASSPHRASE: &[u8] = b"fuzz";
const SALT: [u8; 16] = [0x5a; 16];

fn key() -> &'static StateKey {
    static K: std::sync::OnceLock<StateKey> = std::sync::OnceLock::new();
    K.get_or_init(|| StateKey::with_params(PASSPHRASE, SALT, 8, 1, 1).expect("key"))
}

fn exercise(body: &[u8]) {
    let Ok(state) = State::from_json(body) else {
        return;
    };
    let json = state.to_json().expect("a decoded state encodes");
    State::from_json(&json).expect("a re-encoded state decodes");
    let _ = state.mailbox_key();
    let _ = state.mailbox();
    let _ = state.relay_url();
    let _ = state.card();
    let _ = state.prekeys();
    if let Ok(identity) = state.identity() {
        let _ = state.group_client(&identity);
        let _ = state.session(identity.public());
    }
    for alias in state.contacts.keys() {
        if let Ok(card) = state.contact(alias) {
            let _ = state.session(&card.identity);
            let _ = state.name_of(&card.identity);
        }
    }
    for text in state.peers.values() {
        if let Ok(card) = Card::parse(text) {
            let _ = state.name_of(&card.identity);
        }
    }
    for blob in state.sessions.values() {
        let _ = Session::from_bytes(&blob.0);
    }
}

fuzz_target!(|data: &[u8]| {
    if Header::parse(data).is_ok()
        && let Ok(body) = key().open(data)
    {
        exercise(&body);
    }
    exercise(data);
});
