//! recv: fetch, decrypt, save, print, confirm; optionally keep listening.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use hush_client::Event;

use crate::cmd::files::save_all;
use crate::errors::EngineResult;
use crate::events::show_saved;
use crate::home::{self, HomeEngine, Opened};

/// Saves the attachments of `events` into `downloads`, prints every event, and confirms
/// those that are done with (an attachment that could not be fetched now stays for the
/// next `recv`).
async fn handle(
    engine: &mut HomeEngine,
    events: &[Event],
    json: bool,
    downloads: &Path,
) -> Result<()> {
    let (saved, done) = save_all(engine, events, downloads).await;
    for (e, s) in events.iter().zip(&saved) {
        show_saved(e, json, s.as_ref());
    }
    let _ = std::io::stdout().flush();
    engine.confirm(&done).cli()
}

/// `hush recv`: what earlier commands read but did not show, then everything new (the
/// mailbox and every group's log); with `--wait SECS`, keeps listening and prints messages
/// as they arrive. Attachments are saved into `downloads` (default `<home>/downloads`).
pub async fn recv(
    dir: &Path,
    wait: Option<u64>,
    json: bool,
    downloads: Option<&Path>,
) -> Result<()> {
    let downloads = downloads.map_or_else(|| dir.join("downloads"), Path::to_path_buf);
    let mut o = home::open(dir)?;
    // Shown before but not confirmed (a command stopped while printing), and read by other
    // commands: first, once each.
    let mut events: BTreeMap<u64, Event> = o
        .engine
        .pending_events()
        .cli()?
        .into_iter()
        .map(|e| (e.id, e))
        .collect();
    for e in o.engine.receive().await.cli()? {
        events.insert(e.id, e);
    }
    let events: Vec<Event> = events.into_values().collect();
    handle(&mut o.engine, &events, json, &downloads).await?;
    let r = match wait {
        Some(secs) => listen(&mut o, secs, json, &downloads).await,
        None => Ok(()),
    };
    o.engine.close().await;
    r
}

/// Handles pushes until `secs` pass. Other commands (`card`, `send`, `status`, …) may use
/// the home while we wait: each push is handled with the home locked again and the engine's
/// state re-read from the store.
async fn listen(o: &mut Opened, secs: u64, json: bool, downloads: &Path) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    let events = o.engine.start_live().await.cli()?;
    handle(&mut o.engine, &events, json, downloads).await?;
    loop {
        o.home.release();
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
            () = o.engine.wait_live() => {}
        }
        o.home.relock()?;
        o.engine.reload().cli()?;
        let events = tokio::select! {
            _ = tokio::time::sleep_until(deadline) => return Ok(()),
            r = o.engine.handle_live() => r.cli()?,
        };
        handle(&mut o.engine, &events, json, downloads).await?;
    }
}
