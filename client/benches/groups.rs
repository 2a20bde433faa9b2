//! What a group message costs the engine, against the operations it is made of, and as the
//! account's groups grow: Alice sends 256-byte messages to a group of two (Alice, Bob) and
//! Bob receives them, with accounts of 1 group and of 100 groups, on the encrypted SQLite
//! store, through a relay on 127.0.0.1, in the same run (alternating rounds). Then the same
//! for one group of `MEMBERS` (100) members: Alice sends, one member receives.
//!
//! The floor is what the engine cannot avoid, done by a bare sender and receiver on a bare
//! group of the same size (`GroupClient`, the same store, a relay client on a log of its
//! own), in the same rounds. A send's floor: message after message, one fetch of the log
//! that finds nothing (the engine reads the log before sending), `GroupClient::encrypt`, one
//! store commit of the message with the group's new state (what `take_changes` gives), one
//! append, one commit that moves the message to `sent`. Each part is also measured in a
//! loop of its own, and their sum printed: it comes out lower than the same operations one
//! after the other (interleaved, each request goes out on a connection that sat idle through
//! a commit). A receive's floor, per message: reading the log page by page, decrypting each
//! entry, one store commit per page (its plaintexts with the group's new state).
//!
//! Every figure is given in wall-clock time and in the CPU time of the whole process
//! (engine, relay and store: `cpu-time`'s process clock), which holds better on a machine
//! others are using.
//!
//! `cargo bench -p hush-client --bench groups` (env `ROUNDS`, `MESSAGES`, `MEMBERS`).

mod common;

use cpu_time::ProcessTime;
use hush_client::store::{Batch, KeySource, MemoryStore, SqliteStore, Store, Table};
use hush_client::{Account, Engine, OutgoingState};
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupChanges, GroupClient, GroupConfig, GroupEvent};
use hush_relay::server::Relay;
use hush_relay_client::{Client, GroupId, GroupMessageKind, RelayUrl};
use std::path::Path;
use std::time::Instant;
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

/// A cost per message, µs: wall-clock time, and the CPU time of the whole process (engine,
/// relay and store together), which holds better than wall time on a busy machine.
#[derive(Clone, Copy, Default)]
struct Cost {
    wall: f64,
    cpu: f64,
}

impl std::ops::Add for Cost {
    type Output = Cost;
    fn add(self, o: Cost) -> Cost {
        Cost {
            wall: self.wall + o.wall,
            cpu: self.cpu + o.cpu,
        }
    }
}

impl std::ops::Mul<Cost> for f64 {
    type Output = Cost;
    fn mul(self, c: Cost) -> Cost {
        Cost {
            wall: self * c.wall,
            cpu: self * c.cpu,
        }
    }
}

/// When a measured part started.
struct Mark {
    wall: Instant,
    cpu: ProcessTime,
}

impl Mark {
    fn now() -> Mark {
        Mark {
            wall: Instant::now(),
            cpu: ProcessTime::now(),
        }
    }

    /// The cost per message of `n` messages since the mark.
    fn per(&self, n: usize) -> Cost {
        Cost {
            wall: self.wall.elapsed().as_secs_f64() * 1e6 / n as f64,
            cpu: self.cpu.elapsed().as_secs_f64() * 1e6 / n as f64,
        }
    }
}

/// The median of each of wall and CPU time over the rounds.
fn median(v: &[Cost]) -> Cost {
    let med = |mut x: Vec<f64>| {
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    Cost {
        wall: med(v.iter().map(|c| c.wall).collect()),
        cpu: med(v.iter().map(|c| c.cpu).collect()),
    }
}

/// The floor, measured part by part on a bare group of `members` (openmls through
/// `GroupClient`, the same SQLite store, a relay client on a group log of its own).
struct Floor {
    ga: GroupClient,
    gb: GroupClient,
    gid: hush_protocol::group::GroupId,
    store: SqliteStore,
    client: Client,
    log: GroupId,
    /// The log is read from where the last round stopped.
    cursor: u64,
    /// Where the bare sender's next append lands.
    send_cursor: u64,
    /// Per round: encrypt, store commit, append, receive, empty fetch, sequential send.
    rounds: Vec<[Cost; 6]>,
}

impl Floor {
    async fn new(url: &RelayUrl, dir: &Path, members: usize, log: u8) -> Floor {
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
        let path = dir.join(format!("floor-{members}.db"));
        Floor {
            ga,
            gb,
            gid,
            store: SqliteStore::create(&path, KeySource::Key(&[7; 32])).expect("store"),
            client: Client::connect(url).await.expect("connect"),
            log: GroupId::new(vec![log; 32]).expect("log id"),
            cursor: 0,
            send_cursor: 0,
            rounds: Vec::new(),
        }
    }

    /// One round of `messages`, each part on its own.
    async fn round(&mut self, messages: usize, body: &[u8]) {
        let mut rng = rand::rng();
        let t = Mark::now();
        let (cts, states): (Vec<Vec<u8>>, Vec<GroupChanges>) = (0..messages)
            .map(|_| {
                let ct = self.ga.encrypt(&mut rng, &self.gid, body).expect("encrypt");
                (ct, self.ga.take_changes().expect("changes"))
            })
            .unzip();
        let enc = t.per(messages);
        let t = Mark::now();
        for (k, (ct, state)) in cts.iter().zip(states).enumerate() {
            let mut b = Batch::new();
            b.put(
                Table::Outbox,
                (k as u64).to_be_bytes().to_vec(),
                Zeroizing::new(ct.clone()),
            );
            put_state(&mut b, state);
            self.store.commit(b).expect("commit");
        }
        let commit = t.per(messages);
        let t = Mark::now();
        for ct in &cts {
            let r = self
                .client
                .group_append(
                    &self.log,
                    0,
                    GroupMessageKind::Application,
                    ct.clone(),
                    Vec::new(),
                )
                .await
                .expect("append");
            self.send_cursor = r.seq + 1;
        }
        let append = t.per(messages);
        // A bare sender doing, message after message, what the engine's send must: read the
        // log (nothing new), encrypt, commit the message with the group's new state, append,
        // commit its move to `sent`. Summing the parts above, each measured in a loop of its
        // own, misses what interleaving them costs (acknowledgements the network stack sends
        // on their own instead of with the next request, caches gone cold).
        let t = Mark::now();
        for k in 0..messages {
            let page = self
                .client
                .group_fetch(&self.log, self.send_cursor, 0)
                .await
                .expect("fetch");
            assert!(page.entries.is_empty());
            let ct = self.ga.encrypt(&mut rng, &self.gid, body).expect("encrypt");
            let key = (k as u64 | 1 << 63).to_be_bytes().to_vec();
            let mut b = Batch::new();
            b.put(Table::Outbox, key.clone(), Zeroizing::new(ct.clone()));
            put_state(&mut b, self.ga.take_changes().expect("changes"));
            self.store.commit(b).expect("commit");
            let r = self
                .client
                .group_append(&self.log, 0, GroupMessageKind::Application, ct, Vec::new())
                .await
                .expect("append");
            let mut b = Batch::new();
            b.delete(Table::Outbox, key.clone()).put(
                Table::Sent,
                key,
                Zeroizing::new(r.seq.to_be_bytes().to_vec()),
            );
            self.store.commit(b).expect("commit");
            self.send_cursor = r.seq + 1;
        }
        let sequential = t.per(messages);
        let t = Mark::now();
        self.cursor = floor_receive(
            &self.client,
            &self.log,
            self.cursor,
            2 * messages,
            &mut self.gb,
            &self.gid,
            &mut self.store,
        )
        .await;
        let receive = t.per(2 * messages);
        let t = Mark::now();
        for _ in 0..messages {
            let page = self
                .client
                .group_fetch(&self.log, self.cursor, 0)
                .await
                .expect("fetch");
            assert!(page.entries.is_empty());
        }
        let tail = t.per(messages);
        self.rounds
            .push([enc, commit, append, receive, tail, sequential]);
    }

    /// Median of the rounds, per part.
    fn part(&self, i: usize) -> Cost {
        median(&self.rounds.iter().map(|r| r[i]).collect::<Vec<_>>())
    }

    /// What a send cannot cost less than, summed from parts measured each in a loop of its
    /// own: encrypt, one fetch that finds nothing, two commits (the queued message with the
    /// group's new state, then its move to `sent`), one append.
    fn send_parts(&self) -> Cost {
        self.part(0) + self.part(4) + 2.0 * self.part(1) + self.part(2)
    }

    /// What a send cannot cost less than: the same operations done by a bare sender message
    /// after message.
    fn send(&self) -> Cost {
        self.part(5)
    }

    /// What a receive cannot cost less than, per message.
    fn receive(&self) -> Cost {
        self.part(3)
    }

    fn print_parts(&self) {
        let [enc, commit, append, receive, tail] = [0, 1, 2, 3, 4].map(|i| self.part(i));
        println!(
            "floor parts µs/msg (wall, cpu): encrypt {:.0}, {:.0}; store commit {:.0}, {:.0}; append {:.0}, {:.0}; empty fetch {:.0}, {:.0}; receive {:.0}, {:.0} (page fetch, decrypt, one commit per page)",
            enc.wall,
            enc.cpu,
            commit.wall,
            commit.cpu,
            append.wall,
            append.cpu,
            tail.wall,
            tail.cpu,
            receive.wall,
            receive.cpu
        );
        let (p, s, r) = (self.send_parts(), self.send(), self.receive());
        println!(
            "floor µs/msg (wall, cpu): send {:.0}, {:.0} (sum of the parts: {:.0}, {:.0}); receive {:.0}, {:.0}",
            s.wall, s.cpu, p.wall, p.cpu, r.wall, r.cpu
        );
    }
}

/// One line of the table: the engine's cost against the floor's, wall and CPU.
fn row(label: &str, send: &[Cost], recv: &[Cost], floor: &Floor) {
    let (s, r, fs, fr) = (median(send), median(recv), floor.send(), floor.receive());
    println!(
        "{label:>14} | {:>6.0} {:>5.2}x | {:>6.0} {:>5.2}x | {:>6.0} {:>5.2}x | {:>6.0} {:>5.2}x",
        s.wall,
        s.wall / fs.wall,
        s.cpu,
        s.cpu / fs.cpu,
        r.wall,
        r.wall / fr.wall,
        r.cpu,
        r.cpu / fr.cpu
    );
}

fn header() {
    println!(
        "{:>14} | send wall / floor | send cpu / floor | recv wall / floor | recv cpu / floor",
        "µs per message"
    );
}

/// Sends `messages` from `alice` to group `group` and receives them on `bob`: the cost of
/// each per message.
async fn engine_round(
    alice: &mut Engine<SqliteStore>,
    bob: &mut Engine<SqliteStore>,
    group: &str,
    messages: usize,
    body: &[u8],
) -> (Cost, Cost) {
    let t = Mark::now();
    for _ in 0..messages {
        let o = alice.send_to_group(group, body).await.expect("send");
        assert!(matches!(o.state, OutgoingState::InLog { .. }), "{o:?}");
    }
    let send = t.per(messages);
    let t = Mark::now();
    let got = bob.receive().await.expect("receive");
    let recv = t.per(messages);
    assert_eq!(got.len(), messages);
    bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
        .expect("confirm");
    (send, recv)
}

type Pair = (Engine<SqliteStore>, Engine<SqliteStore>);

fn sqlite(dir: &Path, name: &str) -> SqliteStore {
    SqliteStore::create(&dir.join(format!("{name}.db")), KeySource::Key(&[7; 32])).expect("store")
}

fn main() {
    let rounds = common::env("ROUNDS", 3);
    let messages = common::env("MESSAGES", 200);
    let members = common::env("MEMBERS", 100);
    let rt = common::runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(common::relay_config(dir.path()))
            .await
            .expect("relay starts");
        let url = relay.url();
        let mut setups: Vec<(usize, Pair)> = Vec::new();
        for groups in [1usize, 100] {
            let a = Account::create(
                sqlite(dir.path(), &format!("alice-{groups}")),
                &mut rand::rng(),
                "Alice",
                url.clone(),
            );
            let mut alice = Engine::new(a.expect("account")).expect("engine");
            let b = Account::create(
                sqlite(dir.path(), &format!("bob-{groups}")),
                &mut rand::rng(),
                "Bob",
                url.clone(),
            );
            let mut bob = Engine::new(b.expect("account")).expect("engine");
            let bob_card = bob.account().card().encode().expect("card");
            let alice_card = alice.account().card().encode().expect("card");
            alice
                .account_mut()
                .add_contact("bob", &bob_card)
                .expect("contact");
            bob.account_mut()
                .add_contact("alice", &alice_card)
                .expect("contact");
            bob.receive().await.expect("bob publishes");
            for g in 0..groups {
                let name = format!("g{g}");
                alice.create_group(&name).expect("group");
                alice.add_members(&name, &["bob"]).await.expect("add");
                // Bob joins as he goes (his KeyPackages are refilled on each receive).
                bob.receive().await.expect("join");
            }
            let ids: Vec<u64> = bob
                .pending_events()
                .expect("events")
                .iter()
                .map(|e| e.id)
                .collect();
            bob.confirm(&ids).expect("confirm");
            alice.send_to_group("g0", b"warm-up").await.expect("send");
            let got = bob.receive().await.expect("receive");
            bob.confirm(&got.iter().map(|e| e.id).collect::<Vec<_>>())
                .expect("confirm");
            setups.push((groups, (alice, bob)));
        }
        let (mut big_alice, mut big_bob) = big_group(&url, dir.path(), members).await;
        let mut floor2 = Floor::new(&url, dir.path(), 2, 9).await;
        let mut floor_big = Floor::new(&url, dir.path(), members, 10).await;

        let body = vec![b'x'; 256];
        let n = setups.len();
        let (mut send, mut recv) = (vec![Vec::new(); n + 1], vec![Vec::new(); n + 1]);
        for _ in 0..rounds {
            for (i, (_, (alice, bob))) in setups.iter_mut().enumerate() {
                let (s, r) = engine_round(alice, bob, "g0", messages, &body).await;
                send[i].push(s);
                recv[i].push(r);
            }
            floor2.round(messages, &body).await;
            let (s, r) = engine_round(&mut big_alice, &mut big_bob, "big", messages, &body).await;
            send[n].push(s);
            recv[n].push(r);
            floor_big.round(messages, &body).await;
        }
        println!("group of 2, 256 B, {messages} messages x {rounds} rounds (median of rounds)");
        floor2.print_parts();
        header();
        for (i, (groups, _)) in setups.iter().enumerate() {
            row(&format!("{groups} group(s)"), &send[i], &recv[i], &floor2);
        }
        let ratio = |v: &[Cost], w: &[Cost]| median(v).wall / median(w).wall;
        println!(
            "ratio 100 / 1 groups (wall): send {:.2}x, receive {:.2}x",
            ratio(&send[1], &send[0]),
            ratio(&recv[1], &recv[0])
        );
        println!(
            "group of {members}, 256 B, {messages} messages x {rounds} rounds (median of rounds)"
        );
        floor_big.print_parts();
        header();
        row(
            &format!("{members} members"),
            &send[n],
            &recv[n],
            &floor_big,
        );
        relay.shutdown().await.expect("relay stops");
    });
}

/// A group of `members` made by Alice's engine, with Bob's engine in it (the other members
/// are engines on memory stores, shut down once they published their KeyPackages).
async fn big_group(url: &RelayUrl, dir: &Path, members: usize) -> Pair {
    let a = Account::create(
        sqlite(dir, "alice-big"),
        &mut rand::rng(),
        "Alice",
        url.clone(),
    );
    let mut alice = Engine::new(a.expect("account")).expect("engine");
    let b = Account::create(sqlite(dir, "bob-big"), &mut rand::rng(), "Bob", url.clone());
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
    (alice, bob)
}
