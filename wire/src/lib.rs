//! # hush-wire
//!
//! What the Hush relay and its clients share, and nothing else: the protobuf messages of
//! `spec/proto/relay.proto` ([`proto`]), the length-prefixed frame codec ([`frame`]), mailbox
//! addresses, envelope and group ids, certificate fingerprints and the relay-signed receipts
//! with their verification ([`types`]), the `hush://FPR@HOST:PORT` address ([`url`]), and the
//! plain records a relay hands out ([`model`]). With the `quic` feature, [`quic`] adds the
//! transport settings both ends must agree on.
//!
//! Every byte layout here is specified in `spec/relay-protocol.md`. This crate never depends
//! on the end-to-end protocol (the relay stays blind) nor on any server-side crate (apps link
//! it through the relay client).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod frame;
pub mod model;
#[cfg(feature = "quic")]
pub mod quic;
pub mod types;
pub mod url;

/// Wire types generated from `spec/proto/relay.proto`.
#[allow(missing_docs, clippy::all)]
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/hush.relay.v1.rs"));
}

pub use types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
};
pub use url::RelayUrl;

/// The ALPN protocol id of relay protocol version 1.
pub const ALPN: &[u8] = b"hush/1";
