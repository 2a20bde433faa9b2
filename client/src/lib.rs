//! # hush-client
//!
//! The Hush client engine: what an app embeds to be a messenger, over the sans-IO protocol
//! crate (`hush-protocol`) and the async relay client (`hush-relay-client`). It links nothing
//! of the relay server.
//!
//! This release holds the foundation the rest of the engine builds on:
//!
//! * [`Account`]: create or open an identity in a [`store::Store`] (identity, mailbox key,
//!   directory secret, name, home relay), its [`card::Card`] and safety numbers;
//! * contacts ([`Contact`]): add from a card, update, verify, remove;
//! * [`store`]: the [`store::Store`] trait (tables of records, atomic batches) and the
//!   default encrypted SQLite store, where each change writes only its own records.
//!
//! Sessions, groups, sync with an outbox and events follow (see `spec/client.md`).
//!
//! ```
//! use hush_client::store::{KdfParams, KeySource, SqliteStore};
//! use hush_client::Account;
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let relay = "hush://0000000000000000000000000000000000000000000000000000000000000000@127.0.0.1:4433".parse()?;
//! let cheap = KdfParams { m_cost: 64, t_cost: 1, p_cost: 1 }; // use KdfParams::DEFAULT in apps
//!
//! let alice_store = SqliteStore::create_with(&dir.path().join("alice.db"), KeySource::Passphrase(b"alice pw"), cheap)?;
//! let alice = Account::create(alice_store, &mut rand::rng(), "Alice", relay)?;
//! let bob_store = SqliteStore::create_with(&dir.path().join("bob.db"), KeySource::Passphrase(b"bob pw"), cheap)?;
//! let relay = alice.relay().clone();
//! let mut bob = Account::create(bob_store, &mut rand::rng(), "Bob", relay)?;
//!
//! bob.add_contact("alice", &alice.card().encode()?)?;
//! println!("compare with Alice: {}", bob.safety_number("alice")?);
//! drop(bob);
//!
//! // Later: open it again with the passphrase.
//! let bob = Account::open(SqliteStore::open(&dir.path().join("bob.db"), KeySource::Passphrase(b"bob pw"))?)?;
//! assert_eq!(bob.contacts()?.len(), 1);
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
pub mod card;
mod contacts;
mod directory;
mod engine;
mod error;
mod event;
mod records;
mod sessions;
pub mod store;

pub use account::{Account, check_name};
pub use contacts::{CardUpdate, Contact, MAX_ALIAS_LEN, check_alias};
pub use engine::{Engine, Outgoing, OutgoingState};
pub use error::Error;
pub use event::{Event, EventKind, Sender};
pub use sessions::MAX_PREVIOUS;
