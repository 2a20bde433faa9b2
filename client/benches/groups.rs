//! What a group message costs the engine, against the operations it is made of, and as the
//! account's groups grow: Alice sends 256-byte messages to a group of two (Alice, Bob) and
//! Bob receives them, with accounts of 1 group and of 100 groups, on the encrypted SQLite
//! store, through a relay on 127.0.0.1, in the same run (alternating rounds).
//!
//! The floor of a send is what the engine cannot avoid, each part measured in the same round:
//! the MLS encryption (`GroupClient::encrypt`, on a separate pair), the read of the group's
//! log before sending (one fetch that finds nothing new), two commits of the store (the
//! queued message with the group's new state, which the bare client's `take_changes` gives,
//! then its move to `sent`) and one append to a
//! group log through the relay client. The floor of a receive, per message: reading the log
//! page by page, the MLS decryption of each entry, and one store commit per page (its
//! plaintexts with the group's new state), as a receiver must save a page before it moves its
//! cursor.
//!
//! Then the same for one group of `MEMBERS` (100) members: Alice sends, one member receives,
//! against the floor measured the same way on a bare group of that size.
//!
//! `cargo bench -p hush-client --bench groups` (env `ROUNDS`, `MESSAGES`, `MEMBERS`).

use hush_client::store::{Batch, KeySource, SqliteStore, Store, Table};
use hush_client::{Account, Engine, OutgoingState};
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupChanges, GroupClient, GroupConfig, GroupEvent};
use hush_relay::server::{Relay, RelayConfig};
use hush_relay_client::{Client, GroupId, GroupMessageKind};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Adds what a bare MLS client must persist after an operation (its changed records) to `b`,
/// as the engine does: the floor's commit writes the message with the group's new state.
fn put_state(b: &mut Batch, c: GroupChanges) {
    for (k, v) in c.entries {
        match v {
            Some(v) => b.put(Table::GroupEntries, k, v),
            None => b.delete(Table::GroupEntries, k),
        };
    }
    for (g, v) in c.groups {
        match v {
            Some(v) => b.put(Table::GroupStates, g.as_slice().to_vec(), v),
            None => b.delete(Table::GroupStates, g.as_slice().to_vec()),
        };
    }
}

/// The floor of a receive: reads `messages` entries of `log` from `cursor` page by page,
/// decrypts each with the bare client `gb`, and commits each page once, its plaintexts with
/// the client's new state (what a receiver must save before it moves its cursor). The new
/// cursor.
async fn floor_receive(
    client: &Client,
    log: &GroupId,
    mut cursor: u64,
    messages: usize,
    gb: &mut GroupClient,
    gid: &hush_protocol::group::GroupId,
    store: &mut SqliteStore,
) -> u64 {
    let mut rng = rand::rng();
    let mut read = 0usize;
    while read < messages {
        let page = client.group_fetch(log, cursor, 0).await.expect("fetch");
        if page.entries.is_empty() {
            break;
        }
        let mut b = Batch::new();
        for e in &page.entries {
            for ev in gb.process(&mut rng, gid, &e.message).expect("decrypt") {
                if let GroupEvent::Application { plaintext, .. } = ev {
                    b.put(
                        Table::Events,
                        e.seq.to_be_bytes().to_vec(),
                        Zeroizing::new(plaintext),
                    );
                }
            }
        }
        put_state(&mut b, gb.take_changes().expect("changes"));
        store.commit(b).expect("commit");
        read += page.entries.len();
        cursor = page.next_cursor;
    }
    assert_eq!(read, messages, "the floor read every message");
    cursor
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn us_per(t: Instant, n: usize) -> f64 {
    t.elapsed().as_secs_f64() * 1e6 / n as f64
}

type Pair = (Engine<SqliteStore>, Engine<SqliteStore>);

fn main() {
    let rounds = env("ROUNDS", 3);
    let messages = env("MESSAGES", 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(RelayConfig {
            listen: "127.0.0.1:0".parse().expect("addr"),
            data_dir: dir.path().join("relay"),
            rate_limit_per_sec: 1e9,
            rate_limit_burst: 1e9,
            shutdown_grace: Duration::from_secs(5),
            ..RelayConfig::default()
        })
        .await
        .expect("relay starts");
        let url = relay.url();
        let mut setups: Vec<(usize, Pair)> = Vec::new();
        for groups in [1usize, 100] {
            let store = |n: &str| {
                let path = dir.path().join(format!("{n}-{groups}.db"));
                SqliteStore::create(&path, KeySource::Key(&[7; 32])).expect("store")
            };
            let a = Account::create(store("alice"), &mut rand::rng(), "Alice", url.clone());
            let mut alice = Engine::new(a.expect("account")).expect("engine");
            let b = Account::create(store("bob"), &mut rand::rng(), "Bob", url.clone());
            let mut bob = Engine::new(b.expect("account")).expect("engine");
            let bob_card = bob.account().card().encode().expect("card");
            let alice_card = alice.account().card().encode().expect("card");
            alice.account_mut().add_contact("bob", &bob_card).expect("contact");
            bob.account_mut().add_contact("alice", &alice_card).expect("contact");
            bob.receive().await.expect("bob publishes");
            for g in 0..groups {
                let name = format!("g{g}");
                alice.create_group(&name).expect("group");
                alice.add_members(&name, &["bob"]).await.expect("add");
                // Bob joins as he goes (his KeyPackages are refilled on each receive).
                bob.receive().await.expect("join");
            }
            let ids: Vec<u64> = bob.pending_events().expect("events").iter().map(|e| e.id).collect();
            bob.confirm(&ids).expect("confirm");
            alice.send_to_group("g0", b"warm-up").await.expect("send");
            let got = bob.receive().await.expect("receive");
            bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>()).expect("confirm");
            setups.push((groups, (alice, bob)));
        }

        // The floor's parts: a bare MLS pair, a store, a relay client on another group log.
        let mut rng = rand::rng();
        let (ia, ib) = (IdentityKeyPair::generate(&mut rng), IdentityKeyPair::generate(&mut rng));
        let mut ga = GroupClient::new(&ia, GroupConfig::default()).expect("client");
        let mut gb = GroupClient::new(&ib, GroupConfig::default()).expect("client");
        let kp = gb.generate_key_packages(&mut rng, 1).expect("kp").remove(0);
        let gid = ga.create_group(&mut rng).expect("group");
        let add = ga.add_members(&mut rng, &gid, &[&kp]).expect("add");
        ga.confirm_commit(&mut rng, &gid).expect("confirm");
        gb.join(&mut rng, &add.welcome_for(0).expect("welcome"), None).expect("join");
        ga.take_changes().expect("changes");
        let mut floor_store = SqliteStore::create(&dir.path().join("floor.db"), KeySource::Key(&[7; 32]))
            .expect("store");
        let client = Client::connect(&url).await.expect("connect");
        let log = GroupId::new(vec![9; 32]).expect("log id");

        let body = vec![b'x'; 256];
        let n = setups.len();
        let (mut send, mut recv) = (vec![Vec::new(); n], vec![Vec::new(); n]);
        let (mut enc, mut commit, mut append, mut receive, mut tail) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // The floor's log is read from where the last round stopped.
        let mut cursor = 0;
        for _ in 0..rounds {
            for (i, (_, (alice, bob))) in setups.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..messages {
                    let o = alice.send_to_group("g0", &body).await.expect("send");
                    assert!(matches!(o.state, OutgoingState::InLog { .. }), "{o:?}");
                }
                send[i].push(us_per(t, messages));
                let t = Instant::now();
                let got = bob.receive().await.expect("receive");
                recv[i].push(us_per(t, messages));
                assert_eq!(got.len(), messages);
                bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>()).expect("confirm");
            }
            // Floor parts, same round.
            let mut cts = Vec::with_capacity(messages);
            let mut states = Vec::with_capacity(messages);
            let t = Instant::now();
            for _ in 0..messages {
                cts.push(ga.encrypt(&mut rng, &gid, &body).expect("encrypt"));
                states.push(ga.take_changes().expect("changes"));
            }
            enc.push(us_per(t, messages));
            let t = Instant::now();
            for (k, (ct, state)) in cts.iter().zip(states).enumerate() {
                let mut b = Batch::new();
                b.put(Table::Outbox, (k as u64).to_be_bytes().to_vec(), Zeroizing::new(ct.clone()));
                put_state(&mut b, state);
                floor_store.commit(b).expect("commit");
            }
            commit.push(us_per(t, messages));
            let t = Instant::now();
            for ct in &cts {
                client
                    .group_append(&log, 0, GroupMessageKind::Application, ct.clone(), Vec::new())
                    .await
                    .expect("append");
            }
            append.push(us_per(t, messages));
            let t = Instant::now();
            cursor = floor_receive(&client, &log, cursor, messages, &mut gb, &gid, &mut floor_store).await;
            receive.push(us_per(t, messages));
            let t = Instant::now();
            for _ in 0..messages {
                let page = client.group_fetch(&log, cursor, 0).await.expect("fetch");
                assert!(page.entries.is_empty());
            }
            tail.push(us_per(t, messages));
        }
        let (enc, commit, append, recv_floor, tail) =
            (median(enc), median(commit), median(append), median(receive), median(tail));
        let send_floor = enc + tail + 2.0 * commit + append;
        println!("engine, group of 2, 256 B, {messages} messages x {rounds} rounds (median of rounds)");
        println!(
            "floor parts µs/msg: encrypt {enc:.0}, store commit {commit:.0}, append {append:.0}, fetch {tail:.0} (one that finds nothing); receive {recv_floor:.0} (page fetch, decrypt, one commit per page)"
        );
        println!("floor µs/msg: send {send_floor:.0}, receive {recv_floor:.0}");
        println!("groups | send µs/msg | / floor | receive µs/msg | / floor");
        for (i, (groups, _)) in setups.iter().enumerate() {
            let (s, r) = (median(send[i].clone()), median(recv[i].clone()));
            println!(
                "{groups:>6} | {s:>11.0} | {:>6.2}x | {r:>14.0} | {:>6.2}x",
                s / send_floor,
                r / recv_floor
            );
        }
        println!(
            "ratio 100 / 1 groups: send {:.2}x, receive {:.2}x",
            median(send[1].clone()) / median(send[0].clone()),
            median(recv[1].clone()) / median(recv[0].clone())
        );
        let members = env("MEMBERS", 100);
        big_group(&url, dir.path(), rounds, messages, members).await;
        relay.shutdown().await.expect("relay stops");
    });
}

/// A group of `members`: Alice's engine sends, one member's engine receives, and the floor is
/// measured on a bare group of the same size, in the same rounds.
async fn big_group(
    url: &hush_relay_client::RelayUrl,
    dir: &std::path::Path,
    rounds: usize,
    messages: usize,
    members: usize,
) {
    use hush_client::store::MemoryStore;
    let store = |n: &str| {
        SqliteStore::create(&dir.join(format!("{n}-big.db")), KeySource::Key(&[7; 32]))
            .expect("store")
    };
    let a = Account::create(store("alice"), &mut rand::rng(), "Alice", url.clone());
    let mut alice = Engine::new(a.expect("account")).expect("engine");
    let b = Account::create(store("bob"), &mut rand::rng(), "Bob", url.clone());
    let mut bob = Engine::new(b.expect("account")).expect("engine");
    let mut aliases = Vec::new();
    let card = bob.account().card().encode().expect("card");
    alice
        .account_mut()
        .add_contact("m0", &card)
        .expect("contact");
    bob.receive().await.expect("publish");
    aliases.push("m0".to_string());
    for i in 1..members.saturating_sub(1) {
        let m = Account::create(MemoryStore::new(), &mut rand::rng(), "M", url.clone());
        let mut m = Engine::new(m.expect("account")).expect("engine");
        m.receive().await.expect("publish");
        let card = m.account().card().encode().expect("card");
        alice
            .account_mut()
            .add_contact(&format!("m{i}"), &card)
            .expect("contact");
        aliases.push(format!("m{i}"));
        m.shutdown().await;
    }
    alice.create_group("big").expect("group");
    let refs: Vec<&str> = aliases.iter().map(String::as_str).collect();
    alice.add_members("big", &refs).await.expect("add");
    bob.receive().await.expect("join");
    let events = bob.pending_events().expect("events");
    bob.confirm(&events.iter().map(|e| e.id).collect::<Vec<_>>())
        .expect("confirm");
    alice.send_to_group("big", b"warm-up").await.expect("send");
    let got = bob.receive().await.expect("receive");
    bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
        .expect("confirm");
    assert_eq!(alice.group("big").expect("group").members.len(), members);

    // The bare group of the same size.
    let mut rng = rand::rng();
    let ia = IdentityKeyPair::generate(&mut rng);
    let mut ga = GroupClient::new(&ia, GroupConfig::default()).expect("client");
    let mut others: Vec<GroupClient> = (1..members)
        .map(|_| {
            let id = IdentityKeyPair::generate(&mut rng);
            GroupClient::new(&id, GroupConfig::default()).expect("client")
        })
        .collect();
    let kps: Vec<Vec<u8>> = others
        .iter_mut()
        .map(|c| c.generate_key_packages(&mut rng, 1).expect("kp").remove(0))
        .collect();
    let gid = ga.create_group(&mut rng).expect("group");
    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
    let add = ga.add_members(&mut rng, &gid, &refs).expect("add");
    ga.confirm_commit(&mut rng, &gid).expect("confirm");
    let mut gb = others.swap_remove(0);
    gb.join(&mut rng, &add.welcome_for(0).expect("welcome"), None)
        .expect("join");
    // What the bare client wrote so far is not part of a message's cost.
    ga.take_changes().expect("changes");
    let mut floor_store =
        SqliteStore::create(&dir.join("floor-big.db"), KeySource::Key(&[7; 32])).expect("store");
    let client = Client::connect(url).await.expect("connect");
    let log = GroupId::new(vec![10; 32]).expect("log id");

    let body = vec![b'x'; 256];
    let (mut send, mut recv, mut enc, mut commit, mut append, mut receive, mut tail) = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    let mut cursor = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..messages {
            alice.send_to_group("big", &body).await.expect("send");
        }
        send.push(us_per(t, messages));
        let t = Instant::now();
        let got = bob.receive().await.expect("receive");
        recv.push(us_per(t, messages));
        assert_eq!(got.len(), messages);
        bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
            .expect("confirm");

        let t = Instant::now();
        let (cts, states): (Vec<Vec<u8>>, Vec<GroupChanges>) = (0..messages)
            .map(|_| {
                let ct = ga.encrypt(&mut rng, &gid, &body).expect("encrypt");
                (ct, ga.take_changes().expect("changes"))
            })
            .unzip();
        enc.push(us_per(t, messages));
        let t = Instant::now();
        for (k, (ct, state)) in cts.iter().zip(states).enumerate() {
            let mut b = Batch::new();
            b.put(
                Table::Outbox,
                (k as u64).to_be_bytes().to_vec(),
                Zeroizing::new(ct.clone()),
            );
            put_state(&mut b, state);
            floor_store.commit(b).expect("commit");
        }
        commit.push(us_per(t, messages));
        let t = Instant::now();
        for ct in &cts {
            client
                .group_append(
                    &log,
                    0,
                    GroupMessageKind::Application,
                    ct.clone(),
                    Vec::new(),
                )
                .await
                .expect("append");
        }
        append.push(us_per(t, messages));
        let t = Instant::now();
        cursor = floor_receive(
            &client,
            &log,
            cursor,
            messages,
            &mut gb,
            &gid,
            &mut floor_store,
        )
        .await;
        receive.push(us_per(t, messages));
        let t = Instant::now();
        for _ in 0..messages {
            client.group_fetch(&log, cursor, 0).await.expect("fetch");
        }
        tail.push(us_per(t, messages));
    }
    let (enc, commit, append, recv_floor, tail) = (
        median(enc),
        median(commit),
        median(append),
        median(receive),
        median(tail),
    );
    let send_floor = enc + tail + 2.0 * commit + append;
    let (s, r) = (median(send), median(recv));
    println!("group of {members}, 256 B, {messages} messages x {rounds} rounds (median of rounds)");
    println!(
        "floor parts µs/msg: encrypt {enc:.0}, store commit {commit:.0}, append {append:.0}, empty fetch {tail:.0}; receive {recv_floor:.0} (page fetch, decrypt, one commit per page)"
    );
    println!(
        "send {s:.0} µs/msg = {:.2}x floor {send_floor:.0}; receive {r:.0} µs/msg = {:.2}x floor {recv_floor:.0}",
        s / send_floor,
        r / recv_floor
    );
}
