//! The blind directory end to end (spec/relay-protocol.md §6.1): after real users publish,
//! message each other and build a group, neither the relay's data folder nor anything it
//! answers to unauthenticated requests contains any user's identity public key, in any
//! encoding the code uses; and a stranger without the card cannot fetch or drain a mailbox's
//! directory.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::*;
use hush_cli::card::Card;
use hush_protocol::directory::EntryKind;
use hush_relay::proto::ErrorCode;
use hush_relay::storage::{RedbStorage, Storage};
use hush_relay_client::{Client, RelayUrl};
use prost::Message;

/// Every byte string an identity public key shows up as in this code base: the raw Ed25519
/// and X25519 keys, `Encode(IK)` (64 bytes), the protobuf `IdentityPublicKey` (with its
/// binding signature), the signature alone; each raw and in hex (both cases) and base64
/// (standard and URL-safe, padded or not, at all three byte alignments).
fn encodings(card: &Card) -> Vec<(String, Vec<u8>)> {
    let id = &card.identity;
    let proto = id.to_bytes();
    let sig = hush_protocol::proto::wire::IdentityPublicKey::decode(proto.as_slice())
        .expect("identity protobuf")
        .dh_key_signature;
    let raws: Vec<(&str, Vec<u8>)> = vec![
        ("ed25519", id.signing_key_bytes().to_vec()),
        ("x25519", id.dh_key_bytes().to_vec()),
        ("encode", id.encode().to_vec()),
        ("protobuf", proto.to_vec()),
        ("signature", sig),
    ];
    let mut out = Vec::new();
    for (name, raw) in raws {
        out.push((format!("{name} raw"), raw.clone()));
        out.push((format!("{name} hex"), hex::encode(&raw).into_bytes()));
        out.push((format!("{name} HEX"), hex::encode_upper(&raw).into_bytes()));
        for (ename, engine) in [
            ("b64", &STANDARD),
            ("b64np", &STANDARD_NO_PAD),
            ("b64url", &URL_SAFE),
            ("b64urlnp", &URL_SAFE_NO_PAD),
        ] {
            for shift in 0..3usize {
                // The key at byte offset `shift` (mod 3) inside a longer base64 text: the
                // characters that depend only on the key's bytes.
                let mut buf = vec![0u8; shift];
                buf.extend_from_slice(&raw);
                let text = engine.encode(&buf);
                let skip = if shift == 0 { 0 } else { 4 };
                let core = &text.as_bytes()[skip..text.len() - 4];
                out.push((format!("{name} {ename} shift {shift}"), core.to_vec()));
            }
        }
    }
    out
}

fn assert_none_in(what: &str, haystack: &[u8], needles: &[(String, Vec<u8>)]) {
    for (name, n) in needles {
        assert!(
            !haystack.windows(n.len()).any(|w| w == n.as_slice()),
            "{what} contains an identity key ({name})"
        );
    }
}

#[test]
fn relay_holds_and_answers_no_identity_key_and_strangers_cannot_fetch() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let mut relay = TestRelay::start(&data);
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    alice.init(&relay.url, "Alice");
    bob.init(&relay.url, "Bob");
    introduce(&alice, "bob", &bob, "alice");
    let alice_card = Card::parse(&alice.card()).unwrap();
    let bob_card = Card::parse(&bob.card()).unwrap();
    assert_eq!(bob_card.version(), hush_cli::card::CARD_VERSION);

    // 1:1 both ways (a prekey fetch with the token), then a group (a KeyPackage fetch).
    alice.ok(&["send", "bob", "hello bob"]);
    assert_eq!(messages(&bob.recv_json()).len(), 1);
    bob.ok(&["send", "alice", "hello alice"]);
    assert_eq!(messages(&alice.recv_json()).len(), 1);
    alice.ok(&["group", "create", "team"]);
    alice.ok(&["group", "add", "team", "bob"]);
    assert_eq!(bob.recv_json()[0]["event"], "joined");
    alice.ok(&["group", "send", "team", "hi team"]);
    assert_eq!(messages(&bob.recv_json()).len(), 1);

    let mut needles = encodings(&alice_card);
    needles.extend(encodings(&bob_card));

    // What the relay answers to requests that prove nothing about a mailbox.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url: RelayUrl = relay.url.parse().unwrap();
    let mut answers: Vec<u8> = Vec::new();
    rt.block_on(async {
        let stranger = Client::connect(&url).await.expect("connect");
        for card in [&alice_card, &bob_card] {
            // A stranger who knows (or guessed, or scraped) the address: refused, many times.
            for attempt in 0..20u8 {
                let token = (attempt % 2 == 1).then_some([attempt; 32]);
                let e = stranger
                    .fetch_prekey_bundle_with_token(&card.mailbox, token.as_ref())
                    .await
                    .expect_err("a stranger fetched prekeys");
                assert_eq!(e.relay_code(), Some(ErrorCode::FetchTokenInvalid), "{e}");
                answers.extend_from_slice(e.to_string().as_bytes());
                let e = stranger
                    .fetch_key_package_with_token(&card.mailbox, token.as_ref())
                    .await
                    .expect_err("a stranger fetched a KeyPackage");
                assert_eq!(e.relay_code(), Some(ErrorCode::FetchTokenInvalid), "{e}");
                answers.extend_from_slice(e.to_string().as_bytes());
            }
            // A card holder's fetch (also unauthenticated to the relay): opaque blobs that
            // open only with the card.
            let keys = card.directory_keys().expect("version 2 card");
            let token = keys.fetch_token().as_bytes();
            let b = stranger
                .fetch_prekey_bundle_with_token(&card.mailbox, Some(token))
                .await
                .expect("card holder fetches prekeys");
            let otk = b.one_time_prekey.expect("a one-time prekey is left");
            let kem = b.kem_prekey.expect("a KEM prekey (PQXDH)");
            for blob in [&b.signed_prekey.blob, &otk.blob, &kem.blob] {
                answers.extend_from_slice(blob);
            }
            let spk = keys
                .open(EntryKind::SignedPrekey, &b.signed_prekey.blob)
                .unwrap();
            let otk = keys.open(EntryKind::OneTimePrekey, &otk.blob).unwrap();
            let kem = keys.open(EntryKind::KemPrekey, &kem.blob).unwrap();
            let bundle =
                hush_protocol::PreKeyBundle::from_parts_pqxdh(&spk, Some(&otk), Some(&kem))
                    .unwrap();
            assert_eq!(bundle.identity(), &card.identity);
            assert!(bundle.kem_prekey().is_some());
            let kp = stranger
                .fetch_key_package_with_token(&card.mailbox, Some(token))
                .await
                .expect("card holder fetches a KeyPackage");
            assert!(!kp.last_resort);
            answers.extend_from_slice(&kp.blob);
            keys.open(EntryKind::KeyPackage, &kp.blob).unwrap();
        }
        stranger.close().await;
    });
    assert_none_in("the relay's answers", &answers, &needles);

    relay.stop();
    let files = files_under(&data);
    assert!(!files.is_empty());
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_default();
        assert_none_in(&f.display().to_string(), &bytes, &needles);
    }

    // The refused attempts took nothing: Bob's stock lost exactly Alice's fetches and the
    // card holder's above (50 one-time prekeys, 20 KeyPackages at init).
    let storage = RedbStorage::open(&data.join("hush.redb")).unwrap();
    rt.block_on(async {
        let bob_stock = storage.directory_stock(bob_card.mailbox).await.unwrap();
        assert_eq!(bob_stock.one_time_prekeys, 50 - 2);
        assert_eq!(bob_stock.key_packages, 20 - 2);
        let alice_stock = storage.directory_stock(alice_card.mailbox).await.unwrap();
        assert_eq!(alice_stock.one_time_prekeys, 50 - 1);
        assert_eq!(alice_stock.key_packages, 20 - 1);
        storage.close().await.unwrap();
    });
}
