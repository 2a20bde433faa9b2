//! A home made before sealed directories (plain entries on the relay, version 1 card) is
//! moved on its next command: its entries are sealed, its card becomes version 2, and a
//! contact that holds its old card learns the new one from the next message's `reply_to`.

mod common;

use common::{PASS, TestRelay, User, messages};
use ed25519_dalek::SigningKey;
use hush_cli::card::Card;
use hush_cli::state::{STATE_VERSION, Secret, State};
use hush_cli::store::StateKey;
use hush_protocol::{IdentityKeyPair, PreKeyStore};
use hush_relay::proto::ErrorCode;
use hush_relay_client::{Client, RelayUrl};
use hush_relay_client::{OneTimePrekey, SignedPrekey};
use rand::Rng;
use zeroize::Zeroizing;

/// What `hush init` published before sealed directories.
const PREKEY_BATCH: usize = 50;
const KEY_PACKAGE_BATCH: usize = 20;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Makes a home exactly as `hush init` did before sealed directories: plain prekeys and
/// KeyPackages uploaded without a fetch verifier, a state without a directory secret.
fn legacy_init(user: &User, relay: &str, name: &str) {
    let url: RelayUrl = relay.parse().unwrap();
    let mut rng = rand::rng();
    let identity = IdentityKeyPair::generate(&mut rng);
    let mut seed = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    let mailbox_key = SigningKey::from_bytes(&seed);
    let mut prekeys = PreKeyStore::new();
    let spk = prekeys.rotate_signed_prekey(&mut rng, &identity);
    let opks = prekeys.generate_one_time_prekeys(&mut rng, PREKEY_BATCH);
    let mut groups = State::new_group_client(&identity).unwrap();
    let kps = groups
        .generate_key_packages(&mut rng, KEY_PACKAGE_BATCH)
        .unwrap();
    let last_resort = groups.last_resort_key_package(&mut rng).unwrap();
    runtime().block_on(async {
        let client = Client::connect(&url).await.unwrap();
        let mailbox = client.authenticate(&mailbox_key).await.unwrap();
        client
            .upload_prekeys(
                &mailbox,
                Some(SignedPrekey {
                    id: spk.id(),
                    blob: spk.to_bytes(),
                }),
                opks.iter()
                    .map(|k| OneTimePrekey {
                        id: u64::from(k.id()),
                        blob: k.to_bytes(),
                    })
                    .collect(),
            )
            .await
            .unwrap();
        client
            .upload_key_packages(&mailbox, kps, Some(last_resort))
            .await
            .unwrap();
        client.close().await;
    });
    // The state body of that version had none of the fields added since: write it as JSON
    // without them, so the test also proves that such a body still opens.
    let mut state = State {
        version: STATE_VERSION,
        name: name.to_string(),
        relay: url.to_string(),
        identity: Secret::new(identity.to_bytes()),
        mailbox_key: Secret::new(Zeroizing::new(seed.to_vec())),
        prekeys: Secret::new(prekeys.to_bytes()),
        group_client: Secret::default(),
        contacts: Default::default(),
        sessions: Default::default(),
        generation: 0,
        archived_sessions: Default::default(),
        previous_sessions: Default::default(),
        peers: Default::default(),
        sent: Default::default(),
        groups: Default::default(),
        seen: Default::default(),
        inbox: Default::default(),
        directory_secret: None,
        directory_sealed: false,
    };
    state.set_group_client(&groups).unwrap();
    let mut body: serde_json::Value = serde_json::from_slice(&state.to_json().unwrap()).unwrap();
    let obj = body.as_object_mut().unwrap();
    for added in [
        "generation",
        "archived_sessions",
        "directory_secret",
        "directory_sealed",
    ] {
        assert!(obj.remove(added).is_some(), "{added}");
    }
    let old = State::from_json(&serde_json::to_vec(&body).unwrap()).unwrap();
    std::fs::create_dir_all(&user.home).unwrap();
    let image = StateKey::new(PASS.as_bytes())
        .unwrap()
        .seal(&old.to_json().unwrap())
        .unwrap();
    std::fs::write(user.home.join("state.hush"), image).unwrap();
}

#[test]
fn a_legacy_home_seals_its_directory_and_its_contacts_learn_the_new_card() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    legacy_init(&alice, &relay.url, "Alice");
    bob.init(&relay.url, "Bob");

    let old_card = alice.card();
    let parsed = Card::parse(&old_card).unwrap();
    assert_eq!(parsed.version(), 1, "a legacy home prints a version 1 card");
    bob.ok(&["contact", "add", "alice", &old_card]);
    alice.ok(&["contact", "add", "bob", &bob.card()]);

    // Before the move the old card works: Bob's first message fetches plain prekeys.
    bob.ok(&["send", "alice", "before the move"]);

    // Alice's next command moves her directory, then reads Bob's message.
    let got = messages(&alice.recv_json());
    assert_eq!(got, vec![("bob".into(), None, "before the move".into())]);
    let new_card = Card::parse(&alice.card()).unwrap();
    assert_eq!(
        new_card.version(),
        2,
        "the card after the move is version 2"
    );
    assert_eq!(new_card.identity, parsed.identity);
    assert_eq!(new_card.mailbox, parsed.mailbox);

    // The relay now refuses fetches without the card's token: nothing plain is left to take.
    let url: RelayUrl = relay.url.parse().unwrap();
    runtime().block_on(async {
        let stranger = Client::connect(&url).await.unwrap();
        let e = stranger
            .fetch_prekey_bundle(&parsed.mailbox)
            .await
            .expect_err("plain prekey fetch after the move");
        assert_eq!(e.relay_code(), Some(ErrorCode::FetchTokenInvalid), "{e}");
        let e = stranger
            .fetch_key_package(&parsed.mailbox)
            .await
            .expect_err("plain KeyPackage fetch after the move");
        assert_eq!(e.relay_code(), Some(ErrorCode::FetchTokenInvalid), "{e}");
        stranger.close().await;
    });

    // Bob still holds the version 1 card: adding Alice to a group needs her directory.
    bob.ok(&["group", "create", "team"]);
    let err = bob.fails(&["group", "add", "team", "alice"]);
    assert!(err.contains("newer contact card"), "{err}");

    // Alice's next message carries her version 2 card; Bob's copy is upgraded on receipt.
    alice.ok(&["send", "bob", "after the move"]);
    let got = messages(&bob.recv_json());
    assert_eq!(got, vec![("alice".into(), None, "after the move".into())]);
    bob.ok(&["group", "add", "team", "alice"]);
    let events = alice.recv_json();
    assert_eq!(events[0]["event"], "joined", "{events:?}");
    bob.ok(&["group", "send", "team", "welcome"]);
    let got = messages(&alice.recv_json());
    assert_eq!(
        got,
        vec![("bob".into(), Some("team".into()), "welcome".into())]
    );
}
