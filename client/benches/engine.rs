//! What a message costs the engine as the account grows: sending and receiving 1:1 messages
//! through a relay on 127.0.0.1 with an account of 1 contact against one of 10,000, on the
//! encrypted SQLite store, in the same run (alternating rounds), so the ratio is what counts.
//!
//! In the same rounds it measures the floor, what a message cannot cost less than, each part
//! on its own: a send is `Session::encrypt` + `envelope::seal` + two store commits + one SEND
//! (the relay fsyncs before its receipt); a receive per message is `envelope::open` +
//! `Session::decrypt` + one store commit + the FETCH and ACK of a page divided over it.
//!
//! `cargo bench -p hush-client --bench engine` (env `ROUNDS`, `MESSAGES` to change the size).

mod common;

use hush_client::store::{Batch, KeySource, MemoryStore, SqliteStore, Store, Table};
use hush_client::{Account, Engine, OutgoingState};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, SessionConfig};
use hush_relay::server::Relay;
use hush_relay_client::{Client, EnvelopeId, MailboxAddress};
use std::time::Instant;
use zeroize::Zeroizing;

fn main() {
    let rounds = common::env("ROUNDS", 3);
    let messages = common::env("MESSAGES", 200);
    let rt = common::runtime();
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let relay = Relay::start(common::relay_config(dir.path()))
            .await
            .expect("relay starts");
        let url = relay.url();
        let mut setups = Vec::new();
        for contacts in [1usize, 10_000] {
            let path = dir.path().join(format!("alice-{contacts}.db"));
            let store = SqliteStore::create(&path, KeySource::Key(&[7; 32])).expect("store");
            let account =
                Account::create(store, &mut rand::rng(), "Alice", url.clone()).expect("account");
            let mut alice = Engine::new(account).expect("engine");
            let bob_account =
                Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url.clone())
                    .expect("account");
            let mut bob = Engine::new(bob_account).expect("engine");
            let card = bob.account().card().encode().expect("card");
            let alice_card = alice.account().card().encode().expect("card");
            bob.account_mut()
                .add_contact("alice", &alice_card)
                .expect("contact");
            let mut book = vec![("bob".to_string(), card)];
            for i in 1..contacts {
                let other = Account::create(MemoryStore::new(), &mut rand::rng(), "X", url.clone())
                    .expect("account");
                book.push((format!("c{i}"), other.card().encode().expect("card")));
            }
            alice.account_mut().import_contacts(&book).expect("import");
            bob.receive().await.expect("bob publishes");
            // The session is started outside the measurement.
            alice.send("bob", b"warm-up").await.expect("send");
            bob.receive().await.expect("receive");
            setups.push((contacts, alice, bob));
        }
        // The floor's parts: a bare session pair, a store, a relay client on its own mailbox.
        let mut rng = rand::rng();
        let (ia, ib) = (
            IdentityKeyPair::generate(&mut rng),
            IdentityKeyPair::generate(&mut rng),
        );
        let mut pk = PreKeyStore::new();
        let spk = pk.rotate_signed_prekey(&mut rng, &ib);
        let bundle = PreKeyBundle::new(spk, None);
        let mut sa = Session::initiate(&mut rng, &ia, &bundle, SessionConfig::default()).expect("x3dh");
        let first = sa.encrypt(&mut rng, b"hi").expect("encrypt");
        let (mut sb, _) =
            Session::respond(&mut rng, &ib, &mut pk, &first, SessionConfig::default()).expect("x3dh");
        let reply = sb.encrypt(&mut rng, b"hi").expect("encrypt");
        sa.decrypt(&mut rng, &reply).expect("decrypt");
        let mut floor_store =
            SqliteStore::create(&dir.path().join("floor.db"), KeySource::Key(&[7; 32])).expect("store");
        let client = Client::connect(&url).await.expect("connect");
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let mailbox: MailboxAddress = client.authenticate(&key).await.expect("auth");
        let (mut enc, mut dec, mut commit, mut sendv, mut fetch) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());

        let body = vec![b'x'; 256];
        let mut send: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
        let mut recv: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
        for _ in 0..rounds {
            // Floor parts, same round.
            let t = Instant::now();
            let mut sealed = Vec::with_capacity(messages);
            for _ in 0..messages {
                let m = sa.encrypt(&mut rng, &body).expect("encrypt");
                sealed.push(
                    envelope::seal(&mut rng, &ia, ib.public(), ContentKind::SessionMessage, &m, &[0; 180])
                        .expect("seal"),
                );
            }
            enc.push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
            let t = Instant::now();
            for e in &sealed {
                let c = envelope::open(&ib, e).expect("open");
                sb.decrypt(&mut rng, &c.payload).expect("decrypt");
            }
            dec.push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
            let t = Instant::now();
            for (k, e) in sealed.iter().enumerate() {
                let mut b = Batch::new();
                b.put(Table::Outbox, (k as u64).to_be_bytes().to_vec(), Zeroizing::new(e.clone()));
                floor_store.commit(b).expect("commit");
            }
            commit.push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
            let t = Instant::now();
            for e in &sealed {
                let id = EnvelopeId::new(rand::random::<[u8; 16]>().to_vec()).expect("id");
                client.send(&mailbox, &id, e.clone()).await.expect("send");
            }
            sendv.push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
            let t = Instant::now();
            let mut read = 0;
            while read < messages {
                let page = client.fetch(&mailbox, 0, 0).await.expect("fetch");
                if page.envelopes.is_empty() {
                    break;
                }
                read += page.envelopes.len();
                let acks: Vec<u64> = page.envelopes.iter().map(|e| e.seq).collect();
                client.ack(&mailbox, &acks).await.expect("ack");
            }
            fetch.push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
            for (i, (_, alice, bob)) in setups.iter_mut().enumerate() {
                let t = Instant::now();
                for _ in 0..messages {
                    let o = alice.send("bob", &body).await.expect("send");
                    assert!(matches!(o.state, OutgoingState::Stored(_)), "{o:?}");
                }
                send[i].push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
                let t = Instant::now();
                let got = bob.receive().await.expect("receive");
                recv[i].push(t.elapsed().as_secs_f64() * 1e6 / messages as f64);
                assert_eq!(got.len(), messages);
                let ids: Vec<u64> = got.iter().map(|e| e.id).collect();
                bob.confirm(&ids).expect("confirm");
            }
        }
        println!("engine, 1:1, 256 B, {messages} messages x {rounds} rounds (median of rounds)");
        println!("contacts | send µs/msg | receive µs/msg");
        for (i, (contacts, _, _)) in setups.iter().enumerate() {
            println!(
                "{contacts:>8} | {:>11.0} | {:>14.0}",
                common::median(send[i].clone()),
                common::median(recv[i].clone())
            );
        }
        let (enc, dec, commit, sendv, fetch) = (
            common::median(enc),
            common::median(dec),
            common::median(commit),
            common::median(sendv),
            common::median(fetch),
        );
        let send_floor = enc + 2.0 * commit + sendv;
        let recv_floor = dec + commit + fetch;
        println!(
            "floor parts µs/msg: encrypt+seal {enc:.0}, open+decrypt {dec:.0}, store commit {commit:.0}, SEND {sendv:.0}, FETCH+ACK {fetch:.1}"
        );
        println!("floor µs/msg: send {send_floor:.0}, receive {recv_floor:.0}");
        for (i, (contacts, _, _)) in setups.iter().enumerate() {
            println!(
                "{contacts:>8} contacts: send {:.2}x floor, receive {:.2}x floor",
                common::median(send[i].clone()) / send_floor,
                common::median(recv[i].clone()) / recv_floor
            );
        }
        println!(
            "ratio 10,000 / 1 contacts: send {:.2}x, receive {:.2}x",
            common::median(send[1].clone()) / common::median(send[0].clone()),
            common::median(recv[1].clone()) / common::median(recv[0].clone())
        );
        relay.shutdown().await.expect("relay stops");
    });
}
