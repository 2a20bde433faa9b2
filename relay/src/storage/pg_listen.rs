//! Cross-node wake-ups: a dedicated connection that `LISTEN`s on [`CHANNEL`].
//!
//! After every transaction that stores an envelope or appends to a group log commits, its node
//! runs `pg_notify(CHANNEL, payload)`; PostgreSQL delivers the notification to every listening
//! node. The payload is `m` + the mailbox address in hex, or `g` + the group id digest in hex.
//!
//! If the listening connection fails, the task reconnects with backoff; once `LISTEN` is in
//! place again it reports [`Wake::All`], so every subscriber re-reads the store from its
//! cursor and nothing written while the node was deaf is missed. A keep-alive query detects
//! a connection that died silently.

use super::pg_tls::MakeRustlsConnect;
use super::{Wake, WakeSink};
use crate::types::MailboxAddress;
use futures_util::StreamExt;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio_postgres::AsyncMessage;

/// The notification channel.
pub(crate) const CHANNEL: &str = "hush_wake";

/// How often the listening connection is checked with a query.
const KEEPALIVE: Duration = Duration::from_secs(5);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The `pg_notify` payload for a mailbox.
pub(crate) fn mailbox_payload(a: &[u8; 32]) -> String {
    format!("m{}", hex::encode(a))
}

/// The `pg_notify` payload for a group.
pub(crate) fn group_payload(g: &[u8; 32]) -> String {
    format!("g{}", hex::encode(g))
}

/// Parses a payload; `None` for anything this version does not know.
fn parse_payload(p: &str) -> Option<Wake> {
    let (kind, rest) = (p.get(..1)?, p.get(1..)?);
    let mut key = [0u8; 32];
    hex::decode_to_slice(rest, &mut key).ok()?;
    match kind {
        "m" => Some(Wake::Mailbox(MailboxAddress(key))),
        "g" => Some(Wake::Group(key)),
        _ => None,
    }
}

/// Runs until `stop` turns true (or its sender is dropped).
pub(crate) async fn listen_loop(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    sink: WakeSink,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(50);
    loop {
        if *stop.borrow() {
            return;
        }
        match listen_once(&config, &tls, &sink, &mut stop).await {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Lost(why)) => {
                metrics::counter!("hush_relay_pg_listen_reconnects_total").increment(1);
                tracing::warn!(reason = %why, "lost the PostgreSQL notification connection; reconnecting");
                backoff = Duration::from_millis(50);
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for PostgreSQL notifications; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

enum Ended {
    Stopped,
    Lost(String),
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    sink: &WakeSink,
    stop: &mut watch::Receiver<bool>,
) -> Result<Ended, String> {
    let (client, mut conn) = config
        .connect(tls.clone())
        .await
        .map_err(|e| super::pg_backend::describe(&e))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<String, String>>();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(m) = messages.next().await {
            match m {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(Ok(n.payload().to_owned())).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(super::pg_backend::describe(&e)));
                    return;
                }
            }
        }
        let _ = tx.send(Err("connection closed".into()));
    });
    let result = async {
        client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .await
            .map_err(|e| super::pg_backend::describe(&e))?;
        tracing::info!("listening for PostgreSQL notifications");
        // Whatever happened while no LISTEN was in place, subscribers catch up now.
        sink(Wake::All);
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            tokio::select! {
                m = rx.recv() => match m {
                    Some(Ok(payload)) => match parse_payload(&payload) {
                        Some(w) => sink(w),
                        None => tracing::debug!(%payload, "unknown notification payload"),
                    },
                    Some(Err(e)) => return Ok(Ended::Lost(e)),
                    None => return Ok(Ended::Lost("connection task ended".into())),
                },
                _ = keepalive.tick() => {
                    let ping = tokio::time::timeout(KEEPALIVE, client.simple_query("SELECT 1")).await;
                    match ping {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Ok(Ended::Lost(super::pg_backend::describe(&e))),
                        Err(_) => return Ok(Ended::Lost("keep-alive query timed out".into())),
                    }
                }
                _ = stop.changed() => return Ok(Ended::Stopped),
            }
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_junk_is_ignored() {
        let a = [7u8; 32];
        assert_eq!(
            parse_payload(&mailbox_payload(&a)),
            Some(Wake::Mailbox(MailboxAddress(a)))
        );
        assert_eq!(parse_payload(&group_payload(&a)), Some(Wake::Group(a)));
        for junk in ["", "m", "x00", "mzz", "g0102", "é", "m\u{e9}"] {
            assert_eq!(parse_payload(junk), None, "{junk:?}");
        }
    }
}
