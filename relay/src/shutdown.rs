//! Shutdown signalling (after mini-redis): a watch channel the server flips once, and a
//! handle every task holds to learn about it.

use tokio::sync::watch;

/// A task's view of the shutdown signal.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    pub(crate) fn new(rx: watch::Receiver<bool>) -> Self {
        Shutdown { rx }
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutdown(&self) -> bool {
        *self.rx.borrow()
    }

    /// Waits until shutdown begins (returns at once if it has).
    pub(crate) async fn recv(&mut self) {
        // An error means the sender is gone, which also means shut down.
        let _ = self.rx.wait_for(|v| *v).await;
    }
}
