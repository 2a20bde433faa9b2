//! The fate of our pending commit: confirmed by the relay, discarded, or lost to another
//! member's commit for the same epoch (then the winner is applied and our change redone).

use openmls::prelude::ContentType;
use openmls_traits::OpenMlsProvider as _;
use rand_core::CryptoRng;

use super::merge::{drain_future, merge_commit, merge_own_commit, stage_commit};
use super::process::{check_group, protocol_message};
use super::{GroupClient, Intent, leaf_of};
use crate::group::error::{GroupError, GroupResult, mls};
use crate::group::events::{CommitOutput, ConflictResolution, GroupEvent, GroupId};
use crate::group::provider::Provider;

impl GroupClient {
    /// Marks our pending commit as accepted by the relay and applies it (for relays that
    /// acknowledge instead of echoing the commit back). Returns the new epoch.
    pub fn confirm_commit<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<Vec<GroupEvent>> {
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let require_hush = !self.interop;
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        if slot.pending.is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        merge_own_commit(slot, &provider, &mut self.identities, require_hush)
    }

    /// Throws our pending commit away (the relay rejected it). The group stays at its
    /// current epoch; the change is not retried (see [`GroupClient::resolve_conflict`]).
    pub fn discard_pending_commit(&mut self, group: &GroupId) -> GroupResult<()> {
        let storage = &self.storage;
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        if slot.pending.is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        slot.mls.clear_pending_commit(storage).map_err(mls)?;
        slot.pending = None;
        Ok(())
    }

    /// Our commit lost the epoch to `winning_commit` (the commit the relay's group log holds
    /// for that epoch): discards ours, applies the winner, and redoes our change on the new
    /// epoch. Send [`ConflictResolution::retry`] to the relay if present.
    ///
    /// If the winner does not validate, nothing changes and the error is returned.
    pub fn resolve_conflict<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        winning_commit: &[u8],
    ) -> GroupResult<ConflictResolution> {
        let pending = self
            .slot(group)?
            .pending
            .clone()
            .ok_or(GroupError::NoPendingCommit)?;
        if winning_commit == pending.commit.as_slice() {
            // Our own commit won after all.
            let events = self.confirm_commit(rng, group)?;
            return Ok(ConflictResolution {
                events,
                retry: None,
            });
        }
        let protocol = protocol_message(winning_commit)?;
        if protocol.content_type() != ContentType::Commit
            || protocol.epoch().as_u64() != pending.epoch
        {
            return Err(GroupError::UnexpectedMessage {
                expected: "a commit for the epoch of our pending commit",
            });
        }
        let events = {
            let require_hush = !self.interop;
            let provider = Provider::new(&self.crypto, &self.storage, &mut *rng);
            let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
            check_group(slot, &protocol)?;
            // Stage the winner first: if it is invalid, our pending commit stays.
            let staged = stage_commit(slot, &provider, protocol, require_hush)?;
            slot.mls
                .clear_pending_commit(provider.storage())
                .map_err(mls)?;
            slot.pending = None;
            let mut events = Vec::new();
            merge_commit(slot, &provider, &mut self.identities, staged, &mut events)?;
            drain_future(
                slot,
                &provider,
                &mut self.identities,
                require_hush,
                &mut events,
            );
            events
        };
        let retry = self.retry(rng, group, pending.intent)?;
        Ok(ConflictResolution { events, retry })
    }

    /// Redoes `intent` on the current epoch, skipping what already happened.
    fn retry<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        intent: Intent,
    ) -> GroupResult<Option<CommitOutput>> {
        let slot = self.slot(group)?;
        if !slot.mls.is_active() {
            return Ok(None);
        }
        match intent {
            Intent::Add(kps) => {
                let present: Vec<[u8; 32]> = slot
                    .mls
                    .members()
                    .filter_map(|m| m.signature_key.as_slice().try_into().ok())
                    .collect();
                let validated = {
                    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
                    self.validate_key_packages(&slot.mls, &refs)?
                };
                let remaining: Vec<&[u8]> = kps
                    .iter()
                    .zip(validated.iter())
                    .filter(|(_, (_, id))| !present.contains(&id.signing_key_bytes()))
                    .map(|(bytes, _)| bytes.as_slice())
                    .collect();
                if remaining.is_empty() {
                    return Ok(None);
                }
                self.add_members(rng, group, &remaining).map(Some)
            }
            Intent::Remove(keys) => {
                let remaining: Vec<[u8; 32]> = keys
                    .into_iter()
                    .filter(|k| leaf_of(&slot.mls, k).is_some())
                    .collect();
                if remaining.is_empty() {
                    return Ok(None);
                }
                self.remove_by_keys(rng, group, remaining).map(Some)
            }
            Intent::SelfUpdate => self.self_update(rng, group).map(Some),
            Intent::CommitProposals => {
                if slot.mls.has_pending_proposals() {
                    self.commit_pending_proposals(rng, group).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }
}
