//! The `hush` CLI and the `hush-client` engine speak the same protocol: a CLI home and an
//! engine account exchange cards and messages both ways through one relay, each starting the
//! session from the other's sealed directory.

mod common;

use common::{TestRelay, User, messages};
use hush_client::store::MemoryStore;
use hush_client::{Account, Engine, EventKind, OutgoingState};

#[test]
fn cli_and_engine_talk_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let relay = TestRelay::start(&dir.path().join("relay"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = relay.url.parse().unwrap();
    let account = Account::create(MemoryStore::new(), &mut rand::rng(), "Engine", url).unwrap();
    let mut engine = Engine::new(account).unwrap();
    // First contact with the relay publishes the engine's sealed directory.
    assert!(rt.block_on(engine.receive()).unwrap().is_empty());

    let cli = User::new(dir.path(), "cli");
    cli.init(&relay.url, "Cli");
    let engine_card = engine.account().card().encode().unwrap();
    cli.ok(&["contact", "add", "eng", &engine_card]);
    engine
        .account_mut()
        .add_contact("cli", &cli.card())
        .unwrap();

    // CLI -> engine: the CLI starts the session from the engine's directory.
    cli.ok(&["send", "eng", "from the command line"]);
    let got = rt.block_on(engine.receive()).unwrap();
    assert_eq!(got.len(), 1);
    let EventKind::Message { from, body } = &got[0].kind else {
        panic!("not a message: {:?}", got[0]);
    };
    assert_eq!(from.alias.as_deref(), Some("cli"));
    assert_eq!(body, b"from the command line");

    // Engine -> CLI on that session, then a second message the other way.
    let o = rt.block_on(engine.send("cli", b"from the engine")).unwrap();
    assert!(matches!(o.state, OutgoingState::Stored(_)), "{o:?}");
    let events = cli.recv_json();
    assert_eq!(
        messages(&events),
        [("eng".to_string(), None, "from the engine".to_string())]
    );
    cli.ok(&["send", "eng", "and back"]);
    let got = rt.block_on(engine.receive()).unwrap();
    let bodies: Vec<&[u8]> = got
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Message { body, .. } => Some(body.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(bodies, [&b"and back"[..]]);
    rt.block_on(engine.close());
}
