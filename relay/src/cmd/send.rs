//! SEND: store an envelope for a mailbox and answer with a relay-signed stored receipt, only
//! after the envelope is durable. No sender is named; none is needed.

use super::{CmdError, Context};
use crate::notify::Topic;
use crate::proto::{self, ErrorCode, response};
use crate::shared::Shared;
use crate::storage::{MailboxQuota, NewEnvelope};
use crate::types::{EnvelopeId, MailboxAddress, StoredReceipt};

/// Validates the wire fields of an envelope and prepares it for storage.
pub(crate) fn new_envelope(
    shared: &Shared,
    mailbox_address: &[u8],
    envelope_id: Vec<u8>,
    ciphertext: Vec<u8>,
    now: u64,
) -> Result<NewEnvelope, CmdError> {
    let mailbox = MailboxAddress::from_slice(mailbox_address)?;
    let envelope_id = EnvelopeId::new(envelope_id)?;
    if ciphertext.is_empty() {
        return Err(CmdError::malformed("empty ciphertext"));
    }
    let max = shared.config.max_envelope_bytes;
    if ciphertext.len() > max {
        return Err(CmdError::new(
            ErrorCode::EnvelopeTooLarge,
            format!(
                "envelope of {} bytes exceeds the maximum of {max}",
                ciphertext.len()
            ),
        ));
    }
    let mailbox_max = shared.config.mailbox_max_bytes;
    if ciphertext.len() as u64 > mailbox_max {
        // Not "mailbox full": no mailbox of this relay could ever hold it.
        return Err(CmdError::new(
            ErrorCode::QuotaExceeded,
            format!(
                "envelope of {} bytes exceeds the mailbox byte limit of {mailbox_max} \
                 (mailbox_max_bytes); it can never be stored",
                ciphertext.len()
            ),
        ));
    }
    let ttl = shared.config.ttl.as_millis() as u64;
    let keep = shared.config.receipt_retention.as_millis() as u64;
    let expires_at_ms = now.saturating_add(ttl);
    Ok(NewEnvelope {
        mailbox,
        envelope_id,
        ciphertext,
        now_ms: now,
        expires_at_ms,
        forget_at_ms: expires_at_ms.saturating_add(keep),
    })
}

/// The per-mailbox quota from the configuration.
pub(crate) fn quota(shared: &Shared) -> MailboxQuota {
    MailboxQuota {
        max_count: shared.config.mailbox_max_envelopes,
        max_bytes: shared.config.mailbox_max_bytes,
    }
}

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::SendRequest,
) -> Result<response::Body, CmdError> {
    let shared = &ctx.shared;
    let env = new_envelope(
        shared,
        &req.mailbox_address,
        req.envelope_id,
        req.ciphertext,
        ctx.shared.config.clock.now_ms(),
    )?;
    let id = env.envelope_id.clone();
    let len = env.ciphertext.len() as u64;
    let admitted = shared.capacity.admit(&*shared.storage, len).await?;
    let out = shared.storage.put_envelope(env, quota(shared)).await?;
    if !out.duplicate {
        admitted.keep();
        metrics::counter!("hush_relay_envelopes_stored_total").increment(1);
        metrics::counter!("hush_relay_envelope_bytes_stored_total").increment(len);
        shared.notifier.notify(Topic::Mailbox(out.mailbox.0));
    }
    let receipt = StoredReceipt::sign(&shared.receipt_key, id, out.mailbox, out.stored_at_ms);
    Ok(response::Body::Send(proto::SendResponse {
        receipt: Some(receipt.to_proto()),
        duplicate: out.duplicate,
    }))
}
