//! Creating a group, joining one from a Welcome, and forgetting one.

use openmls::prelude::{
    MlsGroup, MlsGroupCreateConfig, MlsMessageBodyIn, RatchetTreeIn, SenderRatchetConfiguration,
    StagedWelcome, WelcomeError, tls_codec::Deserialize as _,
};

use rand_core::CryptoRng;

use super::{
    GROUP_ID_LEN, GroupClient, GroupSlot, MAXIMUM_FORWARD_DISTANCE, OUT_OF_ORDER_TOLERANCE,
};

use crate::group::buffer::FutureBuffer;
use crate::group::codec::MlsWireMessage;
use crate::group::credential::check_credential;
use crate::group::error::{GroupError, GroupResult, mls};
use crate::group::events::GroupId;
use crate::group::provider::Provider;

impl GroupClient {
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

    /// The id of the group a Welcome is for, read with the KeyPackage it was made for; the
    /// client is left unchanged (the KeyPackage stays). Lets a caller that already holds the
    /// group find out before [`GroupClient::join`] refuses with [`GroupError::GroupExists`].
    pub fn welcome_group_id<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        welcome: &[u8],
    ) -> GroupResult<GroupId> {
        let msg = MlsWireMessage::from_bytes(welcome)?;
        let MlsMessageBodyIn::Welcome(welcome) = msg.into_inner().extract() else {
            return Err(GroupError::UnexpectedMessage {
                expected: "Welcome",
            });
        };
        let join_config = self.join_config();
        let undo = self.storage.undo_scope()?;
        let result = (|| {
            let provider = Provider::new(&self.crypto, &self.storage, rng);
            let builder = StagedWelcome::build_from_welcome(&provider, &join_config, welcome)
                .map_err(welcome_error)?;
            Ok(GroupId(
                builder
                    .processed_welcome()
                    .unverified_group_info()
                    .group_id()
                    .as_slice()
                    .to_vec(),
            ))
        })();
        undo.roll_back()?;
        result
    }

    /// Forgets `group` entirely (after leaving, or to drop a group we were removed from).
    pub fn delete_group(&mut self, group: &GroupId) -> GroupResult<()> {
        let mut slot = self.groups.remove(group).ok_or(GroupError::UnknownGroup)?;
        slot.mls.delete(&self.storage).map_err(mls)
    }
}

fn welcome_error<E: core::fmt::Debug + core::fmt::Display>(e: WelcomeError<E>) -> GroupError {
    match e {
        WelcomeError::NoMatchingKeyPackage => GroupError::NoMatchingKeyPackage,
        other => GroupError::InvalidWelcome(other.to_string()),
    }
}
