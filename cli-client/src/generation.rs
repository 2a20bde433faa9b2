//! Rollback detection: the state generation this home shares with its relay.
//!
//! Restoring a home from an older copy brings back session chains that already encrypted
//! messages; sending on them would reuse message keys. So before any command encrypts with a
//! sending chain (1:1 or group), it advances a counter kept by its home relay for its mailbox
//! (GENERATION in spec/relay-protocol.md), compare-and-set from the value its state holds.
//! The state is written with the new value *before* the request, so a crash in between
//! leaves the state ahead of the relay, which the next run recognizes as its own unfinished
//! advance and finishes. A relay that is ahead of the state means another copy of this home
//! advanced it: this state is stale. Then every 1:1 session is set aside (kept only to
//! decrypt late messages; the next send starts a new one with X3DH), every group's MLS state
//! is forgotten and the group marked as needing a re-add, and a notice says so on stderr.
//! See spec/cli.md, "Rollback".

use anyhow::{Result, anyhow, bail};
use hush_protocol::group::GroupId;

use crate::engine::Engine;
use crate::net;
use crate::state::Secret;

/// Most compare-and-set rounds one advance tries before giving up.
const MAX_ROUNDS: usize = 4;
/// Most archived sessions kept per peer (the oldest go first).
pub const MAX_ARCHIVED: usize = 4;

/// The message of a group command refused because this home must be re-added.
pub fn rejoin_message(group: &str) -> String {
    format!(
        "this home holds no usable state of group '{group}' (it was restored from an older copy \
         or a backup): ask a member of '{group}' to remove and re-add you"
    )
}

/// Advances this home's state generation on its relay, handling a rollback as described in
/// the module docs. Call it before encrypting with any sending chain. Saves the state.
pub async fn advance(e: &mut Engine) -> Result<()> {
    let mailbox = e.home_client().await?;
    let url = e.l.state.relay_url()?;
    let mut base = e.l.state.generation;
    let mut expected = base;
    for _ in 0..MAX_ROUNDS {
        let next = base
            .checked_add(1)
            .ok_or_else(|| anyhow!("the state generation is exhausted"))?;
        // On disk before the relay moves: a crash in between leaves us ahead, never behind.
        e.l.state.generation = next;
        e.save()?;
        let out = e
            .client(&url)
            .await?
            .advance_generation(&mailbox, expected, next)
            .await
            .map_err(net::err("cannot advance the state generation on the relay"))?;
        if out.advanced {
            return Ok(());
        }
        if out.current < base {
            // Behind our state: our own advance that a crash interrupted (or a relay that
            // lost its data). Finish it.
            expected = out.current;
            continue;
        }
        // Ahead of our state (or level with it without our doing): another copy of this
        // home advanced it, so this state is older than what was last used.
        let groups = set_aside(e)?;
        let mut line = format!(
            "hush: notice: this home was restored from an older copy (its relay is at state \
             generation {}, this copy at {}): its 1:1 sessions were set aside and new ones \
             start with the next message",
            out.current, base
        );
        if !groups.is_empty() {
            line.push_str(&format!(
                "; ask a member of {} to remove and re-add you",
                groups.join(", ")
            ));
        }
        eprintln!("{line}");
        base = out.current;
        expected = out.current;
    }
    bail!(
        "the state generation on the relay keeps changing: is another copy of this home in use at the same time?"
    )
}

/// Sets aside every 1:1 session and forgets every group's MLS state, marking the groups as
/// needing a re-add. Returns the names of the groups newly marked. Does not save.
pub fn set_aside(e: &mut Engine) -> Result<Vec<String>> {
    // Previous sessions (sessions.rs) are as stale as the current ones: set aside too,
    // oldest first, the current one last.
    let mut stale: Vec<(String, Secret)> = Vec::new();
    for (peer, list) in std::mem::take(&mut e.l.state.previous_sessions) {
        stale.extend(list.into_iter().map(|s| (peer.clone(), s)));
    }
    stale.extend(std::mem::take(&mut e.l.state.sessions));
    for (peer, s) in stale {
        let list = e.l.state.archived_sessions.entry(peer).or_default();
        list.push(s);
        while list.len() > MAX_ARCHIVED {
            list.remove(0);
        }
    }
    let mut marked = Vec::new();
    for (name, rec) in e.l.state.groups.iter_mut() {
        if !rec.active || rec.rejoin {
            continue;
        }
        rec.rejoin = true;
        let gid = GroupId::from_slice(&hex::decode(&rec.id).unwrap_or_default());
        // A group the MLS client does not know has nothing to forget.
        let _ = e.gc.delete_group(&gid);
        marked.push(name.clone());
    }
    Ok(marked)
}
