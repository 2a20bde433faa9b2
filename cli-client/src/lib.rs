//! The `hush` command-line client as a library: a thin shell over the `hush-client` engine.
//! The binary (`src/main.rs`) parses arguments and calls [`cmd`]; each command opens the
//! home's engine ([`home::open`]), calls it, and prints. The fuzz targets reach the parsers
//! of untrusted input through it (contact cards in [`card`]; the state file format of homes
//! from before the engine, which [`migrate`] moves into the engine's store, in [`store`] and
//! [`state`]).

#![forbid(unsafe_code)]

pub use hush_client::card;
pub mod cmd;
pub mod display;
pub mod errors;
pub mod events;
pub mod exit;
pub mod home;
pub mod migrate;
pub mod net;
pub mod output;
pub mod state;
pub mod store;
