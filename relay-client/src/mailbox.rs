//! Mailbox calls: authentication, SEND, FETCH, SUBSCRIBE, ACK and STATUS, with every receipt
//! verified against the relay's receipt key.

use crate::Client;
use crate::error::ClientError;
use crate::results::{FetchResult, Status, StatusReport, fetch_result};
use crate::subscription::MailboxSubscription;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hush_wire::proto::{self, request, response};
use hush_wire::types::{
    DeliveredReceipt, EnvelopeId, MailboxAddress, ReceiptError, StoredReceipt, auth_message,
};

impl Client {
    /// Asks for a fresh authentication challenge.
    pub async fn challenge(&self) -> Result<[u8; 32], ClientError> {
        match self
            .request(request::Body::Challenge(proto::ChallengeRequest {}))
            .await?
        {
            response::Body::Challenge(c) => c
                .challenge
                .as_slice()
                .try_into()
                .map_err(|_| ClientError::UnexpectedResponse),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Sends a prepared authentication (public key, challenge, signature). Most callers want
    /// [`Client::authenticate`].
    pub async fn authenticate_with(
        &self,
        public_key: &VerifyingKey,
        challenge: [u8; 32],
        signature: [u8; 64],
    ) -> Result<MailboxAddress, ClientError> {
        match self
            .request(request::Body::Auth(proto::AuthRequest {
                mailbox_public_key: public_key.to_bytes().to_vec(),
                challenge: challenge.to_vec(),
                signature: signature.to_vec(),
            }))
            .await?
        {
            response::Body::Auth(a) => {
                let addr = MailboxAddress::from_slice(&a.mailbox_address)?;
                if addr != MailboxAddress::from_public_key(public_key) {
                    return Err(ClientError::UnexpectedResponse);
                }
                Ok(addr)
            }
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Proves ownership of the mailbox of `key` on this connection; returns its address.
    pub async fn authenticate(&self, key: &SigningKey) -> Result<MailboxAddress, ClientError> {
        let challenge = self.challenge().await?;
        let sig = key.sign(&auth_message(&challenge, &self.relay_fingerprint));
        self.authenticate_with(&key.verifying_key(), challenge, sig.to_bytes())
            .await
    }

    /// Stores an envelope in `to`'s mailbox; returns the verified stored receipt. Retrying
    /// with the same id and bytes is safe (same receipt).
    pub async fn send(
        &self,
        to: &MailboxAddress,
        envelope_id: &EnvelopeId,
        ciphertext: Vec<u8>,
    ) -> Result<StoredReceipt, ClientError> {
        let r = match self
            .request(request::Body::Send(proto::SendRequest {
                mailbox_address: to.0.to_vec(),
                envelope_id: envelope_id.as_bytes().to_vec(),
                ciphertext,
            }))
            .await?
        {
            response::Body::Send(s) => s,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        let receipt =
            StoredReceipt::from_proto(r.receipt.as_ref().ok_or(ClientError::UnexpectedResponse)?)?;
        if &receipt.envelope_id != envelope_id || &receipt.mailbox != to {
            return Err(ReceiptError::Mismatch.into());
        }
        receipt.verify(&self.info.receipt_public_key)?;
        Ok(receipt)
    }

    /// Reads an authenticated mailbox from `cursor` (`limit` 0 = relay default).
    pub async fn fetch(
        &self,
        mailbox: &MailboxAddress,
        cursor: u64,
        limit: u32,
    ) -> Result<FetchResult, ClientError> {
        match self
            .request(request::Body::Fetch(proto::FetchRequest {
                mailbox_address: mailbox.0.to_vec(),
                cursor,
                limit,
            }))
            .await?
        {
            response::Body::Fetch(f) => fetch_result(f),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// Subscribes to an authenticated mailbox: everything from `cursor`, then live pushes.
    pub async fn subscribe(
        &self,
        mailbox: &MailboxAddress,
        cursor: u64,
    ) -> Result<MailboxSubscription, ClientError> {
        let stream = self
            .open_subscription(request::Body::Subscribe(proto::SubscribeRequest {
                mailbox_address: mailbox.0.to_vec(),
                cursor,
            }))
            .await?;
        Ok(MailboxSubscription { stream })
    }

    /// Deletes envelopes from an authenticated mailbox; returns how many existed.
    pub async fn ack(&self, mailbox: &MailboxAddress, seqs: &[u64]) -> Result<u32, ClientError> {
        match self
            .request(request::Body::Ack(proto::AckRequest {
                mailbox_address: mailbox.0.to_vec(),
                seqs: seqs.to_vec(),
            }))
            .await?
        {
            response::Body::Ack(a) => Ok(a.deleted),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }

    /// The status of an envelope by id, with verified receipts.
    pub async fn status(&self, envelope_id: &EnvelopeId) -> Result<StatusReport, ClientError> {
        let s = match self
            .request(request::Body::Status(proto::StatusRequest {
                envelope_id: envelope_id.as_bytes().to_vec(),
            }))
            .await?
        {
            response::Body::Status(s) => s,
            _ => return Err(ClientError::UnexpectedResponse),
        };
        let key = &self.info.receipt_public_key;
        let stored =
            StoredReceipt::from_proto(s.stored.as_ref().ok_or(ClientError::UnexpectedResponse)?)?;
        if &stored.envelope_id != envelope_id {
            return Err(ReceiptError::Mismatch.into());
        }
        stored.verify(key)?;
        let status = match proto::EnvelopeState::try_from(s.state) {
            Ok(proto::EnvelopeState::Stored) => Status::Stored,
            Ok(proto::EnvelopeState::Delivered) => {
                let d = DeliveredReceipt::from_proto(
                    s.delivered
                        .as_ref()
                        .ok_or(ClientError::UnexpectedResponse)?,
                )?;
                if &d.envelope_id != envelope_id || d.mailbox != stored.mailbox {
                    return Err(ReceiptError::Mismatch.into());
                }
                d.verify(key)?;
                Status::Delivered(d)
            }
            Ok(proto::EnvelopeState::Expired) => Status::Expired {
                at_ms: s.expired_at_ms,
            },
            _ => return Err(ClientError::UnexpectedResponse),
        };
        Ok(StatusReport { stored, status })
    }
}
