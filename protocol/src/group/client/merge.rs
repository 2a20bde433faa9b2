//! Merging commits: validating and merging another member's commit, applying our own
//! accepted one, and processing the buffered messages of the epochs a commit opens.

use openmls::prelude::{
    ContentType, ProcessedMessageContent, ProtocolMessage, Sender, StagedCommit,
};

use rand_core::CryptoRng;

use super::process::{process_one, protocol_message};
use super::{GroupSlot, member_at};
use crate::group::credential::{IdentityCache, check_credential};
use crate::group::error::{GroupError, GroupResult, invalid_message, mls};
use crate::group::events::{GroupEvent, GroupMember};
use crate::group::provider::Provider;

/// Validates a commit (openmls' checks, then Hush credentials of every new or changed leaf).
pub(super) fn stage_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    protocol: ProtocolMessage,
    require_hush: bool,
) -> GroupResult<(StagedCommit, Sender)> {
    let processed = slot
        .mls
        .process_message(provider, protocol)
        .map_err(invalid_message)?;
    let sender = processed.sender().clone();
    let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
        return Err(GroupError::UnexpectedMessage { expected: "commit" });
    };
    if require_hush {
        check_commit_credentials(&staged)?;
    }
    Ok((*staged, sender))
}

pub(super) fn check_commit_credentials(staged: &StagedCommit) -> GroupResult<()> {
    for add in staged.add_proposals() {
        let leaf = add.add_proposal().key_package().leaf_node();
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    for upd in staged.update_proposals() {
        let leaf = upd.update_proposal().leaf_node();
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    if let Some(leaf) = staged.update_path_leaf_node() {
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    Ok(())
}

/// Merges a staged commit of another member and records the events.
pub(super) fn merge_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    (staged, sender): (StagedCommit, Sender),
    events: &mut Vec<GroupEvent>,
) -> GroupResult<()> {
    let committer = match &sender {
        Sender::Member(leaf) => member_at(&slot.mls, *leaf, cache).ok(),
        _ => None,
    };
    let removed: Vec<GroupMember> = staged
        .remove_proposals()
        .filter_map(|r| member_at(&slot.mls, r.remove_proposal().removed(), cache).ok())
        .collect();
    let self_removed = staged.self_removed();
    let added_keys: Vec<Vec<u8>> = staged
        .add_proposals()
        .map(|a| {
            a.add_proposal()
                .key_package()
                .leaf_node()
                .signature_key()
                .as_slice()
                .to_vec()
        })
        .collect();
    slot.mls
        .merge_staged_commit(provider, staged)
        .map_err(mls)?;
    slot.pending = None;
    let epoch = slot.mls.epoch().as_u64();
    if self_removed {
        events.push(GroupEvent::RemovedFromGroup { epoch });
        return Ok(());
    }
    let added = if added_keys.is_empty() {
        Vec::new()
    } else {
        slot.mls
            .members()
            .filter(|m| {
                added_keys
                    .iter()
                    .any(|k| k.as_slice() == m.signature_key.as_slice())
            })
            .filter_map(|m| {
                let id = cache.get(&m.credential, &m.signature_key).ok()?;
                Some(super::group_member(m.index, id))
            })
            .collect()
    };
    events.push(GroupEvent::Commit {
        epoch,
        committer,
        added,
        removed,
    });
    Ok(())
}

/// Applies our own pending commit (accepted by the relay), then any buffered messages of
/// the epochs it opens.
pub(super) fn merge_own_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    require_hush: bool,
) -> GroupResult<Vec<GroupEvent>> {
    slot.mls.merge_pending_commit(provider).map_err(mls)?;
    slot.pending = None;
    let mut events = vec![GroupEvent::OwnCommitApplied {
        epoch: slot.mls.epoch().as_u64(),
    }];
    drain_future(slot, provider, cache, require_hush, &mut events);
    Ok(events)
}

/// Processes buffered messages whose epoch has arrived: within an epoch, non-commits first,
/// each kind in arrival order.
pub(super) fn drain_future<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    require_hush: bool,
    events: &mut Vec<GroupEvent>,
) {
    loop {
        if !slot.mls.is_active() {
            slot.future.clear();
            return;
        }
        let current = slot.mls.epoch().as_u64();
        // Messages of epochs we have passed meanwhile: past-epoch secrets may still open
        // them (application messages); commits among them are stale.
        let mut batch = slot.future.drop_stale(current);
        if let Some(next) = slot.future.take_epoch(current, is_commit) {
            batch.push(next);
        }
        if batch.is_empty() {
            return;
        }
        for (epoch, bytes) in batch {
            let result = protocol_message(&bytes)
                .and_then(|p| process_one(slot, provider, cache, p, require_hush, events));
            if let Err(error) = result {
                events.push(GroupEvent::BufferedMessageRejected { epoch, error });
            }
        }
    }
}

fn is_commit(bytes: &[u8]) -> bool {
    protocol_message(bytes).is_ok_and(|p| p.content_type() == ContentType::Commit)
}
