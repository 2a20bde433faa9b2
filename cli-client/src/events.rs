//! Showing what the engine reports: one line of text (or of JSON) per message, invitation,
//! removal and identity-change notice; warnings and notices on standard error.

use std::io::Write;

use std::path::PathBuf;

use hush_client::{Attachment, DeliveryStatus, Event, EventKind, Sender};
use hush_protocol::Fingerprint;

use crate::display::escape_text;
use crate::home::HomeEngine;

/// Compact hex identity fingerprint: the `from` of senders who are not contacts.
pub fn fpr(f: &Fingerprint) -> String {
    hex::encode(f.0)
}

fn name(s: &Sender) -> String {
    s.alias.clone().unwrap_or_else(|| fpr(&s.identity))
}

/// The human line for an identity-change notice.
pub fn describe_identity_change(contact: &str, new: &str, old: &str) -> String {
    let alias = escape_text(contact);
    let new = escape_text(new);
    let old = escape_text(old);
    format!(
        "notice: someone with the name of your contact {alias} wrote from another identity \
         ({new}; {alias} is {old}). Messages from it show under its fingerprint. If {alias} \
         reinstalled Hush, compare safety numbers with them, then run: hush contact update \
         {alias} {new}"
    )
}

/// The notice for a home found to be an older copy.
pub fn restored_notice(groups: &[String]) -> String {
    let mut line = "hush: notice: this home was restored from an older copy (another copy of it \
                    went further): its 1:1 sessions were set aside and new ones start with the \
                    next message"
        .to_string();
    if !groups.is_empty() {
        line.push_str(&format!(
            "; ask a member of {} to remove and re-add you",
            groups.join(", ")
        ));
    }
    line
}

/// What became of a message's attachment.
pub enum Saved {
    /// Saved under this path.
    File(PathBuf, Attachment),
    /// Refused (tampered, wrong digest): why.
    Refused(String, Attachment),
    /// Not fetched now (relay unreachable, disk error): why; the next `recv` tries again.
    Later(String, Attachment),
}

/// The JSON `file` object of a message with an attachment.
fn file_json(saved: &Saved) -> serde_json::Value {
    let (a, path, error) = match saved {
        Saved::File(p, a) => (a, Some(p.display().to_string()), None),
        Saved::Refused(why, a) | Saved::Later(why, a) => (a, None, Some(why.clone())),
    };
    serde_json::json!({
        "name": a.name(), "size": a.size(), "media_type": a.reference.media_type,
        "path": path, "error": error,
    })
}

/// The human text of a message with an attachment.
fn file_text(saved: &Saved) -> String {
    match saved {
        Saved::File(p, a) => format!("[file] {} ({} bytes)", p.display(), a.size()),
        Saved::Refused(why, a) => format!("[file] {} refused: {why}", a.name()),
        Saved::Later(why, a) => format!(
            "[file] {} not saved yet ({why}); the next recv tries again",
            a.name()
        ),
    }
}

/// Prints one event (stdout for what the user reads, stderr for warnings and notices).
pub fn show(e: &Event, json: bool) {
    show_saved(e, json, None)
}

/// [`show`], for a message whose attachment `saved` tells about.
pub fn show_saved(e: &Event, json: bool, saved: Option<&Saved>) {
    let text = |b: &[u8]| match saved {
        Some(s) => file_text(s),
        None => String::from_utf8_lossy(b).into_owned(),
    };
    let (event, from, group, body) = match &e.kind {
        EventKind::Message { from, body } => ("message", name(from), None, Some(text(body))),
        EventKind::GroupMessage { group, from, body } => {
            ("message", name(from), Some(group.clone()), Some(text(body)))
        }
        EventKind::Joined { group, by } => ("joined", name(by), Some(group.clone()), None),
        EventKind::Removed { group } => ("removed", String::new(), Some(group.clone()), None),
        EventKind::IdentityChanged {
            contact, old, new, ..
        } => {
            let (new, old) = (fpr(new), fpr(old));
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "event": "identity_changed", "from": new, "group": null, "text": null,
                        "contact": contact, "old_fingerprint": old,
                    })
                );
            } else {
                println!("{}", describe_identity_change(contact, &new, &old));
            }
            return;
        }
        EventKind::Restored { groups } => {
            eprintln!("{}", restored_notice(groups));
            return;
        }
        EventKind::Linked { person, device } => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "event": "linked", "person_fingerprint": fpr(person), "device": device,
                        "from": null, "group": null, "text": null,
                    })
                );
            } else {
                println!(
                    "linked: this home is device {device} of the person with fingerprint \
                     {person}; compare it with the one the approving device showed"
                );
            }
            return;
        }
        EventKind::SentCopy { to, body } => ("sent", name(to), None, Some(text(body))),
        EventKind::DevicesChanged {
            person,
            contact,
            added,
            removed,
        } => {
            let whose = contact.clone().unwrap_or_else(|| "this person".into());
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "event": "devices_changed", "from": contact, "group": null,
                        "text": null, "person_fingerprint": fpr(person),
                        "added": added.iter().map(fpr).collect::<Vec<_>>(),
                        "removed": removed.iter().map(fpr).collect::<Vec<_>>(),
                    })
                );
            } else {
                for d in added {
                    println!("{}: new device {d}", escape_text(&whose));
                }
                for d in removed {
                    println!("{}: device {d} revoked", escape_text(&whose));
                }
            }
            return;
        }
        EventKind::DeviceListConflict {
            contact, counter, ..
        } => {
            let whose = contact.clone().unwrap_or_else(|| "this person".into());
            eprintln!(
                "hush: warning: two different device lists of {} carry counter {counter}:                  their identity key signed both (copied or stolen?); the first one is kept",
                escape_text(&whose)
            );
            return;
        }
        EventKind::Unreadable { reason } => {
            eprintln!("hush: warning: dropped an unreadable message: {reason}");
            return;
        }
        EventKind::Delivery {
            envelope_id,
            to,
            status: DeliveryStatus::Failed(why),
        } => {
            eprintln!(
                "hush: warning: the relay refused the queued message {} to {to} for good: {why}",
                hex::encode(envelope_id.as_bytes())
            );
            return;
        }
        // Queued messages that went out, and other members' membership changes, are not
        // shown (`status` and `group list` tell them).
        _ => return,
    };
    if json {
        let mut v = serde_json::json!({"event": event, "from": from, "group": group, "text": body});
        if let Some(s) = saved {
            v["text"] = serde_json::Value::Null;
            v["file"] = file_json(s);
        }
        println!("{v}");
        return;
    }
    // Names are checked aliases or hex fingerprints; the text is the sender's: escaped.
    let g = escape_text(group.as_deref().unwrap_or(""));
    let f = escape_text(&from);
    let t = escape_text(body.as_deref().unwrap_or(""));
    match event {
        "joined" => println!("joined group {g} (added by {f})"),
        "removed" => println!("removed from group {g}"),
        "sent" => println!("(sent to {f}): {t}"),
        _ if group.is_some() => println!("[{g}] {f}: {t}"),
        _ => println!("{f}: {t}"),
    }
    if event == "message" && from.len() == 64 && from.chars().all(|c| c.is_ascii_hexdigit()) {
        eprintln!(
            "hush: {} is not a contact; to answer: hush contact add ALIAS {from}",
            &from[..16]
        );
    }
}

/// Shows `events` and confirms them to the engine (they leave its store).
pub fn show_all(engine: &mut HomeEngine, events: &[Event], json: bool) -> anyhow::Result<()> {
    for e in events {
        show(e, json);
    }
    let _ = std::io::stdout().flush();
    let ids: Vec<u64> = events.iter().map(|e| e.id).collect();
    crate::errors::EngineResult::cli(engine.confirm(&ids))
}

/// After a command other than `recv`: shows the notices that concern it now (a rollback
/// found) and leaves every other event for the next `recv`.
pub fn notices(engine: &mut HomeEngine) -> anyhow::Result<()> {
    let pending = crate::errors::EngineResult::cli(engine.pending_events())?;
    let restored: Vec<Event> = pending
        .into_iter()
        .filter(|e| matches!(e.kind, EventKind::Restored { .. }))
        .collect();
    show_all(engine, &restored, false)
}
