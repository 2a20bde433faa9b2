//! In-process wake-ups for live subscriptions: "something new in mailbox X / group G".
//!
//! A subscriber takes a receiver before it reads storage and waits on it when it has caught
//! up, so no write between the read and the wait is missed. With several relay nodes on one
//! shared database, the storage backend reports other nodes' writes through
//! [`Notifier::wake`] (see [`crate::storage::Storage::set_wake_sink`]).

use crate::storage::Wake;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Keys of the notifier: mailbox addresses and group id digests live in separate spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Topic {
    Mailbox([u8; 32]),
    Group([u8; 32]),
}

/// Cloning gives another handle on the same topics.
#[derive(Default, Clone)]
pub(crate) struct Notifier {
    topics: Arc<Mutex<HashMap<Topic, watch::Sender<u64>>>>,
}

impl Notifier {
    /// A receiver that changes on every later [`Notifier::notify`] of `topic`.
    pub(crate) fn subscribe(&self, topic: Topic) -> watch::Receiver<u64> {
        match self.topics.lock() {
            Ok(mut map) => map
                .entry(topic)
                .or_insert_with(|| watch::channel(0).0)
                .subscribe(),
            // A poisoned lock: hand out a receiver that never fires; subscribers also poll.
            Err(_) => watch::channel(0).1,
        }
    }

    /// Wakes every subscriber of `topic`.
    pub(crate) fn notify(&self, topic: Topic) {
        if let Ok(mut map) = self.topics.lock()
            && let Some(tx) = map.get(&topic)
        {
            if tx.receiver_count() == 0 {
                map.remove(&topic);
            } else {
                tx.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
    }

    /// Wakes every subscriber of every topic (they all re-read storage from their cursors).
    pub(crate) fn notify_all(&self) {
        if let Ok(mut map) = self.topics.lock() {
            map.retain(|_, tx| tx.receiver_count() > 0);
            for tx in map.values() {
                tx.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
    }

    /// Applies a wake-up reported by the storage backend.
    pub(crate) fn wake(&self, w: Wake) {
        match w {
            Wake::Mailbox(a) => self.notify(Topic::Mailbox(a.0)),
            Wake::Group(g) => self.notify(Topic::Group(g)),
            Wake::All => self.notify_all(),
        }
    }

    /// Drops topics nobody listens to any more.
    pub(crate) fn prune(&self) {
        if let Ok(mut map) = self.topics.lock() {
            map.retain(|_, tx| tx.receiver_count() > 0);
        }
    }
}
