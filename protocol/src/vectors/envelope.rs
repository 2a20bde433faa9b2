//! `test-vectors/envelope.json` (spec/envelope.md, "Test vectors"): sealed-sender envelopes
//! at the bucket edges, every intermediate value of sealing, and refusals with their errors.

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hkdf::Hkdf;
use prost::Message;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

use super::{Party, VectorRng, refused, render};
use crate::envelope::{
    ContentKind, ENVELOPE_OVERHEAD, MAX_ENVELOPE_LEN, SEALED_CONTENT_INFO, SEALED_CONTENT_VERSION,
    SEALED_IDENTITY_INFO, open, padded_len, seal_traced,
};
use crate::identity::IdentityKeyPair;
use crate::proto::wire;
use crate::trace::Trace;

/// Values up to this many bytes are written out in full; longer ones as length and SHA-256.
const INLINE: usize = 2048;

/// The `reply_to` of the small cases: a contact card line (spec/cli.md).
const REPLY_TO: &[u8] = b"hush1:example-contact-card";

/// `bytes` in full (`name`) when short, else `name_len` and `name_sha256`.
fn put_bytes(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    if bytes.len() <= INLINE {
        obj.insert(name.to_owned(), json!(hex::encode(bytes)));
    } else {
        obj.insert(format!("{name}_len"), json!(bytes.len()));
        obj.insert(
            format!("{name}_sha256"),
            json!(hex::encode(Sha256::digest(bytes))),
        );
    }
}

fn kind_name(kind: ContentKind) -> &'static str {
    match kind {
        ContentKind::SessionMessage => "CONTENT_KIND_SESSION_MESSAGE",
        ContentKind::GroupWelcome => "CONTENT_KIND_GROUP_WELCOME",
        ContentKind::Application => "CONTENT_KIND_APPLICATION",
        ContentKind::LinkApproval => "CONTENT_KIND_LINK_APPROVAL",
    }
}

fn kind_wire(kind: ContentKind) -> i32 {
    (match kind {
        ContentKind::SessionMessage => wire::ContentKind::SessionMessage,
        ContentKind::GroupWelcome => wire::ContentKind::GroupWelcome,
        ContentKind::Application => wire::ContentKind::Application,
        ContentKind::LinkApproval => wire::ContentKind::LinkApproval,
    }) as i32
}

/// The payload length whose encoded `SealedContent` is exactly `content_len` bytes.
fn payload_len_for(content_len: usize, kind: ContentKind, reply_to: &[u8]) -> usize {
    let encoded = |n: usize| {
        wire::SealedContent {
            version: SEALED_CONTENT_VERSION,
            kind: kind_wire(kind),
            payload: Vec::new(),
            reply_to: reply_to.to_vec(),
        }
        .encoded_len()
            + if n == 0 {
                0
            } else {
                1 + prost::encoding::encoded_len_varint(n as u64) + n
            }
    };
    let n = (0..=content_len)
        .rev()
        .find(|&n| encoded(n) == content_len)
        .expect("every vector content length is reachable");
    assert_eq!(encoded(n), content_len);
    n
}

/// Seals from bare primitives (X25519, HKDF-SHA256, ChaCha20-Poly1305) with an arbitrary
/// identity-layer plaintext and padded content, to build envelopes `seal` never writes.
/// Returns the envelope and its `k1 ‖ n1`, `k2 ‖ n2`.
fn seal_raw(
    e_secret: [u8; 32],
    sender_dh: &StaticSecret,
    recipient_dh: &PublicKey,
    identity_pt: &[u8],
    padded: &[u8],
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let e = StaticSecret::from(e_secret);
    let e_pub = PublicKey::from(&e);
    let kdf = |ikm: &[u8], salt: &[u8], info: &[u8]| {
        let mut okm = vec![0u8; 44];
        Hkdf::<Sha256>::new(Some(salt), ikm)
            .expand(info, &mut okm)
            .expect("44 bytes");
        okm
    };
    let aead = |okm: &[u8], msg: &[u8], aad: &[u8]| {
        ChaCha20Poly1305::new_from_slice(&okm[..32])
            .expect("32-byte key")
            .encrypt(
                &Nonce::try_from(&okm[32..]).expect("12 bytes"),
                Payload { msg, aad },
            )
            .expect("within AEAD limits")
    };
    let mut out = vec![1u8];
    out.extend_from_slice(e_pub.as_bytes());
    let salt1 = [e_pub.as_bytes().as_slice(), recipient_dh.as_bytes()].concat();
    let kn1 = kdf(
        e.diffie_hellman(recipient_dh).as_bytes(),
        &salt1,
        SEALED_IDENTITY_INFO,
    );
    let c1 = aead(&kn1, identity_pt, &out);
    out.extend_from_slice(&c1);
    let kn2 = kdf(
        sender_dh.diffie_hellman(recipient_dh).as_bytes(),
        &out,
        SEALED_CONTENT_INFO,
    );
    let c2 = aead(&kn2, padded, &out);
    out.extend_from_slice(&c2);
    (out, kn1, kn2)
}

/// The 128-byte identity-layer plaintext of `id`: Ed25519 public ‖ X25519 public ‖ binding
/// signature.
fn identity_plaintext(id: &IdentityKeyPair) -> Vec<u8> {
    let p = id.public().to_proto();
    [p.signing_key, p.dh_key, p.dh_key_signature].concat()
}

/// Padded content for a 512-byte envelope: `content ‖ 0x80 ‖ 0x00…`.
fn pad512(content: &[u8]) -> Vec<u8> {
    let mut p = content.to_vec();
    p.push(0x80);
    p.resize(512 - ENVELOPE_OVERHEAD, 0);
    p
}

/// The keys of `id`, private and public, as the other vector files list them.
pub(super) fn party(name: &'static str, id: &IdentityKeyPair) -> Value {
    Party {
        name,
        identity: IdentityKeyPair::from_secrets(
            &id.signing_key().to_bytes(),
            &id.dh_secret().to_bytes(),
        ),
    }
    .json()
}

/// A sealing case: name, kind, the `needed` to reach (or none), the payload length when
/// `needed` is none, and `reply_to`.
type Plan = (
    &'static str,
    ContentKind,
    Option<usize>,
    usize,
    &'static [u8],
);

struct Ctx {
    rng: VectorRng,
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    carol: IdentityKeyPair,
}

/// One sealing case: the payload is drawn from the RNG, then `seal` draws the ephemeral key.
fn seal_case(
    ctx: &mut Ctx,
    name: &str,
    kind: ContentKind,
    needed: Option<usize>,
    payload_len: usize,
    reply_to: &[u8],
) -> (Value, Option<Vec<u8>>) {
    let payload_len = match needed {
        Some(n) => payload_len_for(n - ENVELOPE_OVERHEAD - 1, kind, reply_to),
        None => payload_len,
    };
    let mut payload = vec![0u8; payload_len];
    ctx.rng.fill(&mut payload);
    let mut obj = Map::new();
    obj.insert("name".into(), json!(name));
    obj.insert("sender".into(), party("alice", &ctx.alice));
    obj.insert("recipient".into(), party("bob", &ctx.bob));
    obj.insert("kind".into(), json!(kind_name(kind)));
    obj.insert("kind_value".into(), json!(kind_wire(kind)));
    obj.insert("payload_len".into(), json!(payload.len()));
    put_bytes(&mut obj, "payload", &payload);
    obj.insert("reply_to".into(), json!(hex::encode(reply_to)));
    let content_len = wire::SealedContent {
        version: SEALED_CONTENT_VERSION,
        kind: kind_wire(kind),
        payload: payload.clone(),
        reply_to: reply_to.to_vec(),
    }
    .encoded_len();
    let needed_now = content_len + ENVELOPE_OVERHEAD + 1;
    obj.insert("sealed_content_len".into(), json!(content_len));
    obj.insert("needed".into(), json!(needed_now));
    if let Some(n) = needed {
        assert_eq!(n, needed_now);
    }
    let mut trace = Trace::on();
    let result = seal_traced(
        &mut ctx.rng,
        &ctx.alice,
        ctx.bob.public(),
        kind,
        &payload,
        reply_to,
        &mut trace,
    );
    let envelope = match result {
        Ok(env) => env,
        Err(e) => {
            assert!(padded_len(content_len).is_none());
            assert!(trace.take().is_empty(), "a refused seal draws nothing");
            if let Value::Object(m) = refused(&e) {
                obj.extend(m);
            }
            return (Value::Object(obj), None);
        }
    };
    obj.insert("result".into(), json!("ok"));
    let total = padded_len(content_len).expect("sealed");
    obj.insert("envelope_len".into(), json!(total));
    obj.insert(
        "padded_content_len".into(),
        json!(total - ENVELOPE_OVERHEAD),
    );
    obj.insert("padding_len".into(), json!(total - needed_now));
    let entries = trace.take();
    let get = |label: &str| {
        entries
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, b)| b.clone())
            .expect("traced")
    };
    for (label, bytes) in &entries {
        put_bytes(&mut obj, label, bytes);
    }
    put_bytes(&mut obj, "envelope", &envelope);
    assert_eq!(envelope.len(), total);

    // The same envelope from the bare primitives.
    let e: [u8; 32] = get("ephemeral_private_key").try_into().expect("32 bytes");
    let (raw, kn1, kn2) = seal_raw(
        e,
        ctx.alice.dh_secret(),
        ctx.bob.public().dh_key(),
        &identity_plaintext(&ctx.alice),
        &get("padded_content"),
    );
    assert_eq!(raw, envelope, "{name}: bare primitives disagree with seal");
    assert_eq!(kn1, [get("k1"), get("n1")].concat());
    assert_eq!(kn2, [get("k2"), get("n2")].concat());

    // The recipient opens it and gets the content back.
    let opened = open(&ctx.bob, &envelope).expect("the recipient opens its envelope");
    assert_eq!(opened.payload, payload);
    assert_eq!(opened.reply_to, reply_to);
    assert_eq!(opened.kind, kind);
    assert_eq!(&opened.sender, ctx.alice.public());
    obj.insert(
        "opened".into(),
        json!({
            "sender_fingerprint": hex::encode(opened.sender.fingerprint().0),
            "kind": kind_name(opened.kind),
            "payload_sha256": hex::encode(Sha256::digest(&opened.payload)),
            "reply_to": hex::encode(&opened.reply_to),
        }),
    );
    (Value::Object(obj), Some(envelope))
}

/// A refusal: `envelope` opened by `who` fails with the recorded error.
fn refusal(name: &str, who: (&str, &IdentityKeyPair), envelope: &[u8], extra: Value) -> Value {
    let err = open(who.1, envelope).expect_err("a refusal case must be refused");
    let mut obj = Map::new();
    obj.insert("name".into(), json!(name));
    obj.insert("opened_by".into(), json!(who.0));
    obj.insert("envelope_len".into(), json!(envelope.len()));
    put_bytes(&mut obj, "envelope", envelope);
    for more in [extra, refused(&err)] {
        if let Value::Object(m) = more {
            obj.extend(m);
        }
    }
    Value::Object(obj)
}

/// A constructed envelope (bare primitives): the fresh ephemeral key is drawn from the RNG.
fn constructed(ctx: &mut Ctx, name: &str, how: &str, identity_pt: &[u8], padded: &[u8]) -> Value {
    let mut e = [0u8; 32];
    ctx.rng.fill(&mut e);
    let (env, kn1, kn2) = seal_raw(
        e,
        ctx.alice.dh_secret(),
        ctx.bob.public().dh_key(),
        identity_pt,
        padded,
    );
    refusal(
        name,
        ("bob", &ctx.bob),
        &env,
        json!({
            "construction": how,
            "ephemeral_private_key": hex::encode(e),
            "sender_identity": hex::encode(identity_pt),
            "padded_content": hex::encode(padded),
            "k1": hex::encode(&kn1[..32]),
            "n1": hex::encode(&kn1[32..]),
            "k2": hex::encode(&kn2[..32]),
            "n2": hex::encode(&kn2[32..]),
        }),
    )
}

/// The envelope vectors: sealing cases at the 512-byte, 64 KiB and 1 MiB edges (and a
/// payload refused as too large), every intermediate value, and refusals when opening.
///
/// `VectorRng("envelope")` draws, in order: the identities of Alice (sender), Bob
/// (recipient) and Carol (32 + 32 bytes each); then per sealing case the payload and the
/// 32-byte ephemeral secret (none for the refused one); then, per constructed refusal, its
/// 32-byte ephemeral secret.
pub fn envelope_vectors() -> String {
    let seed = "envelope";
    let mut rng = VectorRng::new(seed.as_bytes());
    let alice = IdentityKeyPair::generate(&mut rng);
    let bob = IdentityKeyPair::generate(&mut rng);
    let carol = IdentityKeyPair::generate(&mut rng);
    let mut ctx = Ctx {
        rng,
        alice,
        bob,
        carol,
    };

    let k64 = 64 * 1024;
    let plan: [Plan; 12] = [
        (
            "small application payload with reply_to",
            ContentKind::Application,
            None,
            37,
            REPLY_TO,
        ),
        (
            "empty session message",
            ContentKind::SessionMessage,
            None,
            0,
            b"",
        ),
        (
            "group welcome",
            ContentKind::GroupWelcome,
            None,
            200,
            REPLY_TO,
        ),
        (
            "needed = 511 (512 bucket, one zero byte after the marker)",
            ContentKind::Application,
            Some(511),
            0,
            b"",
        ),
        (
            "needed = 512 (fills the 512 bucket: marker only)",
            ContentKind::Application,
            Some(512),
            0,
            b"",
        ),
        (
            "needed = 513 (next bucket: 1024)",
            ContentKind::Application,
            Some(513),
            0,
            b"",
        ),
        (
            "needed = 65535 (64 KiB bucket)",
            ContentKind::SessionMessage,
            Some(k64 - 1),
            0,
            b"",
        ),
        (
            "needed = 65536 (fills the 64 KiB bucket)",
            ContentKind::SessionMessage,
            Some(k64),
            0,
            b"",
        ),
        (
            "needed = 65537 (next bucket: 128 KiB)",
            ContentKind::SessionMessage,
            Some(k64 + 1),
            0,
            b"",
        ),
        (
            "needed = 983041 (smallest content in the 1 MiB bucket)",
            ContentKind::Application,
            Some(MAX_ENVELOPE_LEN - k64 + 1),
            0,
            b"",
        ),
        (
            "needed = 1048576 (the largest envelope)",
            ContentKind::Application,
            Some(MAX_ENVELOPE_LEN),
            0,
            b"",
        ),
        (
            "needed = 1048577 (too large: refused)",
            ContentKind::Application,
            Some(MAX_ENVELOPE_LEN + 1),
            0,
            b"",
        ),
    ];
    let mut cases = Vec::new();
    let mut small = None;
    for (name, kind, needed, len, reply_to) in plan {
        let (case, env) = seal_case(&mut ctx, name, kind, needed, len, reply_to);
        if small.is_none() {
            small = env;
        }
        cases.push(case);
    }
    let env = small.expect("the first case seals");
    assert_eq!(env.len(), 512);

    let mut refusals = Vec::new();
    let bob = ("bob", &ctx.bob);
    refusals.push(refusal(
        "wrong recipient (Carol opens Bob's envelope)",
        ("carol", &ctx.carol),
        &env,
        json!({ "source": "cases[0]" }),
    ));
    for len in [0usize, 1, 33, 177, 193, 194, 195, 511] {
        refusals.push(refusal(
            &format!("truncated to {len} bytes"),
            bob,
            &env[..len],
            json!({ "source": "cases[0]", "truncated_to": len }),
        ));
    }
    for (what, at) in [
        ("version byte", 0usize),
        ("E.public", 1),
        ("C1 (first byte)", 33),
        ("C1 (last tag byte)", 176),
        ("C2 (first byte)", 177),
        ("C2 (last tag byte)", 511),
    ] {
        let mut m = env.clone();
        m[at] ^= 0x01;
        refusals.push(refusal(
            &format!("{what}: byte {at} ^ 0x01"),
            bob,
            &m,
            json!({ "source": "cases[0]", "flipped_offset": at, "xor": 1 }),
        ));
    }
    for v in [0u8, 2, 0xff] {
        let mut m = env.clone();
        m[0] = v;
        refusals.push(refusal(
            &format!("unknown version byte {v:#04x}"),
            bob,
            &m,
            json!({ "source": "cases[0]", "version_byte": v }),
        ));
    }
    {
        let mut m = env.clone();
        m[1..33].fill(0);
        refusals.push(refusal(
            "E.public = 0 (low-order point)",
            bob,
            &m,
            json!({ "source": "cases[0]" }),
        ));
    }

    // Constructed with the right keys, so both AEAD layers open.
    let id_ok = identity_plaintext(&ctx.alice);
    let content = |version: u32, kind: i32| {
        wire::SealedContent {
            version,
            kind,
            payload: b"constructed".to_vec(),
            reply_to: Vec::new(),
        }
        .encode_to_vec()
    };
    let good = content(SEALED_CONTENT_VERSION, kind_wire(ContentKind::Application));
    assert_ne!(good.last(), Some(&0x80));
    // Sanity: a constructed envelope with correct content opens.
    {
        let mut e = [0u8; 32];
        ctx.rng.fill(&mut e);
        let (m, _, _) = seal_raw(
            e,
            ctx.alice.dh_secret(),
            ctx.bob.public().dh_key(),
            &id_ok,
            &pad512(&good),
        );
        let opened = open(&ctx.bob, &m).expect("a well-formed constructed envelope opens");
        assert_eq!(opened.payload, b"constructed");
    }
    let no_marker = {
        let mut p = good.clone();
        p.resize(512 - ENVELOPE_OVERHEAD, 0);
        p
    };
    refusals.push(constructed(
        &mut ctx,
        "bad padding: no 0x80 marker (content, then zeros)",
        "padded_content = SealedContent || 0x00...",
        &id_ok,
        &no_marker,
    ));
    let wrong_marker = {
        let mut p = good.clone();
        p.push(0x01);
        p.resize(512 - ENVELOPE_OVERHEAD, 0);
        p
    };
    refusals.push(constructed(
        &mut ctx,
        "bad padding: 0x01 instead of the 0x80 marker",
        "padded_content = SealedContent || 0x01 || 0x00...",
        &id_ok,
        &wrong_marker,
    ));
    refusals.push(constructed(
        &mut ctx,
        "bad padding: all zero",
        "padded_content = 0x00...",
        &id_ok,
        &[0u8; 512 - ENVELOPE_OVERHEAD],
    ));
    let mut bad_sig = id_ok.clone();
    bad_sig[64] ^= 0x01;
    refusals.push(constructed(
        &mut ctx,
        "bad binding signature of the sender identity in C1",
        "sender_identity with byte 64 (first signature byte) ^ 0x01",
        &bad_sig,
        &pad512(&good),
    ));
    let carol_id = identity_plaintext(&ctx.carol);
    refusals.push(constructed(
        &mut ctx,
        "C1 names Carol but C2 is keyed with Alice's identity DH",
        "sender_identity = Carol's; k2 from X25519(IK_A.dh, IK_B.dh)",
        &carol_id,
        &pad512(&good),
    ));
    for (label, kind) in [("0 (unspecified)", 0), ("5 (unknown)", 5)] {
        refusals.push(constructed(
            &mut ctx,
            &format!("unknown content kind {label}"),
            &format!("SealedContent.kind = {kind}"),
            &id_ok,
            &pad512(&content(SEALED_CONTENT_VERSION, kind)),
        ));
    }
    for version in [0u32, 2] {
        refusals.push(constructed(
            &mut ctx,
            &format!("SealedContent.version {version}"),
            &format!("SealedContent.version = {version}"),
            &id_ok,
            &pad512(&content(version, kind_wire(ContentKind::Application))),
        ));
    }
    refusals.push(constructed(
        &mut ctx,
        "content is not a SealedContent",
        "padded_content = 0xff 0xff 0xff || 0x80 || 0x00...",
        &id_ok,
        &pad512(&[0xff, 0xff, 0xff]),
    ));

    render(json!({
        "description": "Hush sealed-sender envelope vectors (spec/envelope.md). Byte strings are hex; values longer than 2048 bytes are given as NAME_len and NAME_sha256.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order: Alice's, Bob's and Carol's identities (Ed25519 seed 32, X25519 secret 32 each); per sealing case its payload (payload_len bytes) then the 32-byte ephemeral secret (the refused case draws only its payload); then, per constructed refusal (and one well-formed constructed envelope before them), its 32-byte ephemeral secret",
        "seed": hex::encode(seed.as_bytes()),
        "alice": party("alice", &ctx.alice),
        "bob": party("bob", &ctx.bob),
        "carol": party("carol", &ctx.carol),
        "overhead": ENVELOPE_OVERHEAD,
        "cases": cases,
        "refusals": refusals,
    }))
}
