//! A home made before sealed directories (plain entries on the relay, version 1 card) is
//! moved on its next command: its entries are sealed, its card becomes version 2, and a
//! contact that holds its old card learns the new one from the next message's `reply_to`.

mod common;

use common::{PASS, TestRelay, User, messages};
use ed25519_dalek::SigningKey;
use hush_cli::card::Card;
use hush_cli::state::{Contact, GroupRecord, InboxItem, STATE_VERSION, Secret, Sent, State};
use hush_cli::store::StateKey;
use hush_protocol::directory::EntryKind;
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, SessionConfig};
use hush_relay::proto::ErrorCode;
use hush_relay_client::{Client, EnvelopeId, RelayUrl};
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
/// Returns the state (not written yet) and the identity.
fn legacy_state(relay: &str, name: &str) -> (State, IdentityKeyPair) {
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
    (state, identity)
}

/// Writes `state` as the home's state file, in the format of before the engine, leaving out
/// the JSON fields named in `absent` (fields added in later versions).
fn write_legacy(user: &User, state: &State, absent: &[&str]) {
    let mut body: serde_json::Value = serde_json::from_slice(&state.to_json().unwrap()).unwrap();
    let obj = body.as_object_mut().unwrap();
    for added in absent {
        assert!(obj.remove(*added).is_some(), "{added}");
    }
    let old = State::from_json(&serde_json::to_vec(&body).unwrap()).unwrap();
    std::fs::create_dir_all(&user.home).unwrap();
    let image = StateKey::new(PASS.as_bytes())
        .unwrap()
        .seal(&old.to_json().unwrap())
        .unwrap();
    std::fs::write(user.home.join("state.hush"), image).unwrap();
}

/// A home of the first version: none of the fields added since.
fn legacy_init(user: &User, relay: &str, name: &str) {
    let (state, _) = legacy_state(relay, name);
    // The state body of that version had none of the fields added since: write it as JSON
    // without them, so the test also proves that such a body still opens.
    write_legacy(
        user,
        &state,
        &[
            "generation",
            "archived_sessions",
            "directory_secret",
            "directory_sealed",
        ],
    );
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

/// Starts a session with `card`'s owner as the CLI did before the engine: fetches the sealed
/// bundle with the card's token, runs X3DH (PQXDH with the KEM prekey that bundles of current
/// homes carry), and sends `text` sealed, with `reply_to` as the
/// sender's card. Returns the session and the envelope id.
fn legacy_send(
    relay: &str,
    me: &IdentityKeyPair,
    reply_to: &str,
    card: &Card,
    text: &str,
) -> (Session, EnvelopeId) {
    let url: RelayUrl = relay.parse().unwrap();
    let keys = card.directory_keys().expect("a version 2 card");
    let mut rng = rand::rng();
    runtime().block_on(async {
        let client = Client::connect(&url).await.unwrap();
        let b = client
            .fetch_prekey_bundle_with_token(&card.mailbox, Some(keys.fetch_token().as_bytes()))
            .await
            .unwrap();
        let signed = keys
            .open(EntryKind::SignedPrekey, &b.signed_prekey.blob)
            .unwrap();
        let one_time = b
            .one_time_prekey
            .map(|k| keys.open(EntryKind::OneTimePrekey, &k.blob).unwrap());
        // Today's homes offer PQXDH: their bundle carries a KEM prekey, which a bundle
        // without it would be refused for (a downgrade).
        let kem = b
            .kem_prekey
            .map(|k| keys.open(EntryKind::KemPrekey, &k.blob).unwrap());
        let bundle =
            PreKeyBundle::from_parts_pqxdh(&signed, one_time.as_deref(), kem.as_deref()).unwrap();
        let mut session =
            Session::initiate(&mut rng, me, &bundle, SessionConfig::default()).unwrap();
        let message = session.encrypt(&mut rng, text.as_bytes()).unwrap();
        let sealed = envelope::seal(
            &mut rng,
            me,
            &card.identity,
            ContentKind::SessionMessage,
            &message,
            reply_to.as_bytes(),
        )
        .unwrap();
        let id = EnvelopeId::random().unwrap();
        client.send(&card.mailbox, &id, sealed).await.unwrap();
        client.close().await;
        (session, id)
    })
}

#[test]
fn a_home_with_sessions_groups_and_unread_messages_moves_whole_into_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    bob.init(&relay.url, "Bob");
    let bob_card_text = bob.card();
    let bob_card = Card::parse(&bob_card_text).unwrap();

    // Alice's home as the CLI before the engine left it: a contact, a session she started
    // (its first message on its way), a sent record, a group, a message read but not shown,
    // a state generation.
    let (mut state, me) = legacy_state(&relay.url, "Alice");
    let alice_v1 = Card {
        name: "Alice".into(),
        identity: me.public().clone(),
        mailbox: state.mailbox().unwrap(),
        relay: relay.url.parse().unwrap(),
        directory: None,
    }
    .encode()
    .unwrap();
    let (session, first_id) = legacy_send(&relay.url, &me, &alice_v1, &bob_card, "legacy hello");
    state.contacts.insert(
        "bob".into(),
        Contact {
            card: bob_card_text.clone(),
            verified: false,
            offers_pqxdh: false,
        },
    );
    state.set_session(&session);
    let first_hex = hex::encode(first_id.as_bytes());
    state.record_sent(Sent {
        id: first_hex.clone(),
        relay: relay.url.clone(),
        to: "bob".into(),
        sent_at_ms: 1,
    });
    let mut gc = state.group_client(&me).unwrap();
    let gid = gc.create_group(&mut rand::rng()).unwrap();
    state.set_group_client(&gc).unwrap();
    state.groups.insert(
        "team".into(),
        GroupRecord {
            id: hex::encode(gid.as_slice()),
            relay: relay.url.clone(),
            cursor: 0,
            own_seqs: Default::default(),
            active: true,
            rejoin: false,
        },
    );
    state.inbox.push(InboxItem {
        event: "message".into(),
        from: "bob".into(),
        group: None,
        text: Some("read before the move".into()),
        ..Default::default()
    });
    write_legacy(&alice, &state, &[]);
    // An earlier move that was interrupted left a half-made store beside the file.
    std::fs::write(alice.home.join("state.hush.new"), b"half a store").unwrap();

    // The first command moves the home: the message read before is shown first.
    let got = messages(&alice.recv_json());
    assert_eq!(
        got,
        vec![("bob".into(), None, "read before the move".into())]
    );
    let head = std::fs::read(alice.home.join("state.hush")).unwrap();
    assert!(
        head.starts_with(b"SQLite format 3\0"),
        "the state is a store now"
    );
    assert!(!alice.home.join("state.hush.new").exists());

    // The session moved: Bob reads the first message and answers on the session Alice
    // started, which her store decrypts, and she goes on on it.
    bob.ok(&["contact", "add", "alice", &alice_v1]);
    let got = messages(&bob.recv_json());
    assert_eq!(got, vec![("alice".into(), None, "legacy hello".into())]);
    bob.ok(&["send", "alice", "answer"]);
    assert_eq!(
        messages(&alice.recv_json()),
        vec![("bob".into(), None, "answer".into())]
    );
    alice.ok(&["send", "bob", "on the same session"]);
    assert_eq!(
        messages(&bob.recv_json()),
        vec![("alice".into(), None, "on the same session".into())]
    );

    // The sent record moved: the relay reports the first message delivered.
    let status = alice.ok(&["status", &first_hex]);
    assert!(status.starts_with("delivered "), "{status}");

    // The group moved with its MLS state: Alice adds Bob and writes to it.
    let list = alice.ok(&["group", "list"]);
    assert!(list.starts_with("team\t1 members\tepoch 0\tme"), "{list}");
    alice.ok(&["group", "add", "team", "bob"]);
    alice.ok(&["group", "send", "team", "hello team"]);
    let events = bob.recv_json();
    assert_eq!(events[0]["event"], "joined", "{events:?}");
    assert_eq!(
        messages(&events),
        vec![("alice".into(), Some("team".into()), "hello team".into())]
    );

    // Nothing is shown twice, and the moved home opens as a store from now on.
    assert!(alice.recv_json().is_empty());
    assert!(alice.ok(&["contact", "list"]).starts_with("bob\tBob\t"));
}
