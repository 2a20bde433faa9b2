//! [`Client`] calls for the state generation of a mailbox (GENERATION in
//! spec/relay-protocol.md): a counter only the mailbox's owner advances, compare-and-set,
//! with which a client detects that its stored state was rolled back.

use crate::{Client, ClientError};
use hush_wire::proto::{self, request, response};
use hush_wire::types::MailboxAddress;

/// The answer to a generation request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    /// The counter after the request (the new value when it was advanced).
    pub current: u64,
    /// True when a compare-and-set took place.
    pub advanced: bool,
}

impl Client {
    /// The state generation of an authenticated mailbox (0 if it was never advanced).
    pub async fn generation(&self, mailbox: &MailboxAddress) -> Result<u64, ClientError> {
        Ok(self.generation_request(mailbox, None, 0).await?.current)
    }

    /// Compare-and-set of the state generation of an authenticated mailbox: if it is
    /// `expected`, the relay durably sets it to `next` (which must be greater) and answers
    /// `advanced`; otherwise it answers the current value, unchanged.
    pub async fn advance_generation(
        &self,
        mailbox: &MailboxAddress,
        expected: u64,
        next: u64,
    ) -> Result<Generation, ClientError> {
        self.generation_request(mailbox, Some(expected), next).await
    }

    async fn generation_request(
        &self,
        mailbox: &MailboxAddress,
        expected: Option<u64>,
        next: u64,
    ) -> Result<Generation, ClientError> {
        let body = request::Body::Generation(proto::GenerationRequest {
            mailbox_address: mailbox.0.to_vec(),
            expected,
            next,
        });
        match self.request(body).await? {
            response::Body::Generation(g) => Ok(Generation {
                current: g.current,
                advanced: g.advanced,
            }),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }
}
