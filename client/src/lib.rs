//! # hush-client
//!
//! The Hush client engine: what an app embeds to be a messenger, over the sans-IO protocol
//! crate (`hush-protocol`) and the async relay client (`hush-relay-client`). It links nothing
//! of the relay server.
//!
//! What it holds today:
//!
//! * [`Account`]: create or open an identity in a [`store::Store`] (identity, mailbox key,
//!   directory secret, name, home relay), its [`card::Card`] and safety numbers;
//! * contacts ([`Contact`]): add from a card, update, verify, remove;
//! * [`store`]: the [`store::Store`] trait (tables of records, atomic batches) and the
//!   default encrypted SQLite store, where each change writes only its own records.
//!
//! * [`Engine`]: 1:1 messages through the relay. [`Engine::send`] saves the session and the
//!   sealed envelope in an outbox before the relay sees them ([`Engine::flush_outbox`] retries
//!   with the same envelope id, which the relay stores once); [`Engine::receive`] saves each
//!   message as an [`Event`] before the relay deletes it, and keeps it until
//!   [`Engine::confirm`]. The account's sealed directory is published on first use and
//!   refilled when the relay reports it low.
//!
//! * groups ([`Group`]): [`Engine::create_group`], [`Engine::add_members`] (the Welcomes
//!   travel with the commit), [`Engine::remove_members`], [`Engine::leave_group`],
//!   [`Engine::update_keys`], [`Engine::send_to_group`] through the outbox; [`Engine::receive`]
//!   reads every group's log too. A commit that loses its epoch to another member's is made
//!   again on the new epoch.
//!
//! * attachments: [`Engine::send_file`] and [`Engine::send_file_to_group`] encrypt a file
//!   (streaming, one 64 KiB chunk at a time), upload it to the home relay's blob store and
//!   send its reference as an ordinary message; [`EventKind::attachment`] reads it from an
//!   event and [`Engine::save_attachment`] downloads, checks and decrypts it into a folder
//!   under a fresh, safe name. Both transfers resume after an interruption
//!   ([`Engine::pending_uploads`]).
//!
//! * live delivery ([`Engine::next_events`]), rollback detection ([`EventKind::Restored`]),
//!   identity-change notices, delivery reports for queued messages, signed-prekey
//!   rotation; time and randomness injectable ([`Engine::with_clock`],
//!   [`Engine::with_rng_seed`]).
//!
//! Multi-device follows (see `spec/client.md`); `examples/echo.rs` is a complete bot,
//! `examples/chat.rs` a small terminal chat.
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

//! Two users talking through a relay (here one started in-process for the example; an app
//! connects to its operator's `hush://` address):
//!
//! ```
//! use hush_client::store::MemoryStore;
//! use hush_client::{Account, Engine, EventKind};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let relay = hush_relay::Relay::start(hush_relay::RelayConfig {
//! #     listen: "127.0.0.1:0".parse()?, data_dir: dir.path().to_path_buf(), ..Default::default()
//! # }).await?;
//! let url = relay.url(); // hush://FINGERPRINT@127.0.0.1:PORT
//! let mut alice = Engine::new(Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url.clone())?)?;
//! let mut bob = Engine::new(Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url)?)?;
//! let bob_card = bob.account().card().encode()?;   // shared out of band (a QR code, a link)
//! alice.account_mut().add_contact("bob", &bob_card)?;
//! bob.receive().await?;                             // first contact: publishes Bob's keys
//!
//! alice.send("bob", b"hello").await?;
//! for event in bob.receive().await? {
//!     if let EventKind::Message { from, body } = &event.kind {
//!         assert_eq!(body, b"hello");
//!         assert!(from.alias.is_none()); // not a contact of Bob's yet; from.card lets him add Alice
//!     }
//!     bob.confirm(&[event.id])?;
//! }
//! # relay.shutdown().await?;
//! # Ok(()) }
//! ```

//! A group of the two:
//!
//! ```
//! # use hush_client::store::MemoryStore;
//! # use hush_client::{Account, Engine, EventKind};
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let relay = hush_relay::Relay::start(hush_relay::RelayConfig {
//! #     listen: "127.0.0.1:0".parse()?, data_dir: dir.path().to_path_buf(), ..Default::default()
//! # }).await?;
//! # let url = relay.url();
//! # let mut alice = Engine::new(Account::create(MemoryStore::new(), &mut rand::rng(), "Alice", url.clone())?)?;
//! # let mut bob = Engine::new(Account::create(MemoryStore::new(), &mut rand::rng(), "Bob", url)?)?;
//! # alice.account_mut().add_contact("bob", &bob.account().card().encode()?)?;
//! # bob.receive().await?;
//! alice.create_group("friends")?;
//! alice.add_members("friends", &["bob"]).await?;   // Bob needs to be a contact
//! alice.send_to_group("friends", b"hi all").await?;
//! let events = bob.receive().await?;                // his invitation, then the message
//! assert!(matches!(&events[0].kind, EventKind::Joined { group, .. } if group == "friends"));
//! assert!(matches!(&events[1].kind, EventKind::GroupMessage { body, .. } if body == b"hi all"));
//! # relay.shutdown().await?;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod account;
pub mod card;
mod contacts;
pub mod content;
mod directory;
mod engine;
mod error;
mod event;
mod handshake;
mod import;
mod records;
mod sessions;
pub mod store;

pub use account::{Account, check_name};
pub use contacts::{CardUpdate, Contact, MAX_ALIAS_LEN, check_alias};
pub use content::{Attachment, Content};
pub use engine::{
    Clock, Engine, Group, GroupStatus, LINK_LIFETIME_SECS, LINK_PREFIX, MAX_ADD, MAX_COMMIT_ROUNDS,
    Member, Outgoing, OutgoingState, PendingUpload, Progress, ProgressFn, RelayStatus, SentMessage,
    safe_file_name,
};
pub use error::Error;
pub use event::{DeliveryStatus, Event, EventKind, Sender};
pub use handshake::Handshake;
pub use hush_protocol::attachment::{AttachmentError, AttachmentRef};
pub use import::{Import, ImportContact, ImportGroup, ImportSent, ImportSessions};
pub use sessions::MAX_PREVIOUS;
