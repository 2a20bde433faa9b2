//! `--json`: every command that lists or reports prints one JSON object per line, with the
//! same facts as its human output.

mod common;

use common::{TestRelay, User};
use hush_cli::card::Card;
use hush_cli::state::fpr;
use serde_json::Value;

fn lines(out: &str) -> Vec<Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

fn one(out: &str) -> Value {
    let mut v = lines(out);
    assert_eq!(v.len(), 1, "{out}");
    v.remove(0)
}

#[test]
fn listing_and_reporting_commands_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let alice = User::new(dir.path(), "alice");
    let bob = User::new(dir.path(), "bob");
    let v = one(&alice.ok(&["--json", "init", "--relay", &relay.url, "--name", "Alice"]));
    let card = Card::parse(v["card"].as_str().unwrap()).unwrap();
    assert_eq!(v["fingerprint"], fpr(&card.identity).as_str());
    bob.init(&relay.url, "Bob");

    let v = one(&alice.ok(&["card", "--json"]));
    assert_eq!(v["version"], 2);
    assert_eq!(v["card"], alice.card().as_str());
    let v = one(&alice.ok(&["--json", "contact", "add", "bob", &bob.card()]));
    let bob_f = fpr(&Card::parse(&bob.card()).unwrap().identity);
    assert_eq!(v["alias"], "bob");
    assert_eq!(v["fingerprint"], bob_f.as_str());
    bob.ok(&["contact", "add", "alice", &alice.card()]);
    introduce_check(&alice, &bob_f);

    let v = one(&alice.ok(&["--json", "safety", "bob"]));
    let human = alice.ok(&["safety", "bob"]);
    assert_eq!(v["safety_number"], human.lines().next().unwrap());
    assert_eq!(v["session"], serde_json::Value::Null);

    let v = one(&alice.ok(&["--json", "send", "bob", "hi"]));
    let id = v["envelope_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    assert_eq!(
        one(&alice.ok(&["--json", "status", &id]))["status"],
        "stored"
    );
    // The first message fetched Bob's bundle: it offered PQXDH, and that is remembered.
    let list = lines(&alice.ok(&["--json", "contact", "list"]));
    assert_eq!(list[0]["session"], "PQXDH");
    assert_eq!(list[0]["offers_pqxdh"], true);

    alice.ok(&["group", "create", "team"]);
    let v = one(&alice.ok(&["--json", "group", "add", "team", "bob"]));
    assert_eq!(v["added"], serde_json::json!(["bob"]));
    let v = one(&alice.ok(&["--json", "group", "list"]));
    assert_eq!(v["group"], "team");
    assert_eq!(v["state"], "active");
    assert_eq!(v["members"].as_array().unwrap().len(), 2);
    let v = one(&alice.ok(&["--json", "group", "send", "team", "hello"]));
    assert_eq!(v["group"], "team");
    let events = lines(&bob.ok(&["--json", "recv"]));
    assert!(events.iter().any(|e| e["event"] == "joined"), "{events:?}");

    let backup = dir.path().join("alice.backup");
    let v = one(&alice.ok(&["--json", "backup", backup.to_str().unwrap()]));
    assert_eq!(v["contacts"], 1);
    assert_eq!(v["groups"], 1);
    let v = one(&alice.ok(&["--json", "contact", "remove", "bob"]));
    assert_eq!(v["fingerprint"], bob_f.as_str());
    assert!(alice.ok(&["--json", "contact", "list"]).trim().is_empty());
}

fn introduce_check(alice: &User, bob_f: &str) {
    let list = lines(&alice.ok(&["--json", "contact", "list"]));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["alias"], "bob");
    assert_eq!(list[0]["fingerprint"], bob_f);
    assert_eq!(list[0]["card_version"], 2);
    assert_eq!(list[0]["session"], serde_json::Value::Null);
    assert_eq!(list[0]["offers_pqxdh"], false);
}
