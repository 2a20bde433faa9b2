//! Writes seed inputs into `corpus/<target>/`: real messages, states, frames and cards made
//! by the fixtures the targets use, and messages from the test vectors. Run from `fuzz/`:
//!
//! ```sh
//! cargo run --release --example seed
//! ```
//!
//! File names are content hashes, so running it again adds nothing new.

#[path = "../fuzz_targets/common.rs"]
mod common;
#[path = "../fuzz_targets/devices_common.rs"]
mod devices_common;
#[path = "../fuzz_targets/group_common.rs"]
mod group_common;
#[path = "../fuzz_targets/relay_common.rs"]
mod relay_common;

use hush_cli::card::Card;
use hush_cli::state::{Contact, STATE_VERSION, Secret, State};
use hush_cli::store::StateKey;
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{IdentityKeyPair, PreKeyStore, Session};
use hush_relay::frame::{PROTOCOL_VERSION, encode_frame};
use hush_relay::proto::{self, request::Body as B};
use hush_relay::url::RelayUrl;
use serde_json::Value;
use std::path::Path;
use zeroize::Zeroizing;

fn write(target: &str, data: &[u8]) {
    let dir = Path::new("corpus").join(target);
    std::fs::create_dir_all(&dir).expect("corpus folder");
    // FNV-1a: a stable name per content.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h = (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
    }
    std::fs::write(dir.join(format!("seed-{h:016x}")), data).expect("write seed");
}

fn json(path: &str) -> Value {
    let text = std::fs::read_to_string(Path::new("../test-vectors").join(path)).expect(path);
    serde_json::from_str(&text).expect("vector JSON")
}

fn hex_field(v: &Value, key: &str) -> Option<Vec<u8>> {
    v.get(key)?.as_str().and_then(|s| hex::decode(s).ok())
}

fn sessions() {
    let f = common::fixture();
    for (m, _) in &f.pending {
        write("session_decrypt", m);
        write("state_decode", m);
    }
    // session_mutate takes an `arbitrary` structure: one byte picks the real message, the
    // rest are mutation operations (none here).
    for i in 0..f.pending.len() as u8 {
        write("session_mutate", &[i]);
        write("session_mutate", &[i, 1, 2, 0, 0, 0, 0]);
    }
    write("prekey_message", &f.initial);
    for s in [
        &f.alice_session,
        &f.bob_session,
        &f.bob_store,
        &f.bob_identity,
    ] {
        write("state_decode", s);
    }
    let dr = json("double-ratchet.json");
    for conv in dr["conversations"].as_array().into_iter().flatten() {
        for step in conv["steps"].as_array().into_iter().flatten().take(8) {
            if let Some(m) = hex_field(step, "message") {
                write("session_decrypt", &m);
            }
        }
        if let Some(b) = hex_field(&conv["bob_prekeys"], "bundle") {
            write("state_decode", &b);
        }
    }
    let x3dh = json("x3dh.json");
    for case in x3dh["cases"].as_array().into_iter().flatten() {
        if let Some(m) = hex_field(case, "initial_message") {
            write("prekey_message", &m);
        }
    }
    // A sealed envelope for the fixed recipient, carrying the initial message.
    let bob = IdentityKeyPair::from_bytes(&f.bob_identity).expect("identity");
    let mut rng = common::rng();
    let alice = IdentityKeyPair::generate(&mut rng);
    for (kind, payload) in [
        (ContentKind::SessionMessage, f.initial.as_slice()),
        (ContentKind::Application, b"hi".as_slice()),
    ] {
        let env =
            envelope::seal(&mut rng, &alice, bob.public(), kind, payload, &[7; 32]).expect("seal");
        write("envelope_open", &env);
    }
}

fn groups() {
    let g = group_common::group_fixture();
    for m in &g.for_bob {
        write("group_process", &[&[0u8][..], m].concat());
        write("group_state", m);
    }
    write("group_process", &[&[1u8][..], &g.welcome].concat());
    write("group_process", &[&[0u8][..], &g.key_package].concat());
    write("group_state", &g.welcome);
    write("group_state", &g.key_package);
    write("group_state", &g.bob_state);
    write("group_state", &g.carol_state);
    let mls = json("mls-rfc9420/messages.json");
    for v in mls.as_array().into_iter().flatten().take(3) {
        for key in [
            "mls_welcome",
            "mls_group_info",
            "mls_key_package",
            "ratchet_tree",
        ] {
            if let Some(b) = hex_field(v, key) {
                write("group_state", &b);
            }
        }
        for key in [
            "public_message_application",
            "public_message_proposal",
            "public_message_commit",
            "private_message",
        ] {
            if let Some(b) = hex_field(v, key) {
                write("group_process", &[&[0u8][..], &b].concat());
            }
        }
        if let Some(b) = hex_field(v, "mls_welcome") {
            write("group_process", &[&[1u8][..], &b].concat());
        }
    }
}

fn request(body: B) -> Vec<u8> {
    let req = proto::Request {
        version: PROTOCOL_VERSION,
        body: Some(body),
    };
    encode_frame(&req, usize::MAX).expect("frame")
}

fn relay() {
    let [a, b] = relay_common::OWNED.map(|m| m.0.to_vec());
    let group = vec![0x47; 32];
    let bodies = vec![
        B::Hello(proto::HelloRequest {}),
        B::Challenge(proto::ChallengeRequest {}),
        B::Auth(proto::AuthRequest {
            mailbox_public_key: vec![1; 32],
            challenge: vec![2; 32],
            signature: vec![3; 64],
        }),
        B::Send(proto::SendRequest {
            mailbox_address: a.clone(),
            envelope_id: vec![0x11; 16],
            ciphertext: vec![0xcc; 600],
        }),
        B::Fetch(proto::FetchRequest {
            mailbox_address: a.clone(),
            cursor: 0,
            limit: 0,
        }),
        B::Subscribe(proto::SubscribeRequest {
            mailbox_address: a.clone(),
            cursor: 0,
        }),
        B::Ack(proto::AckRequest {
            mailbox_address: a.clone(),
            seqs: vec![0, 1],
        }),
        B::Status(proto::StatusRequest {
            envelope_id: vec![0x11; 16],
        }),
        B::PrekeyUpload(proto::PrekeyUploadRequest {
            mailbox_address: b.clone(),
            signed_prekey: Some(proto::SignedPrekey {
                id: 1,
                blob: vec![0x51; 100],
            }),
            one_time_prekeys: (0..3)
                .map(|i| proto::OneTimePrekey {
                    id: i,
                    blob: vec![0x52; 36],
                })
                .collect(),
            replace_one_time_prekeys: false,
            ..Default::default()
        }),
        B::PrekeyFetch(proto::PrekeyFetchRequest {
            mailbox_address: b.clone(),
            fetch_token: vec![0x54; 32],
        }),
        B::KeyPackageUpload(proto::KeyPackageUploadRequest {
            mailbox_address: b.clone(),
            key_packages: vec![vec![0x4b; 300]; 2],
            last_resort: vec![0x4c; 300],
            replace_key_packages: true,
        }),
        B::KeyPackageFetch(proto::KeyPackageFetchRequest {
            mailbox_address: b.clone(),
            fetch_token: Vec::new(),
        }),
        B::DirectoryAccess(proto::DirectoryAccessRequest {
            mailbox_address: b.clone(),
            fetch_verifier: vec![0x56; 32],
        }),
        B::DirectoryStock(proto::DirectoryStockRequest {
            mailbox_address: b.clone(),
        }),
        B::GroupAppend(proto::GroupAppendRequest {
            group_id: group.clone(),
            epoch: 0,
            kind: proto::GroupMessageKind::Commit as i32,
            message: vec![0x6d; 200],
            welcomes: vec![proto::WelcomeDelivery {
                mailbox_address: b.clone(),
                envelope_id: vec![0x22; 16],
                ciphertext: vec![0x77; 600],
            }],
        }),
        B::GroupAppend(proto::GroupAppendRequest {
            group_id: group.clone(),
            epoch: 1,
            kind: proto::GroupMessageKind::Application as i32,
            message: vec![0x6e; 100],
            welcomes: vec![],
        }),
        B::GroupFetch(proto::GroupFetchRequest {
            group_id: group.clone(),
            cursor: 0,
            limit: 0,
        }),
        B::GroupSubscribe(proto::GroupSubscribeRequest {
            group_id: group,
            cursor: 0,
        }),
    ];
    let frames: Vec<Vec<u8>> = bodies.into_iter().map(request).collect();
    for f in &frames {
        write("relay_request", f);
        write("relay_frame", f);
    }
    // Whole conversations: send, fetch, ack, status; upload then fetch; append then fetch.
    for idx in [
        [3usize, 4, 6, 7].as_slice(),
        &[8, 9, 12],
        &[10, 11, 11, 12],
        &[13, 14, 15, 16],
    ] {
        let conv: Vec<u8> = idx.iter().flat_map(|i| frames[*i].clone()).collect();
        write("relay_request", &conv);
    }
    // The relay's answers, as the client reads them.
    let h = relay_common::harness();
    h.rt.block_on(async {
        for f in &frames {
            for r in h.dispatcher.handle_stream(f).await {
                write("relay_frame", &encode_frame(&r, usize::MAX).expect("frame"));
            }
        }
    });
}

fn cli() {
    let mut rng = common::rng();
    let relay: RelayUrl = format!("hush://{}@127.0.0.1:4433", "ab".repeat(32))
        .parse()
        .expect("url");
    let identity = IdentityKeyPair::generate(&mut rng);
    let peer = IdentityKeyPair::generate(&mut rng);
    let card = |name: &str, id: &IdentityKeyPair, mailbox: u8| Card {
        name: name.to_string(),
        identity: id.public().clone(),
        mailbox: hush_relay::MailboxAddress([mailbox; 32]),
        relay: relay.clone(),
        directory: Some(hush_protocol::directory::DirectorySecret::from_bytes(
            [mailbox; 32],
        )),
    };
    let mine = card("alice", &identity, 1).encode().expect("card");
    let theirs = card("bob", &peer, 2).encode().expect("card");
    write("contact_card", mine.as_bytes());
    write("contact_card", theirs.as_bytes());
    write(
        "contact_card",
        card("", &peer, 3).encode().expect("card").as_bytes(),
    );
    let legacy = Card {
        directory: None,
        ..card("carol", &peer, 4)
    };
    write("contact_card", legacy.encode().expect("card").as_bytes());

    let mut prekeys = PreKeyStore::new();
    prekeys.rotate_signed_prekey(&mut rng, &identity);
    prekeys.generate_one_time_prekeys(&mut rng, 2);
    let mut groups = State::new_group_client(&identity).expect("group client");
    groups
        .generate_key_packages(&mut rng, 1)
        .expect("key packages");
    let f = common::fixture();
    let session = Session::from_bytes(&f.alice_session).expect("session");
    let mut state = State {
        version: STATE_VERSION,
        name: "alice".into(),
        relay: relay.to_string(),
        identity: Secret::new(identity.to_bytes()),
        mailbox_key: Secret::new(Zeroizing::new(vec![9; 32])),
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
        directory_secret: Some(Secret::new(Zeroizing::new(vec![0x44; 32]))),
        directory_sealed: true,
    };
    state.set_group_client(&groups).expect("group client");
    state.contacts.insert(
        "bob".into(),
        Contact {
            card: theirs.clone(),
            verified: true,
            offers_pqxdh: true,
        },
    );
    state.peers.insert("00".repeat(32), theirs);
    state.set_session(&session);
    state.mark_seen("00ff".into());
    let body = state.to_json().expect("json");
    write("cli_state", &body);
    let key = StateKey::with_params(b"fuzz", [0x5a; 16], 8, 1, 1).expect("key");
    write("cli_state", &key.seal(&body).expect("seal"));
}

/// `attachment_chunks` takes an `arbitrary` structure: file selector, size change (4 bytes),
/// slice length (2 bytes), then options and operations; these pick each file unmodified.
fn attachments() {
    for file in 0..4u8 {
        write("attachment_chunks", &[file, 0, 0, 0, 0, 0x00, 0x10, 0]);
        write("attachment_chunks", &[file, 0, 0, 0, 0, 0x11, 0x01, 0]);
    }
}

/// `device_link`: the fixture's list and a newer one (mode 0), its waiting request and
/// another (mode 1), and an approval of the waiting request (mode 2).
fn devices() {
    let f = devices_common::devices_fixture();
    let seed = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    write("device_link", &seed(0, f.list.to_bytes()));
    write("device_link", &seed(1, f.request.to_bytes()));
    let (newer, sealed) = f
        .request
        .approve(&mut devices_common::rng(), &f.person, &f.list, b"transfer")
        .expect("approve");
    write("device_link", &seed(0, newer.to_bytes()));
    write("device_link", &seed(2, &sealed));
}

fn main() {
    devices();
    attachments();
    sessions();
    groups();
    relay();
    cli();
    for t in std::fs::read_dir("corpus").expect("corpus").flatten() {
        let n = std::fs::read_dir(t.path()).map(|d| d.count()).unwrap_or(0);
        println!("{}: {n} files", t.file_name().to_string_lossy());
    }
}
