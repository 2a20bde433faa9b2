//! Persisting a [`GroupClient`]: protobuf `hush.state.v1.GroupClientState`
//! (`spec/proto/group.proto`).

use ed25519_dalek::SigningKey;
use openmls::prelude::MlsGroup;
use openmls_rust_crypto::RustCrypto;
use prost::Message;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::buffer::FutureBuffer;
use super::client::{GroupClient, GroupSlot, Intent, PendingCommit, Slots};
use super::config::{GroupCiphersuite, GroupConfig};
use super::credential::credential_for;
use super::error::{GroupError, GroupResult};
use super::events::GroupId;
use super::signer::GroupSigner;
use super::storage::{GroupStorage, wipe_entries};
use crate::devices::DeviceOf;
use crate::identity::IdentityKeyPair;
use crate::proto::state;

/// Version of the serialized [`GroupClient`].
pub const GROUP_STATE_VERSION: u32 = 1;

fn intent_to_proto(i: &Intent) -> state::GroupIntent {
    use state::group_intent::Kind;
    let kind = match i {
        Intent::Add(kps) => Kind::Add(state::AddIntent {
            key_packages: kps.clone(),
        }),
        Intent::Remove(keys) => Kind::Remove(state::RemoveIntent {
            signing_keys: keys.iter().map(|k| k.to_vec()).collect(),
        }),
        Intent::SelfUpdate => Kind::SelfUpdate(true),
        Intent::CommitProposals => Kind::CommitProposals(true),
    };
    state::GroupIntent { kind: Some(kind) }
}

fn intent_from_proto(i: &state::GroupIntent) -> GroupResult<Intent> {
    use state::group_intent::Kind;
    match &i.kind {
        Some(Kind::Add(a)) => Ok(Intent::Add(a.key_packages.clone())),
        Some(Kind::Remove(r)) => Ok(Intent::Remove(
            r.signing_keys
                .iter()
                .map(|k| {
                    k.as_slice()
                        .try_into()
                        .map_err(|_| GroupError::Malformed("group state (remove intent)"))
                })
                .collect::<GroupResult<_>>()?,
        )),
        Some(Kind::SelfUpdate(true)) => Ok(Intent::SelfUpdate),
        Some(Kind::CommitProposals(true)) => Ok(Intent::CommitProposals),
        _ => Err(GroupError::Malformed("group state (intent)")),
    }
}

/// One group's state apart from openmls' store entries.
pub(super) fn meta_state(id: &GroupId, slot: &GroupSlot) -> state::GroupMetaState {
    state::GroupMetaState {
        group_id: id.0.clone(),
        future: slot
            .future
            .iter()
            .map(|(epoch, message)| state::BufferedGroupMessage {
                epoch: *epoch,
                message: message.clone(),
            })
            .collect(),
        pending: slot.pending.as_ref().map(|p| state::PendingGroupCommit {
            epoch: p.epoch,
            commit: p.commit.clone(),
            intent: Some(intent_to_proto(&p.intent)),
        }),
    }
}

/// Checks (and takes out) the `integrity` field of a decoded state.
pub(super) fn check_integrity(st: &mut state::GroupClientState) -> GroupResult<()> {
    let claimed = core::mem::take(&mut st.integrity);
    if claimed.len() != 32 || !bool::from(claimed.ct_eq(&integrity(st))) {
        return Err(GroupError::Malformed(
            "group state (integrity check failed)",
        ));
    }
    Ok(())
}

/// SHA-256 over the state encoded with an empty `integrity` field.
pub(super) fn integrity(st: &state::GroupClientState) -> Vec<u8> {
    let mut enc = Zeroizing::new(st.encode_to_vec());
    let digest = Sha256::digest(enc.as_slice()).to_vec();
    enc.zeroize();
    digest
}

fn usize_field(v: u32) -> usize {
    // u32 always fits in usize on the platforms Hush supports (32 and 64 bits).
    usize::try_from(v).unwrap_or(usize::MAX)
}

impl GroupClient {
    /// The client's state without its groups and store entries.
    pub(super) fn header_state(&self) -> GroupResult<state::GroupClientState> {
        Ok(state::GroupClientState {
            version: GROUP_STATE_VERSION,
            ciphersuite: u32::from(self.config.ciphersuite.code()),
            signing_key: self.signer.public_key().to_vec(),
            padding_size: u32::try_from(self.config.padding_size)
                .map_err(|_| GroupError::InvalidConfig("padding_size"))?,
            max_past_epochs: u32::try_from(self.config.max_past_epochs)
                .map_err(|_| GroupError::InvalidConfig("max_past_epochs"))?,
            future_buffer_capacity: u32::try_from(self.config.future_buffer_capacity)
                .map_err(|_| GroupError::InvalidConfig("future_buffer_capacity"))?,
            require_hush_credentials: !self.interop,
            interop_signature_secret: if self.interop {
                self.signer.secret_bytes().to_vec()
            } else {
                Vec::new()
            },
            storage: Vec::new(),
            groups: Vec::new(),
            integrity: Vec::new(),
            device_of: self
                .device_of
                .as_ref()
                .map(DeviceOf::to_bytes)
                .unwrap_or_default(),
        })
    }

    /// Serializes the client (secrets included: every group's epoch secrets and the
    /// private keys of unused KeyPackages). Encrypt it at rest.
    pub fn to_bytes(&self) -> GroupResult<Zeroizing<Vec<u8>>> {
        let groups = self
            .groups
            .iter()
            .map(|(id, slot)| meta_state(id, slot))
            .collect();
        let mut st = self.header_state()?;
        st.storage = self.storage.to_proto()?;
        st.groups = groups;
        st.integrity = integrity(&st);
        let out = Zeroizing::new(st.encode_to_vec());
        wipe_entries(&mut st.storage);
        st.interop_signature_secret.zeroize();
        Ok(out)
    }

    /// Restores a client written by [`GroupClient::to_bytes`] for `identity`. A blob of
    /// another identity, a truncated or altered blob, or one whose groups cannot be loaded
    /// is an error.
    pub fn from_bytes(identity: &IdentityKeyPair, bytes: &[u8]) -> GroupResult<Self> {
        let mut st = state::GroupClientState::decode(bytes)
            .map_err(|_| GroupError::Malformed("group state"))?;
        let result = Self::from_state(Some(identity), &mut st);
        wipe_entries(&mut st.storage);
        st.interop_signature_secret.zeroize();
        result
    }

    /// Restores an interop client (see [`GroupClient::interop_passive`]).
    pub fn interop_from_bytes(bytes: &[u8]) -> GroupResult<Self> {
        let mut st = state::GroupClientState::decode(bytes)
            .map_err(|_| GroupError::Malformed("group state"))?;
        let result = Self::from_state(None, &mut st);
        wipe_entries(&mut st.storage);
        st.interop_signature_secret.zeroize();
        result
    }

    fn from_state(
        identity: Option<&IdentityKeyPair>,
        st: &mut state::GroupClientState,
    ) -> GroupResult<Self> {
        check_integrity(st)?;
        Self::from_checked_state(identity, st)
    }

    /// Restores a client from a state whose integrity was checked (or whose parts were each
    /// authenticated by the store they came from).
    pub(super) fn from_checked_state(
        identity: Option<&IdentityKeyPair>,
        st: &mut state::GroupClientState,
    ) -> GroupResult<Self> {
        if st.version != GROUP_STATE_VERSION {
            return Err(GroupError::UnsupportedVersion {
                what: "group state",
                version: st.version,
            });
        }
        let suite = u16::try_from(st.ciphersuite)
            .map_err(|_| GroupError::Malformed("group state (ciphersuite)"))?;
        let config = GroupConfig {
            ciphersuite: GroupCiphersuite::from_code(suite)?,
            padding_size: usize_field(st.padding_size),
            max_past_epochs: usize_field(st.max_past_epochs),
            future_buffer_capacity: usize_field(st.future_buffer_capacity),
        };
        config.check()?;
        let (signer, credential, public, interop, device_of) = match identity {
            Some(id) => {
                if !st.require_hush_credentials || !st.interop_signature_secret.is_empty() {
                    return Err(GroupError::Malformed("group state (interop client)"));
                }
                if st.signing_key.as_slice() != id.public().signing_key_bytes() {
                    return Err(GroupError::InvalidCredential(
                        "group state belongs to another identity",
                    ));
                }
                let device_of = if st.device_of.is_empty() {
                    None
                } else {
                    Some(
                        DeviceOf::from_bytes(id.public(), &st.device_of)
                            .map_err(|_| GroupError::Malformed("group state (device of)"))?,
                    )
                };
                (
                    GroupSigner::new(id.signing_key().clone()),
                    credential_for(id.public(), device_of.as_ref()),
                    Some(id.public().clone()),
                    false,
                    device_of,
                )
            }
            None => {
                if st.require_hush_credentials {
                    return Err(GroupError::Malformed("group state (not an interop client)"));
                }
                let mut seed: [u8; 32] = st
                    .interop_signature_secret
                    .as_slice()
                    .try_into()
                    .map_err(|_| GroupError::Malformed("group state (signature key)"))?;
                let signer = GroupSigner::new(SigningKey::from_bytes(&seed));
                seed.zeroize();
                if signer.public_key().as_slice() != st.signing_key.as_slice() {
                    return Err(GroupError::Malformed("group state (signature key)"));
                }
                (
                    signer,
                    super::interop::placeholder_credential(&st.signing_key),
                    None,
                    true,
                    None,
                )
            }
        };
        let storage = GroupStorage::from_proto(&mut st.storage)?;
        let mut groups = Slots::default();
        for meta in &st.groups {
            let gid = openmls::prelude::GroupId::from_slice(&meta.group_id);
            let mls = MlsGroup::load(&storage, &gid)
                .map_err(|_| GroupError::Malformed("group state (group)"))?
                .ok_or(GroupError::Malformed("group state (missing group)"))?;
            let mut future = FutureBuffer::new(config.future_buffer_capacity);
            for m in &meta.future {
                future.push(m.epoch, &m.message)?;
            }
            let pending = match &meta.pending {
                Some(p) => Some(PendingCommit {
                    epoch: p.epoch,
                    commit: p.commit.clone(),
                    intent: intent_from_proto(
                        p.intent
                            .as_ref()
                            .ok_or(GroupError::Malformed("group state (intent)"))?,
                    )?,
                }),
                None => None,
            };
            if pending.is_some() != mls.pending_commit().is_some() {
                return Err(GroupError::Malformed("group state (pending commit)"));
            }
            if groups
                .insert(
                    GroupId(meta.group_id.clone()),
                    GroupSlot {
                        mls,
                        future,
                        pending,
                    },
                )
                .is_some()
            {
                return Err(GroupError::Malformed("group state (duplicate group)"));
            }
        }
        Ok(Self {
            identity: public,
            signer,
            credential,
            device_of,
            header_changed: false,
            config,
            interop,
            crypto: RustCrypto::default(),
            storage,
            groups,
            identities: Default::default(),
        })
    }
}
