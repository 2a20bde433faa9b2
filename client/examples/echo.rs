//! An echo bot: answers every 1:1 message with the same bytes, adding senders who are not
//! contacts yet from the card their message carries.
//!
//! ```sh
//! cargo run -p hush-relay -- --listen 127.0.0.1:4433 --data /tmp/echo-relay   # prints hush://…
//! ECHO_PASSPHRASE=secret cargo run -p hush-client --example echo -- /tmp/echo.db hush://…@127.0.0.1:4433
//! ```
//!
//! The first run creates the account in the store file and prints its card; give that card to
//! `hush contact add` (or another engine) and send it something.

use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, Engine, EventKind, OutgoingState};
use std::path::PathBuf;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(relay)) = (args.next(), args.next()) else {
        return Err("usage: echo STORE_FILE hush://FINGERPRINT@HOST:PORT".into());
    };
    let path = PathBuf::from(path);
    let pass = std::env::var("ECHO_PASSPHRASE").map_err(|_| "set ECHO_PASSPHRASE")?;
    let key = KeySource::Passphrase(pass.as_bytes());
    let account = if path.exists() {
        Account::open(SqliteStore::open(&path, key)?)?
    } else {
        let store = SqliteStore::create(&path, key)?;
        Account::create(store, &mut rand::rng(), "echo", relay.parse()?)?
    };
    println!("{}", account.card().encode()?);
    let mut engine = Engine::new(account)?;
    // Events a run that stopped before answering left unconfirmed come first; then what
    // arrives, as it arrives (`next_events` subscribes to the mailbox and the groups).
    let mut events = engine.pending_events()?;
    loop {
        for ev in &events {
            if let EventKind::Message { from, body } = &ev.kind {
                let alias = match (&from.alias, &from.card) {
                    (Some(a), _) => a.clone(),
                    (None, Some(card)) => {
                        let hex: String = from.identity.0[..8]
                            .iter()
                            .map(|b| format!("{b:02x}"))
                            .collect();
                        let alias = format!("u{hex}");
                        if let Err(e) = engine.account_mut().add_contact(&alias, card) {
                            eprintln!("cannot add the sender {alias}: {e}");
                            engine.confirm(&[ev.id])?;
                            continue;
                        }
                        alias
                    }
                    (None, None) => continue,
                };
                let out = engine.send(&alias, body).await?;
                if let OutgoingState::Queued(why) = &out.state {
                    eprintln!("echo to {alias} queued: {why}");
                }
            }
            engine.confirm(&[ev.id])?;
        }
        events = match engine.next_events().await {
            Ok(events) => events,
            Err(e) => {
                // The relay went away: try again in a while (queued answers go out then).
                eprintln!("echo: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                Vec::new()
            }
        };
    }
}
