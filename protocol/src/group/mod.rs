//! End-to-end encrypted groups: MLS (RFC 9420) through `openmls`, with the same sans-IO
//! shape as the 1:1 [`Session`](crate::Session)s.
//!
//! A [`GroupClient`] is one device's MLS state: the KeyPackages it published and every group
//! it is in. It takes bytes from the relay (commits, proposals, application messages and
//! Welcomes, all TLS-encoded `MLSMessage`s) and returns bytes for the relay plus
//! [`GroupEvent`]s. Credentials are the devices' Hush identities, so a member's safety number
//! is the one the 1:1 layer shows. The relay orders each group's log and accepts one commit
//! per epoch; a member whose commit lost calls [`GroupClient::resolve_conflict`].
//! `spec/groups.md` describes the mapping onto the relay.
//!
//! ```
//! use hush_protocol::IdentityKeyPair;
//! use hush_protocol::group::{GroupClient, GroupConfig, GroupEvent};
//!
//! let mut rng = rand::rng();
//! let alice_id = IdentityKeyPair::generate(&mut rng);
//! let bob_id = IdentityKeyPair::generate(&mut rng);
//! let mut alice = GroupClient::new(&alice_id, GroupConfig::default())?;
//! let mut bob = GroupClient::new(&bob_id, GroupConfig::default())?;
//!
//! // Bob uploads KeyPackages; Alice creates a group and adds him.
//! let kps = bob.generate_key_packages(&mut rng, 2)?;
//! let group = alice.create_group(&mut rng)?;
//! let add = alice.add_members(&mut rng, &group, &[&kps[0]])?;
//! // The relay accepts the commit for epoch 0 and echoes it back to Alice.
//! alice.process(&mut rng, &group, &add.commit)?;
//! let joined = bob.join(&mut rng, &add.welcome_for(0)?, None)?;
//! assert_eq!(joined, group);
//!
//! let msg = alice.encrypt(&mut rng, &group, b"hello group")?;
//! let events = bob.process(&mut rng, &group, &msg)?;
//! assert!(matches!(&events[0], GroupEvent::Application { plaintext, .. } if plaintext == b"hello group"));
//! assert_eq!(alice.epoch_authenticator(&group)?, bob.epoch_authenticator(&group)?);
//! # Ok::<(), hush_protocol::group::GroupError>(())
//! ```

mod buffer;
mod client;
mod codec;
mod config;
mod credential;
#[cfg(feature = "vectors")]
pub(crate) use credential::member_identity;
mod error;
mod events;
mod interop;
mod invitation;
mod key_packages;
mod persist;
mod provider;
mod records;
mod signer;
mod storage;

pub use client::{GROUP_ID_LEN, GroupClient};
pub use codec::{ContentKind, GroupMessageInfo, MlsRatchetTree, MlsWireMessage, WireKind, inspect};
pub use config::{
    DEFAULT_FUTURE_BUFFER_CAPACITY, DEFAULT_MAX_PAST_EPOCHS, DEFAULT_PADDING_SIZE,
    GroupCiphersuite, GroupConfig,
};
pub use error::{GroupError, GroupResult};
pub use events::{CommitOutput, ConflictResolution, GroupEvent, GroupId, GroupMember, NewMember};
pub use interop::KeyPackageSecrets;
pub use invitation::{
    GROUP_INVITATION_VERSION, GroupInvitation, MAX_INVITATION_NAME_LEN, MAX_INVITATION_RELAY_LEN,
};
pub use key_packages::MAX_KEY_PACKAGE_BATCH;
pub use persist::GROUP_STATE_VERSION;
pub use records::{GroupChanges, RecordChange};
