//! send-file, group send-file, and saving received attachments for recv.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Result;
use hush_client::{Attachment, Error, Event, Progress};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cmd::send::{flush, taken};
use crate::errors::EngineResult;
use crate::events::{self, Saved};
use crate::home::{self, HomeEngine};
use crate::output::{emit, json};

/// A bytes progress bar on standard error, drawn only when standard output is a terminal
/// (and not in `--json` mode): bytes, rate, ETA.
pub fn byte_bar(what: &str) -> ProgressBar {
    let pb = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    if json() || !std::io::stdout().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb
}

/// A progress callback that moves `pb`.
fn follow(pb: &ProgressBar) -> impl FnMut(Progress) + Send + use<> {
    let pb = pb.clone();
    move |p: Progress| {
        pb.set_length(p.total);
        pb.set_position(p.done);
    }
}

/// `hush send-file` and `hush group send-file`: uploads the file (resuming an upload of the
/// same file to the same recipient that was interrupted), then sends the reference; prints
/// the message's envelope id.
pub async fn send_file(dir: &Path, to: &str, group: bool, path: &Path) -> Result<()> {
    let mut o = home::open(dir)?;
    if group {
        o.engine.group(to).cli()?;
    } else {
        o.engine.account().contact(to).cli()?;
    }
    flush(&mut o.engine).await?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pb = byte_bar(&format!("sending {name}"));
    let mut progress = follow(&pb);
    let out = if group {
        o.engine.send_file_to_group(to, path, &mut progress).await
    } else {
        o.engine.send_file(to, path, &mut progress).await
    };
    pb.finish_and_clear();
    events::notices(&mut o.engine)?;
    let out = out.cli()?;
    o.engine.close().await;
    taken(&out)?;
    let id = hex::encode(out.envelope_id.as_bytes());
    let key = if group { "group" } else { "to" };
    emit(
        &id,
        json!({"envelope_id": id, key: to, "file": path.display().to_string()}),
    );
    Ok(())
}

/// Saves the attachments among `events` into `downloads`. Returns, per event, what became
/// of its attachment, and the ids of the events that may be confirmed: an attachment that
/// could not be fetched (relay unreachable, disk full) keeps its event for the next `recv`;
/// one refused for tampering is reported and confirmed.
pub async fn save_all(
    engine: &mut HomeEngine,
    events: &[Event],
    downloads: &Path,
) -> (Vec<Option<Saved>>, Vec<u64>) {
    let mut saved = Vec::with_capacity(events.len());
    let mut done = Vec::with_capacity(events.len());
    for e in events {
        let Some(a) = e.kind.attachment() else {
            saved.push(None);
            done.push(e.id);
            continue;
        };
        match save_one(engine, &a, downloads).await {
            Ok(path) => {
                saved.push(Some(Saved::File(path, a)));
                done.push(e.id);
            }
            Err(Error::Attachment(why)) => {
                saved.push(Some(Saved::Refused(why.to_string(), a)));
                done.push(e.id);
            }
            Err(why) => saved.push(Some(Saved::Later(why.to_string(), a))),
        }
    }
    (saved, done)
}

async fn save_one(
    engine: &mut HomeEngine,
    a: &Attachment,
    downloads: &Path,
) -> Result<PathBuf, Error> {
    let pb = byte_bar(&format!("receiving {}", a.name()));
    let mut progress = follow(&pb);
    let r = engine.save_attachment(a, downloads, &mut progress).await;
    pb.finish_and_clear();
    r
}
