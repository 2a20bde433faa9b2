//! [`GroupClient`]: one device's MLS state, all its groups and unused KeyPackages.
//!
//! The client is split by what it does: [`GroupClient`] itself, its per-group state and
//! the read-only accessors here; group creation, joining and deletion in `create`; our own
//! membership commits (add, remove, self-update, committing proposals, leaving) in
//! `commit`; the fate of a pending commit (confirmed, discarded, lost to another one and
//! redone) in `conflict`; application messages in `application`; incoming messages in
//! `process`, with the merging of other members' commits and of buffered messages in
//! `merge`. Persistence is `super::persist`, KeyPackages `super::key_packages`.

use openmls::prelude::{
    CredentialWithKey, LeafNodeIndex, MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY, Member, MlsGroup,
    MlsGroupJoinConfig, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, SenderRatchetConfiguration,
    WireFormatPolicy,
};

use openmls_rust_crypto::RustCrypto;

use super::buffer::FutureBuffer;
use super::config::GroupConfig;
use super::credential::{IdentityCache, LeafIdentity, credential_for, leaf_identity};
use super::error::{GroupError, GroupResult};
use super::events::{GroupId, GroupMember};
use super::signer::GroupSigner;
use super::storage::GroupStorage;
use crate::devices::DeviceOf;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::safety_number::SafetyNumber;

mod application;
mod commit;
mod conflict;
mod create;
mod merge;
mod process;
mod slots;

pub(crate) use slots::Slots;

/// Out-of-order tolerance of the per-sender ratchets (openmls' default).
const OUT_OF_ORDER_TOLERANCE: u32 = 5;
/// Most generations one message may skip in a sender's ratchet (openmls' default).
const MAXIMUM_FORWARD_DISTANCE: u32 = 1000;
/// Length of a group id Hush creates.
pub const GROUP_ID_LEN: usize = 32;

/// The change a commit of ours makes, kept so that it can be redone if another commit wins
/// the epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Intent {
    /// Add the members of these TLS-encoded KeyPackages.
    Add(Vec<Vec<u8>>),
    /// Remove the members with these Ed25519 identity keys.
    Remove(Vec<[u8; 32]>),
    /// Refresh our own leaf.
    SelfUpdate,
    /// Commit the pending proposals.
    CommitProposals,
}

/// Our commit waiting for the relay's verdict.
#[derive(Clone, Debug)]
pub(crate) struct PendingCommit {
    pub(crate) epoch: u64,
    pub(crate) commit: Vec<u8>,
    pub(crate) intent: Intent,
}

/// One group as the client holds it.
pub(crate) struct GroupSlot {
    pub(crate) mls: MlsGroup,
    pub(crate) future: FutureBuffer,
    pub(crate) pending: Option<PendingCommit>,
}

/// One device's MLS state: its credential, every group it is in, and the private keys of the
/// KeyPackages it published. Sans-IO like [`Session`](crate::Session): every call takes the
/// caller's random number generator, bytes in, bytes and events out.
///
/// Persist it with [`GroupClient::to_bytes`] after each call that changes it. Its openmls
/// store wipes every secret it overwrites or deletes (old epoch secrets, consumed KeyPackage
/// keys) at once, and every secret it still holds when the client is dropped.
pub struct GroupClient {
    pub(crate) identity: Option<IdentityPublicKey>,
    pub(crate) signer: GroupSigner,
    pub(crate) credential: CredentialWithKey,
    /// The person's word the credential carries (a linked device), persisted with the state.
    pub(crate) device_of: Option<DeviceOf>,
    /// The header record changed since the last [`GroupClient::take_changes`].
    pub(crate) header_changed: bool,
    pub(crate) config: GroupConfig,
    pub(crate) interop: bool,
    pub(crate) crypto: RustCrypto,
    pub(crate) storage: GroupStorage,
    pub(crate) groups: Slots,
    pub(crate) identities: IdentityCache,
}

impl core::fmt::Debug for GroupClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupClient")
            .field("identity", &self.identity)
            .field("config", &self.config)
            .field("groups", &self.groups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl GroupClient {
    /// A client for `identity` with no group and no KeyPackage yet.
    pub fn new(identity: &IdentityKeyPair, config: GroupConfig) -> GroupResult<Self> {
        config.check()?;
        Ok(Self {
            identity: Some(identity.public().clone()),
            signer: GroupSigner::new(identity.signing_key().clone()),
            credential: credential_for(identity.public(), None),
            device_of: None,
            header_changed: false,
            config,
            interop: false,
            crypto: RustCrypto::default(),
            storage: GroupStorage::default(),
            groups: Slots::default(),
            identities: IdentityCache::default(),
        })
    }

    /// Makes the client's credential carry its person's word (`spec/multi-device.md` section
    /// 5): KeyPackages made from now on, and our leaf at the next [`GroupClient::self_update`]
    /// of each group, name the person. Refused (`InvalidCredential`) if `device_of` is for
    /// another device; persist the client after it.
    pub fn set_device_of(&mut self, device_of: DeviceOf) -> GroupResult<()> {
        let identity = self.identity.as_ref().ok_or(GroupError::InvalidCredential(
            "an interop client has no person",
        ))?;
        if device_of.device() != identity {
            return Err(GroupError::InvalidCredential(
                "the person's word is for another device",
            ));
        }
        self.credential = credential_for(identity, Some(&device_of));
        self.device_of = Some(device_of);
        self.header_changed = true;
        Ok(())
    }

    /// The person's word our credential carries, if [`GroupClient::set_device_of`] gave one.
    pub fn device_of(&self) -> Option<&DeviceOf> {
        self.device_of.as_ref()
    }

    /// Whether our leaf in `group` shows an older credential than ours (made before
    /// [`GroupClient::set_device_of`]): a [`GroupClient::self_update`] brings it up to date.
    pub fn own_leaf_outdated(&self, group: &GroupId) -> GroupResult<bool> {
        let slot = self.slot(group)?;
        Ok(slot
            .mls
            .own_leaf_node()
            .is_some_and(|leaf| *leaf.credential() != self.credential.credential))
    }

    /// The client's configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The client's identity (`None` only for interop clients built from raw key material).
    pub fn identity(&self) -> Option<&IdentityPublicKey> {
        self.identity.as_ref()
    }

    /// The safety number between this client's identity and a group member's: the same
    /// number a 1:1 session between the two shows.
    pub fn safety_number(&self, member: &IdentityPublicKey) -> Option<SafetyNumber> {
        self.identity
            .as_ref()
            .map(|me| SafetyNumber::new(me, member))
    }

    /// Ids of the groups the client holds (including ones it was removed from).
    pub fn group_ids(&self) -> Vec<GroupId> {
        self.groups.keys().cloned().collect()
    }

    pub(crate) fn join_config(&self) -> MlsGroupJoinConfig {
        MlsGroupJoinConfig::builder()
            .wire_format_policy(self.wire_policy())
            // Interop clients keep resumption PSKs: the RFC 9420 vectors' commits use them.
            .number_of_resumption_psks(if self.interop { 16 } else { 0 })
            .padding_size(self.config.padding_size)
            .max_past_epochs(self.config.max_past_epochs)
            .use_ratchet_tree_extension(true)
            .sender_ratchet_configuration(SenderRatchetConfiguration::new(
                OUT_OF_ORDER_TOLERANCE,
                MAXIMUM_FORWARD_DISTANCE,
            ))
            .build()
    }

    fn wire_policy(&self) -> WireFormatPolicy {
        if self.interop {
            MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY
        } else {
            PURE_CIPHERTEXT_WIRE_FORMAT_POLICY
        }
    }

    fn slot(&self, group: &GroupId) -> GroupResult<&GroupSlot> {
        self.groups.get(group).ok_or(GroupError::UnknownGroup)
    }

    /// Current epoch of `group`.
    pub fn epoch(&self, group: &GroupId) -> GroupResult<u64> {
        Ok(self.slot(group)?.mls.epoch().as_u64())
    }

    /// The epoch authenticator of `group`'s current epoch (RFC 9420, section 8.7): equal for
    /// all members that agree on the group state; compare it out of band to detect a split.
    pub fn epoch_authenticator(&self, group: &GroupId) -> GroupResult<Vec<u8>> {
        Ok(self
            .slot(group)?
            .mls
            .epoch_authenticator()
            .as_slice()
            .to_vec())
    }

    /// Whether this client is still a member of `group`.
    pub fn is_active(&self, group: &GroupId) -> GroupResult<bool> {
        Ok(self.slot(group)?.mls.is_active())
    }

    /// Whether a commit of ours in `group` waits for the relay's verdict.
    pub fn has_pending_commit(&self, group: &GroupId) -> GroupResult<bool> {
        Ok(self.slot(group)?.pending.is_some())
    }

    /// Whether `group` holds proposals no commit has taken yet (a member's request to leave):
    /// until a member commits them ([`GroupClient::commit_pending_proposals`]), application
    /// messages are refused.
    pub fn has_pending_proposals(&self, group: &GroupId) -> GroupResult<bool> {
        Ok(self.slot(group)?.mls.has_pending_proposals())
    }

    /// Number of messages buffered for future epochs of `group`.
    pub fn buffered_messages(&self, group: &GroupId) -> GroupResult<usize> {
        Ok(self.slot(group)?.future.len())
    }

    /// Our own leaf index in `group`.
    pub fn own_leaf_index(&self, group: &GroupId) -> GroupResult<u32> {
        Ok(self.slot(group)?.mls.own_leaf_index().u32())
    }

    /// The members of `group`, in leaf order, their credentials checked.
    pub fn members(&self, group: &GroupId) -> GroupResult<Vec<GroupMember>> {
        self.slot(group)?
            .mls
            .members()
            .map(|m| member(&m))
            .collect()
    }

    /// Number of members of `group`.
    pub fn member_count(&self, group: &GroupId) -> GroupResult<usize> {
        Ok(self.slot(group)?.mls.members().count())
    }
}

/// The leaf of the member whose signature key is `key`.
fn leaf_of(group: &MlsGroup, key: &[u8; 32]) -> Option<LeafNodeIndex> {
    group
        .members()
        .find(|m| m.signature_key.as_slice() == key)
        .map(|m| m.index)
}

fn member(m: &Member) -> GroupResult<GroupMember> {
    Ok(group_member(
        m.index,
        leaf_identity(&m.credential, &m.signature_key)?,
    ))
}

fn group_member(leaf: LeafNodeIndex, id: LeafIdentity) -> GroupMember {
    GroupMember {
        leaf_index: leaf.u32(),
        identity: id.device,
        person: id.person,
    }
}

/// A group member as an event names it; interop clients (non-Hush credentials) fall back to
/// an error only where a Hush identity is required.
fn member_at(
    group: &MlsGroup,
    leaf: LeafNodeIndex,
    cache: &mut IdentityCache,
) -> GroupResult<GroupMember> {
    let m = group.member_at(leaf).ok_or(GroupError::NoSuchMember)?;
    Ok(group_member(
        m.index,
        cache.get(&m.credential, &m.signature_key)?,
    ))
}
