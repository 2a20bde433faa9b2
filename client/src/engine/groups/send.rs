//! Sending to a group through the outbox: the message is encrypted, saved with the group's
//! new state and marked as ours (so reading it back from the log passes it over), then
//! appended to the group's log.

use super::sync::{seen_at, seen_key};
use super::{STATE_MEMBER, not_member};
use crate::engine::outbox::ENVELOPE_ID_LEN;
use crate::engine::{Engine, Outgoing};
use crate::error::Error;
use crate::records::OutboxRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::group::GroupId;
use hush_relay_client::EnvelopeId;
use prost::Message;
use rand::Rng;
use zeroize::Zeroizing;

impl<S: Store> Engine<S> {
    /// Sends `body` to every member of group `group`. Like [`Engine::send`]: `Ok` once the
    /// message is safely in the outbox ([`crate::OutgoingState::InLog`] when the relay
    /// appended it to the group's log, [`crate::OutgoingState::Queued`] when it could not
    /// yet); [`Outgoing::envelope_id`] is then only the outbox's id for it.
    ///
    /// The engine reads the group's log first (what it finds is returned by the next
    /// [`Engine::receive`]): members keep the keys of only a few past epochs, so a message
    /// encrypted in an epoch the group left long ago could not be read. When the relay cannot
    /// be reached, the message is encrypted on the state the engine has and queued. Requests
    /// to leave that nobody committed yet are committed first (the group takes no messages
    /// until then).
    pub async fn send_to_group(&mut self, group: &str, body: &[u8]) -> Result<Outgoing, Error> {
        self.send_to_group_with(group, body, None).await
    }

    /// [`Engine::send_to_group`], also removing the record `done` (table `uploads`) in the
    /// same batch as the outbox entry.
    pub(crate) async fn send_to_group_with(
        &mut self,
        group: &str,
        body: &[u8],
        done: Option<Vec<u8>>,
    ) -> Result<Outgoing, Error> {
        self.check_generation().await?;
        let rec = self.group_record(group)?;
        if rec.state != STATE_MEMBER || rec.leaving {
            return Err(not_member(group, &rec));
        }
        let rec = match self.sync_group_from(group, rec).await {
            Ok(Some(rec)) => rec,
            // No longer a member (the record says how), or the relay could not be reached
            // (what was read before is saved).
            Ok(None) | Err(Error::Relay(_)) => self.group_record(group)?,
            Err(e) => return Err(e),
        };
        if rec.state != STATE_MEMBER {
            return Err(not_member(group, &rec));
        }
        let gid = GroupId::from_slice(&rec.id);
        let mut rng = self.child_rng();
        let ct = self.groups.encrypt(&mut rng, &gid, body)?;
        let mut id = [0u8; ENVELOPE_ID_LEN];
        rng.fill_bytes(&mut id);
        let envelope_id =
            EnvelopeId::new(id.to_vec()).map_err(|_| Error::Corrupt("envelope id"))?;
        let o = OutboxRecord {
            relay: rec.relay.clone(),
            mailbox: Vec::new(),
            envelope: ct,
            to: group.to_string(),
            queued_at_ms: self.now_ms(),
            group_id: rec.id.clone(),
            epoch: self.groups.epoch(&gid)?,
        };
        let mut b = Batch::new();
        b.put(Table::Seen, seen_key(&o.envelope), seen_at(self.now_ms()))
            .put(
                Table::Outbox,
                id.to_vec(),
                Zeroizing::new(o.encode_to_vec()),
            );
        if let Some(key) = done {
            b.delete(Table::Uploads, key);
        }
        self.commit_groups(b)?;
        Ok(self.deliver(envelope_id, o, false).await)
    }
}
