//! The `hush` command-line client as a library: the binary (`src/main.rs`) parses arguments
//! and calls [`cmd`]; the fuzz targets reach the parsers of untrusted input through it
//! (contact cards in [`card`], the encrypted state file in [`store`] and its body in
//! [`state`]).

#![forbid(unsafe_code)]

pub mod archived;
pub use hush_client::card;
pub mod cmd;
pub mod directory;
pub mod display;
pub mod engine;
pub mod exit;
pub mod generation;
pub mod home;
pub mod identity_change;
pub mod invitation;
pub mod net;
pub mod output;
pub mod sessions;
pub mod state;
pub mod store;
