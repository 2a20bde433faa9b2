//! Live subscriptions: a stream that stays open and carries a batch per push.

use crate::error::{ClientError, relay_error};
use crate::results::{FetchResult, GroupFetchResult, fetch_result, group_result};
use hush_wire::frame;
use hush_wire::proto::{self, response};

pub(crate) struct SubStream {
    pub(crate) recv: quinn::RecvStream,
    pub(crate) max: usize,
}

impl SubStream {
    async fn next(&mut self) -> Result<Option<response::Body>, ClientError> {
        match frame::read_message::<proto::Response, _>(&mut self.recv, self.max).await? {
            None => Ok(None),
            Some(proto::Response {
                body: Some(response::Body::Error(e)),
                ..
            }) => Err(relay_error(e)),
            Some(proto::Response { body: Some(b), .. }) => Ok(Some(b)),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}

/// A live mailbox subscription. Dropping it ends the subscription.
pub struct MailboxSubscription {
    pub(crate) stream: SubStream,
}

impl MailboxSubscription {
    /// The next batch: first the backlog from the cursor (possibly empty), then each push.
    /// `Ok(None)` when the relay ended the subscription.
    pub async fn next(&mut self) -> Result<Option<FetchResult>, ClientError> {
        match self.stream.next().await? {
            None => Ok(None),
            Some(response::Body::Fetch(f)) => fetch_result(f).map(Some),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}

/// A live group log subscription. Dropping it ends the subscription.
pub struct GroupSubscription {
    pub(crate) stream: SubStream,
}

impl GroupSubscription {
    /// The next batch of entries; `Ok(None)` when the relay ended the subscription.
    pub async fn next(&mut self) -> Result<Option<GroupFetchResult>, ClientError> {
        match self.stream.next().await? {
            None => Ok(None),
            Some(response::Body::GroupFetch(f)) => group_result(f).map(Some),
            Some(_) => Err(ClientError::UnexpectedResponse),
        }
    }
}
