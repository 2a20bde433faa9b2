//! A TCP proxy between one relay node and its database that the fault runs control
//! (`--pg-proxy`): it passes bytes through, delays each chunk, stalls (nothing passes either
//! way, connections stay open, as in a network partition), or resets (every connection is
//! closed and new ones are refused until it passes again).

use anyhow::{Context, Result};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Bytes pass at once.
    Pass,
    /// Each chunk read waits this long before it is written on (each way).
    Delay(Duration),
    /// Nothing passes; connections stay open and resume when the mode changes.
    Stall,
    /// Every connection is closed; new ones are accepted and closed at once.
    Reset,
}

/// One proxy: listens on 127.0.0.1, forwards to the upstream address.
pub(crate) struct Proxy {
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to `upstream` on a free port of 127.0.0.1.
    pub(crate) async fn start(upstream: &str) -> Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot listen for the database proxy")?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Mode::Pass);
        let upstream = upstream.to_owned();
        let task = tokio::spawn(accept_loop(listener, upstream, rx));
        Ok(Proxy { addr, mode, task })
    }

    pub(crate) fn set(&self, m: Mode) {
        self.mode.send_replace(m);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: String, mode: watch::Receiver<Mode>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((down, _)) = accepted else { continue };
                if *mode.borrow() == Mode::Reset {
                    drop(down);
                    continue;
                }
                let (upstream, mode) = (upstream.clone(), mode.clone());
                conns.spawn(async move {
                    let Ok(up) = TcpStream::connect(&upstream).await else { return };
                    let _ = down.set_nodelay(true);
                    let _ = up.set_nodelay(true);
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    // When either way ends (or a reset), both sockets are dropped: closed.
                    tokio::select! {
                        _ = pump(dr, uw, mode.clone()) => {}
                        _ = pump(ur, dw, mode) => {}
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Waits while the mode stalls; false on a reset (or the proxy gone).
async fn passable(mode: &mut watch::Receiver<Mode>) -> bool {
    loop {
        let m = *mode.borrow_and_update();
        match m {
            Mode::Reset => return false,
            Mode::Stall => {
                if mode.changed().await.is_err() {
                    return false;
                }
            }
            Mode::Pass | Mode::Delay(_) => return true,
        }
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if !passable(&mut mode).await {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(n) => n,
            },
            // A stall or reset takes effect at once, even while waiting for bytes.
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
        };
        let m = *mode.borrow();
        if let Mode::Delay(d) = m {
            tokio::time::sleep(d).await;
        }
        // Bytes read before a stall wait for its end; a reset drops them.
        if !passable(&mut mode).await || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
