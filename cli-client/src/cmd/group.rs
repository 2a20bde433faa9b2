//! group create, add, remove, send, list.

use std::path::Path;

use anyhow::{Result, bail};
use hush_client::{GroupStatus, MAX_ADD};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cmd::basic::check_alias;
use crate::cmd::send::{flush, taken};
use crate::errors::EngineResult;
use crate::events::{self, fpr};
use crate::home;
use crate::output::emit;

/// Most members one commit adds (the relay takes at most 100 Welcomes with a commit).
pub const MAX_ADD_BATCH: usize = MAX_ADD;

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({eta})") {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    // Only worth drawing for long work; indicatif hides itself when stderr is not a terminal.
    if len < 10 {
        pb.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    pb
}

/// `hush group create`.
pub fn create(dir: &Path, name: &str) -> Result<()> {
    check_alias(name)?;
    let mut o = home::open(dir)?;
    o.engine.create_group(name).cli()?;
    emit(
        format!("created group {name}"),
        json!({"group": name, "created": true}),
    );
    Ok(())
}

/// `hush group add`: one commit per `batch` members.
pub async fn add(dir: &Path, name: &str, aliases: &[String], batch: usize) -> Result<()> {
    if !(1..=MAX_ADD_BATCH).contains(&batch) {
        bail!("--batch must be 1 to {MAX_ADD_BATCH}");
    }
    for (i, a) in aliases.iter().enumerate() {
        if aliases[..i].contains(a) {
            bail!("{a} is named twice");
        }
    }
    let mut o = home::open(dir)?;
    o.engine.group(name).cli()?;
    for a in aliases {
        o.engine.account().contact(a).cli()?;
    }
    let pb = bar(aliases.len(), "adding members");
    for chunk in aliases.chunks(batch) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        let r = o.engine.add_members(name, &refs).await.cli();
        events::notices(&mut o.engine)?;
        r?;
        pb.inc(chunk.len() as u64);
    }
    pb.finish_and_clear();
    o.engine.close().await;
    emit(
        format!("added {} to group {name}", aliases.join(", ")),
        json!({"group": name, "added": aliases}),
    );
    Ok(())
}

/// `hush group remove`.
pub async fn remove(dir: &Path, name: &str, aliases: &[String]) -> Result<()> {
    let mut o = home::open(dir)?;
    let refs: Vec<&str> = aliases.iter().map(String::as_str).collect();
    let r = o.engine.remove_members(name, &refs).await.cli();
    events::notices(&mut o.engine)?;
    r?;
    o.engine.close().await;
    emit(
        format!("removed {} from group {name}", aliases.join(", ")),
        json!({"group": name, "removed": aliases}),
    );
    Ok(())
}

/// `hush group send`.
pub async fn send(dir: &Path, name: &str, text: &str) -> Result<()> {
    let mut o = home::open(dir)?;
    o.engine.group(name).cli()?;
    flush(&mut o.engine).await?;
    let out = o.engine.send_to_group(name, text.as_bytes()).await.cli();
    events::notices(&mut o.engine)?;
    let out = out?;
    o.engine.close().await;
    taken(&out)?;
    let seq = match out.state {
        hush_client::OutgoingState::InLog { seq } => Some(seq),
        _ => None,
    };
    emit(
        format!("sent to group {name}"),
        json!({"group": name, "seq": seq}),
    );
    Ok(())
}

/// `hush group list`.
pub fn list(dir: &Path) -> Result<()> {
    let o = home::open(dir)?;
    for g in o.engine.groups().cli()? {
        let (name, id) = (&g.name, hex::encode(g.id.as_slice()));
        match g.status {
            GroupStatus::Removed => emit(
                format!("{name}\t(removed)"),
                json!({"group": name, "id": id, "state": "removed"}),
            ),
            GroupStatus::NeedsReAdd => emit(
                format!("{name}\t(needs to be re-added by a member)"),
                json!({"group": name, "id": id, "state": "rejoin"}),
            ),
            GroupStatus::Member | GroupStatus::Leaving => {
                let names: Vec<String> = g
                    .members
                    .iter()
                    .map(|m| {
                        if m.me {
                            "me".to_string()
                        } else {
                            m.alias.clone().unwrap_or_else(|| fpr(&m.identity))
                        }
                    })
                    .collect();
                let epoch = g.epoch.unwrap_or(0);
                emit(
                    format!(
                        "{name}\t{} members\tepoch {epoch}\t{}",
                        names.len(),
                        names.join(", ")
                    ),
                    json!({
                        "group": name,
                        "id": id,
                        "state": "active",
                        "epoch": epoch,
                        "members": names,
                        "relay": g.relay.to_string(),
                    }),
                );
            }
        }
    }
    Ok(())
}
