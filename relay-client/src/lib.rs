//! # hush-relay-client
//!
//! The async client of the Hush relay. One [`Client`] is one QUIC connection to one relay,
//! pinned to the certificate fingerprint of its `hush://FPR@HOST:PORT` URL. Every call opens
//! its own bidirectional stream, so any number of calls can run concurrently on one client
//! (`&self` everywhere; share it with an `Arc`). Receipts are verified against the relay's
//! receipt key before they are returned.
//!
//! This crate depends on quinn, rustls and the wire format (`hush-wire`) only: an app that
//! links it links nothing of the relay server. The wire protocol is specified in
//! `spec/relay-protocol.md`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use hush_relay_client::{Client, EnvelopeId, RelayUrl};
//! let url: RelayUrl = "hush://0000000000000000000000000000000000000000000000000000000000000000@127.0.0.1:4433".parse()?;
//! let client = Client::connect(&url).await?;
//! let me = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let mailbox = client.authenticate(&me).await?;
//! let receipt = client.send(&mailbox, &EnvelopeId::new(vec![1; 16])?, b"ciphertext".to_vec()).await?;
//! println!("stored at {} ms", receipt.stored_at_ms);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blob;
mod connection;
mod directory;
mod error;
pub mod generation;
mod group;
mod mailbox;
mod results;
mod subscription;
pub mod tls;

pub use blob::{BlobId, BlobInfo};
pub use connection::{Client, ClientOptions};
pub use error::ClientError;
pub use hush_wire as wire;
pub use hush_wire::model::{
    GroupEntry, GroupMessageKind, KemPrekey, KeyPackage, OneTimePrekey, PrekeyBundle, PrekeyUpload,
    SignedPrekey, StoredEnvelope as Envelope,
};
pub use hush_wire::proto::ErrorCode;
pub use hush_wire::types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
};
pub use hush_wire::url::RelayUrl;
pub use results::{
    FetchResult, GroupAppendResult, GroupFetchResult, RelayInfo, Status, StatusReport, Stock,
    WelcomeDelivery,
};
pub use subscription::{GroupSubscription, MailboxSubscription};
