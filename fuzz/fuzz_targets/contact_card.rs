//! Contact-card parsing (the `hush1:` one-line cards people paste).
//!
//! Invariants: no panic; a card that parses re-encodes to a card that parses and encodes to
//! the same text.
#![no_main]

use hush_cli::card::Card;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(card) = Card::parse(text) {
        let encoded = card.encode().expect("a parsed card encodes");
        let again = Card::parse(&encoded).expect("a re-encoded card parses");
        assert_eq!(again.encode().expect("encodes"), encoded);
    }
});
