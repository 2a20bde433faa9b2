//! Our commits: adding and removing members, refreshing our keys, committing a member's
//! request to leave. Each commit is saved with its Welcomes before the relay sees it, so a
//! crash at any point is settled by sending the same bytes again; a commit that loses its
//! epoch to another member's is redone on the new epoch.

use super::sync::{seen_at, seen_key};
use super::{STATE_MEMBER, log_of, not_member, put_group};
use crate::card::Card;
use crate::directory;
use crate::engine::Engine;
use crate::engine::fanout::OWN_DEVICE;
use crate::engine::outbox::ENVELOPE_ID_LEN;
use crate::error::Error;
use crate::records::{OutboxRecord, PendingCommitRecord, WelcomeRecord};
use crate::store::{Batch, Store, Table};
use hush_protocol::IdentityPublicKey;
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::group::{CommitOutput, GroupId, GroupInvitation};
use hush_relay_client::{EnvelopeId, ErrorCode, GroupMessageKind, MailboxAddress, WelcomeDelivery};
use prost::Message;
use rand::Rng;
use zeroize::Zeroizing;

/// Most times one change is tried when other members' commits keep winning the epoch.
pub const MAX_COMMIT_ROUNDS: usize = 8;
/// Most members one commit adds (the relay takes at most 100 Welcomes with a commit).
pub const MAX_ADD: usize = 100;
/// Most bytes of Welcomes sent in the request that carries their commit (the relay's frames
/// hold 1 MiB; a Welcome carries the group's whole ratchet tree, so in a large group only a
/// few fit); the others are queued and sent right after the commit is accepted.
const WITH_COMMIT_BYTES: usize = 512 * 1024;

/// A contact to add: alias, card, KeyPackage.
type Invitee = (String, Card, Vec<u8>);

/// A membership change, kept across rounds.
enum Change {
    /// Add these contacts.
    Add(Vec<Invitee>),
    /// Remove these identities.
    Remove(Vec<IdentityPublicKey>),
    /// Refresh our own keys.
    Update,
    /// Commit the proposals members left pending.
    Proposals,
}

/// What became of our commit.
pub(crate) enum Outcome {
    /// The relay took it (or had taken it before): it is applied.
    Accepted,
    /// Another commit won its epoch: ours was thrown away.
    Lost,
}

impl<S: Store> Engine<S> {
    /// Adds contacts to group `group` in one commit: every device of each (their device
    /// list, `spec/multi-device.md` §5), and every other device of our own not in it yet.
    /// Their KeyPackages are fetched from their relays with their cards; the Welcome for each
    /// goes with the commit (or to their own relay once the commit is in). Redone
    /// automatically when another member's commit wins the epoch.
    pub async fn add_members(&mut self, group: &str, aliases: &[&str]) -> Result<(), Error> {
        if aliases.is_empty() || aliases.len() > MAX_ADD {
            return Err(Error::Invalid {
                what: "members",
                why: format!("1 to {MAX_ADD} at a time"),
            });
        }
        let gid = self.ready_group(group).await?;
        let present = self.member_identities(&gid)?;
        let mut adds: Vec<Invitee> = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let contact = self.account.contact(alias)?;
            if adds
                .iter()
                .any(|(_, c, _)| c.identity == contact.card.identity)
            {
                return Err(Error::Invalid {
                    what: "members",
                    why: format!("{alias} is named twice"),
                });
            }
            let missing: Vec<Card> = self
                .device_cards(&contact)?
                .into_iter()
                .filter(|c| !present.contains(&c.identity))
                .collect();
            if missing.is_empty() {
                return Err(Error::AlreadyMember {
                    alias: alias.to_string(),
                    group: group.to_string(),
                });
            }
            for card in missing {
                let client = self.client(&card.relay).await?;
                let kp = directory::fetch_key_package(client, alias, &card).await?;
                adds.push((alias.to_string(), card, kp));
            }
        }
        // Our other devices come along; one whose KeyPackage cannot be had now is added by
        // the next commit that adds someone.
        adds.extend(self.own_invitees(&present).await?);
        if adds.len() > MAX_ADD {
            return Err(Error::Invalid {
                what: "members",
                why: format!("{} devices: at most {MAX_ADD} in one commit", adds.len()),
            });
        }
        self.run_commit(group, Change::Add(adds)).await
    }

    /// Our other devices not among `present`, with a KeyPackage of each that could be had.
    async fn own_invitees(&mut self, present: &[IdentityPublicKey]) -> Result<Vec<Invitee>, Error> {
        let mut out = Vec::new();
        let list = self.stored_list()?;
        for card in self.own_cards(list.as_ref())? {
            if present.contains(&card.identity) {
                continue;
            }
            let Ok(client) = self.client(&card.relay).await else {
                continue;
            };
            if let Ok(kp) = directory::fetch_key_package(client, OWN_DEVICE, &card).await {
                out.push((OWN_DEVICE.to_string(), card, kp));
            }
        }
        Ok(out)
    }

    /// Adds our other devices to every group we are a member of that lacks them (after a
    /// device was linked: it joins its person's groups through this device, not by asking
    /// each group's members). Best effort, group by group: returns the groups that could not
    /// be done now (the next member added to each brings the device along).
    pub(crate) async fn add_own_devices(&mut self) -> Result<Vec<String>, Error> {
        let mut failed = Vec::new();
        for (name, rec) in self.group_records()? {
            if rec.state != STATE_MEMBER || rec.leaving {
                continue;
            }
            let gid = GroupId::from_slice(&rec.id);
            if !self.groups.group_ids().contains(&gid) {
                continue;
            }
            let present = self.member_identities(&gid)?;
            let adds = self.own_invitees(&present).await?;
            if adds.is_empty() {
                continue;
            }
            if self.run_commit(&name, Change::Add(adds)).await.is_err() {
                failed.push(name);
            }
        }
        Ok(failed)
    }

    /// On a linked device: our leaf in a group we joined with a KeyPackage made before the
    /// link names the device alone; one self-update per such group gives it our credential,
    /// which names the person (`spec/multi-device.md` §5). Best effort, group by group: a
    /// group not done now is tried at the next receive.
    pub(crate) async fn refresh_credentials(&mut self) -> Result<(), Error> {
        if self.groups.device_of().is_none() {
            return Ok(());
        }
        // Decided from the MLS client in memory: a receive reads no group record unless a
        // leaf is outdated.
        let mut outdated = Vec::new();
        for gid in self.groups.group_ids() {
            if self.groups.is_active(&gid)? && self.groups.own_leaf_outdated(&gid)? {
                outdated.push(gid);
            }
        }
        for gid in outdated {
            let Some(name) = self.group_name(gid.as_slice())? else {
                continue;
            };
            let rec = self.group_record(&name)?;
            if rec.state == STATE_MEMBER && !rec.leaving {
                let _ = self.run_commit(&name, Change::Update).await;
            }
        }
        Ok(())
    }

    /// Removes `device` (revoked) from every group we are a member of that holds it. Best
    /// effort, group by group: returns the groups where that could not be done now.
    pub(crate) async fn remove_device_everywhere(
        &mut self,
        device: &IdentityPublicKey,
    ) -> Result<Vec<String>, Error> {
        let mut failed = Vec::new();
        for (name, rec) in self.group_records()? {
            if rec.state != STATE_MEMBER {
                continue;
            }
            let gid = GroupId::from_slice(&rec.id);
            if !self.groups.group_ids().contains(&gid)
                || !self.member_identities(&gid)?.contains(device)
            {
                continue;
            }
            if self
                .run_commit(&name, Change::Remove(vec![device.clone()]))
                .await
                .is_err()
            {
                failed.push(name);
            }
        }
        Ok(failed)
    }

    /// Removes contacts from group `group` in one commit: every device of each that is in it
    /// (redone on a lost epoch).
    pub async fn remove_members(&mut self, group: &str, aliases: &[&str]) -> Result<(), Error> {
        let gid = self.ready_group(group).await?;
        let present = self.member_identities(&gid)?;
        let mut ids = Vec::with_capacity(aliases.len());
        for alias in aliases {
            let contact = self.account.contact(alias)?;
            let theirs: Vec<IdentityPublicKey> = self
                .device_cards(&contact)?
                .into_iter()
                .map(|c| c.identity)
                .chain(std::iter::once(contact.card.identity.clone()))
                .filter(|i| present.contains(i))
                .collect();
            if theirs.is_empty() {
                return Err(Error::NotMember {
                    alias: alias.to_string(),
                    group: group.to_string(),
                });
            }
            for i in theirs {
                if !ids.contains(&i) {
                    ids.push(i);
                }
            }
        }
        if ids.is_empty() {
            return Err(Error::Invalid {
                what: "members",
                why: "none given".into(),
            });
        }
        self.run_commit(group, Change::Remove(ids)).await
    }

    /// Replaces our keys in group `group` (post-compromise security), in one commit.
    pub async fn update_keys(&mut self, group: &str) -> Result<(), Error> {
        self.ready_group(group).await?;
        self.run_commit(group, Change::Update).await
    }

    /// Asks to leave group `group`: appends a proposal to remove us, which the next member
    /// to read the log commits ([`crate::EventKind::Removed`] follows then). Until then the
    /// group is [`crate::GroupStatus::Leaving`]; calling this again sends the same request
    /// again.
    pub async fn leave_group(&mut self, group: &str) -> Result<(), Error> {
        let mut rec = self.group_record(group)?;
        if rec.state != STATE_MEMBER {
            return Err(not_member(group, &rec));
        }
        if !rec.leaving {
            let gid = self.ready_group(group).await?;
            rec = self.group_record(group)?;
            rec.leave_epoch = self.groups.epoch(&gid)?;
            rec.leave_proposal = self.groups.leave(&mut self.rng, &gid)?;
            rec.leaving = true;
            let mut b = Batch::new();
            put_group(&mut b, group, &rec);
            b.put(
                Table::Seen,
                seen_key(&rec.leave_proposal),
                seen_at(self.now_ms()),
            );
            self.commit_groups(b)?;
        }
        let (relay, log) = log_of(&rec)?;
        self.client(&relay)
            .await?
            .group_append(
                &log,
                rec.leave_epoch,
                GroupMessageKind::Proposal,
                rec.leave_proposal.clone(),
                Vec::new(),
            )
            .await?;
        Ok(())
    }

    /// Commits the proposals members left pending in group `group`.
    pub(crate) async fn commit_proposals(&mut self, group: &str) -> Result<(), Error> {
        self.run_commit(group, Change::Proposals).await
    }

    /// Checks we are a member of `group`, settles our commit on its way and reads the log
    /// to its end (events read on the way are returned by the next [`Engine::receive`]).
    pub(crate) async fn ready_group(&mut self, group: &str) -> Result<GroupId, Error> {
        self.check_generation().await?;
        let rec = self.group_record(group)?;
        if rec.state != STATE_MEMBER || rec.leaving {
            return Err(not_member(group, &rec));
        }
        self.sync_group(group).await?;
        let rec = self.group_record(group)?;
        if rec.state != STATE_MEMBER {
            return Err(not_member(group, &rec));
        }
        Ok(GroupId::from_slice(&rec.id))
    }

    fn member_identities(&self, gid: &GroupId) -> Result<Vec<IdentityPublicKey>, Error> {
        Ok(self
            .groups
            .members(gid)?
            .into_iter()
            .map(|m| m.identity)
            .collect())
    }

    /// Makes, saves and sends the commit for `change`, redoing it on the new epoch while
    /// other commits win (at most [`MAX_COMMIT_ROUNDS`] times).
    async fn run_commit(&mut self, group: &str, change: Change) -> Result<(), Error> {
        self.check_generation().await?;
        for round in 0..MAX_COMMIT_ROUNDS {
            if round > 0 {
                // Apply the commit that won, then redo ours on top of it.
                self.read_log(group).await?;
            }
            let rec = self.group_record(group)?;
            if rec.state != STATE_MEMBER {
                return Err(not_member(group, &rec));
            }
            let gid = GroupId::from_slice(&rec.id);
            let Some((out, welcomes)) =
                self.make_commit(group, &gid, &rec.relay, rec.cursor, &change)?
            else {
                // Nothing left to do: the change was made meanwhile.
                return Ok(());
            };
            // Welcomes ride with the commit (stored only if it is accepted) while they fit in
            // one request; the rest, and those for other relays, go once it is in.
            let mut budget = WITH_COMMIT_BYTES.saturating_sub(out.commit.len());
            let (with_commit, after_commit) =
                welcomes.into_iter().partition(|w: &WelcomeRecord| {
                    let fits = w.relay == rec.relay && w.envelope.len() <= budget;
                    if fits {
                        budget -= w.envelope.len();
                    }
                    fits
                });
            let mut rec = rec;
            rec.pending = Some(PendingCommitRecord {
                epoch: out.epoch,
                commit: out.commit,
                with_commit,
                after_commit,
            });
            let mut b = Batch::new();
            put_group(&mut b, group, &rec);
            self.commit_groups(b)?;
            match self.push_pending(group).await? {
                Outcome::Accepted => return Ok(()),
                Outcome::Lost => self.lost_commits += 1,
            }
        }
        Err(Error::GroupBusy(group.to_string()))
    }

    /// The commit for what is left of `change` on the current epoch, with the sealed
    /// Welcomes of the members it adds; `None` when nothing is left to do.
    fn make_commit(
        &mut self,
        group: &str,
        gid: &GroupId,
        relay: &str,
        cursor: u64,
        change: &Change,
    ) -> Result<Option<(CommitOutput, Vec<WelcomeRecord>)>, Error> {
        let mut rng = self.child_rng();
        let present = self.member_identities(gid)?;
        let (out, added): (CommitOutput, Vec<&Invitee>) = match change {
            Change::Add(list) => {
                let todo: Vec<_> = list
                    .iter()
                    .filter(|(_, c, _)| !present.contains(&c.identity))
                    .collect();
                if todo.is_empty() {
                    return Ok(None);
                }
                let kps: Vec<&[u8]> = todo.iter().map(|(_, _, kp)| kp.as_slice()).collect();
                (self.groups.add_members(&mut rng, gid, &kps)?, todo)
            }
            Change::Remove(ids) => {
                let todo: Vec<_> = ids
                    .iter()
                    .filter(|i| present.contains(i))
                    .cloned()
                    .collect();
                if todo.is_empty() {
                    return Ok(None);
                }
                (
                    self.groups.remove_members(&mut rng, gid, &todo)?,
                    Vec::new(),
                )
            }
            Change::Update => (self.groups.self_update(&mut rng, gid)?, Vec::new()),
            Change::Proposals => match self.groups.commit_pending_proposals(&mut rng, gid) {
                Ok(out) => (out, Vec::new()),
                // Someone committed them first.
                Err(hush_protocol::group::GroupError::EmptyInput(_)) => return Ok(None),
                Err(e) => return Err(e.into()),
            },
        };
        let me = self.account.identity_key_pair();
        let reply_to = self.account.card().encode()?;
        let mut welcomes = Vec::with_capacity(added.len());
        for (i, (alias, card, _)) in added.iter().enumerate() {
            let mismatch = out
                .new_members
                .get(i)
                .is_none_or(|m| m.identity != card.identity);
            if mismatch {
                self.groups.discard_pending_commit(gid)?;
                return Err(Error::IdentityMismatch(alias.clone()));
            }
            let payload = GroupInvitation {
                welcome: out.welcome_for(i)?,
                relay: relay.to_string(),
                log_cursor: cursor,
                name: group.to_string(),
            }
            .encode();
            let sealed = envelope::seal(
                &mut rng,
                me,
                &card.identity,
                ContentKind::GroupWelcome,
                &payload,
                reply_to.as_bytes(),
            )?;
            let mut id = [0u8; ENVELOPE_ID_LEN];
            rng.fill_bytes(&mut id);
            welcomes.push(WelcomeRecord {
                relay: card.relay.to_string(),
                mailbox: card.mailbox.as_bytes().to_vec(),
                envelope_id: id.to_vec(),
                envelope: sealed,
                to: alias.clone(),
            });
        }
        Ok(Some((out, welcomes)))
    }

    /// Sends our saved commit of group `group` to its log (the same bytes every time) and
    /// settles it: accepted, it is applied and the Welcomes for other relays are queued and
    /// sent; refused, it is thrown away. A relay that cannot be reached leaves it saved for
    /// the next try.
    pub(crate) async fn push_pending(&mut self, group: &str) -> Result<Outcome, Error> {
        let mut rec = self.group_record(group)?;
        let Some(p) = rec.pending.take() else {
            return Ok(Outcome::Accepted);
        };
        let gid = GroupId::from_slice(&rec.id);
        let (relay, log) = log_of(&rec)?;
        let welcomes = p
            .with_commit
            .iter()
            .map(welcome_delivery)
            .collect::<Result<Vec<_>, Error>>()?;
        let r = self
            .client(&relay)
            .await?
            .group_append(
                &log,
                p.epoch,
                GroupMessageKind::Commit,
                p.commit.clone(),
                welcomes,
            )
            .await;
        match r {
            Ok(_) => {
                self.groups.confirm_commit(&mut self.rng, &gid)?;
                let mut b = Batch::new();
                put_group(&mut b, group, &rec);
                b.put(Table::Seen, seen_key(&p.commit), seen_at(self.now_ms()));
                let now = self.now_ms();
                let mut queued = Vec::with_capacity(p.after_commit.len());
                for w in &p.after_commit {
                    let o = OutboxRecord {
                        relay: w.relay.clone(),
                        mailbox: w.mailbox.clone(),
                        envelope: w.envelope.clone(),
                        to: w.to.clone(),
                        queued_at_ms: now,
                        group_id: Vec::new(),
                        epoch: 0,
                    };
                    b.put(
                        Table::Outbox,
                        w.envelope_id.clone(),
                        Zeroizing::new(o.encode_to_vec()),
                    );
                    let id = EnvelopeId::new(w.envelope_id.clone())
                        .map_err(|_| Error::Corrupt("welcome"))?;
                    queued.push((id, o));
                }
                self.commit_groups(b)?;
                for (id, o) in queued {
                    // A Welcome that cannot be delivered now stays in the outbox.
                    self.deliver(id, o, false).await;
                }
                Ok(Outcome::Accepted)
            }
            Err(e) if e.relay_code().is_some() => {
                // Refused: by a commit that won the epoch, or for good.
                self.groups.discard_pending_commit(&gid)?;
                let mut b = Batch::new();
                put_group(&mut b, group, &rec);
                self.commit_groups(b)?;
                if e.relay_code() == Some(ErrorCode::EpochConflict) {
                    Ok(Outcome::Lost)
                } else {
                    Err(e.into())
                }
            }
            Err(e) => Err(e.into()),
        }
    }
}

fn welcome_delivery(w: &WelcomeRecord) -> Result<WelcomeDelivery, Error> {
    Ok(WelcomeDelivery {
        mailbox: MailboxAddress::from_slice(&w.mailbox).map_err(|_| Error::Corrupt("welcome"))?,
        envelope_id: EnvelopeId::new(w.envelope_id.clone())
            .map_err(|_| Error::Corrupt("welcome"))?,
        ciphertext: w.envelope.clone(),
    })
}
