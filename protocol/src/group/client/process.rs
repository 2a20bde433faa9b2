//! Incoming messages from a group's log: decoding, routing (buffer, our own commit coming
//! back, a conflicting commit) and processing one message of the current or a past epoch.

use openmls::prelude::{
    ContentType, MlsMessageBodyIn, ProcessedMessageContent, ProtocolMessage, Sender,
};

use openmls_traits::OpenMlsProvider as _;
use rand_core::CryptoRng;

use super::merge::{check_commit_credentials, drain_future, merge_commit, merge_own_commit};
use super::{GroupClient, GroupSlot, member_at};
use crate::group::codec::MlsWireMessage;
use crate::group::credential::{IdentityCache, check_credential};
use crate::group::error::{GroupError, GroupResult, invalid_message, mls};
use crate::group::events::{GroupEvent, GroupId};
use crate::group::provider::Provider;

impl GroupClient {
    /// Processes one message from `group`'s log (a `PublicMessage` or `PrivateMessage`,
    /// TLS-encoded), in the relay's order. Returns what happened, including the effect of
    /// buffered messages that the message unlocked.
    ///
    /// - a message for a future epoch is buffered ([`GroupEvent::Buffered`]), up to the
    ///   configured capacity ([`GroupError::FutureBufferFull`] past it);
    /// - our own pending commit coming back is applied ([`GroupEvent::OwnCommitApplied`]);
    /// - another member's commit for the epoch of our pending commit is
    ///   [`GroupError::PendingCommit`]: call [`GroupClient::resolve_conflict`] with it.
    ///
    /// On any error the group is unchanged.
    pub fn process<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        message: &[u8],
    ) -> GroupResult<Vec<GroupEvent>> {
        let protocol = protocol_message(message)?;
        let require_hush = !self.interop;
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        check_group(slot, &protocol)?;
        let epoch = protocol.epoch().as_u64();
        let current = slot.mls.epoch().as_u64();
        if epoch > current {
            slot.future.push(epoch, message)?;
            return Ok(vec![GroupEvent::Buffered { epoch }]);
        }
        let mut events = Vec::new();
        if let Some(p) = &slot.pending {
            if p.commit.as_slice() == message {
                return merge_own_commit(slot, &provider, &mut self.identities, require_hush);
            }
            if protocol.content_type() == ContentType::Commit && epoch == p.epoch {
                return Err(GroupError::PendingCommit);
            }
        }
        let merged = process_one(
            slot,
            &provider,
            &mut self.identities,
            protocol,
            require_hush,
            &mut events,
        )?;
        if merged {
            drain_future(
                slot,
                &provider,
                &mut self.identities,
                require_hush,
                &mut events,
            );
        }
        Ok(events)
    }
}

/// Decodes a public or private message.
pub(super) fn protocol_message(bytes: &[u8]) -> GroupResult<ProtocolMessage> {
    let msg = MlsWireMessage::from_bytes(bytes)?;
    match msg.into_inner().extract() {
        MlsMessageBodyIn::PublicMessage(m) => Ok(m.into()),
        MlsMessageBodyIn::PrivateMessage(m) => Ok(m.into()),
        _ => Err(GroupError::UnexpectedMessage {
            expected: "PublicMessage or PrivateMessage",
        }),
    }
}

pub(super) fn check_group(slot: &GroupSlot, protocol: &ProtocolMessage) -> GroupResult<()> {
    if protocol.group_id() != slot.mls.group_id() {
        return Err(GroupError::WrongGroup);
    }
    if !slot.mls.is_active() {
        return Err(GroupError::NotAMember);
    }
    Ok(())
}

/// Processes one message of the current (or a past) epoch. Returns whether a commit was
/// merged.
pub(super) fn process_one<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    protocol: ProtocolMessage,
    require_hush: bool,
    events: &mut Vec<GroupEvent>,
) -> GroupResult<bool> {
    let epoch = protocol.epoch().as_u64();
    let current = slot.mls.epoch().as_u64();
    if protocol.content_type() == ContentType::Commit && epoch < current {
        return Err(GroupError::StaleEpoch {
            message_epoch: epoch,
            group_epoch: current,
        });
    }
    let processed = slot
        .mls
        .process_message(provider, protocol)
        .map_err(invalid_message)?;
    let sender = processed.sender().clone();
    let authenticated_data = processed.aad().to_vec();
    let sender_member = match &sender {
        Sender::Member(leaf) => member_at(&slot.mls, *leaf, cache).ok(),
        _ => None,
    };
    match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(app) => {
            let sender = if require_hush {
                sender_member.ok_or(GroupError::InvalidCredential("sender"))?
            } else {
                sender_member.ok_or(GroupError::InvalidCredential(
                    "sender is not a Hush identity",
                ))?
            };
            events.push(GroupEvent::Application {
                epoch,
                sender,
                plaintext: app.into_bytes(),
                authenticated_data,
            });
            Ok(false)
        }
        ProcessedMessageContent::ProposalMessage(proposal) => {
            if require_hush {
                if let openmls::prelude::Proposal::Add(add) = proposal.proposal() {
                    let leaf = add.key_package().leaf_node();
                    check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
                }
                if let openmls::prelude::Proposal::Update(upd) = proposal.proposal() {
                    let leaf = upd.leaf_node();
                    check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
                }
            }
            let removes = match proposal.proposal() {
                openmls::prelude::Proposal::Remove(r) => Some(r.removed().u32()),
                _ => None,
            };
            slot.mls
                .store_pending_proposal(provider.storage(), *proposal)
                .map_err(mls)?;
            events.push(GroupEvent::Proposal {
                epoch,
                sender: sender_member,
                removes,
            });
            Ok(false)
        }
        ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
            Err(GroupError::UnexpectedMessage {
                expected: "a member's message (external proposals are not supported)",
            })
        }
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            if require_hush {
                check_commit_credentials(&staged)?;
            }
            merge_commit(slot, provider, cache, (*staged, sender), events)?;
            Ok(true)
        }
        ProcessedMessageContent::OwnPrivateMessage => {
            events.push(GroupEvent::OwnMessage { epoch });
            Ok(false)
        }
        #[allow(unreachable_patterns)]
        _ => Err(GroupError::UnexpectedMessage {
            expected: "application, proposal or commit",
        }),
    }
}
