//! # hush-relay
//!
//! The Hush blind relay: a QUIC server that stores and forwards only ciphertext.
//!
//! * [`server`] runs the relay (`server::Relay::start` on the embedded store,
//!   [`server::Relay::start_with_storage`] on any backend);
//! * [`storage`] is the storage trait and its backends, each behind a Cargo feature (both
//!   on by default): `redb`, the embedded store, and `postgres`, PostgreSQL shared by several
//!   relay nodes;
//! * [`dispatch`] runs requests without sockets, for tests and fuzzing;
//! * [`proto`], [`frame`], [`types`] and [`url`] are the wire format, re-exported from
//!   `hush-wire`, which the relay client (`hush-relay-client`) shares.
//!
//! The wire protocol is specified in `spec/relay-protocol.md`, the threat model in
//! `spec/threat-model.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod admission;
mod backup;
pub mod blobs;
pub mod capacity;
pub mod clock;
mod cmd;
mod config;
mod connection;
pub mod dispatch;
pub mod health;
mod limits;
mod notify;
pub mod ops_http;
pub mod refusals;
mod reserve;
pub mod server;
mod shared;
mod shutdown;
pub mod storage;
pub mod telemetry;
pub mod tls;

pub use hush_wire::{frame, proto, types, url};

pub use server::{Relay, RelayConfig, RelayError, RelayHandle};
pub use types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
};
pub use url::RelayUrl;
