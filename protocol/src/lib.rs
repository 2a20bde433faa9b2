//! # hush-protocol
//!
//! The sans-IO cryptographic core of Hush: device identities, prekeys, X3DH and the Double
//! Ratchet for 1:1 sessions, and PQXDH (X3DH plus ML-KEM-768) where the peer offers it. No sockets, no threads, no clock: callers pass bytes and a
//! cryptographically secure random number generator in, and get bytes out, so every
//! behaviour is deterministic under a seeded generator.
//!
//! The normative description of every byte is in the repository's `spec/` folder
//! (`spec/x3dh.md`, `spec/pqxdh.md`, `spec/double-ratchet.md`, `spec/proto/*.proto`).
//!
//! ```
//! use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, SessionConfig};
//!
//! let mut rng = rand::rng();
//! let alice = IdentityKeyPair::generate(&mut rng);
//! let bob = IdentityKeyPair::generate(&mut rng);
//!
//! // Bob publishes a bundle (in practice through the relay's directory).
//! let mut bob_store = PreKeyStore::new();
//! let spk = bob_store.rotate_signed_prekey(&mut rng, &bob);
//! let opks = bob_store.generate_one_time_prekeys(&mut rng, 10);
//! let bundle = PreKeyBundle::from_parts(&spk.to_bytes(), Some(&opks[0].to_bytes()))?;
//!
//! // Alice starts a session and sends; Bob answers.
//! let mut a = Session::initiate(&mut rng, &alice, &bundle, SessionConfig::default())?;
//! let m1 = a.encrypt(&mut rng, b"hello Bob")?;
//! let (mut b, pt) = Session::respond(&mut rng, &bob, &mut bob_store, &m1, SessionConfig::default())?;
//! assert_eq!(pt, b"hello Bob");
//! let m2 = b.encrypt(&mut rng, b"hi Alice")?;
//! assert_eq!(a.decrypt(&mut rng, &m2)?, b"hi Alice");
//! assert_eq!(a.safety_number(), b.safety_number());
//! # Ok::<(), hush_protocol::Error>(())
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attachment;
mod bundle;
pub mod devices;
pub mod directory;
pub mod envelope;
mod error;
pub mod group;
mod identity;
mod kem;
mod kem_prekeys;
mod pqxdh;
mod prekeys;
pub mod proto;
mod ratchet;
mod safety_number;
mod session;
mod trace;
#[cfg(feature = "vectors")]
pub mod vectors;
mod x3dh;

pub use bundle::{BUNDLE_VERSION, PreKeyBundle};
pub use error::{Error, Result};
pub use identity::{
    FINGERPRINT_CONTEXT, Fingerprint, IDENTITY_DH_CONTEXT, IdentityKeyPair, IdentityPublicKey,
};
pub use kem::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN};
pub use kem_prekeys::{
    KEM_PREKEY_CONTEXT, KemPreKeyKind, KemPreKeyPublic, LAST_RESORT_KEM_PREKEYS_KEPT,
};
pub use pqxdh::{KEM_BINDING_CONTEXT, PQXDH_INFO};
pub use prekeys::{
    OneTimePreKeyPublic, PreKeyStore, SEEN_BASE_KEYS_PER_SIGNED_PREKEY, SIGNED_PREKEY_CONTEXT,
    SIGNED_PREKEY_PQXDH_CONTEXT, SIGNED_PREKEYS_KEPT, SignedPreKeyPublic,
};
pub use ratchet::chain_key::{CHAIN_KEY_SEED, MESSAGE_KEY_SEED};
pub use ratchet::header::HEADER_LEN;
pub use ratchet::header_key::ENCRYPTED_HEADER_LEN;
pub use ratchet::message_key::MESSAGE_KEYS_INFO;
pub use ratchet::root_key::KDF_RK_INFO;
pub use safety_number::{SAFETY_NUMBER_CONTEXT, SAFETY_NUMBER_ITERATIONS, SafetyNumber};
pub use session::{
    DEFAULT_MAX_SKIP, DEFAULT_MAX_SKIPPED_TOTAL, MESSAGE_VERSION, MessageKind, Session,
    SessionConfig, message_kind,
};
pub use x3dh::{HEADER_KEYS_INFO, X3DH_INFO};

/// The README's Rust examples run as doc tests, so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The random number generator trait this crate takes (`rand_core` 0.10's `CryptoRng`).
pub use rand_core::CryptoRng;
