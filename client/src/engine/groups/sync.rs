//! Reading group logs: each entry is processed once; the events of a page of entries, the
//! group's new MLS state and the advanced cursor are written in one batch. Joining from a Welcome.

use super::{STATE_MEMBER, STATE_REMOVED, log_of, own_entry_key, put_group, put_group_record};
use crate::card::Card;
use crate::engine::{Engine, EventIds};
use crate::error::Error;
use crate::event::{EventKind, Sender};
use crate::records::{GroupRecord, HeldInvitation};
use crate::store::{Batch, Store, Table};
use futures_util::future::join_all;
use hush_protocol::group::{GroupEvent, GroupId, GroupInvitation, GroupMember};
use hush_protocol::{Fingerprint, IdentityPublicKey};
use hush_relay_client::{GroupEntry, GroupFetchResult, GroupId as LogId, RelayUrl};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use zeroize::Zeroizing;

/// Pages of a group log read per sync at most.
const MAX_PAGES: usize = 10_000;

/// A log to read a first page of: its index in the groups read, its id, the cursor.
type ToFetch = (usize, LogId, u64);

/// Group log fetches a receive keeps in flight on one connection at most.
const PREFETCH: usize = 32;

/// The `seen` key of a group log message: `g` and its SHA-256. Our own messages are marked
/// seen before they are sent, so reading them back (or a repeated append after a crash)
/// is passed over.
pub(crate) fn seen_key(message: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(33);
    k.push(b'g');
    k.extend_from_slice(&Sha256::digest(message));
    k
}

/// Senders by device identity fingerprint: the person's fingerprint and alias (`None`: not a
/// contact).
type Aliases = std::collections::HashMap<[u8; 32], (Fingerprint, Option<String>)>;

/// `now` as a `seen` value.
pub(crate) fn seen_at(now_ms: u64) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(now_ms.to_be_bytes().to_vec())
}

impl<S: Store> Engine<S> {
    /// Reads the log of every group we are a member of, to its end; the events go to
    /// [`Engine::unreported`].
    ///
    /// The first page of every log is asked for at once (up to [`PREFETCH`] requests in
    /// flight on a connection), so that reading 100 logs with nothing new costs about one
    /// round trip rather than 100; the pages are then processed one group after the other,
    /// as [`Engine::sync_group`] does.
    pub(crate) async fn sync_groups(&mut self) -> Result<(), Error> {
        let groups: Vec<(String, GroupRecord)> = self
            .group_records()?
            .into_iter()
            .filter(|(_, rec)| rec.state == STATE_MEMBER)
            .collect();
        let mut firsts = self.first_pages(&groups).await;
        for ((name, rec), first) in groups.into_iter().zip(firsts.drain(..)) {
            self.sync_group_with(&name, rec, first).await?;
        }
        Ok(())
    }

    /// The first page of each group's log from its cursor, fetched concurrently per relay;
    /// `None` where there is none to give (a commit of ours on its way, which is settled
    /// first, or a failed request: [`Engine::read_log_with`] then fetches it itself).
    async fn first_pages(
        &mut self,
        groups: &[(String, GroupRecord)],
    ) -> Vec<Option<(u64, GroupFetchResult)>> {
        let mut out: Vec<Option<(u64, GroupFetchResult)>> = vec![None; groups.len()];
        let mut by_relay: HashMap<String, (RelayUrl, Vec<ToFetch>)> = HashMap::new();
        for (i, (_, rec)) in groups.iter().enumerate() {
            if rec.pending.is_some() {
                continue;
            }
            if let Ok((relay, log)) = log_of(rec) {
                by_relay
                    .entry(relay.to_string())
                    .or_insert_with(|| (relay, Vec::new()))
                    .1
                    .push((i, log, rec.cursor));
            }
        }
        for (relay, logs) in by_relay.into_values() {
            let Ok(client) = self.client(&relay).await else {
                continue;
            };
            for chunk in logs.chunks(PREFETCH) {
                let fetches = chunk.iter().map(|(_, log, cursor)| async move {
                    let page = client.group_fetch(log, *cursor, 0).await.ok()?;
                    Some((*cursor, page))
                });
                for ((i, _, _), page) in chunk.iter().zip(join_all(fetches).await) {
                    out[*i] = page;
                }
            }
        }
        out
    }

    /// Every group's name and engine record.
    pub(crate) fn group_records(&self) -> Result<Vec<(String, GroupRecord)>, Error> {
        let mut out = self
            .account
            .store
            .scan(Table::Groups)?
            .into_iter()
            .map(|(k, v)| {
                let name = String::from_utf8(k).map_err(|_| Error::Corrupt("group name"))?;
                Ok((name, super::decode_group(&v)?))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// Reads group `name`'s log from its cursor to the end (after settling our commit on its
    /// way, if any); the events go to [`Engine::unreported`] as they are saved. Commits the
    /// proposals left pending (a member's request to leave).
    pub(crate) async fn sync_group(&mut self, name: &str) -> Result<(), Error> {
        let rec = self.group_record(name)?;
        self.sync_group_from(name, rec).await.map(|_| ())
    }

    /// [`Engine::sync_group`] with the group's record as the store has it; the record after
    /// it, `None` once we are no longer a member.
    pub(crate) async fn sync_group_from(
        &mut self,
        name: &str,
        rec: GroupRecord,
    ) -> Result<Option<GroupRecord>, Error> {
        self.sync_group_with(name, rec, None).await
    }

    /// [`Engine::sync_group_from`], the log's first page perhaps fetched already (see
    /// [`Engine::read_log_with`]).
    async fn sync_group_with(
        &mut self,
        name: &str,
        rec: GroupRecord,
        first: Option<(u64, GroupFetchResult)>,
    ) -> Result<Option<GroupRecord>, Error> {
        let Some(rec) = self.read_log_with(name, rec, first).await? else {
            return Ok(None);
        };
        let gid = GroupId::from_slice(&rec.id);
        if !rec.leaving && self.groups.has_pending_proposals(&gid)? {
            self.commit_proposals(name).await?;
            return Ok(Some(self.group_record(name)?));
        }
        Ok(Some(rec))
    }

    /// [`Engine::sync_group`] without committing proposals.
    pub(crate) async fn read_log(&mut self, name: &str) -> Result<(), Error> {
        let rec = self.group_record(name)?;
        self.read_log_from(name, rec).await.map(|_| ())
    }

    /// Reads the log from `rec`'s cursor (`rec` as the store has it); the record at the end,
    /// `None` once we are no longer a member. The record is kept in memory between pages
    /// (each page's batch writes it), so a read costs no record lookups.
    async fn read_log_from(
        &mut self,
        name: &str,
        rec: GroupRecord,
    ) -> Result<Option<GroupRecord>, Error> {
        self.read_log_with(name, rec, None).await
    }

    /// [`Engine::read_log_from`], its first page already fetched (`first`: the cursor it
    /// was read from and the page) when that cursor is still the record's.
    async fn read_log_with(
        &mut self,
        name: &str,
        mut rec: GroupRecord,
        mut first: Option<(u64, GroupFetchResult)>,
    ) -> Result<Option<GroupRecord>, Error> {
        if rec.pending.is_some() {
            self.push_pending(name).await?;
            rec = self.group_record(name)?;
        }
        if rec.state != STATE_MEMBER {
            return Ok(None);
        }
        let (relay, log) = log_of(&rec)?;
        for _ in 0..MAX_PAGES {
            // From the record's cursor (a rejoin may move it back to the invitation's).
            let cursor = rec.cursor;
            let page = match first.take() {
                Some((from, page)) if from == cursor => page,
                _ => {
                    self.client(&relay)
                        .await?
                        .group_fetch(&log, cursor, 0)
                        .await?
                }
            };
            match self.apply_page(name, rec, &page.entries)? {
                Some(r) => rec = r,
                None => return Ok(None),
            }
            if page.entries.is_empty() || page.next_cursor <= cursor {
                break;
            }
        }
        Ok(Some(rec))
    }

    /// Processes log entries of group `name` (a fetched page, or what a push carried); see
    /// [`Engine::apply_page`]. `false` once we are no longer a member.
    pub(crate) fn apply_entries(
        &mut self,
        name: &str,
        entries: &[GroupEntry],
    ) -> Result<bool, Error> {
        let rec = self.group_record(name)?;
        Ok(self.apply_page(name, rec, entries)?.is_some())
    }

    /// Processes log entries of group `name` in order, all in one batch with the advanced
    /// cursor: the page is saved whole or not at all, so a crash or a failed write leaves the
    /// cursor before it and the next read processes it again from the saved MLS state. Their
    /// events go to [`Engine::unreported`] once saved. Entries before the cursor are passed
    /// over. `rec` is the group's record as the store has it; the record after the page, or
    /// `None` once we are no longer a member.
    fn apply_page(
        &mut self,
        name: &str,
        mut rec: GroupRecord,
        entries: &[GroupEntry],
    ) -> Result<Option<GroupRecord>, Error> {
        let (batch, events) = match self.stage_entries(name, &mut rec, entries) {
            Ok(staged) => staged,
            Err(e) => {
                // The MLS state may have moved over entries of the page: back to the saved one.
                if let Ok(g) = Self::load_groups(&mut self.account) {
                    self.groups = g;
                }
                return Err(e);
            }
        };
        if let Some(b) = batch {
            self.commit_groups(b)?;
            self.unreported.extend(events);
        }
        if rec.state != STATE_MEMBER && rec.held_invitation.is_some() {
            // Removed, and invited back meanwhile: rejoin, and read on from there.
            self.apply_held_invitation(name)?;
            rec = self.group_record(name)?;
        }
        Ok((rec.state == STATE_MEMBER).then_some(rec))
    }

    /// Processes `entries` into one batch (`None` if the cursor did not move) and the events
    /// it saves; advances `rec`.
    fn stage_entries(
        &mut self,
        name: &str,
        rec: &mut GroupRecord,
        entries: &[GroupEntry],
    ) -> Result<(Option<Batch>, Vec<crate::event::Event>), Error> {
        let mut b = Batch::new();
        let mut events = Vec::new();
        let mut ids = EventIds::default();
        // `seen` keys put in this batch: a page may repeat a message (an append retried).
        let mut seen_here = HashSet::new();
        // Senders' aliases looked up in this page: a page is mostly a few senders.
        let mut aliases = Aliases::new();
        let start = rec.cursor;
        let now = self.now_ms();
        for e in entries {
            if rec.state != STATE_MEMBER {
                break;
            }
            if e.seq < rec.cursor {
                continue;
            }
            let key = seen_key(&e.message);
            if seen_here.contains(&key) || self.account.store.get(Table::Seen, &key)?.is_some() {
                // Ours, or a repeat: the cursor moves over it.
                rec.cursor = e.seq.saturating_add(1);
                continue;
            }
            let kinds = self.apply_entry(name, rec, e, &mut aliases)?;
            b.put(Table::Seen, key.clone(), seen_at(now));
            seen_here.insert(key);
            events.extend(self.stage_events(&mut b, None, kinds, &mut ids)?);
        }
        if rec.cursor == start && b.is_empty() {
            return Ok((None, events));
        }
        ids.put(&mut b);
        put_group_record(&mut b, name, rec);
        Ok((Some(b), events))
    }

    /// Processes one log entry (the caller passed over ours and repeats); advances `rec`.
    fn apply_entry(
        &mut self,
        name: &str,
        rec: &mut GroupRecord,
        e: &GroupEntry,
        aliases: &mut Aliases,
    ) -> Result<Vec<EventKind>, Error> {
        rec.cursor = e.seq.saturating_add(1);
        let mut kinds = Vec::new();
        let gid = GroupId::from_slice(&rec.id);
        let events = match self.groups.process(&mut self.rng, &gid, &e.message) {
            Ok(events) => events,
            Err(err) => {
                // Entries from before we joined cannot (and need not) be read, nor our own
                // that a home from before the engine recorded by position (`own_entry_key`:
                // looked up only here, so reading costs nothing for it).
                let own = self
                    .account
                    .store
                    .get(Table::Seen, &own_entry_key(&rec.id, e.seq))?
                    .is_some();
                if !own && e.epoch >= self.groups.epoch(&gid)? {
                    kinds.push(EventKind::Unreadable {
                        reason: format!("a message in group {name}: {err}"),
                    });
                }
                return Ok(kinds);
            }
        };
        for ev in events {
            match ev {
                GroupEvent::Application {
                    sender, plaintext, ..
                } => kinds.push(EventKind::GroupMessage {
                    group: name.to_string(),
                    from: self.page_sender(&sender, aliases)?,
                    body: plaintext,
                }),
                GroupEvent::Commit {
                    committer,
                    added,
                    removed,
                    ..
                } if !added.is_empty() || !removed.is_empty() => {
                    kinds.push(EventKind::MembersChanged {
                        group: name.to_string(),
                        by: committer.map(|c| c.identity.fingerprint()),
                        added: added.iter().map(|m| m.identity.fingerprint()).collect(),
                        removed: removed.iter().map(|m| m.identity.fingerprint()).collect(),
                    });
                }
                GroupEvent::RemovedFromGroup { .. } => {
                    rec.state = STATE_REMOVED;
                    kinds.push(EventKind::Removed {
                        group: name.to_string(),
                    });
                }
                _ => {}
            }
        }
        Ok(kinds)
    }

    /// A sender as events show it.
    /// [`Engine::sender`] of a group entry, its alias looked up once per page.
    fn page_sender(&self, member: &GroupMember, aliases: &mut Aliases) -> Result<Sender, Error> {
        let device = member.identity.fingerprint();
        let (identity, alias) = match aliases.get(&device.0) {
            Some(known) => known.clone(),
            None => {
                let known = self.member_alias(member)?;
                aliases.insert(device.0, known.clone());
                known
            }
        };
        Ok(Sender {
            identity,
            alias,
            card: None,
        })
    }

    /// The person a device belongs to (its fingerprint, the device's own when it is on no
    /// list held) and their alias when they are a contact (`spec/multi-device.md` §4.3).
    pub(crate) fn person_alias(
        &self,
        device: &IdentityPublicKey,
    ) -> Result<(Fingerprint, Option<String>), Error> {
        let person = self.person_of(device)?.unwrap_or_else(|| device.clone());
        Ok((person.fingerprint(), self.account.alias_of(&person)?))
    }

    /// [`Engine::person_alias`] of a group member. When no list we hold places the device,
    /// the person its credential names (its signature checked by the protocol) stands,
    /// unless that person is us or a contact whose list we hold and it does not name the
    /// device (a revoked device, or one that list has not caught up with): then the device
    /// shows as itself (`spec/multi-device.md` §5).
    pub(crate) fn member_alias(
        &self,
        member: &GroupMember,
    ) -> Result<(Fingerprint, Option<String>), Error> {
        let person = match (self.person_of(&member.identity)?, &member.person) {
            (Some(person), _) => person,
            (None, Some(p)) if *p != self.person()? && self.contact_list(p)?.is_none() => p.clone(),
            _ => member.identity.clone(),
        };
        Ok((person.fingerprint(), self.account.alias_of(&person)?))
    }

    pub(crate) fn sender(
        &self,
        identity: &IdentityPublicKey,
        card: Option<String>,
    ) -> Result<Sender, Error> {
        let (identity, alias) = self.person_alias(identity)?;
        Ok(Sender {
            identity,
            alias,
            card,
        })
    }

    /// Joins the group a sealed Welcome (`payload`, from `sender`) invites us to; the group
    /// records go into `batch`. A group we had (removed, or re-added) keeps its name. An
    /// invitation back into a group whose log we have not read up to our removal yet is held
    /// in the group's record (`None`): it is applied when the log shows the removal, so
    /// nothing sent before it is skipped.
    pub(crate) fn join_group(
        &mut self,
        sender: &IdentityPublicKey,
        payload: &[u8],
        card: Option<String>,
        batch: &mut Batch,
    ) -> Result<Option<EventKind>, Error> {
        let inv = GroupInvitation::decode(payload)?;
        let relay: RelayUrl = inv.relay.parse().map_err(|_| Error::Invalid {
            what: "group invitation",
            why: "its relay address does not parse".into(),
        })?;
        let gid = self.groups.welcome_group_id(&mut self.rng, &inv.welcome)?;
        let held = self.groups.group_ids().contains(&gid) && self.groups.is_active(&gid)?;
        if held && let Some(name) = self.group_name(gid.as_slice())? {
            let mut rec = self.group_record(&name)?;
            if rec.state == STATE_MEMBER {
                rec.held_invitation = Some(HeldInvitation {
                    payload: payload.to_vec(),
                    sender: sender.to_bytes(),
                    card,
                });
                put_group(batch, &name, &rec);
                return Ok(None);
            }
        }
        if held {
            // Our state says we are in it, and no record: start over from the invitation.
            self.groups.delete_group(&gid)?;
        }
        let gid = self.groups.join(&mut self.rng, &inv.welcome, None)?;
        let name = match self.group_name(gid.as_slice())? {
            Some(n) => n,
            None => self.free_group_name(&inv.name)?,
        };
        let rec = GroupRecord {
            id: gid.as_slice().to_vec(),
            relay: relay.to_string(),
            cursor: inv.log_cursor,
            state: STATE_MEMBER,
            ..Default::default()
        };
        put_group(batch, &name, &rec);
        Ok(Some(EventKind::Joined {
            group: name,
            by: self.sender(sender, card)?,
        }))
    }

    /// Applies the invitation group `name` held, now that its log says we were removed.
    pub(crate) fn apply_held_invitation(&mut self, name: &str) -> Result<(), Error> {
        let rec = self.group_record(name)?;
        let Some(h) = rec.held_invitation else {
            return Ok(());
        };
        if rec.state == STATE_MEMBER {
            return Ok(());
        }
        let sender =
            IdentityPublicKey::from_bytes(&h.sender).map_err(|_| Error::Corrupt("invitation"))?;
        let mut b = Batch::new();
        let kinds = match self.join_group(&sender, &h.payload, h.card, &mut b) {
            Ok(k) => k.into_iter().collect(),
            Err(e) => {
                let mut rec = self.group_record(name)?;
                rec.held_invitation = None;
                b = Batch::new();
                put_group(&mut b, name, &rec);
                vec![EventKind::Unreadable {
                    reason: format!("an invitation back into group {name}: {e}"),
                }]
            }
        };
        let events = self.push_events(&mut b, None, kinds)?;
        self.commit_groups(b)?;
        self.unreported.extend(events);
        Ok(())
    }
}

/// The card in a message's `reply_to`, if it names `sender`.
pub(crate) fn reply_card(sender: &IdentityPublicKey, reply_to: &[u8]) -> Option<String> {
    std::str::from_utf8(reply_to)
        .ok()
        .filter(|t| Card::parse(t).is_ok_and(|k| k.identity == *sender))
        .map(str::to_string)
}
