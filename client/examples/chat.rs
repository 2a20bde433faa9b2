//! A small chat: 1:1 and group conversations from the terminal, over `next_events` (live).
//!
//! ```sh
//! cargo run -p hush-relay -- --listen 127.0.0.1:4433 --data /tmp/chat-relay   # prints hush://…
//! CHAT_PASSPHRASE=a cargo run -p hush-client --example chat -- /tmp/alice.db hush://…@127.0.0.1:4433 Alice
//! CHAT_PASSPHRASE=b cargo run -p hush-client --example chat -- /tmp/bob.db hush://…@127.0.0.1:4433 Bob
//! ```
//!
//! The relay address and name are needed only the first time (the account is created then).
//! Type `/help` for the commands; any other line goes to the conversation chosen with `/to`
//! or `/group`.

use hush_client::store::{KeySource, SqliteStore};
use hush_client::{Account, DeliveryStatus, Engine, Event, EventKind, OutgoingState};
use std::path::PathBuf;
use tokio::io::{AsyncBufReadExt, BufReader};

const HELP: &str = "commands:
  /card                 print this account's card (give it to your contacts)
  /add ALIAS CARD       add a contact from their card
  /to ALIAS             talk to a contact
  /create NAME          create a group (and talk to it)
  /invite ALIAS         add a contact to the current group
  /group NAME           talk to a group
  /groups, /contacts    list them
  /quit";

/// Where lines go.
enum Target {
    None,
    Contact(String),
    Group(String),
}

fn show(ev: &Event) {
    let who = |alias: &Option<String>, id: &hush_protocol::Fingerprint| {
        alias.clone().unwrap_or_else(|| format!("{id}"))
    };
    match &ev.kind {
        EventKind::Message { from, body } => println!(
            "{}: {}",
            who(&from.alias, &from.identity),
            String::from_utf8_lossy(body)
        ),
        EventKind::GroupMessage { group, from, body } => println!(
            "[{group}] {}: {}",
            who(&from.alias, &from.identity),
            String::from_utf8_lossy(body)
        ),
        EventKind::Joined { group, by } => {
            println!(
                "* {} added you to group {group}",
                who(&by.alias, &by.identity)
            )
        }
        EventKind::Removed { group } => println!("* you were removed from group {group}"),
        EventKind::MembersChanged {
            group,
            added,
            removed,
            ..
        } => println!(
            "* group {group}: {} joined, {} left",
            added.len(),
            removed.len()
        ),
        EventKind::IdentityChanged { contact, new, .. } => println!(
            "* someone with {contact}'s name writes from another identity ({new}): compare safety numbers"
        ),
        EventKind::Restored { groups } => println!(
            "* this store is an older copy: sessions start again; ask to be re-added to {groups:?}"
        ),
        EventKind::Delivery {
            to,
            status: DeliveryStatus::Failed(why),
            ..
        } => println!("* a message to {to} failed: {why}"),
        EventKind::Delivery { to, .. } => println!("* a queued message to {to} went out"),
        EventKind::Unreadable { reason } => println!("* unreadable: {reason}"),
        _ => {}
    }
}

async fn command(
    engine: &mut Engine<SqliteStore>,
    target: &mut Target,
    line: &str,
) -> Result<bool, Box<dyn std::error::Error>> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("/quit"), _, _) => return Ok(false),
        (Some("/help"), _, _) => println!("{HELP}"),
        (Some("/card"), _, _) => println!("{}", engine.account().card().encode()?),
        (Some("/add"), Some(alias), Some(card)) => {
            engine.account_mut().add_contact(alias, card)?;
            println!(
                "* added {alias}; safety number {}",
                engine.account().safety_number(alias)?
            );
        }
        (Some("/to"), Some(alias), _) => {
            engine.account().contact(alias)?;
            *target = Target::Contact(alias.to_string());
        }
        (Some("/create"), Some(name), _) => {
            engine.create_group(name)?;
            *target = Target::Group(name.to_string());
        }
        (Some("/invite"), Some(alias), _) => match target {
            Target::Group(g) => engine.add_members(g, &[alias]).await?,
            _ => println!("* choose a group first (/group NAME)"),
        },
        (Some("/group"), Some(name), _) => {
            engine.group(name)?;
            *target = Target::Group(name.to_string());
        }
        (Some("/groups"), _, _) => {
            for g in engine.groups()? {
                println!("{}\t{:?}\t{} members", g.name, g.status, g.members.len());
            }
        }
        (Some("/contacts"), _, _) => {
            for c in engine.account().contacts()? {
                println!("{}\t{}", c.alias, c.card.identity.fingerprint());
            }
        }
        (Some(w), _, _) if w.starts_with('/') => println!("{HELP}"),
        _ => {
            let out = match target {
                Target::Contact(a) => engine.send(a, line.as_bytes()).await?,
                Target::Group(g) => engine.send_to_group(g, line.as_bytes()).await?,
                Target::None => {
                    println!("* choose a conversation first (/to ALIAS or /group NAME)");
                    return Ok(true);
                }
            };
            match out.state {
                OutgoingState::Queued(why) => println!("* queued ({why}); it goes out later"),
                OutgoingState::Failed(why) => println!("* not sent: {why}"),
                _ => {}
            }
        }
    }
    Ok(true)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .ok_or("usage: chat STORE_FILE [RELAY_URL NAME]")?,
    );
    let pass = std::env::var("CHAT_PASSPHRASE").map_err(|_| "set CHAT_PASSPHRASE")?;
    let key = KeySource::Passphrase(pass.as_bytes());
    let account = if path.exists() {
        Account::open(SqliteStore::open(&path, key)?)?
    } else {
        let (Some(relay), Some(name)) = (args.next(), args.next()) else {
            return Err("a new account needs: chat STORE_FILE RELAY_URL NAME".into());
        };
        Account::create(
            SqliteStore::create(&path, key)?,
            &mut rand::rng(),
            &name,
            relay.parse()?,
        )?
    };
    let mut engine = Engine::new(account)?;
    println!("your card: {}\n{HELP}", engine.account().card().encode()?);
    for ev in engine.pending_events()? {
        show(&ev);
        engine.confirm(&[ev.id])?;
    }
    let mut target = Target::None;
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                let line = line.trim();
                if line.is_empty() {
                    continue;
                }
                match command(&mut engine, &mut target, line).await {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => println!("* {e}"),
                }
            }
            // Cancel-safe: a push interrupted by a typed line is read again next time.
            events = engine.next_events() => match events {
                Ok(events) => {
                    for ev in events {
                        show(&ev);
                        engine.confirm(&[ev.id])?;
                    }
                }
                Err(e) => {
                    println!("* {e}; reconnecting");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
            },
        }
    }
    engine.shutdown().await;
    Ok(())
}
