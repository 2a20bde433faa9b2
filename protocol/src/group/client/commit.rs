//! Our own membership commits: adding and removing members, refreshing our leaf,
//! committing pending proposals, and asking to leave. Each commit stays pending until the
//! relay's verdict (`super::conflict`).

use openmls::prelude::{
    KeyPackage, KeyPackageIn, LeafNodeParameters, MlsGroup, MlsMessageBodyIn, MlsMessageOut,
    ProtocolVersion,
};

use openmls_rust_crypto::RustCrypto;
use rand_core::CryptoRng;

use super::{GroupClient, GroupSlot, Intent, PendingCommit, leaf_of};
use crate::group::codec::{MlsWireMessage, encode_out};
use crate::group::credential::verify_credential;
use crate::group::error::{GroupError, GroupResult, mls};
use crate::group::events::{CommitOutput, GroupId, NewMember};
use crate::group::provider::Provider;
use crate::identity::IdentityPublicKey;

impl GroupClient {
    /// Parses and validates KeyPackages for `group`'s ciphersuite.
    pub(super) fn validate_key_packages(
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

    pub(super) fn remove_by_keys<R: CryptoRng + ?Sized>(
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

    /// Refreshes our own leaf (new HPKE key and path secrets): post-compromise security. A
    /// leaf whose credential is older than ours ([`GroupClient::own_leaf_outdated`]) takes
    /// ours.
    pub fn self_update<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: &GroupId,
    ) -> GroupResult<CommitOutput> {
        self.ready_to_commit(group)?;
        let params = if self.own_leaf_outdated(group)? {
            LeafNodeParameters::builder()
                .with_credential_with_key(self.credential.clone())
                .build()
        } else {
            LeafNodeParameters::default()
        };
        let provider = Provider::new(&self.crypto, &self.storage, rng);
        let slot = self.groups.get_mut(group).ok_or(GroupError::UnknownGroup)?;
        let epoch = slot.mls.epoch().as_u64();
        let bundle = slot
            .mls
            .self_update(&provider, &self.signer, params)
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
}

fn validate_key_package(crypto: &RustCrypto, kp: KeyPackageIn) -> GroupResult<KeyPackage> {
    kp.validate(crypto, ProtocolVersion::Mls10)
        .map_err(|_| GroupError::InvalidKeyPackage)
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
