//! Structs generated from `spec/proto/*.proto` by `prost` (see `build.rs`).
//!
//! They are the exact wire and storage encodings; the typed API of this crate converts to
//! and from them and checks every field.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// The `hush.*` protobuf packages, nested as prost expects.
pub mod hush {
    /// Package `hush.v1`: wire messages (`spec/proto/messages.proto`).
    pub mod v1 {
        include!(concat!(env!("OUT_DIR"), "/hush.v1.rs"));
    }
    /// Package `hush.state.*`.
    pub mod state {
        /// Package `hush.state.v1`: persisted state (`spec/proto/state.proto`).
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/hush.state.v1.rs"));
        }
    }
}

pub use hush::state::v1 as state;
pub use hush::v1 as wire;

pub(crate) fn key32(bytes: &[u8], what: &'static str) -> crate::Result<[u8; 32]> {
    bytes.try_into().map_err(|_| crate::Error::InvalidKey(what))
}

pub(crate) fn opt_key32(bytes: &[u8], what: &'static str) -> crate::Result<Option<[u8; 32]>> {
    if bytes.is_empty() {
        Ok(None)
    } else {
        key32(bytes, what).map(Some)
    }
}
