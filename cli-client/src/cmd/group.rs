//! group create, add, remove, send, list.

use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use hush_protocol::IdentityPublicKey;
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::group::{CommitOutput, GroupId, GroupInvitation};
use hush_relay_client::EnvelopeId;
use hush_relay_client::ErrorCode;
use hush_relay_client::RelayUrl;
use hush_relay_client::{GroupMessageKind, WelcomeDelivery};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::card::Card;
use crate::cmd::basic::check_alias;
use crate::engine::{Engine, relay_group_id};
use crate::exit::{Failure, fail};
use crate::generation::{self, rejoin_message};
use crate::home::Home;
use crate::net;
use crate::output::emit;
use crate::state::{GroupRecord, Sent};

/// Most members one commit adds (the relay takes at most 100 Welcomes with a commit).
pub const MAX_ADD_BATCH: usize = 100;

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

async fn open(dir: &Path, name: &str) -> Result<(Engine, GroupRecord, GroupId)> {
    let l = Home::lock(dir, false)?.load()?;
    let mut e = Engine::new(l)?;
    e.group(name)?;
    // Every caller commits or sends: a rolled-back home finds out here, before its stale
    // group state is used.
    generation::advance(&mut e).await?;
    let (rec, gid) = e.group(name)?;
    if !rec.active {
        bail!("this home was removed from group '{name}'");
    }
    if rec.rejoin {
        bail!("{}", rejoin_message(name));
    }
    // Catch up first: commits change the epoch we must build on. Messages read on the way
    // wait in the inbox for the next `recv`.
    let items = e.sync_group(name).await?;
    e.l.state.inbox.extend(items);
    let (rec, _) = e.group(name)?;
    if !rec.active {
        e.save()?;
        bail!("this home was removed from group '{name}'");
    }
    Ok((e, rec, gid))
}

/// `hush group create`.
pub fn create(dir: &Path, name: &str) -> Result<()> {
    check_alias(name)?;
    let l = Home::lock(dir, false)?.load()?;
    let mut e = Engine::new(l)?;
    if e.l.state.groups.contains_key(name) {
        bail!("a group named '{name}' already exists");
    }
    let gid =
        e.gc.create_group(&mut rand::rng())
            .context("cannot create the group")?;
    let relay = e.l.state.relay.clone();
    e.l.state.groups.insert(
        name.to_string(),
        GroupRecord {
            id: hex::encode(gid.as_slice()),
            relay,
            cursor: 0,
            own_seqs: Default::default(),
            active: true,
            rejoin: false,
        },
    );
    e.save()?;
    emit(
        format!("created group {name}"),
        json!({"group": name, "created": true}),
    );
    Ok(())
}

/// Sends a commit to the group log; on success applies it and records its sequence number.
async fn commit(
    e: &mut Engine,
    name: &str,
    gid: &GroupId,
    out: &CommitOutput,
    welcomes: Vec<WelcomeDelivery>,
) -> Result<()> {
    let (mut rec, _) = e.group(name)?;
    let relay: RelayUrl = rec
        .relay
        .parse()
        .map_err(|err| anyhow!("stored group relay is invalid: {err}"))?;
    let rid = relay_group_id(&rec)?;
    // The pending commit is on disk before it leaves: if we crash after the relay took it,
    // reading it back from the log applies it.
    e.save()?;
    let r = e
        .client(&relay)
        .await?
        .group_append(
            &rid,
            out.epoch,
            GroupMessageKind::Commit,
            out.commit.clone(),
            welcomes,
        )
        .await;
    match r {
        Ok(r) => {
            e.gc.confirm_commit(&mut rand::rng(), gid)
                .context("cannot apply our commit")?;
            rec.own_seqs.insert(r.seq);
            e.l.state.groups.insert(name.to_string(), rec);
            e.save()
        }
        Err(err) => {
            e.gc.discard_pending_commit(gid)
                .context("cannot discard our commit")?;
            e.save()?;
            if err.relay_code() == Some(ErrorCode::EpochConflict) {
                bail!("group '{name}' changed meanwhile; run the command again");
            }
            Err(anyhow!(
                "the relay did not take the change: {}",
                net::describe(&err)
            ))
        }
    }
}

/// `hush group add`.
pub async fn add(dir: &Path, name: &str, aliases: &[String], batch: usize) -> Result<()> {
    if !(1..=MAX_ADD_BATCH).contains(&batch) {
        bail!("--batch must be 1 to {MAX_ADD_BATCH}");
    }
    let (mut e, rec, gid) = open(dir, name).await?;
    let members: Vec<IdentityPublicKey> =
        e.gc.members(&gid)
            .context("cannot list members")?
            .into_iter()
            .map(|m| m.identity)
            .collect();
    let mut cards: Vec<(String, Card)> = Vec::new();
    for a in aliases {
        let c = e.l.state.contact(a)?;
        if members.contains(&c.identity) {
            bail!("{a} is already in group '{name}'");
        }
        if cards.iter().any(|(_, k)| k.identity == c.identity) {
            bail!("{a} is named twice");
        }
        cards.push((a.clone(), c));
    }
    let pb = bar(cards.len(), "fetching KeyPackages");
    let mut kps = Vec::with_capacity(cards.len());
    for (a, c) in &cards {
        let client = e.client(&c.relay).await?;
        let kp = crate::directory::fetch_key_package(client, a, c).await?;
        kps.push(kp);
        pb.inc(1);
    }
    pb.finish_and_clear();
    let group_relay = rec.relay.clone();
    let me = e.l.state.identity()?;
    let reply_to = e.l.state.card()?.encode().map_err(|err| anyhow!("{err}"))?;
    let pb = bar(cards.len(), "adding members");
    let mut rng = rand::rng();
    for (chunk_cards, chunk_kps) in cards.chunks(batch).zip(kps.chunks(batch)) {
        let hint = e.group(name)?.0.cursor;
        let refs: Vec<&[u8]> = chunk_kps.iter().map(Vec::as_slice).collect();
        let out =
            e.gc.add_members(&mut rng, &gid, &refs)
                .context("cannot add the members (bad KeyPackage?)")?;
        let mut same_relay = Vec::new();
        let mut elsewhere = Vec::new();
        for (i, (alias, card)) in chunk_cards.iter().enumerate() {
            let nm = out
                .new_members
                .get(i)
                .ok_or_else(|| anyhow!("commit lost a member"))?;
            if nm.identity != card.identity {
                e.gc.discard_pending_commit(&gid).ok();
                return Err(fail(
                    Failure::IdentityMismatch,
                    format!("the KeyPackage the relay gave for {alias} is not {alias}'s identity"),
                ));
            }
            let payload = GroupInvitation {
                welcome: out.welcome_for(i).context("cannot split the Welcome")?,
                relay: group_relay.clone(),
                log_cursor: hint,
                name: name.to_string(),
            }
            .encode();
            let sealed = envelope::seal(
                &mut rng,
                &me,
                &card.identity,
                ContentKind::GroupWelcome,
                &payload,
                reply_to.as_bytes(),
            )
            .context("cannot seal the Welcome")?;
            let w = WelcomeDelivery {
                mailbox: card.mailbox,
                envelope_id: EnvelopeId::random().map_err(|err| anyhow!("no randomness: {err}"))?,
                ciphertext: sealed,
            };
            if card.relay.to_string() == group_relay {
                same_relay.push((alias.clone(), w));
            } else {
                elsewhere.push((alias.clone(), card.relay.clone(), w));
            }
        }
        for (alias, w) in &same_relay {
            e.l.state.record_sent(Sent {
                id: hex::encode(w.envelope_id.as_bytes()),
                relay: group_relay.clone(),
                to: alias.clone(),
                sent_at_ms: hush_relay_client::wire::types::now_ms(),
            });
        }
        commit(
            &mut e,
            name,
            &gid,
            &out,
            same_relay.into_iter().map(|(_, w)| w).collect(),
        )
        .await?;
        // Members on other relays get their Welcome in their own mailbox.
        for (alias, relay, w) in elsewhere {
            e.client(&relay)
                .await?
                .send(&w.mailbox, &w.envelope_id, w.ciphertext)
                .await
                .map_err(|err| {
                    anyhow!(
                        "cannot deliver the invitation to {alias}: {}",
                        net::describe(&err)
                    )
                })?;
        }
        pb.inc(chunk_cards.len() as u64);
    }
    pb.finish_and_clear();
    e.close().await;
    emit(
        format!("added {} to group {name}", aliases.join(", ")),
        json!({"group": name, "added": aliases}),
    );
    Ok(())
}

/// `hush group remove`.
pub async fn remove(dir: &Path, name: &str, aliases: &[String]) -> Result<()> {
    let (mut e, _, gid) = open(dir, name).await?;
    let members: Vec<IdentityPublicKey> =
        e.gc.members(&gid)
            .context("cannot list members")?
            .into_iter()
            .map(|m| m.identity)
            .collect();
    let mut ids = Vec::new();
    for a in aliases {
        let c = e.l.state.contact(a)?;
        if !members.contains(&c.identity) {
            bail!("{a} is not in group '{name}'");
        }
        ids.push(c.identity);
    }
    let out =
        e.gc.remove_members(&mut rand::rng(), &gid, &ids)
            .context("cannot remove the members")?;
    commit(&mut e, name, &gid, &out, Vec::new()).await?;
    e.close().await;
    emit(
        format!("removed {} from group {name}", aliases.join(", ")),
        json!({"group": name, "removed": aliases}),
    );
    Ok(())
}

/// `hush group send`.
pub async fn send(dir: &Path, name: &str, text: &str) -> Result<()> {
    let (mut e, mut rec, gid) = open(dir, name).await?;
    let relay: RelayUrl = rec
        .relay
        .parse()
        .map_err(|err| anyhow!("stored group relay is invalid: {err}"))?;
    let rid = relay_group_id(&rec)?;
    let epoch = e.gc.epoch(&gid).context("unknown group state")?;
    let ct =
        e.gc.encrypt(&mut rand::rng(), &gid, text.as_bytes())
            .context("cannot encrypt for the group")?;
    e.save()?;
    let r = e
        .client(&relay)
        .await?
        .group_append(&rid, epoch, GroupMessageKind::Application, ct, Vec::new())
        .await
        .map_err(net::err("the relay did not store the message"))?;
    rec.own_seqs.insert(r.seq);
    rec.cursor = rec.cursor.max(e.group(name)?.0.cursor);
    e.l.state.groups.insert(name.to_string(), rec);
    e.save()?;
    e.close().await;
    emit(
        format!("sent to group {name}"),
        json!({"group": name, "seq": r.seq}),
    );
    Ok(())
}

/// `hush group list`.
pub fn list(dir: &Path) -> Result<()> {
    let l = Home::lock(dir, false)?.load()?;
    let e = Engine::new(l)?;
    for (name, rec) in &e.l.state.groups {
        let gid = GroupId::from_slice(&hex::decode(&rec.id).unwrap_or_default());
        if !rec.active {
            emit(
                format!("{name}\t(removed)"),
                json!({"group": name, "id": rec.id, "state": "removed"}),
            );
            continue;
        }
        if rec.rejoin {
            emit(
                format!("{name}\t(needs to be re-added by a member)"),
                json!({"group": name, "id": rec.id, "state": "rejoin"}),
            );
            continue;
        }
        let members = e.gc.members(&gid).unwrap_or_default();
        let names: Vec<String> = members
            .iter()
            .map(|m| {
                if m.identity == *e.me.public() {
                    "me".to_string()
                } else {
                    e.l.state.name_of(&m.identity)
                }
            })
            .collect();
        let epoch = e.gc.epoch(&gid).unwrap_or(0);
        emit(
            format!(
                "{name}\t{} members\tepoch {epoch}\t{}",
                members.len(),
                names.join(", ")
            ),
            json!({
                "group": name,
                "id": rec.id,
                "state": "active",
                "epoch": epoch,
                "members": names,
                "relay": rec.relay,
            }),
        );
    }
    Ok(())
}
