"""Two users 1:1 both ways, live delivery, an attachment, a group of three, and errors: all
through a real hush-relay (conftest.py starts it)."""

import asyncio
import pathlib

import pytest

import hush
from hush import EventType, GroupState, HushError, SentState

from conftest import PASSPHRASE


def run(coro):
    return asyncio.run(coro)


async def introduce(a: hush.Client, a_alias: str, b: hush.Client, b_alias: str):
    """a knows b as b_alias, b knows a as a_alias; both publish their keys."""
    await a.add_contact(b_alias, await b.card())
    await b.add_contact(a_alias, await a.card())
    await a.start()
    await b.start()


async def messages(client: hush.Client):
    """Receives, confirms everything, and returns the events."""
    events = await client.receive()
    await client.confirm([e.id for e in events])
    return events


def test_one_to_one_both_ways(make_user, tmp_path):
    alice = make_user("alice", "Alice")
    bob = make_user("bob", "Bob")

    async def main():
        await introduce(alice, "alice", bob, "bob")
        contacts = await alice.contacts()
        assert [(c.alias, c.name, c.fingerprint, c.verified) for c in contacts] == [
            ("bob", "Bob", bob.fingerprint(), False)
        ]
        number = await alice.safety_number("bob")
        assert number == await bob.safety_number("alice")
        assert len(number.replace(" ", "")) == 60 and number.replace(" ", "").isdigit()
        await alice.set_verified("bob", True)
        assert (await alice.contacts())[0].verified
        # Not known before a bundle of Bob's was seen (PQXDH: spec/client.md section 3).
        assert not (await alice.contacts())[0].offers_pqxdh

        sent = await alice.send("bob", "Hi Bob, it's Alice")
        assert sent.state == SentState.STORED and sent.to == "bob" and len(sent.envelope_id) == 32
        assert (await alice.contacts())[0].offers_pqxdh
        events = await bob.receive()
        assert len(events) == 1
        got = events[0]
        assert got.kind == EventType.MESSAGE
        assert got.text == "Hi Bob, it's Alice" and got.body == b"Hi Bob, it's Alice"
        assert got.sender_alias == "alice" and got.sender_fingerprint == alice.fingerprint()
        assert got.attachment is None and got.envelope_id is not None
        # Kept until confirmed.
        assert [e.id for e in await bob.pending_events()] == [got.id]
        await bob.confirm([got.id])
        assert await bob.pending_events() == []

        await bob.send("alice", "Hello Alice")
        await bob.send_bytes("alice", b"\x00\x01 raw")
        got = await messages(alice)
        assert [(e.kind, e.sender_alias, e.text, e.body) for e in got] == [
            (EventType.MESSAGE, "bob", "Hello Alice", b"Hello Alice"),
            (EventType.MESSAGE, "bob", "\x00\x01 raw", b"\x00\x01 raw"),
        ]
        assert await messages(alice) == []
        await alice.close()

    run(main())

    # The store keeps the account and its contacts; the passphrase opens it again.
    again = hush.Client.open(str(tmp_path / "alice.db"), PASSPHRASE)
    assert again.name() == "Alice" and again.fingerprint() == alice.fingerprint()

    async def reopened():
        assert [c.alias for c in await again.contacts()] == ["bob"]
        await again.send("bob", "from the reopened store")
        got = await messages(bob)
        assert [(e.sender_alias, e.text) for e in got] == [("alice", "from the reopened store")]
        assert (await again.remove_contact("bob")).alias == "bob"
        assert await again.contacts() == []

    run(reopened())


def test_live_delivery_and_an_attachment(make_user, tmp_path):
    alice = make_user("alice", "Alice")
    bob = make_user("bob", "Bob")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(bytes(range(256)) * 1000)

    async def main():
        await introduce(alice, "alice", bob, "bob")
        assert await bob.next_events(100) == []  # subscribes; nothing waits

        async def send_later():
            await asyncio.sleep(0.3)
            await alice.send("bob", "live")

        waiting = asyncio.ensure_future(send_later())
        got = []
        for _ in range(20):
            got += await bob.next_events(500)
            if got:
                break
        await waiting
        assert [(e.kind, e.text) for e in got] == [(EventType.MESSAGE, "live")]
        await bob.confirm([e.id for e in got])

        sent = await alice.send_file("bob", str(photo))
        assert sent.state == SentState.STORED
        events = await bob.next_events(5000)
        assert len(events) == 1
        event = events[0]
        assert event.kind == EventType.MESSAGE and event.text is None and event.body == b""
        assert event.attachment.name == "photo.jpg"
        assert event.attachment.size == 256000
        assert event.attachment.media_type == "image/jpeg"
        saved = pathlib.Path(await bob.save_attachment(event.id, str(tmp_path / "downloads")))
        assert saved.parent == tmp_path / "downloads" and saved.name == "photo.jpg"
        assert saved.read_bytes() == photo.read_bytes()
        await bob.confirm([event.id])
        with pytest.raises(HushError.UnknownEvent):
            await bob.save_attachment(event.id, str(tmp_path / "downloads"))
        await bob.close()

    run(main())


def test_group_of_three(make_user):
    alice = make_user("alice", "Alice")
    bob = make_user("bob", "Bob")
    carol = make_user("carol", "Carol")

    async def main():
        await introduce(alice, "alice", bob, "bob")
        await introduce(alice, "alice", carol, "carol")
        group = await alice.create_group("friends")
        assert group.name == "friends" and group.state == GroupState.MEMBER
        assert [m.me for m in group.members] == [True]

        await alice.add_members("friends", ["bob", "carol"])
        sent = await alice.send_to_group("friends", "hi all")
        assert sent.state == SentState.IN_LOG
        for member in (bob, carol):
            got = await messages(member)
            assert [(e.kind, e.group, e.sender_alias) for e in got] == [
                (EventType.JOINED, "friends", "alice"),
                (EventType.GROUP_MESSAGE, "friends", "alice"),
            ]
            assert got[1].text == "hi all"
            (g,) = await member.groups()
            assert g.name == "friends" and len(g.members) == 3

        await bob.send_to_group("friends", "hi from bob")
        got = await messages(alice)
        assert [(e.kind, e.sender_alias, e.text) for e in got] == [
            (EventType.GROUP_MESSAGE, "bob", "hi from bob")
        ]
        got = await messages(carol)
        # Carol never added Bob as a contact: his message shows under his fingerprint.
        assert [(e.kind, e.sender_alias, e.sender_fingerprint, e.text) for e in got] == [
            (EventType.GROUP_MESSAGE, None, bob.fingerprint(), "hi from bob")
        ]

        await alice.remove_members("friends", ["carol"])
        got = await messages(carol)
        assert [(e.kind, e.group) for e in got] == [(EventType.REMOVED, "friends")]
        assert (await carol.groups())[0].state == GroupState.REMOVED
        got = await messages(bob)
        assert [(e.kind, e.group, e.removed) for e in got] == [
            (EventType.MEMBERS_CHANGED, "friends", [carol.fingerprint()])
        ]
        (g,) = await alice.groups()
        assert sorted(m.fingerprint for m in g.members) == sorted(
            [alice.fingerprint(), bob.fingerprint()]
        )

        await bob.leave_group("friends")
        await alice.send_to_group("friends", "bye bob")  # reads the request, commits it
        got = await messages(bob)
        assert EventType.REMOVED in [e.kind for e in got]
        (g,) = await alice.groups()
        assert [m.me for m in g.members] == [True]

    run(main())


def test_errors_are_typed_exceptions_with_the_engines_message(make_user, tmp_path):
    alice = make_user("alice", "Alice")

    async def main():
        with pytest.raises(HushError.UnknownContact) as e:
            await alice.send("zed", "hello?")
        assert str(e.value) == "unknown contact 'zed'"
        assert isinstance(e.value, HushError)
        with pytest.raises(HushError.InvalidInput):
            await alice.add_contact("bob", "not a card")
        with pytest.raises(HushError.UnknownGroup) as e:
            await alice.send_to_group("nowhere", "hello?")
        assert str(e.value) == "unknown group 'nowhere'"

    run(main())

    with pytest.raises(HushError.WrongPassphrase) as e:
        hush.Client.open(str(tmp_path / "alice.db"), "not the passphrase")
    assert str(e.value) == "wrong passphrase or key for this store"
    with pytest.raises(HushError.AccountExists):
        hush.Client.create(str(tmp_path / "alice.db"), PASSPHRASE, "Again", alice.relay())
    with pytest.raises(HushError.InvalidInput) as e:
        hush.Client.create(str(tmp_path / "x.db"), PASSPHRASE, "X", "http://example.invalid")
    assert str(e.value).startswith("invalid relay address")
