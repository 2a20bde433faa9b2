//! # hush-relay
//!
//! The Hush blind relay: a QUIC server that stores and forwards only ciphertext, and the
//! async client that talks to it.
//!
//! * [`server`] runs the relay ([`server::Relay::start`]);
//! * [`client`] connects to one by its `hush://FPR@HOST:PORT` URL ([`client::Client`]);
//! * [`storage`] is the storage trait and its embedded redb backend;
//! * [`dispatch`] runs requests without sockets, for tests and fuzzing;
//! * [`proto`] holds the wire types generated from `spec/proto/relay.proto`.
//!
//! The wire protocol is specified in `spec/relay-protocol.md`, the threat model in
//! `spec/threat-model.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod backup;
pub mod capacity;
pub mod client;
mod client_directory;
pub mod client_generation;
pub mod clock;
mod cmd;
mod connection;
pub mod dispatch;
pub mod frame;
pub mod health;
mod limits;
mod notify;
pub mod ops_http;
pub mod server;
mod shutdown;
pub mod storage;
pub mod telemetry;
pub mod tls;
pub mod types;
pub mod url;

/// Wire types generated from `spec/proto/relay.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/hush.relay.v1.rs"));
}

pub use client::{Client, ClientError};
pub use server::{Relay, RelayConfig, RelayError, RelayHandle};
pub use types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
};
pub use url::RelayUrl;
