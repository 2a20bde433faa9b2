//! Group log calls: GROUP_APPEND (commits ordered by epoch, welcomes stored with them),
//! GROUP_FETCH and GROUP_SUBSCRIBE.

use crate::error::ClientError;
use crate::results::{GroupAppendResult, GroupFetchResult, WelcomeDelivery, group_result};
use crate::subscription::GroupSubscription;
use crate::{Client, GroupMessageKind};
use hush_wire::proto::{self, request, response};
use hush_wire::types::{EnvelopeId, GroupId, MailboxAddress, ReceiptError, StoredReceipt};

impl Client {
    /// Appends to a group log. A commit for a stale epoch fails with an error whose
    /// [`ClientError::epoch_conflict`] is the current epoch. Welcomes go only with a commit.
    pub async fn group_append(
        &self,
        group: &GroupId,
        epoch: u64,
        kind: GroupMessageKind,
        message: Vec<u8>,
        welcomes: Vec<WelcomeDelivery>,
    ) -> Result<GroupAppendResult, ClientError> {
        let expected: Vec<(EnvelopeId, MailboxAddress)> = welcomes
            .iter()
            .map(|w| (w.envelope_id.clone(), w.mailbox))
            .collect();
        let kind = match kind {
            GroupMessageKind::Commit => proto::GroupMessageKind::Commit,
            GroupMessageKind::Proposal => proto::GroupMessageKind::Proposal,
            GroupMessageKind::Application => proto::GroupMessageKind::Application,
        };
        let r = match self
            .request(request::Body::GroupAppend(proto::GroupAppendRequest {
                group_id: group.as_bytes().to_vec(),
                epoch,
                kind: kind as i32,
                message,
                welcomes: welcomes
                    .into_iter()
                    .map(|w| proto::WelcomeDelivery {
                        mailbox_address: w.mailbox.0.to_vec(),
                        envelope_id: w.envelope_id.as_bytes().to_vec(),
                        ciphertext: w.ciphertext,
                    })
                    .collect(),
            }))
            .await?
        {
            response::Body::GroupAppend(r) => r,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        if r.welcome_receipts.len() != expected.len() {
            return Err(ClientError::UnexpectedResponse);
        }
        let mut receipts = Vec::with_capacity(expected.len());
        for (p, (id, mb)) in r.welcome_receipts.iter().zip(expected) {
            let rc = StoredReceipt::from_proto(p)?;
            if rc.envelope_id != id || rc.mailbox != mb {
                return Err(ReceiptError::Mismatch.into());
            }
            rc.verify(&self.info.receipt_public_key)?;
            receipts.push(rc);
        }
        Ok(GroupAppendResult {
            seq: r.seq,
            current_epoch: r.current_epoch,
            duplicate: r.duplicate,
            welcome_receipts: receipts,
        })
    }

    /// Reads a group log from `cursor`.
    pub async fn group_fetch(
        &self,
        group: &GroupId,
        cursor: u64,
        limit: u32,
    ) -> Result<GroupFetchResult, ClientError> {
        match self
            .request(request::Body::GroupFetch(proto::GroupFetchRequest {
                group_id: group.as_bytes().to_vec(),
                cursor,
                limit,
            }))
            .await?
        {
            response::Body::GroupFetch(f) => group_result(f),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Subscribes to a group log: everything from `cursor`, then live pushes.
    pub async fn group_subscribe(
        &self,
        group: &GroupId,
        cursor: u64,
    ) -> Result<GroupSubscription, ClientError> {
        let stream = self
            .open_subscription(request::Body::GroupSubscribe(
                proto::GroupSubscribeRequest {
                    group_id: group.as_bytes().to_vec(),
                    cursor,
                },
            ))
            .await?;
        Ok(GroupSubscription { stream })
    }
}
