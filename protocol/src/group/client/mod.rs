//! [`GroupClient`]: one device's MLS state, all its groups and unused KeyPackages.

use std::collections::BTreeMap;

use openmls::prelude::{
    ContentType, CredentialWithKey, KeyPackage, KeyPackageIn, LeafNodeIndex, LeafNodeParameters,
    MIXED_CIPHERTEXT_WIRE_FORMAT_POLICY, Member, MlsGroup, MlsGroupCreateConfig,
    MlsGroupJoinConfig, MlsMessageBodyIn, MlsMessageOut, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY,
    ProcessedMessageContent, ProtocolMessage, ProtocolVersion, RatchetTreeIn, Sender,
    SenderRatchetConfiguration, StagedCommit, StagedWelcome, WelcomeError, WireFormatPolicy,
    tls_codec::Deserialize as _,
};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::OpenMlsProvider as _;
use rand_core::CryptoRng;

use super::buffer::FutureBuffer;
use super::codec::{MlsWireMessage, encode_out};
use super::config::GroupConfig;
use super::credential::{
    IdentityCache, check_credential, credential_for, leaf_identity, verify_credential,
};
use super::error::{GroupError, GroupResult, invalid_message, mls};
use super::events::{
    CommitOutput, ConflictResolution, GroupEvent, GroupId, GroupMember, NewMember,
};
use super::provider::Provider;
use super::signer::GroupSigner;
use super::storage::GroupStorage;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::safety_number::SafetyNumber;

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
    pub(crate) config: GroupConfig,
    pub(crate) interop: bool,
    pub(crate) crypto: RustCrypto,
    pub(crate) storage: GroupStorage,
    pub(crate) groups: BTreeMap<GroupId, GroupSlot>,
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
            credential: credential_for(identity.public()),
            config,
            interop: false,
            crypto: RustCrypto::default(),
            storage: GroupStorage::default(),
            groups: BTreeMap::new(),
            identities: IdentityCache::default(),
        })
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

    /// Creates a group with this client as its only member, at epoch 0, with a random
    /// 32-byte id.
    pub fn create_group<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> GroupResult<GroupId> {
        let mut id = [0u8; GROUP_ID_LEN];
        rng.fill_bytes(&mut id);
        self.create_group_with_id(rng, &id)
    }

    /// Creates a group with the given id (for example one the relay allocated).
    pub fn create_group_with_id<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        id: &[u8],
    ) -> GroupResult<GroupId> {
        let gid = GroupId(id.to_vec());
        if self.groups.contains_key(&gid) {
            return Err(GroupError::GroupExists);
        }
        if id.is_empty() || id.len() > 255 {
            return Err(GroupError::InvalidConfig("group id must be 1 to 255 bytes"));
        }
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(self.config.ciphersuite.mls())
            .wire_format_policy(self.wire_policy())
            .padding_size(self.config.padding_size)
            .max_past_epochs(self.config.max_past_epochs)
            .use_ratchet_tree_extension(true)
            .sender_ratchet_configuration(SenderRatchetConfiguration::new(
                OUT_OF_ORDER_TOLERANCE,
                MAXIMUM_FORWARD_DISTANCE,
            ))
            .build();
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let group = MlsGroup::new_with_group_id(
            &provider,
            &self.signer,
            &config,
            openmls::prelude::GroupId::from_slice(id),
            self.credential.clone(),
        )
        .map_err(mls)?;
        self.groups.insert(
            gid.clone(),
            GroupSlot {
                mls: group,
                future: FutureBuffer::new(self.config.future_buffer_capacity),
                pending: None,
            },
        );
        Ok(gid)
    }

    /// Parses and validates KeyPackages for `group`'s ciphersuite.
    fn validate_key_packages(
        &self,
        group: &MlsGroup,
        key_packages: &[&[u8]],
    ) -> GroupResult<Vec<(KeyPackage, IdentityPublicKey)>> {
        key_packages
            .iter()
            .map(|bytes| {
                let msg = MlsWireMessage::from_bytes(bytes)?;
                let MlsMessageBodyIn::KeyPackage(kp) = msg.into_inner().extract() else {
                    return Err(GroupError::UnexpectedMessage {
                        expected: "KeyPackage",
                    });
                };
                let kp = validate_key_package(&self.crypto, kp)?;
                if kp.ciphersuite() != group.ciphersuite() {
                    return Err(GroupError::InvalidKeyPackage);
                }
                let leaf = kp.leaf_node();
                let identity =
                    verify_credential(leaf.credential(), leaf.signature_key().as_slice())?;
                Ok((kp, identity))
            })
            .collect()
    }

    fn ready_to_commit(&self, group: &GroupId) -> GroupResult<()> {
        let slot = self.slot(group)?;
        if !slot.mls.is_active() {
            return Err(GroupError::NotAMember);
        }
        if slot.pending.is_some() {
            return Err(GroupError::PendingCommit);
        }
        Ok(())
    }

    /// Adds the owners of `key_packages` (TLS-encoded `MLSMessage(KeyPackage)`) in one
    /// commit. The commit is pending until it comes back from the relay's group log
    /// ([`GroupClient::process`]) or is confirmed ([`GroupClient::confirm_commit`]); send the
    /// Welcome only then.
    pub fn add_members<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        key_packages: &[&[u8]],
    ) -> GroupResult<CommitOutput> {
        self.ready_to_commit(group)?;
        if key_packages.is_empty() {
            return Err(GroupError::EmptyInput("no KeyPackages to add"));
        }
        let validated = self.validate_key_packages(&self.slot(group)?.mls, key_packages)?;
        let mut new_members = Vec::with_capacity(validated.len());
        let mut kps = Vec::with_capacity(validated.len());
        for (kp, identity) in validated {
            let key_package_ref = kp.hash_ref(&self.crypto).map_err(mls)?.as_slice().to_vec();
            new_members.push(NewMember {
                identity,
                key_package_ref,
            });
            kps.push(kp);
        }
        let intent = Intent::Add(key_packages.iter().map(|k| k.to_vec()).collect());
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let epoch = slot.mls.epoch().as_u64();
        let (commit, welcome, _) = slot
            .mls
            .add_members(&provider, &self.signer, &kps)
            .map_err(mls)?;
        finish_commit(slot, epoch, &commit, Some(&welcome), new_members, intent)
    }

    /// Removes the members with these identities in one commit.
    pub fn remove_members<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        members: &[IdentityPublicKey],
    ) -> GroupResult<CommitOutput> {
        self.ready_to_commit(group)?;
        let keys: Vec<[u8; 32]> = members.iter().map(|m| m.signing_key_bytes()).collect();
        self.remove_by_keys(rng, group, keys)
    }

    fn remove_by_keys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        keys: Vec<[u8; 32]>,
    ) -> GroupResult<CommitOutput> {
        if keys.is_empty() {
            return Err(GroupError::EmptyInput("no members to remove"));
        }
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let leaves = keys
            .iter()
            .map(|k| leaf_of(&slot.mls, k).ok_or(GroupError::NoSuchMember))
            .collect::<GroupResult<Vec<_>>>()?;
        let epoch = slot.mls.epoch().as_u64();
        let (commit, welcome, _) = slot
            .mls
            .remove_members(&provider, &self.signer, &leaves)
            .map_err(mls)?;
        finish_commit(
            slot,
            epoch,
            &commit,
            welcome.as_ref(),
            Vec::new(),
            Intent::Remove(keys),
        )
    }

    /// Refreshes our own leaf (new HPKE key and path secrets): post-compromise security.
    pub fn self_update<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<CommitOutput> {
        self.ready_to_commit(group)?;
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let epoch = slot.mls.epoch().as_u64();
        let bundle = slot
            .mls
            .self_update(&provider, &self.signer, LeafNodeParameters::default())
            .map_err(mls)?;
        let welcome = bundle.to_welcome_msg();
        finish_commit(
            slot,
            epoch,
            bundle.commit(),
            welcome.as_ref(),
            Vec::new(),
            Intent::SelfUpdate,
        )
    }

    /// Commits the pending proposals (for example another member's leave request).
    pub fn commit_pending_proposals<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<CommitOutput> {
        self.ready_to_commit(group)?;
        if !self.slot(group)?.mls.has_pending_proposals() {
            return Err(GroupError::EmptyInput("no pending proposals"));
        }
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let epoch = slot.mls.epoch().as_u64();
        let (commit, welcome, _) = slot
            .mls
            .commit_to_pending_proposals(&provider, &self.signer)
            .map_err(mls)?;
        finish_commit(
            slot,
            epoch,
            &commit,
            welcome.as_ref(),
            Vec::new(),
            Intent::CommitProposals,
        )
    }

    /// Asks to leave `group`: returns a Remove proposal for the relay's group log. Another
    /// member commits it; processing that commit ends our membership.
    pub fn leave<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<Vec<u8>> {
        self.ready_to_commit(group)?;
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let proposal = slot.mls.leave_group(&provider, &self.signer).map_err(mls)?;
        encode_out(&proposal)
    }

    /// Encrypts an application message for `group`'s current epoch.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        plaintext: &[u8],
    ) -> GroupResult<Vec<u8>> {
        self.encrypt_with_aad(rng, group, plaintext, &[])
    }

    /// Encrypts an application message with `authenticated_data`: sent in clear inside the
    /// `PrivateMessage`, covered by its encryption and the sender's signature.
    pub fn encrypt_with_aad<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        plaintext: &[u8],
        authenticated_data: &[u8],
    ) -> GroupResult<Vec<u8>> {
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        if !slot.mls.is_active() {
            return Err(GroupError::NotAMember);
        }
        if slot.mls.has_pending_proposals() {
            return Err(GroupError::PendingProposals);
        }
        slot.mls.set_aad(authenticated_data.to_vec());
        let out = slot
            .mls
            .create_message(&provider, &self.signer, plaintext)
            .map_err(mls)?;
        encode_out(&out)
    }

    /// Marks our pending commit as accepted by the relay and applies it (for relays that
    /// acknowledge instead of echoing the commit back). Returns the new epoch.
    pub fn confirm_commit<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<Vec<GroupEvent>> {
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let require_hush = !self.interop;
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        if slot.pending.is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        merge_own_commit(slot, &provider, &mut self.identities, require_hush)
    }

    /// Throws our pending commit away (the relay rejected it). The group stays at its
    /// current epoch; the change is not retried (see [`GroupClient::resolve_conflict`]).
    pub fn discard_pending_commit(&mut self, group: &GroupId) -> GroupResult<()> {
        let storage = &self.storage;
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        if slot.pending.is_none() {
            return Err(GroupError::NoPendingCommit);
        }
        slot.mls.clear_pending_commit(storage).map_err(mls)?;
        slot.pending = None;
        Ok(())
    }

    /// Our commit lost the epoch to `winning_commit` (the commit the relay's group log holds
    /// for that epoch): discards ours, applies the winner, and redoes our change on the new
    /// epoch. Send [`ConflictResolution::retry`] to the relay if present.
    ///
    /// If the winner does not validate, nothing changes and the error is returned.
    pub fn resolve_conflict<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        winning_commit: &[u8],
    ) -> GroupResult<ConflictResolution> {
        let pending = self
            .slot(group)?
            .pending
            .clone()
            .ok_or(GroupError::NoPendingCommit)?;
        if winning_commit == pending.commit.as_slice() {
            // Our own commit won after all.
            let events = self.confirm_commit(rng, group)?;
            return Ok(ConflictResolution {
                events,
                retry: None,
            });
        }
        let protocol = protocol_message(winning_commit)?;
        if protocol.content_type() != ContentType::Commit
            || protocol.epoch().as_u64() != pending.epoch
        {
            return Err(GroupError::UnexpectedMessage {
                expected: "a commit for the epoch of our pending commit",
            });
        }
        let events = {
            let require_hush = !self.interop;
            let provider = Provider::new(&self.crypto, &self.storage, &mut *rng);
            let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
            check_group(slot, &protocol)?;
            // Stage the winner first: if it is invalid, our pending commit stays.
            let staged = stage_commit(slot, &provider, protocol, require_hush)?;
            slot.mls
                .clear_pending_commit(provider.storage())
                .map_err(mls)?;
            slot.pending = None;
            let mut events = Vec::new();
            merge_commit(slot, &provider, &mut self.identities, staged, &mut events)?;
            drain_future(
                slot,
                &provider,
                &mut self.identities,
                require_hush,
                &mut events,
            );
            events
        };
        let retry = self.retry(rng, group, pending.intent)?;
        Ok(ConflictResolution { events, retry })
    }

    /// Redoes `intent` on the current epoch, skipping what already happened.
    fn retry<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        intent: Intent,
    ) -> GroupResult<Option<CommitOutput>> {
        let slot = self.slot(group)?;
        if !slot.mls.is_active() {
            return Ok(None);
        }
        match intent {
            Intent::Add(kps) => {
                let present: Vec<[u8; 32]> = slot
                    .mls
                    .members()
                    .filter_map(|m| m.signature_key.as_slice().try_into().ok())
                    .collect();
                let validated = {
                    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
                    self.validate_key_packages(&slot.mls, &refs)?
                };
                let remaining: Vec<&[u8]> = kps
                    .iter()
                    .zip(validated.iter())
                    .filter(|(_, (_, id))| !present.contains(&id.signing_key_bytes()))
                    .map(|(bytes, _)| bytes.as_slice())
                    .collect();
                if remaining.is_empty() {
                    return Ok(None);
                }
                self.add_members(rng, group, &remaining).map(Some)
            }
            Intent::Remove(keys) => {
                let remaining: Vec<[u8; 32]> = keys
                    .into_iter()
                    .filter(|k| leaf_of(&slot.mls, k).is_some())
                    .collect();
                if remaining.is_empty() {
                    return Ok(None);
                }
                self.remove_by_keys(rng, group, remaining).map(Some)
            }
            Intent::SelfUpdate => self.self_update(rng, group).map(Some),
            Intent::CommitProposals => {
                if slot.mls.has_pending_proposals() {
                    self.commit_pending_proposals(rng, group).map(Some)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Processes one message from `group`'s log (a `PublicMessage` or `PrivateMessage`,
    /// TLS-encoded), in the relay's order. Returns what happened, including the effect of
    /// buffered messages that the message unlocked.
    ///
    /// - a message for a future epoch is buffered ([`GroupEvent::Buffered`]), up to the
    ///   configured capacity ([`GroupError::FutureBufferFull`] past it);
    /// - our own pending commit coming back is applied ([`GroupEvent::OwnCommitApplied`]);
    /// - another member's commit for the epoch of our pending commit is
    ///   [`GroupError::PendingCommit`]: call [`GroupClient::resolve_conflict`] with it.
    ///
    /// On any error the group is unchanged.
    pub fn process<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
        message: &[u8],
    ) -> GroupResult<Vec<GroupEvent>> {
        let protocol = protocol_message(message)?;
        let require_hush = !self.interop;
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        check_group(slot, &protocol)?;
        let epoch = protocol.epoch().as_u64();
        let current = slot.mls.epoch().as_u64();
        if epoch > current {
            slot.future.push(epoch, message)?;
            return Ok(vec![GroupEvent::Buffered { epoch }]);
        }
        let mut events = Vec::new();
        if let Some(p) = &slot.pending {
            if p.commit.as_slice() == message {
                return merge_own_commit(slot, &provider, &mut self.identities, require_hush);
            }
            if protocol.content_type() == ContentType::Commit && epoch == p.epoch {
                return Err(GroupError::PendingCommit);
            }
        }
        let merged = process_one(
            slot,
            &provider,
            &mut self.identities,
            protocol,
            require_hush,
            &mut events,
        )?;
        if merged {
            drain_future(
                slot,
                &provider,
                &mut self.identities,
                require_hush,
                &mut events,
            );
        }
        Ok(events)
    }

    /// Joins a group from a Welcome (TLS-encoded `MLSMessage(Welcome)`). The ratchet tree
    /// comes from the Welcome's `ratchet_tree` extension (Hush always sends it) or, if given,
    /// from `ratchet_tree` (TLS-encoded, RFC 9420 section 12.4.3.3). The KeyPackage the
    /// Welcome was made for is forgotten (unless it is a last-resort KeyPackage).
    ///
    /// A member that was removed from the group may rejoin: its old state is replaced.
    /// On any error the client is unchanged.
    pub fn join<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        welcome: &[u8],
        ratchet_tree: Option<&[u8]>,
    ) -> GroupResult<GroupId> {
        let msg = MlsWireMessage::from_bytes(welcome)?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.into_inner().extract() else {
            return Err(GroupError::UnexpectedMessage {
                expected: "Welcome",
            });
        };
        let tree = match ratchet_tree {
            Some(bytes) => Some(
                RatchetTreeIn::tls_deserialize_exact(bytes)
                    .map_err(|_| GroupError::Malformed("ratchet tree"))?,
            ),
            None => None,
        };
        let join_config = self.join_config();
        let require_hush = !self.interop;
        // openmls consumes the KeyPackage's keys as soon as it opens the Welcome, before it
        // has validated it: open an undo scope to put the store back on failure.
        let undo = self.storage.undo_scope()?;
        let result = (|| {
            let provider = Provider::new(&self.crypto, &self.storage, rng);
            let mut builder = StagedWelcome::build_from_welcome(&provider, &join_config, welcome)
                .map_err(welcome_error)?;
            if let Some(tree) = tree {
                builder = builder.with_ratchet_tree(tree);
            }
            let id = GroupId(
                builder
                    .processed_welcome()
                    .unverified_group_info()
                    .group_id()
                    .as_slice()
                    .to_vec(),
            );
            match self.groups.get(&id) {
                Some(slot) if slot.mls.is_active() => return Err(GroupError::GroupExists),
                Some(_) => builder = builder.replace_old_group(),
                None => {}
            }
            if self.interop {
                builder = builder.skip_lifetime_validation();
            }
            let staged = builder.build().map_err(welcome_error)?;
            if require_hush {
                for m in staged.members() {
                    check_credential(&m.credential, m.signature_key.as_slice())?;
                }
            }
            let group = staged.into_group(&provider).map_err(welcome_error)?;
            Ok((id, group))
        })();
        match result {
            Ok((id, group)) => {
                undo.keep()?;
                self.groups.insert(
                    id.clone(),
                    GroupSlot {
                        mls: group,
                        future: FutureBuffer::new(self.config.future_buffer_capacity),
                        pending: None,
                    },
                );
                Ok(id)
            }
            Err(e) => {
                undo.roll_back()?;
                Err(e)
            }
        }
    }

    /// Forgets `group` entirely (after leaving, or to drop a group we were removed from).
    pub fn delete_group(&mut self, group: &GroupId) -> GroupResult<()> {
        let mut slot = self.groups.remove(group).ok_or(GroupError::UnknownGroup)?;
        slot.mls.delete(&self.storage).map_err(mls)
    }
}

fn validate_key_package(crypto: &RustCrypto, kp: KeyPackageIn) -> GroupResult<KeyPackage> {
    kp.validate(crypto, ProtocolVersion::Mls10)
        .map_err(|_| GroupError::InvalidKeyPackage)
}

fn welcome_error<E: core::fmt::Debug + core::fmt::Display>(e: WelcomeError<E>) -> GroupError {
    match e {
        WelcomeError::NoMatchingKeyPackage => GroupError::NoMatchingKeyPackage,
        other => GroupError::InvalidWelcome(other.to_string()),
    }
}

/// Decodes a public or private message.
fn protocol_message(bytes: &[u8]) -> GroupResult<ProtocolMessage> {
    let msg = MlsWireMessage::from_bytes(bytes)?;
    match msg.into_inner().extract() {
        MlsMessageBodyIn::PublicMessage(m) => Ok(m.into()),
        MlsMessageBodyIn::PrivateMessage(m) => Ok(m.into()),
        _ => Err(GroupError::UnexpectedMessage {
            expected: "PublicMessage or PrivateMessage",
        }),
    }
}

fn check_group(slot: &GroupSlot, protocol: &ProtocolMessage) -> GroupResult<()> {
    if protocol.group_id() != slot.mls.group_id() {
        return Err(GroupError::WrongGroup);
    }
    if !slot.mls.is_active() {
        return Err(GroupError::NotAMember);
    }
    Ok(())
}

/// The leaf of the member whose signature key is `key`.
fn leaf_of(group: &MlsGroup, key: &[u8; 32]) -> Option<LeafNodeIndex> {
    group
        .members()
        .find(|m| m.signature_key.as_slice() == key)
        .map(|m| m.index)
}

fn member(m: &Member) -> GroupResult<GroupMember> {
    Ok(GroupMember {
        leaf_index: m.index.u32(),
        identity: leaf_identity(&m.credential, &m.signature_key)?,
    })
}

/// A group member as an event names it; interop clients (non-Hush credentials) fall back to
/// an error only where a Hush identity is required.
fn member_at(
    group: &MlsGroup,
    leaf: LeafNodeIndex,
    cache: &mut IdentityCache,
) -> GroupResult<GroupMember> {
    let m = group.member_at(leaf).ok_or(GroupError::NoSuchMember)?;
    Ok(GroupMember {
        leaf_index: m.index.u32(),
        identity: cache.get(&m.credential, &m.signature_key)?,
    })
}

fn finish_commit(
    slot: &mut GroupSlot,
    epoch: u64,
    commit: &MlsMessageOut,
    welcome: Option<&MlsMessageOut>,
    new_members: Vec<NewMember>,
    intent: Intent,
) -> GroupResult<CommitOutput> {
    let commit = encode_out(commit)?;
    let welcome = welcome.map(encode_out).transpose()?;
    slot.pending = Some(PendingCommit {
        epoch,
        commit: commit.clone(),
        intent,
    });
    Ok(CommitOutput {
        epoch,
        commit,
        welcome,
        new_members,
    })
}

/// Validates a commit (openmls' checks, then Hush credentials of every new or changed leaf).
fn stage_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    protocol: ProtocolMessage,
    require_hush: bool,
) -> GroupResult<(StagedCommit, Sender)> {
    let processed = slot
        .mls
        .process_message(provider, protocol)
        .map_err(invalid_message)?;
    let sender = processed.sender().clone();
    let ProcessedMessageContent::StagedCommitMessage(staged) = processed.into_content() else {
        return Err(GroupError::UnexpectedMessage { expected: "commit" });
    };
    if require_hush {
        check_commit_credentials(&staged)?;
    }
    Ok((*staged, sender))
}

fn check_commit_credentials(staged: &StagedCommit) -> GroupResult<()> {
    for add in staged.add_proposals() {
        let leaf = add.add_proposal().key_package().leaf_node();
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    for upd in staged.update_proposals() {
        let leaf = upd.update_proposal().leaf_node();
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    if let Some(leaf) = staged.update_path_leaf_node() {
        check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
    }
    Ok(())
}

/// Merges a staged commit of another member and records the events.
fn merge_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    (staged, sender): (StagedCommit, Sender),
    events: &mut Vec<GroupEvent>,
) -> GroupResult<()> {
    let committer = match &sender {
        Sender::Member(leaf) => member_at(&slot.mls, *leaf, cache).ok(),
        _ => None,
    };
    let removed: Vec<GroupMember> = staged
        .remove_proposals()
        .filter_map(|r| member_at(&slot.mls, r.remove_proposal().removed(), cache).ok())
        .collect();
    let self_removed = staged.self_removed();
    let added_keys: Vec<Vec<u8>> = staged
        .add_proposals()
        .map(|a| {
            a.add_proposal()
                .key_package()
                .leaf_node()
                .signature_key()
                .as_slice()
                .to_vec()
        })
        .collect();
    slot.mls
        .merge_staged_commit(provider, staged)
        .map_err(mls)?;
    slot.pending = None;
    let epoch = slot.mls.epoch().as_u64();
    if self_removed {
        events.push(GroupEvent::RemovedFromGroup { epoch });
        return Ok(());
    }
    let added = if added_keys.is_empty() {
        Vec::new()
    } else {
        slot.mls
            .members()
            .filter(|m| {
                added_keys
                    .iter()
                    .any(|k| k.as_slice() == m.signature_key.as_slice())
            })
            .filter_map(|m| {
                Some(GroupMember {
                    leaf_index: m.index.u32(),
                    identity: cache.get(&m.credential, &m.signature_key).ok()?,
                })
            })
            .collect()
    };
    events.push(GroupEvent::Commit {
        epoch,
        committer,
        added,
        removed,
    });
    Ok(())
}

/// Processes one message of the current (or a past) epoch. Returns whether a commit was
/// merged.
fn process_one<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    protocol: ProtocolMessage,
    require_hush: bool,
    events: &mut Vec<GroupEvent>,
) -> GroupResult<bool> {
    let epoch = protocol.epoch().as_u64();
    let current = slot.mls.epoch().as_u64();
    if protocol.content_type() == ContentType::Commit && epoch < current {
        return Err(GroupError::StaleEpoch {
            message_epoch: epoch,
            group_epoch: current,
        });
    }
    let processed = slot
        .mls
        .process_message(provider, protocol)
        .map_err(invalid_message)?;
    let sender = processed.sender().clone();
    let authenticated_data = processed.aad().to_vec();
    let sender_member = match &sender {
        Sender::Member(leaf) => member_at(&slot.mls, *leaf, cache).ok(),
        _ => None,
    };
    match processed.into_content() {
        ProcessedMessageContent::ApplicationMessage(app) => {
            let sender = if require_hush {
                sender_member.ok_or(GroupError::InvalidCredential("sender"))?
            } else {
                sender_member.ok_or(GroupError::InvalidCredential(
                    "sender is not a Hush identity",
                ))?
            };
            events.push(GroupEvent::Application {
                epoch,
                sender,
                plaintext: app.into_bytes(),
                authenticated_data,
            });
            Ok(false)
        }
        ProcessedMessageContent::ProposalMessage(proposal) => {
            if require_hush {
                if let openmls::prelude::Proposal::Add(add) = proposal.proposal() {
                    let leaf = add.key_package().leaf_node();
                    check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
                }
                if let openmls::prelude::Proposal::Update(upd) = proposal.proposal() {
                    let leaf = upd.leaf_node();
                    check_credential(leaf.credential(), leaf.signature_key().as_slice())?;
                }
            }
            let removes = match proposal.proposal() {
                openmls::prelude::Proposal::Remove(r) => Some(r.removed().u32()),
                _ => None,
            };
            slot.mls
                .store_pending_proposal(provider.storage(), *proposal)
                .map_err(mls)?;
            events.push(GroupEvent::Proposal {
                epoch,
                sender: sender_member,
                removes,
            });
            Ok(false)
        }
        ProcessedMessageContent::ExternalJoinProposalMessage(_) => {
            Err(GroupError::UnexpectedMessage {
                expected: "a member's message (external proposals are not supported)",
            })
        }
        ProcessedMessageContent::StagedCommitMessage(staged) => {
            if require_hush {
                check_commit_credentials(&staged)?;
            }
            merge_commit(slot, provider, cache, (*staged, sender), events)?;
            Ok(true)
        }
        ProcessedMessageContent::OwnPrivateMessage => {
            events.push(GroupEvent::OwnMessage { epoch });
            Ok(false)
        }
        #[allow(unreachable_patterns)]
        _ => Err(GroupError::UnexpectedMessage {
            expected: "application, proposal or commit",
        }),
    }
}

/// Processes buffered messages whose epoch has arrived: within an epoch, non-commits first,
/// each kind in arrival order.
/// Applies our own pending commit (accepted by the relay), then any buffered messages of
/// the epochs it opens.
fn merge_own_commit<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    require_hush: bool,
) -> GroupResult<Vec<GroupEvent>> {
    slot.mls.merge_pending_commit(provider).map_err(mls)?;
    slot.pending = None;
    let mut events = vec![GroupEvent::OwnCommitApplied {
        epoch: slot.mls.epoch().as_u64(),
    }];
    drain_future(slot, provider, cache, require_hush, &mut events);
    Ok(events)
}

fn drain_future<R: CryptoRng + ?Sized>(
    slot: &mut GroupSlot,
    provider: &Provider<'_, R>,
    cache: &mut IdentityCache,
    require_hush: bool,
    events: &mut Vec<GroupEvent>,
) {
    loop {
        if !slot.mls.is_active() {
            slot.future.clear();
            return;
        }
        let current = slot.mls.epoch().as_u64();
        // Messages of epochs we have passed meanwhile: past-epoch secrets may still open
        // them (application messages); commits among them are stale.
        let mut batch = slot.future.drop_stale(current);
        if let Some(next) = slot.future.take_epoch(current, is_commit) {
            batch.push(next);
        }
        if batch.is_empty() {
            return;
        }
        for (epoch, bytes) in batch {
            let result = protocol_message(&bytes)
                .and_then(|p| process_one(slot, provider, cache, p, require_hush, events));
            if let Err(error) = result {
                events.push(GroupEvent::BufferedMessageRejected { epoch, error });
            }
        }
    }
}

fn is_commit(bytes: &[u8]) -> bool {
    protocol_message(bytes).is_ok_and(|p| p.content_type() == ContentType::Commit)
}
