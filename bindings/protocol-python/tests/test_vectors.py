"""The protocol crate from Python, checked against test-vectors/: X3DH handshakes replayed
step by step under the vectors' RNG give the published bytes, every published refusal of an
initial message is refused with the published error, and sessions and envelopes work both
ways."""

import json
import pathlib

import pytest

import hush_protocol as hp

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "test-vectors"


def vectors(name):
    return json.loads((VECTORS / name).read_text())


def case(name):
    return next(c for c in vectors("x3dh.json")["cases"] if c["name"] == name)


def replay(c):
    """The generator's steps for an X3DH case (test-vectors/README.md): identities, Bob's
    signed prekey and two one-time prekeys (the bundle carries the second, when the case has
    one), then Alice's session and first message."""
    rng = hp.Rng.vector(bytes.fromhex(c["seed"]))
    alice = hp.Identity.generate(rng)
    bob = hp.Identity.generate(rng)
    prekeys = hp.PreKeys()
    spk = prekeys.rotate_signed_prekey(rng, bob)
    opks = prekeys.generate_one_time_prekeys(rng, 2)
    with_opk = c["bob_prekeys"]["one_time_prekey"] is not None
    bundle = hp.bundle(spk, opks[1] if with_opk else None)
    session = hp.Session.initiate(rng, alice, bundle, c["header_encryption"])
    message = session.encrypt(rng, bytes.fromhex(c["initial_message_plaintext"]))
    return rng, alice, bob, prekeys, bundle, session, message


@pytest.mark.parametrize("name", [c["name"] for c in vectors("x3dh.json")["cases"]])
def test_x3dh_handshakes_replay_byte_for_byte(name):
    c = case(name)
    rng, alice, bob, prekeys, bundle, session, message = replay(c)
    assert alice.encoded().hex() == c["alice"]["encoded_identity"]
    assert bob.public_key().hex() == c["bob"]["identity_public_key_message"]
    assert alice.fingerprint() == c["alice"]["fingerprint_display"]
    assert bundle.hex() == c["bob_prekeys"]["bundle"]
    assert message.hex() == c["initial_message"]
    assert session.safety_number() == c["safety_number"]
    assert hp.safety_number(alice.public_key(), bob.public_key()) == c["safety_number"]
    assert session.header_encryption() == c["header_encryption"]
    assert not session.is_post_quantum()
    if "responder_refusals_before" not in c:
        # No refusal drew from the RNG before Bob answered: his side replays too.
        got = hp.respond(rng, bob, prekeys, message)
        assert got.plaintext.hex() == c["initial_message_plaintext"]
        assert got.session.safety_number() == c["safety_number"]


def test_every_published_refusal_is_refused_with_its_error():
    c = case("with one-time prekey")
    rng, alice, bob, prekeys, bundle, session, message = replay(c)
    before = prekeys.to_bytes()
    for r in c["responder_refusals_before"]:
        with pytest.raises(hp.ProtocolError.Refused) as e:
            hp.respond(rng, bob, prekeys, bytes.fromhex(r["message"]))
        assert e.value.error == r["error"], r["name"]
        assert prekeys.to_bytes() == before, r["name"]
    got = hp.respond(rng, bob, prekeys, message)
    assert got.plaintext == bytes.fromhex(c["initial_message_plaintext"])
    assert prekeys.one_time_prekey_count() == 1
    after = prekeys.to_bytes()
    for r in c["responder_refusals_after"]:
        with pytest.raises(hp.ProtocolError.Refused) as e:
            hp.respond(rng, bob, prekeys, bytes.fromhex(r["message"]))
        assert e.value.error == r["error"], r["name"]
        assert prekeys.to_bytes() == after, r["name"]


def test_a_conversation_both_ways_with_saved_state():
    rng = hp.Rng.system()
    alice, bob = hp.Identity.generate(rng), hp.Identity.generate(rng)
    prekeys = hp.PreKeys()
    spk = prekeys.rotate_signed_prekey(rng, bob)
    opk = prekeys.generate_one_time_prekeys(rng, 1)[0]
    a = hp.Session.initiate(rng, alice, hp.bundle(spk, opk), True)
    b = hp.respond(rng, bob, prekeys, a.encrypt(rng, b"hello Bob")).session
    late = b.encrypt(rng, b"late")
    b2 = b.encrypt(rng, b"second")
    # Saved and loaded in the middle: the loaded session goes on.
    a = hp.Session.from_bytes(a.to_bytes())
    assert a.decrypt(rng, b2) == b"second"
    assert a.skipped_key_count() == 1
    assert a.decrypt(rng, late) == b"late"
    with pytest.raises(hp.ProtocolError.Refused) as e:
        a.decrypt(rng, late)
    assert e.value.error == "DuplicateMessage"
    assert hp.Identity.from_bytes(alice.to_bytes()).public_key() == alice.public_key()


def test_sealed_envelopes():
    rng = hp.Rng.system()
    alice, bob, carol = (hp.Identity.generate(rng) for _ in range(3))
    env = hp.seal(rng, alice, bob.public_key(), hp.Kind.APPLICATION, b"x" * 300, b"card")
    assert len(env) == 512
    opened = hp.open(bob, env)
    assert (opened.sender, opened.kind, opened.payload, opened.reply_to) == (
        alice.public_key(),
        hp.Kind.APPLICATION,
        b"x" * 300,
        b"card",
    )
    with pytest.raises(hp.ProtocolError.Refused) as e:
        hp.open(carol, env)
    assert e.value.error == "DecryptionFailed"
    with pytest.raises(hp.ProtocolError.Refused) as e:
        hp.open(bob, env[:100])
    assert e.value.error == "Malformed(envelope length)"


def test_the_vector_rng_is_the_published_stream():
    # test-vectors/README.md: SHA-256("Hush-v1-VectorRNG" || seed || counter_u64_be).
    import hashlib

    rng = hp.Rng.vector(b"seed")
    first = hashlib.sha256(b"Hush-v1-VectorRNG" + b"seed" + (0).to_bytes(8, "big")).digest()
    second = hashlib.sha256(b"Hush-v1-VectorRNG" + b"seed" + (1).to_bytes(8, "big")).digest()
    assert rng.bytes(40) == first + second[:8]


def test_a_group_of_two():
    rng = hp.Rng.system()
    alice, bob = hp.Identity.generate(rng), hp.Identity.generate(rng)
    a, b = hp.GroupMember(alice), hp.GroupMember(bob)
    group = a.create_group(rng)
    assert len(group) == 32 and a.epoch(group) == 0
    commit = a.add_members(rng, group, b.generate_key_packages(rng, 1))
    assert commit.epoch == 0 and commit.welcome is not None
    a.confirm_commit(rng, group)
    assert b.join(rng, commit.welcome) == group
    assert a.epoch(group) == b.epoch(group) == 1
    assert a.epoch_authenticator(group) == b.epoch_authenticator(group)
    assert sorted(a.members(group)) == sorted([alice.public_key(), bob.public_key()])
    message = a.encrypt(rng, group, b"hello group")
    events = b.process(rng, group, message)
    assert [(e.kind, e.sender, e.plaintext) for e in events] == [
        ("application", alice.public_key(), b"hello group")
    ]
    with pytest.raises(hp.ProtocolError.Refused):
        b.process(rng, group, message[:-1] + bytes([message[-1] ^ 1]))
