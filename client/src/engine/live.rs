//! Live delivery: the engine holds a subscription to its mailbox and to the log of every
//! group it is in (streams of one connection per relay) and hands out what arrives as it
//! arrives, each event saved before the relay is told it was consumed, as [`Engine::receive`]
//! does.

use super::Engine;
use super::groups::STATE_MEMBER;
use super::groups::log_of;
use crate::error::Error;
use crate::event::Event;
use crate::store::Store;
use hush_relay_client::{ClientError, FetchResult, GroupFetchResult, MailboxAddress, RelayUrl};
use std::collections::BTreeSet;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Pushes waiting to be handled at most.
const QUEUE: usize = 64;

/// What a subscription pushed.
enum Push {
    Mailbox(Result<Option<FetchResult>, ClientError>),
    Group(String, Result<Option<GroupFetchResult>, ClientError>),
}

/// The engine's live subscriptions.
pub(crate) struct Live {
    rx: mpsc::Receiver<Push>,
    tx: mpsc::Sender<Push>,
    tasks: Vec<JoinHandle<()>>,
    /// Group names followed.
    followed: BTreeSet<String>,
    url: RelayUrl,
    mailbox: MailboxAddress,
    /// True while a push is being handled: if the call is dropped then, the next one reads
    /// everything again first.
    busy: bool,
    /// A push [`Engine::wait_live`] took, for the next [`Engine::next_events`] to handle.
    ready: Option<Option<Push>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl<S: Store> Engine<S> {
    /// Waits for what arrives next (messages, group messages, invitations, membership
    /// changes) and returns it, oldest first, each event saved before it is returned (confirm
    /// them as with [`Engine::receive`]). The first call reads everything waiting, then
    /// subscribes to the mailbox and to every group's log; later calls return as pushes
    /// arrive. Groups joined meanwhile are followed from then on.
    ///
    /// Cancel-safe in effect: if the returned future is dropped while a push is being
    /// handled, what was not saved is read again by the next call. A lost connection ends
    /// the subscriptions with an error; the next call subscribes again.
    pub async fn next_events(&mut self) -> Result<Vec<Event>, Error> {
        if self.live.as_ref().is_none_or(|l| l.busy) {
            let caught_up = self.start_live().await?;
            if !caught_up.is_empty() {
                return Ok(caught_up);
            }
        }
        loop {
            self.wait_live().await;
            let events = self.handle_live().await?;
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }

    /// Starts the live subscriptions (again, if they run): reads everything waiting, as
    /// [`Engine::receive`] does, and returns it, then subscribes. For apps that wait with
    /// [`Engine::wait_live`] and handle with [`Engine::handle_live`] themselves.
    pub async fn start_live(&mut self) -> Result<Vec<Event>, Error> {
        self.live = None;
        let caught_up = self.receive().await?;
        self.go_live().await?;
        Ok(caught_up)
    }

    /// Handles what [`Engine::wait_live`] took (nothing if it took nothing) and returns the
    /// events not handed out yet, possibly none. Starts the subscriptions when none run.
    pub async fn handle_live(&mut self) -> Result<Vec<Event>, Error> {
        if self.live.as_ref().is_none_or(|l| l.busy) {
            return self.start_live().await;
        }
        let push = self.live.as_mut().and_then(|l| l.ready.take());
        if let Some(push) = push {
            if let Some(live) = self.live.as_mut() {
                live.busy = true;
            }
            let handled = self.handle(push).await;
            if let Some(live) = self.live.as_mut() {
                live.busy = false;
            }
            if let Err(e) = handled {
                self.live = None;
                return Err(e);
            }
        }
        self.hand_out()
    }

    /// Waits until a live subscription pushed something, without handling it (the next
    /// [`Engine::next_events`] does): an app that shares the store with other processes waits
    /// here without holding it, then takes it, [`Engine::reload`]s and handles. Returns at once
    /// when events wait to be handed out, or when no subscription runs (`next_events` starts
    /// them). Cancel-safe.
    pub async fn wait_live(&mut self) {
        if !self.unreported.is_empty() {
            return;
        }
        let Some(live) = self.live.as_mut() else {
            return;
        };
        if live.busy || live.ready.is_some() {
            return;
        }
        let push = live.rx.recv().await;
        live.ready = Some(push);
    }

    /// Stops the live subscriptions (they start again with the next [`Engine::next_events`]).
    pub fn stop_live(&mut self) {
        self.live = None;
    }

    async fn go_live(&mut self) -> Result<(), Error> {
        let (url, mailbox) = self.home().await?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let mut sub = self.client(&url).await?.subscribe(&mailbox, 0).await?;
        let mtx = tx.clone();
        let task = tokio::spawn(async move {
            loop {
                let r = sub.next().await;
                let more = matches!(r, Ok(Some(_)));
                if mtx.send(Push::Mailbox(r)).await.is_err() || !more {
                    break;
                }
            }
        });
        self.live = Some(Live {
            rx,
            tx,
            tasks: vec![task],
            followed: BTreeSet::new(),
            url,
            mailbox,
            busy: false,
            ready: None,
        });
        self.follow_groups().await
    }

    /// Subscribes to the log of every group we are a member of and do not follow yet.
    async fn follow_groups(&mut self) -> Result<(), Error> {
        for (name, rec) in self.group_records()? {
            let followed = self
                .live
                .as_ref()
                .is_some_and(|l| l.followed.contains(&name));
            if rec.state != STATE_MEMBER || followed {
                continue;
            }
            let (relay, log) = log_of(&rec)?;
            let mut sub = self
                .client(&relay)
                .await?
                .group_subscribe(&log, rec.cursor)
                .await?;
            let Some(live) = self.live.as_mut() else {
                return Ok(());
            };
            let tx = live.tx.clone();
            let n = name.clone();
            live.tasks.push(tokio::spawn(async move {
                loop {
                    let r = sub.next().await;
                    let more = matches!(r, Ok(Some(_)));
                    if tx.send(Push::Group(n.clone(), r)).await.is_err() || !more {
                        break;
                    }
                }
            }));
            live.followed.insert(name);
        }
        Ok(())
    }

    async fn handle(&mut self, push: Option<Push>) -> Result<(), Error> {
        match push {
            None => Err(Error::Corrupt("live subscriptions")),
            Some(Push::Mailbox(Ok(Some(page)))) => {
                let (url, mailbox) = match &self.live {
                    Some(l) => (l.url.clone(), l.mailbox),
                    None => return Ok(()),
                };
                if page.envelopes.is_empty() {
                    return Ok(());
                }
                self.process_page(&url, &mailbox, &page.envelopes).await?;
                self.replenish(&url, &mailbox, &page.stock).await?;
                // Groups joined by a Welcome just now: catch up, then follow.
                for (name, rec) in self.group_records()? {
                    let new = self
                        .live
                        .as_ref()
                        .is_some_and(|l| !l.followed.contains(&name));
                    if rec.state == STATE_MEMBER && new {
                        self.sync_group(&name).await?;
                    }
                }
                self.follow_groups().await
            }
            Some(Push::Group(name, Ok(Some(page)))) => {
                if self.group_record(&name).is_ok() && self.apply_entries(&name, &page.entries)? {
                    // Requests to leave are committed as when reading.
                    self.sync_group(&name).await?;
                }
                Ok(())
            }
            Some(Push::Mailbox(Ok(None))) | Some(Push::Group(_, Ok(None))) => {
                Err(Error::SubscriptionEnded)
            }
            Some(Push::Mailbox(Err(e))) | Some(Push::Group(_, Err(e))) => Err(e.into()),
        }
    }
}
