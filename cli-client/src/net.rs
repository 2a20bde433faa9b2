//! Talking to relays: connection options with a bounded wait, and clear errors.

use crate::exit::{Failure, fail};
use std::time::Duration;

use anyhow::anyhow;
use hush_relay_client::{ClientError, ClientOptions};

/// Environment variable: seconds to wait for a relay to answer a connection (default 10).
pub const CONNECT_TIMEOUT_ENV: &str = "HUSH_CONNECT_TIMEOUT";
const DEFAULT_CONNECT_TIMEOUT: u64 = 10;

fn connect_timeout() -> Duration {
    let secs = std::env::var(CONNECT_TIMEOUT_ENV)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|s| (1..=300).contains(s))
        .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    Duration::from_secs(secs)
}

/// Connection options: a relay that does not answer within the connect timeout
/// ([`CONNECT_TIMEOUT_ENV`]) is unreachable; keep-alives hold an idle connection open.
pub fn options() -> ClientOptions {
    let wait = connect_timeout();
    ClientOptions {
        keep_alive: (wait / 3).clamp(Duration::from_millis(500), Duration::from_secs(5)),
        idle_timeout: wait,
        ..ClientOptions::default()
    }
}

/// A one-line description of a relay client error.
pub fn describe(e: &ClientError) -> String {
    match e {
        ClientError::Relay { message, .. } => format!("the relay refused: {message}"),
        other => other.to_string(),
    }
}

/// Maps a relay client error into an `anyhow` error with `what` as context; a lost
/// connection is [`Failure::Unreachable`].
pub fn err(what: &str) -> impl FnOnce(ClientError) -> anyhow::Error + '_ {
    move |e| {
        let message = format!("{what}: {}", describe(&e));
        if crate::errors::unreachable(&e) {
            fail(Failure::Unreachable, message)
        } else {
            anyhow!(message)
        }
    }
}
