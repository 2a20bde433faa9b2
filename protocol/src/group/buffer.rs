//! The bounded buffer of messages that arrived before the commit creating their epoch.

use std::collections::VecDeque;

use super::error::{GroupError, GroupResult};

/// Messages for future epochs, in arrival order.
#[derive(Clone, Debug, Default)]
pub(crate) struct FutureBuffer {
    capacity: usize,
    messages: VecDeque<(u64, Vec<u8>)>,
}

impl FutureBuffer {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            messages: VecDeque::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }

    /// Keeps `message` for `epoch`, or refuses it when the buffer is full.
    pub(crate) fn push(&mut self, epoch: u64, message: &[u8]) -> GroupResult<()> {
        if self.messages.len() >= self.capacity {
            return Err(GroupError::FutureBufferFull {
                capacity: self.capacity,
            });
        }
        self.messages.push_back((epoch, message.to_vec()));
        Ok(())
    }

    /// Removes and returns the next message for `epoch`: the first one that `is_commit`
    /// says is not a commit, else the first one. Messages of an epoch were sent before the
    /// commit that ends it, so they are processed first whatever order they arrived in.
    pub(crate) fn take_epoch(
        &mut self,
        epoch: u64,
        is_commit: impl Fn(&[u8]) -> bool,
    ) -> Option<(u64, Vec<u8>)> {
        let i = self
            .messages
            .iter()
            .position(|(e, m)| *e == epoch && !is_commit(m))
            .or_else(|| self.messages.iter().position(|(e, _)| *e == epoch))?;
        self.messages.remove(i)
    }

    /// Removes and returns messages for epochs before `current`.
    pub(crate) fn drop_stale(&mut self, current: u64) -> Vec<(u64, Vec<u8>)> {
        let (stale, keep): (VecDeque<_>, VecDeque<_>) =
            self.messages.drain(..).partition(|(e, _)| *e < current);
        self.messages = keep;
        stale.into_iter().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.messages.clear();
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(u64, Vec<u8>)> {
        self.messages.iter()
    }
}
