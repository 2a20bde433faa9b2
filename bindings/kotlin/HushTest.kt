// The Kotlin bindings through a real relay (scripts/test-kotlin): two users, 1:1 both ways,
// typed errors as exceptions, safety numbers, PQXDH remembered, a group.
// Written for Debian's Kotlin 1.3 and kotlinx-coroutines 1.0 (no trailing commas).
import hush.Client
import hush.EventRecord
import hush.EventType
import hush.HushException
import hush.SentState
import java.io.File
import kotlinx.coroutines.runBlocking

fun check(ok: Boolean, what: String) {
    if (!ok) throw AssertionError(what)
}

/** Receives until `want` events other than deliveries came, or 10 s passed; confirms them. */
suspend fun receiveSome(client: Client, want: Int): List<EventRecord> {
    val got = ArrayList<EventRecord>()
    val deadline = System.currentTimeMillis() + 10_000
    while (got.size < want && System.currentTimeMillis() < deadline) {
        val events = client.receive()
        got.addAll(events.filter { it.kind != EventType.DELIVERY })
        client.confirm(events.map { it.id })
        if (events.isEmpty()) Thread.sleep(100)
    }
    return got
}

fun main(args: Array<String>) = runBlocking {
    check(args.size == 2, "usage: HushTestKt RELAY_URL DIR")
    val relay = args[0]
    val dir = File(args[1])
    val alice = Client.create(File(dir, "alice.db").path, "pw alice", "Alice", relay)
    val bob = Client.create(File(dir, "bob.db").path, "pw bob", "Bob", relay)
    alice.addContact("bob", bob.card())
    bob.addContact("alice", alice.card())
    alice.start()
    bob.start()
    check(alice.safetyNumber("bob") == bob.safetyNumber("alice"), "safety numbers differ")

    val sent = alice.send("bob", "Hi Bob, from Kotlin")
    check(sent.state == SentState.STORED && sent.to == "bob", "not stored: $sent")
    check(alice.contacts()[0].offersPqxdh, "Bob's PQXDH offer not remembered")
    val got = receiveSome(bob, 1)
    check(got.size == 1 && got[0].kind == EventType.MESSAGE, "bob got $got")
    check(got[0].text == "Hi Bob, from Kotlin" && got[0].senderAlias == "alice", "bob got $got")
    bob.sendBytes("alice", byteArrayOf(0, 1, 2))
    val back = receiveSome(alice, 1)
    check(back.size == 1 && back[0].body.contentEquals(byteArrayOf(0, 1, 2)), "alice got $back")

    try {
        alice.send("nobody", "lost")
        throw AssertionError("a message to an unknown contact was accepted")
    } catch (e: HushException.UnknownContact) {
        check(e.message!!.contains("nobody"), "error message: ${e.message}")
    }
    try {
        Client.open(File(dir, "alice.db").path, "wrong")
        throw AssertionError("a wrong passphrase opened the store")
    } catch (e: HushException) {
        // WrongPassphrase, or Store while Alice's client still holds the store open.
    }

    alice.createGroup("team")
    alice.addMembers("team", listOf("bob"))
    val joined = receiveSome(bob, 1)
    check(joined.any { it.kind == EventType.JOINED && it.group == "team" }, "bob got $joined")
    alice.sendToGroup("team", "hello team")
    val said = receiveSome(bob, 1)
    check(
        said.any { it.kind == EventType.GROUP_MESSAGE && it.text == "hello team" && it.senderAlias == "alice" },
        "bob got $said"
    )

    alice.shutdown()
    bob.shutdown()
    alice.close()
    bob.close()
    println("kotlin: 1:1 both ways, errors, PQXDH memory and a group through $relay: ok")
}
