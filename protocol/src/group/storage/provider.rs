//! openmls' `StorageProvider` on [`GroupStorage`]: each method names its entry (label and
//! key, see `codec.rs`) and calls one of the store's helpers.

use openmls_traits::storage::{CURRENT_VERSION, StorageProvider, traits};

use super::codec::{self, key_part};
use super::{GroupStorage, StorageError};

/// Entries with one value per key: a writer, a reader and a deleter each. The generic
/// parameters are listed in the order the trait declares them.
macro_rules! keyed_entries {
    ($(
        $label:expr, $Key:ident => $Value:ident:
        fn $write:ident<$w1:ident, $w2:ident>,
        fn $read:ident<$r1:ident, $r2:ident>,
        fn $delete:ident;
    )*) => {$(
        fn $write<$w1, $w2>(&self, key: &K, value: &V) -> Result<(), Self::Error>
        where
            K: traits::$Key<CURRENT_VERSION>,
            V: traits::$Value<CURRENT_VERSION>,
        {
            self.write($label, &key_part(key)?, value)
        }

        fn $read<$r1, $r2>(&self, key: &K) -> Result<Option<V>, Self::Error>
        where
            K: traits::$Key<CURRENT_VERSION>,
            V: traits::$Value<CURRENT_VERSION>,
        {
            self.read($label, &key_part(key)?)
        }

        fn $delete<K>(&self, key: &K) -> Result<(), Self::Error>
        where
            K: traits::$Key<CURRENT_VERSION>,
        {
            self.delete($label, &key_part(key)?)
        }
    )*};
}

impl StorageProvider<CURRENT_VERSION> for GroupStorage {
    type Error = StorageError;

    keyed_entries! {
        codec::JOIN_CONFIG, GroupId => MlsGroupJoinConfig:
            fn write_mls_join_config<K, V>, fn mls_group_join_config<K, V>, fn delete_group_config;
        codec::TREE, GroupId => TreeSync:
            fn write_tree<K, V>, fn tree<K, V>, fn delete_tree;
        codec::INTERIM_TRANSCRIPT_HASH, GroupId => InterimTranscriptHash:
            fn write_interim_transcript_hash<K, V>, fn interim_transcript_hash<K, V>,
            fn delete_interim_transcript_hash;
        codec::GROUP_CONTEXT, GroupId => GroupContext:
            fn write_context<K, V>, fn group_context<K, V>, fn delete_context;
        codec::CONFIRMATION_TAG, GroupId => ConfirmationTag:
            fn write_confirmation_tag<K, V>, fn confirmation_tag<K, V>, fn delete_confirmation_tag;
        codec::GROUP_STATE, GroupId => GroupState:
            fn write_group_state<V, K>, fn group_state<V, K>, fn delete_group_state;
        codec::MESSAGE_SECRETS, GroupId => MessageSecrets:
            fn write_message_secrets<K, V>, fn message_secrets<K, V>, fn delete_message_secrets;
        codec::RESUMPTION_PSK_STORE, GroupId => ResumptionPskStore:
            fn write_resumption_psk_store<K, V>, fn resumption_psk_store<K, V>,
            fn delete_all_resumption_psk_secrets;
        codec::OWN_LEAF_NODE_INDEX, GroupId => LeafNodeIndex:
            fn write_own_leaf_index<K, V>, fn own_leaf_index<K, V>, fn delete_own_leaf_index;
        codec::EPOCH_SECRETS, GroupId => GroupEpochSecrets:
            fn write_group_epoch_secrets<K, V>, fn group_epoch_secrets<K, V>,
            fn delete_group_epoch_secrets;
        codec::SIGNATURE_KEY_PAIR, SignaturePublicKey => SignatureKeyPair:
            fn write_signature_key_pair<K, V>, fn signature_key_pair<K, V>,
            fn delete_signature_key_pair;
        codec::ENCRYPTION_KEY_PAIR, EncryptionKey => HpkeKeyPair:
            fn write_encryption_key_pair<K, V>, fn encryption_key_pair<V, K>,
            fn delete_encryption_key_pair;
        codec::KEY_PACKAGE, HashReference => KeyPackage:
            fn write_key_package<K, V>, fn key_package<K, V>, fn delete_key_package;
        codec::PSK, PskId => PskBundle:
            fn write_psk<K, V>, fn psk<V, K>, fn delete_psk;
    }

    fn append_own_leaf_node<G, L>(&self, group_id: &G, leaf_node: &L) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        L: traits::LeafNode<CURRENT_VERSION>,
    {
        self.append(codec::OWN_LEAF_NODES, &key_part(group_id)?, leaf_node)
    }

    fn own_leaf_nodes<G, L>(&self, group_id: &G) -> Result<Vec<L>, Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        L: traits::LeafNode<CURRENT_VERSION>,
    {
        self.read_list(codec::OWN_LEAF_NODES, &key_part(group_id)?)
    }

    fn delete_own_leaf_nodes<G>(&self, group_id: &G) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
    {
        self.delete(codec::OWN_LEAF_NODES, &key_part(group_id)?)
    }

    // The proposal queue: each proposal under `(group id, proposal ref)`, and per group the
    // list of its proposal refs in queue order.

    fn queue_proposal<G, P, Q>(
        &self,
        group_id: &G,
        proposal_ref: &P,
        proposal: &Q,
    ) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        P: traits::ProposalRef<CURRENT_VERSION>,
        Q: traits::QueuedProposal<CURRENT_VERSION>,
    {
        self.write(
            codec::QUEUED_PROPOSAL,
            &key_part(&(group_id, proposal_ref))?,
            proposal,
        )?;
        self.append(
            codec::PROPOSAL_QUEUE_REFS,
            &key_part(group_id)?,
            proposal_ref,
        )
    }

    fn queued_proposal_refs<G, P>(&self, group_id: &G) -> Result<Vec<P>, Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        P: traits::ProposalRef<CURRENT_VERSION>,
    {
        self.read_list(codec::PROPOSAL_QUEUE_REFS, &key_part(group_id)?)
    }

    fn queued_proposals<G, P, Q>(&self, group_id: &G) -> Result<Vec<(P, Q)>, Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        P: traits::ProposalRef<CURRENT_VERSION>,
        Q: traits::QueuedProposal<CURRENT_VERSION>,
    {
        let refs: Vec<P> = self.queued_proposal_refs(group_id)?;
        refs.into_iter()
            .map(|r| {
                let proposal = self
                    .read(codec::QUEUED_PROPOSAL, &key_part(&(group_id, &r))?)?
                    .ok_or(StorageError::MissingProposal)?;
                Ok((r, proposal))
            })
            .collect()
    }

    fn remove_proposal<G, P>(&self, group_id: &G, proposal_ref: &P) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        P: traits::ProposalRef<CURRENT_VERSION>,
    {
        self.remove_item(
            codec::PROPOSAL_QUEUE_REFS,
            &key_part(group_id)?,
            proposal_ref,
        )?;
        self.delete(
            codec::QUEUED_PROPOSAL,
            &key_part(&(group_id, proposal_ref))?,
        )
    }

    fn clear_proposal_queue<G, P>(&self, group_id: &G) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        P: traits::ProposalRef<CURRENT_VERSION>,
    {
        let refs: Vec<P> = self.queued_proposal_refs(group_id)?;
        for r in &refs {
            self.delete(codec::QUEUED_PROPOSAL, &key_part(&(group_id, r))?)?;
        }
        self.delete(codec::PROPOSAL_QUEUE_REFS, &key_part(group_id)?)
    }

    // The encryption key pairs of one leaf in one epoch, as one list value.

    fn write_encryption_epoch_key_pairs<G, E, H>(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
        key_pairs: &[H],
    ) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        E: traits::EpochKey<CURRENT_VERSION>,
        H: traits::HpkeKeyPair<CURRENT_VERSION>,
    {
        let key = codec::epoch_key_pairs_part(group_id, epoch, leaf_index)?;
        self.write(codec::EPOCH_KEY_PAIRS, &key, key_pairs)
    }

    fn encryption_epoch_key_pairs<G, E, H>(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
    ) -> Result<Vec<H>, Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        E: traits::EpochKey<CURRENT_VERSION>,
        H: traits::HpkeKeyPair<CURRENT_VERSION>,
    {
        let key = codec::epoch_key_pairs_part(group_id, epoch, leaf_index)?;
        Ok(self.read(codec::EPOCH_KEY_PAIRS, &key)?.unwrap_or_default())
    }

    fn delete_encryption_epoch_key_pairs<G, E>(
        &self,
        group_id: &G,
        epoch: &E,
        leaf_index: u32,
    ) -> Result<(), Self::Error>
    where
        G: traits::GroupId<CURRENT_VERSION>,
        E: traits::EpochKey<CURRENT_VERSION>,
    {
        let key = codec::epoch_key_pairs_part(group_id, epoch, leaf_index)?;
        self.delete(codec::EPOCH_KEY_PAIRS, &key)
    }
}
