//! Application messages: encrypting for a group's current epoch.

use rand_core::CryptoRng;

use super::GroupClient;
use crate::group::codec::encode_out;
use crate::group::error::{GroupError, GroupResult, mls};
use crate::group::events::GroupId;
use crate::group::provider::Provider;

impl GroupClient {
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
}
