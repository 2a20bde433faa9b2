//! Sealed-sender envelopes.

use hush_protocol::envelope::{self, ContentKind, MAX_ENVELOPE_LEN, padded_len};
use hush_protocol::{Error, IdentityKeyPair};
use rand::SeedableRng;
use rand::rngs::StdRng;

#[test]
fn seal_open_round_trip_hides_sender_and_length() {
    let mut rng = StdRng::seed_from_u64(1);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let mut sizes = std::collections::BTreeSet::new();
    for len in [0usize, 1, 10, 100, 200, 300, 1000, 5000, 70_000] {
        let payload = vec![0xAB; len];
        let env = envelope::seal(
            &mut rng,
            &alice,
            bob.public(),
            ContentKind::SessionMessage,
            &payload,
            b"alice-mailbox",
        )
        .unwrap();
        assert!(
            env.len().is_power_of_two() || env.len() % 65536 == 0,
            "{}",
            env.len()
        );
        assert!(env.len() >= 512);
        sizes.insert(env.len());
        // The sender's identity bytes do not appear in the envelope.
        let sk = alice.public().signing_key_bytes();
        assert!(!env.windows(32).any(|w| w == sk));
        let opened = envelope::open(&bob, &env).unwrap();
        assert_eq!(&opened.sender, alice.public());
        assert_eq!(opened.kind, ContentKind::SessionMessage);
        assert_eq!(opened.payload, payload);
        assert_eq!(opened.reply_to, b"alice-mailbox");
    }
    // Small payloads share one bucket.
    assert!(sizes.contains(&512));
    assert!(sizes.len() < 9);
}

#[test]
fn only_the_recipient_opens_and_any_change_is_rejected() {
    let mut rng = StdRng::seed_from_u64(2);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let eve = IdentityKeyPair::generate(&mut rng);
    let env = envelope::seal(
        &mut rng,
        &alice,
        bob.public(),
        ContentKind::Application,
        b"hi",
        b"",
    )
    .unwrap();
    assert_eq!(
        envelope::open(&eve, &env).unwrap_err(),
        Error::DecryptionFailed
    );
    for i in (0..env.len()).step_by(7) {
        let mut bad = env.clone();
        bad[i] ^= 0x20;
        assert!(envelope::open(&bob, &bad).is_err(), "byte {i}");
    }
    assert!(envelope::open(&bob, &env[..env.len() - 1]).is_err());
    assert!(envelope::open(&bob, &[]).is_err());
    assert!(envelope::open(&bob, &[1u8; 300]).is_err());
}

#[test]
fn bucket_sizes() {
    assert_eq!(padded_len(0), Some(512));
    assert_eq!(padded_len(300), Some(512));
    assert_eq!(padded_len(400), Some(1024));
    assert_eq!(padded_len(100_000), Some(128 * 1024));
    assert_eq!(padded_len(MAX_ENVELOPE_LEN), None);
}

#[test]
fn every_bucket_keeps_at_least_one_byte_of_padding() {
    use envelope::{ENVELOPE_OVERHEAD, MIN_ENVELOPE_LEN};
    // Content that fills a bucket to the last byte but one fits; one byte more takes the
    // next bucket (a padding byte is always there).
    for bucket in [MIN_ENVELOPE_LEN, 1024, 32 * 1024, 64 * 1024] {
        let fits = bucket - ENVELOPE_OVERHEAD - 1;
        assert_eq!(padded_len(fits), Some(bucket), "{bucket}");
        assert_eq!(padded_len(fits + 1), Some(bucket * 2), "{bucket}");
    }
    // Past 64 KiB: multiples of 64 KiB, same rule.
    let fits = 3 * 64 * 1024 - ENVELOPE_OVERHEAD - 1;
    assert_eq!(padded_len(fits), Some(3 * 64 * 1024));
    assert_eq!(padded_len(fits + 1), Some(4 * 64 * 1024));
    let last = MAX_ENVELOPE_LEN - ENVELOPE_OVERHEAD - 1;
    assert_eq!(padded_len(last), Some(MAX_ENVELOPE_LEN));
    assert_eq!(padded_len(last + 1), None);
    assert_eq!(padded_len(usize::MAX), None);
}

#[test]
fn opened_content_debug_shows_the_length_not_the_payload() {
    let mut rng = StdRng::seed_from_u64(7);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let env = envelope::seal(
        &mut rng,
        &alice,
        bob.public(),
        ContentKind::SessionMessage,
        b"SECRET-PAYLOAD",
        b"",
    )
    .unwrap();
    let shown = format!("{:?}", envelope::open(&bob, &env).unwrap());
    assert!(shown.starts_with("SealedContent"), "{shown}");
    assert!(shown.contains("payload_len: 14"), "{shown}");
    assert!(!shown.contains("SECRET"), "{shown}");
}

#[test]
fn the_length_check_stops_exactly_at_the_shortest_envelope() {
    use envelope::{ENVELOPE_OVERHEAD, ENVELOPE_VERSION};
    let bob = IdentityKeyPair::generate(&mut StdRng::seed_from_u64(3));
    let mut short = vec![0x42u8; ENVELOPE_OVERHEAD];
    short[0] = ENVELOPE_VERSION;
    assert!(matches!(
        envelope::open(&bob, &short),
        Err(Error::Malformed("envelope length"))
    ));
    // One byte more is long enough to be tried, and fails as any forgery does.
    short.push(0x42);
    assert!(matches!(
        envelope::open(&bob, &short),
        Err(Error::DecryptionFailed)
    ));
    let long = vec![ENVELOPE_VERSION; MAX_ENVELOPE_LEN + 1];
    assert!(matches!(
        envelope::open(&bob, &long),
        Err(Error::Malformed("envelope length"))
    ));
}

#[test]
fn an_envelope_of_the_largest_length_opens() {
    let mut rng = StdRng::seed_from_u64(11);
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let payload = vec![0x5a; MAX_ENVELOPE_LEN - 8 * 1024];
    let env = envelope::seal(
        &mut rng,
        &alice,
        bob.public(),
        ContentKind::SessionMessage,
        &payload,
        b"",
    )
    .unwrap();
    assert_eq!(env.len(), MAX_ENVELOPE_LEN);
    assert_eq!(envelope::open(&bob, &env).unwrap().payload, payload);
}
