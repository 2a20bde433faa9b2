//! Receiving: reading the mailbox, opening each envelope once, and keeping every result as an
//! event in the store before the relay is told to delete the envelope.

use super::Engine;
use super::fanout::{split_list, split_sent};
use super::groups::sync::reply_card;
use crate::account::PREKEYS;
use crate::card::Card;
use crate::error::Error;
use crate::event::{Event, EventKind, Sender};
use crate::store::{Batch, Store, Table};
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{IdentityPublicKey, MessageKind, Session, SessionConfig, message_kind};
use hush_relay_client::{Envelope, EnvelopeId, MailboxAddress, RelayUrl};
use zeroize::Zeroizing;

/// The account record holding the next event id (u64, big-endian).
pub(crate) const NEXT_EVENT: &[u8] = b"next_event";
/// The account record holding the highest event id handed to the app (u64, big-endian).
const REPORTED: &[u8] = b"reported";
/// Pages read per [`Engine::receive`] at most (each up to the relay's page size).
const MAX_PAGES: usize = 10_000;
/// How long an envelope id is remembered after it was processed, beyond the relay's TTL: a
/// redelivery after a crash between saving and acknowledging is skipped.
const SEEN_MARGIN_MS: u64 = 24 * 3600 * 1000;
/// How often a receive sweeps expired `seen` records at most: the sweep reads the whole
/// table, which holds every message of the last days, so doing it on every receive would
/// make a receive cost grow with the history (records outlive their expiry by this much at
/// most, next to the days they are kept).
const SEEN_SWEEP_INTERVAL_MS: u64 = 3600 * 1000;

impl<S: Store> Engine<S> {
    /// Reads our mailbox to its end, then the log of every group we are in, and returns what
    /// arrived (with what was read while doing something else since the last call), oldest
    /// first. Each envelope is
    /// opened once: its event, the sessions it changed and its id (so a redelivery is skipped)
    /// are written in one batch, and only after all of them are in the store does the relay
    /// delete the envelopes. Events stay in the store until [`Engine::confirm`]ed, so an app
    /// that crashes before handling them finds them in [`Engine::pending_events`].
    /// Refills the directory's prekeys and KeyPackages when the relay reports them low.
    pub async fn receive(&mut self) -> Result<Vec<Event>, Error> {
        let (url, mailbox) = self.home().await?;
        self.flush_reporting().await?;
        let mut cursor = 0;
        let mut stock = None;
        for _ in 0..MAX_PAGES {
            let page = self.client(&url).await?.fetch(&mailbox, cursor, 0).await?;
            self.process_page(&url, &mailbox, &page.envelopes).await?;
            stock = Some(page.stock);
            if page.envelopes.is_empty() || page.next_cursor <= cursor {
                break;
            }
            cursor = page.next_cursor;
        }
        self.sync_groups().await?;
        self.refresh_credentials().await?;
        if std::mem::take(&mut self.announce_due) {
            // Best effort: a device not reached now gets the list with the next message.
            let _ = self.announce_list().await;
        }
        let out = self.hand_out()?;
        let ttl_ms = self.client(&url).await?.info().ttl_seconds * 1000;
        self.forget_seen_if_due(ttl_ms + SEEN_MARGIN_MS)?;
        if let Some(stock) = stock {
            self.replenish(&url, &mailbox, &stock).await?;
        }
        self.rotate_if_due(&url, &mailbox).await?;
        Ok(out)
    }

    /// Processes a page of our mailbox (each envelope saved, its events to
    /// [`Engine::unreported`]), then acknowledges it.
    pub(crate) async fn process_page(
        &mut self,
        url: &RelayUrl,
        mailbox: &MailboxAddress,
        envelopes: &[Envelope],
    ) -> Result<(), Error> {
        let mut acks = Vec::with_capacity(envelopes.len());
        for env in envelopes {
            let events = self.process(env)?;
            self.unreported.extend(events);
            acks.push(env.seq);
        }
        if !acks.is_empty() {
            self.client(url).await?.ack(mailbox, &acks).await?;
        }
        Ok(())
    }

    /// Takes the events not handed out yet, oldest first, and records that they were.
    pub(crate) fn hand_out(&mut self) -> Result<Vec<Event>, Error> {
        let mut out = std::mem::take(&mut self.unreported);
        out.sort_by_key(|e| e.id);
        if let Some(last) = out.last() {
            let mut b = Batch::new();
            b.put(
                Table::Account,
                REPORTED,
                Zeroizing::new(last.id.to_be_bytes().to_vec()),
            );
            if let Err(e) = self.account.store.commit(b) {
                self.unreported = out;
                return Err(e.into());
            }
        }
        Ok(out)
    }

    /// The highest event id handed to the app (0: none).
    pub(crate) fn reported(&self) -> Result<u64, Error> {
        match self.account.store.get(Table::Account, REPORTED)? {
            Some(b) => Ok(u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("event counter"))?,
            )),
            None => Ok(0),
        }
    }

    /// Events not confirmed yet, oldest first.
    pub fn pending_events(&self) -> Result<Vec<Event>, Error> {
        let mut out = self
            .account
            .store
            .scan(Table::Events)?
            .into_iter()
            .map(|(k, v)| {
                let id = u64::from_be_bytes(
                    k.as_slice()
                        .try_into()
                        .map_err(|_| Error::Corrupt("event id"))?,
                );
                Event::decode(id, &v)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// Says the app has handled these events: they leave the store.
    pub fn confirm(&mut self, ids: &[u64]) -> Result<(), Error> {
        let mut b = Batch::new();
        for id in ids {
            b.delete(Table::Events, id.to_be_bytes().to_vec());
        }
        self.account.store.commit(b)?;
        Ok(())
    }

    /// Opens one envelope and saves what it gives, unless it was processed before.
    fn process(&mut self, env: &Envelope) -> Result<Vec<Event>, Error> {
        let id = env.envelope_id.as_bytes().to_vec();
        if self.account.store.get(Table::Seen, &id)?.is_some() {
            return Ok(Vec::new());
        }
        let mut batch = Batch::new();
        let mut kinds = Vec::new();
        match self.open(&env.ciphertext, &mut batch, &mut kinds) {
            Ok(kind) => kinds.extend(kind),
            Err(e) => {
                // Nothing of a failed open is kept but the fact.
                batch = Batch::new();
                kinds = vec![EventKind::Unreadable {
                    reason: e.to_string(),
                }];
            }
        };
        let now = self.now_ms();
        batch.put(Table::Seen, id, Zeroizing::new(now.to_be_bytes().to_vec()));
        let events = self.push_events(&mut batch, Some(env.envelope_id.clone()), kinds)?;
        self.commit_groups(batch)?;
        Ok(events)
    }

    /// When `sender` is not a contact and writes for the first time with a card that carries
    /// a contact's name (compared without case and surrounding spaces) and another identity,
    /// an [`EventKind::IdentityChanged`] goes to `notices`. The card is remembered in `peers`.
    fn notice_identity(
        &self,
        sender: &IdentityPublicKey,
        card: Option<&str>,
        batch: &mut Batch,
        notices: &mut Vec<EventKind>,
    ) -> Result<(), Error> {
        let Some(text) = card else { return Ok(()) };
        let key = sender.fingerprint().0;
        if self.account.alias_of(sender)?.is_some()
            || self.account.store.get(Table::Peers, &key)?.is_some()
        {
            return Ok(());
        }
        batch.put(
            Table::Peers,
            key.to_vec(),
            Zeroizing::new(text.as_bytes().to_vec()),
        );
        let name = Card::parse(text)?.name.trim().to_lowercase();
        let known = self
            .account
            .contacts()?
            .into_iter()
            .find(|c| c.card.name.trim().to_lowercase() == name && c.card.identity != *sender);
        if let Some(c) = known {
            notices.push(EventKind::IdentityChanged {
                contact: c.alias,
                old: c.card.identity.fingerprint(),
                new: sender.fingerprint(),
                card: text.to_string(),
            });
        }
        Ok(())
    }

    /// Makes events of `kinds` (consecutive ids) and puts them, with the next id, in `batch`.
    pub(crate) fn push_events(
        &mut self,
        batch: &mut Batch,
        envelope_id: Option<EnvelopeId>,
        kinds: Vec<EventKind>,
    ) -> Result<Vec<Event>, Error> {
        let mut ids = EventIds::default();
        let out = self.stage_events(batch, envelope_id, kinds, &mut ids)?;
        ids.put(batch);
        Ok(out)
    }

    /// Makes events of `kinds` with the next ids of `ids` and puts them in `batch`, without
    /// the counter: several calls share one batch, and [`EventIds::put`] ends it.
    pub(crate) fn stage_events(
        &mut self,
        batch: &mut Batch,
        envelope_id: Option<EnvelopeId>,
        kinds: Vec<EventKind>,
        ids: &mut EventIds,
    ) -> Result<Vec<Event>, Error> {
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let mut next = match ids.next {
            Some(n) => n,
            None => match self.account.store.get(Table::Account, NEXT_EVENT)? {
                Some(b) => u64::from_be_bytes(
                    b.as_slice()
                        .try_into()
                        .map_err(|_| Error::Corrupt("event counter"))?,
                ),
                None => 1,
            },
        };
        let now = self.now_ms();
        let mut out = Vec::with_capacity(kinds.len());
        for kind in kinds {
            let event = Event {
                id: next,
                received_at_ms: now,
                envelope_id: envelope_id.clone(),
                kind,
            };
            batch.put(Table::Events, next.to_be_bytes().to_vec(), event.encode());
            out.push(event);
            next += 1;
        }
        ids.next = Some(next);
        Ok(out)
    }

    /// A contact's stored card is replaced by the one their message carried when that is the
    /// same identity and mailbox in a newer version (a version 2 card, after they sealed their
    /// directory): their keys can then be fetched with it.
    fn upgrade_card(
        &self,
        sender: &IdentityPublicKey,
        card: Option<&str>,
        batch: &mut Batch,
    ) -> Result<(), Error> {
        let (Some(text), Some(alias)) = (card, self.account.alias_of(sender)?) else {
            return Ok(());
        };
        let mut contact = self.account.contact(&alias)?;
        let new = Card::parse(text)?;
        if contact.card.is_upgraded_by(&new) {
            contact.card = new;
            crate::contacts::write_contact(batch, &contact)?;
        }
        Ok(())
    }

    /// Opens and decrypts one envelope; the session and prekey changes go into `batch`, the
    /// notices it gives rise to (before its own event) into `notices`.
    fn open(
        &mut self,
        bytes: &[u8],
        batch: &mut Batch,
        notices: &mut Vec<EventKind>,
    ) -> Result<Option<EventKind>, Error> {
        let mut rng = self.child_rng();
        let c = envelope::open(self.account.identity_key_pair(), bytes)?;
        let card = reply_card(&c.sender, &c.reply_to);
        match c.kind {
            ContentKind::SessionMessage => {}
            ContentKind::GroupWelcome => {
                self.notice_identity(&c.sender, card.as_deref(), batch, notices)?;
                return self.join_group(&c.sender, &c.payload, card, batch);
            }
            ContentKind::LinkApproval => {
                self.notice_identity(&c.sender, card.as_deref(), batch, notices)?;
                return self.complete_link(&c.sender, &c.payload, batch).map(Some);
            }
            other => {
                self.notice_identity(&c.sender, card.as_deref(), batch, notices)?;
                return Ok(Some(EventKind::Unreadable {
                    reason: format!("content kind {other:?} is not handled by this engine"),
                }));
            }
        }
        let mut sessions = self.sessions(&c.sender)?;
        let plaintext = match message_kind(&c.payload)? {
            MessageKind::PreKey { sender } => {
                if *sender != c.sender {
                    return Err(Error::SenderMismatch);
                }
                match sessions.decrypt(&mut rng, &c.payload) {
                    Ok(pt) => pt,
                    Err(_) => {
                        // A new session; the one it replaces stays as a previous one.
                        // `respond` takes the one-time prekey only when it succeeds.
                        let (session, pt) = Session::respond(
                            &mut rng,
                            self.account.identity_key_pair(),
                            &mut self.prekeys,
                            &c.payload,
                            SessionConfig::default(),
                        )?;
                        batch.put(Table::Account, PREKEYS, self.prekeys.to_bytes());
                        sessions.replace(session);
                        pt
                    }
                }
            }
            MessageKind::Ratchet => sessions
                .decrypt(&mut rng, &c.payload)
                .map_err(|e| e.map(Error::Protocol).unwrap_or(Error::NoSession))?,
        };
        batch.put(
            Table::Sessions,
            c.sender.fingerprint().0.to_vec(),
            sessions.encode(),
        );
        self.upgrade_card(&c.sender, card.as_deref(), batch)?;
        // What the plaintext frames (spec/multi-device.md §4.1): the sender's device list,
        // a copy of a message sent from another device of ours, or a message.
        let (list, body) = split_list(&plaintext)?;
        // The person the sending device belongs to, by the lists held (with the one that came
        // in this message, if any).
        let person = match list {
            Some(list) => {
                let (events, person) = self.apply_list(&c.sender, list, batch)?;
                notices.extend(events);
                person
            }
            None => self.person_of(&c.sender)?,
        };
        let Some(body) = body else {
            return Ok(None);
        };
        if let Some((to, body)) = split_sent(body)? {
            if person.as_ref() != Some(&self.person()?) || c.sender == *self.account.identity() {
                return Err(Error::Invalid {
                    what: "sent copy",
                    why: "it came from a device that is not one of this person's".into(),
                });
            }
            return Ok(Some(EventKind::SentCopy {
                to: Sender {
                    identity: to,
                    alias: self.account.alias_by_fingerprint(&to)?,
                    card: None,
                },
                body: body.to_vec(),
            }));
        }
        let from = match person {
            Some(p) if p != c.sender => Sender {
                identity: p.fingerprint(),
                alias: self.account.alias_of(&p)?,
                card,
            },
            // The device is its person (their first device), or on no list held.
            _ => {
                self.notice_identity(&c.sender, card.as_deref(), batch, notices)?;
                Sender {
                    identity: c.sender.fingerprint(),
                    alias: self.account.alias_of(&c.sender)?,
                    card,
                }
            }
        };
        Ok(Some(EventKind::Message {
            from,
            body: body.to_vec(),
        }))
    }

    /// [`Engine::forget_seen`] on the first receive of this engine, then once per
    /// [`SEEN_SWEEP_INTERVAL_MS`].
    fn forget_seen_if_due(&mut self, keep_ms: u64) -> Result<(), Error> {
        let now = self.now_ms();
        if let Some(last) = self.seen_swept_at_ms
            && now.saturating_sub(last) < SEEN_SWEEP_INTERVAL_MS
        {
            return Ok(());
        }
        self.forget_seen(keep_ms)?;
        self.seen_swept_at_ms = Some(now);
        Ok(())
    }

    /// Forgets processed envelope ids older than `keep_ms`.
    fn forget_seen(&mut self, keep_ms: u64) -> Result<(), Error> {
        let cutoff = self.now_ms().saturating_sub(keep_ms);
        let mut b = Batch::new();
        for (k, v) in self.account.store.scan(Table::Seen)? {
            let at = <[u8; 8]>::try_from(v.as_slice())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if at < cutoff {
                b.delete(Table::Seen, k);
            }
        }
        self.account.store.commit(b)?;
        Ok(())
    }
}

/// The event counter while a batch is being filled: read from the store on the first event,
/// then kept here, so events of several log entries share one batch.
#[derive(Debug, Default)]
pub(crate) struct EventIds {
    next: Option<u64>,
}

impl EventIds {
    /// Puts the counter in `batch` if an event was made.
    pub(crate) fn put(&self, batch: &mut Batch) {
        if let Some(n) = self.next {
            batch.put(
                Table::Account,
                NEXT_EVENT,
                Zeroizing::new(n.to_be_bytes().to_vec()),
            );
        }
    }
}
