//! In-process wake-ups for live subscriptions: "something new in mailbox X / group G".
//!
//! A subscriber takes a receiver before it reads storage and waits on it when it has caught
//! up, so no write between the read and the wait is missed. With several relay nodes on one
//! shared database (a later backend) this is where a cross-node notification would plug in.

use std::collections::HashMap;
use std::sync::Mutex;
use tokio::sync::watch;

/// Keys of the notifier: mailbox addresses and group id digests live in separate spaces.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Topic {
    Mailbox([u8; 32]),
    Group([u8; 32]),
}

#[derive(Default)]
pub(crate) struct Notifier {
    topics: Mutex<HashMap<Topic, watch::Sender<u64>>>,
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

    /// Drops topics nobody listens to any more.
    pub(crate) fn prune(&self) {
        if let Ok(mut map) = self.topics.lock() {
            map.retain(|_, tx| tx.receiver_count() > 0);
        }
    }
}
