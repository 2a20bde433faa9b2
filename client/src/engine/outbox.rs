//! Sending 1:1 messages through an outbox that survives restarts.
//!
//! A send encrypts with the session, seals the envelope and writes the session's new state
//! and the sealed envelope (under its envelope id) in one batch; only then does the relay see
//! it. A crash before the relay stored it leaves it in the outbox, and
//! [`Engine::flush_outbox`] sends the same bytes under the same id again: the relay stores an
//! envelope id once, so a retry never duplicates a message, and no message key is ever used
//! twice.

use super::Engine;
use super::fanout::{OWN_DEVICE, Pqxdh, sent_copy};
use crate::contacts::write_contact;
use crate::error::Error;
use crate::event::{DeliveryStatus, EventKind};
use crate::records::{OutboxRecord, SentRecord};
use crate::store::{Batch, Store, Table};
use hush_relay_client::{EnvelopeId, GroupMessageKind, MailboxAddress, RelayUrl, StoredReceipt};
use prost::Message;
use zeroize::Zeroizing;

/// How long background retries leave a relay alone after it could not be reached.
pub const RETRY_FIRST_MS: u64 = 30_000;
/// The longest they leave it alone (the delay doubles up to this).
pub const RETRY_MAX_MS: u64 = 600_000;

/// Length of the envelope ids the engine makes.
pub const ENVELOPE_ID_LEN: usize = 16;

/// A message on its way.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Its envelope id (what the relay's STATUS request takes); for a group message, the
    /// outbox's id for it.
    pub envelope_id: EnvelopeId,
    /// The contact (or group) it goes to.
    pub to: String,
    /// Where it is.
    pub state: OutgoingState,
}

/// Where an outgoing message is.
#[derive(Debug, Clone)]
pub enum OutgoingState {
    /// The recipient's relay stored it (the receipt is verified).
    Stored(StoredReceipt),
    /// The group's relay appended it to the group's log.
    InLog {
        /// Its position in the log.
        seq: u64,
    },
    /// In the outbox: the relay could not be reached or refused it for now (the reason).
    /// [`Engine::flush_outbox`] retries it, and so does every [`Engine::receive`] (an
    /// [`crate::EventKind::Delivery`] event tells when it goes out).
    Queued(String),
    /// The relay refused it for good (too large, malformed, an envelope id already used for
    /// other bytes): it left the outbox and will not be sent.
    Failed(String),
}

/// Relay refusals that sending the same bytes again cannot overcome.
fn permanent(e: &Error) -> bool {
    use hush_relay_client::ErrorCode as C;
    matches!(
        e,
        Error::Relay(c) if matches!(
            c.relay_code(),
            Some(C::Malformed | C::FrameTooLarge | C::EnvelopeTooLarge | C::EnvelopeIdConflict | C::UnsupportedVersion)
        )
    )
}

/// A new outbox entry for a sealed 1:1 envelope, under a fresh random envelope id.
pub(crate) fn new_entry(
    rng: &mut impl rand::Rng,
    relay: String,
    mailbox: Vec<u8>,
    envelope: Vec<u8>,
    to: String,
    queued_at_ms: u64,
) -> Result<(EnvelopeId, OutboxRecord), Error> {
    let mut id = [0u8; ENVELOPE_ID_LEN];
    rng.fill_bytes(&mut id);
    let envelope_id = EnvelopeId::new(id.to_vec()).map_err(|_| Error::Corrupt("envelope id"))?;
    let rec = OutboxRecord {
        relay,
        mailbox,
        envelope,
        to,
        queued_at_ms,
        group_id: Vec::new(),
        epoch: 0,
    };
    Ok((envelope_id, rec))
}

impl<S: Store> Engine<S> {
    /// Sends `body` to the contact `alias`: starts a session from their prekeys if there is
    /// none (fetched with the token of their card), encrypts, seals the envelope with our
    /// card as its `reply_to`, saves, then hands it to their relay.
    ///
    /// `Ok` once the message is safely in the outbox: [`OutgoingState::Stored`] when the
    /// relay stored it, [`OutgoingState::Queued`] when it could not yet. `Err` only when
    /// nothing was queued (unknown contact, no prekeys, a relay that cannot be reached to
    /// start the session).
    pub async fn send(&mut self, alias: &str, body: &[u8]) -> Result<Outgoing, Error> {
        self.send_with(alias, body, None).await
    }

    /// [`Engine::send`], also removing the record `done` (table `uploads`: the upload this
    /// message completes) in the same batch as the outbox entry.
    pub(crate) async fn send_with(
        &mut self,
        alias: &str,
        body: &[u8],
        done: Option<Vec<u8>>,
    ) -> Result<Outgoing, Error> {
        let mut contact = self.account.contact(alias)?;
        self.check_generation().await?;
        let person = contact.card.identity.fingerprint();
        let theirs = self.device_cards(&contact)?;
        let mut sending = self.sending()?;
        let ours = self.own_cards(sending.list.as_ref())?;
        let mut b = Batch::new();
        let mut pq = Pqxdh {
            sticky: contact.offers_pqxdh,
            learned: false,
        };
        // Every envelope of the send is in the outbox before the first leaves: a crash never
        // delivers to some devices and forgets the others.
        let mut sealed = Vec::with_capacity(theirs.len() + ours.len());
        for card in &theirs {
            let s = self
                .seal_for(&mut sending, alias, card, Some(body), Some(&mut pq), &mut b)
                .await?;
            sealed.extend(s);
        }
        if !ours.is_empty() {
            let copy = sent_copy(&person, body);
            for card in &ours {
                let mut own_pq = Pqxdh {
                    sticky: true,
                    learned: false,
                };
                // A copy is best effort: one of our devices that cannot be reached to start
                // a session (its relay down) does not stop the message; its writes go to a
                // batch of their own, added once they succeeded.
                let mut one = Batch::new();
                let s = self
                    .seal_for(
                        &mut sending,
                        OWN_DEVICE,
                        card,
                        Some(&copy),
                        Some(&mut own_pq),
                        &mut one,
                    )
                    .await;
                if let Ok(s) = s {
                    b.append(one);
                    sealed.extend(s);
                }
            }
        }
        if let Some(key) = done {
            b.delete(Table::Uploads, key);
        }
        if pq.learned {
            contact.offers_pqxdh = true;
            write_contact(&mut b, &contact)?;
        }
        self.account.store.commit(b)?;
        self.deliver_all(sealed)
            .await
            .into_iter()
            .next()
            .ok_or(Error::Corrupt("a send with no device"))
    }

    /// Hands the envelopes of one send (one per device) to their relays at once, one request
    /// each on the connections they share, then records in one commit what the relays
    /// stored; what they did not stays in the outbox, as [`Engine::deliver`] leaves it.
    /// Returns where each is, in the order given.
    pub(crate) async fn deliver_all(
        &mut self,
        entries: Vec<(EnvelopeId, OutboxRecord)>,
    ) -> Vec<Outgoing> {
        if entries.len() < 2 {
            let mut out = Vec::with_capacity(1);
            for (id, rec) in entries {
                out.push(self.deliver(id, rec, false).await);
            }
            return out;
        }
        // Connections first (opened or reopened as `client` does); a relay that cannot be
        // reached leaves its entries queued.
        let mut unreachable = std::collections::HashMap::new();
        for (_, rec) in &entries {
            if unreachable.contains_key(&rec.relay) {
                continue;
            }
            let reached = match rec.relay.parse::<RelayUrl>() {
                Ok(url) => self.client(&url).await.map(|_| ()),
                Err(_) => Err(Error::Corrupt("outbox relay URL")),
            };
            if let Err(e) = reached {
                unreachable.insert(rec.relay.clone(), e.to_string());
            }
        }
        // A connection that closed while another relay was being waited for (idle timeout)
        // is opened again.
        for (_, rec) in &entries {
            if !unreachable.contains_key(&rec.relay)
                && let Ok(url) = rec.relay.parse::<RelayUrl>()
                && let Err(e) = self.client(&url).await
            {
                unreachable.insert(rec.relay.clone(), e.to_string());
            }
        }
        // Per entry: `Err(why)` when its relay could not be reached, else the relay's answer.
        type Answer = Result<Result<StoredReceipt, Error>, String>;
        let results: Vec<Answer> = {
            let clients = &self.clients;
            let unreachable = &unreachable;
            futures_util::future::join_all(entries.iter().map(|(id, rec)| async move {
                if let Some(why) = unreachable.get(&rec.relay) {
                    return Err(why.clone());
                }
                Ok(async {
                    let url: RelayUrl = rec
                        .relay
                        .parse()
                        .map_err(|_| Error::Corrupt("outbox relay URL"))?;
                    let client = clients
                        .get(&url.to_string())
                        .ok_or(Error::Corrupt("outbox relay URL"))?;
                    let mailbox = MailboxAddress::from_slice(&rec.mailbox)
                        .map_err(|_| Error::Corrupt("outbox"))?;
                    Ok(client.send(&mailbox, id, rec.envelope.clone()).await?)
                }
                .await)
            }))
            .await
        };
        let mut b = Batch::new();
        let mut out = Vec::with_capacity(entries.len());
        for ((envelope_id, rec), result) in entries.into_iter().zip(results) {
            let state = match result {
                Err(why) => OutgoingState::Queued(why),
                Ok(Ok(receipt)) => {
                    let sent = SentRecord {
                        relay: rec.relay,
                        to: rec.to.clone(),
                        stored_at_ms: receipt.stored_at_ms,
                    };
                    b.delete(Table::Outbox, envelope_id.as_bytes()).put(
                        Table::Sent,
                        envelope_id.as_bytes().to_vec(),
                        Zeroizing::new(sent.encode_to_vec()),
                    );
                    OutgoingState::Stored(receipt)
                }
                Ok(Err(e)) if permanent(&e) => {
                    b.delete(Table::Outbox, envelope_id.as_bytes());
                    OutgoingState::Failed(e.to_string())
                }
                Ok(Err(e)) => OutgoingState::Queued(e.to_string()),
            };
            out.push(Outgoing {
                envelope_id,
                to: rec.to,
                state,
            });
        }
        if let Err(e) = self.account.store.commit(b) {
            // Nothing recorded: every entry is still in the outbox, and a retry sends the same
            // bytes under the same id (the relay keeps one copy).
            for o in &mut out {
                o.state = OutgoingState::Queued(e.to_string());
            }
        }
        out
    }

    /// The outbox entries, oldest first.
    fn queued(&self) -> Result<Vec<(EnvelopeId, OutboxRecord)>, Error> {
        let mut queued = self
            .account
            .store
            .scan(Table::Outbox)?
            .into_iter()
            .map(|(k, v)| {
                let rec =
                    OutboxRecord::decode(v.as_slice()).map_err(|_| Error::Corrupt("outbox"))?;
                Ok((
                    EnvelopeId::new(k).map_err(|_| Error::Corrupt("outbox"))?,
                    rec,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        queued.sort_by(|(a, ra), (b, rb)| {
            (ra.queued_at_ms, a.as_bytes()).cmp(&(rb.queued_at_ms, b.as_bytes()))
        });
        Ok(queued)
    }

    /// Tries once more every message in the outbox, oldest first, and says where each is.
    pub async fn flush_outbox(&mut self) -> Result<Vec<Outgoing>, Error> {
        let queued = self.queued()?;
        let mut out = Vec::with_capacity(queued.len());
        for (id, rec) in queued {
            out.push(self.deliver(id, rec, false).await);
        }
        Ok(out)
    }

    /// Retries the outbox on the way (from [`Engine::receive`]): what goes out or fails for
    /// good becomes a [`crate::EventKind::Delivery`] event, saved with the change.
    /// After one entry for a relay stays queued, the later ones for it wait for the next
    /// pass (no timeout per entry, and their order is kept), and that relay is not tried
    /// again before [`RETRY_FIRST_MS`], doubling up to [`RETRY_MAX_MS`] while it stays
    /// unreachable: a relay that is down does not hold up every `receive`.
    pub(crate) async fn flush_reporting(&mut self) -> Result<(), Error> {
        let now = self.now_ms();
        let mut waiting = std::collections::HashSet::new();
        for (id, rec) in self.queued()? {
            let later = self
                .backoff
                .get(&rec.relay)
                .is_some_and(|(at, _)| now < *at);
            if later || waiting.contains(&rec.relay) {
                continue;
            }
            let relay = rec.relay.clone();
            if let OutgoingState::Queued(_) = self.deliver(id, rec, true).await.state {
                let delay = self
                    .backoff
                    .get(&relay)
                    .map_or(RETRY_FIRST_MS, |(_, d)| (d * 2).min(RETRY_MAX_MS));
                self.backoff.insert(relay.clone(), (now + delay, delay));
                waiting.insert(relay);
            } else {
                self.backoff.remove(&relay);
            }
        }
        Ok(())
    }

    /// The envelope ids and recipients of the messages still in the outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<(EnvelopeId, String)>, Error> {
        Ok(self
            .queued()?
            .into_iter()
            .map(|(id, rec)| (id, rec.to))
            .collect())
    }

    /// Gives up on a queued message: it is removed from the outbox and never sent.
    pub fn discard_outgoing(&mut self, id: &EnvelopeId) -> Result<bool, Error> {
        if self
            .account
            .store
            .get(Table::Outbox, id.as_bytes())?
            .is_none()
        {
            return Ok(false);
        }
        let mut b = Batch::new();
        b.delete(Table::Outbox, id.as_bytes());
        self.account.store.commit(b)?;
        Ok(true)
    }

    /// Hands one outbox entry to its relay; on success moves it from the outbox to `sent`,
    /// on a refusal for good removes it; with `report`, either comes with a `Delivery` event.
    pub(crate) async fn deliver(
        &mut self,
        envelope_id: EnvelopeId,
        rec: OutboxRecord,
        report: bool,
    ) -> Outgoing {
        let to = rec.to.clone();
        let state = match self.try_deliver(&envelope_id, rec, report).await {
            Ok(state) => state,
            Err(e) if permanent(&e) => {
                let reason = e.to_string();
                match self.drop_failed(&envelope_id, &to, &reason, report) {
                    Ok(()) => OutgoingState::Failed(reason),
                    Err(e) => OutgoingState::Queued(e.to_string()),
                }
            }
            Err(e) => OutgoingState::Queued(e.to_string()),
        };
        Outgoing {
            envelope_id,
            to,
            state,
        }
    }

    /// Removes an entry the relay refused for good.
    fn drop_failed(
        &mut self,
        envelope_id: &EnvelopeId,
        to: &str,
        reason: &str,
        report: bool,
    ) -> Result<(), Error> {
        let mut b = Batch::new();
        b.delete(Table::Outbox, envelope_id.as_bytes());
        if report {
            let kind = EventKind::Delivery {
                envelope_id: envelope_id.clone(),
                to: to.to_string(),
                status: DeliveryStatus::Failed(reason.to_string()),
            };
            let events = self.push_events(&mut b, None, vec![kind])?;
            self.account.store.commit(b)?;
            self.unreported.extend(events);
        } else {
            self.account.store.commit(b)?;
        }
        Ok(())
    }

    async fn try_deliver(
        &mut self,
        envelope_id: &EnvelopeId,
        rec: OutboxRecord,
        report: bool,
    ) -> Result<OutgoingState, Error> {
        let url: RelayUrl = rec
            .relay
            .parse()
            .map_err(|_| Error::Corrupt("outbox relay URL"))?;
        // A group message appended right at our cursor: the cursor moves past it with the
        // same write (no later read has to pass over it).
        let mut after_append = None;
        let (state, stored_at_ms) = if rec.group_id.is_empty() {
            let mailbox =
                MailboxAddress::from_slice(&rec.mailbox).map_err(|_| Error::Corrupt("outbox"))?;
            let receipt = self
                .client(&url)
                .await?
                .send(&mailbox, envelope_id, rec.envelope)
                .await?;
            let at = receipt.stored_at_ms;
            (OutgoingState::Stored(receipt), at)
        } else {
            let group_id = rec.group_id.clone();
            let log = hush_relay_client::GroupId::new(rec.group_id)
                .map_err(|_| Error::Corrupt("outbox group id"))?;
            let r = self
                .client(&url)
                .await?
                .group_append(
                    &log,
                    rec.epoch,
                    GroupMessageKind::Application,
                    rec.envelope,
                    Vec::new(),
                )
                .await?;
            let at = self.now_ms();
            after_append = Some((group_id, r.seq));
            (OutgoingState::InLog { seq: r.seq }, at)
        };
        let sent_to = rec.to.clone();
        let sent = SentRecord {
            relay: rec.relay,
            to: rec.to,
            stored_at_ms,
        };
        let mut b = Batch::new();
        b.delete(Table::Outbox, envelope_id.as_bytes()).put(
            Table::Sent,
            envelope_id.as_bytes().to_vec(),
            Zeroizing::new(sent.encode_to_vec()),
        );
        if let Some((group_id, seq)) = &after_append
            && let Some((name, mut g)) = self.group_of_entry(&sent_to, group_id)?
            && g.cursor == *seq
        {
            g.cursor = seq + 1;
            crate::engine::groups::put_group_record(&mut b, &name, &g);
        }
        let mut events = Vec::new();
        if report {
            let status = match &state {
                OutgoingState::InLog { seq } => DeliveryStatus::InLog(*seq),
                _ => DeliveryStatus::Stored(stored_at_ms),
            };
            let kind = EventKind::Delivery {
                envelope_id: envelope_id.clone(),
                to: sent_to,
                status,
            };
            events = self.push_events(&mut b, None, vec![kind])?;
        }
        self.account.store.commit(b)?;
        self.unreported.extend(events);
        Ok(state)
    }
}
