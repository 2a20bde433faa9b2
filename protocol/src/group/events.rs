//! What the group layer hands back: group ids, members, commits to send, and events from
//! processed messages.

use openmls::prelude::{MlsMessageBodyIn, tls_codec::Serialize as _, tls_codec::Size as _};

use super::codec::MlsWireMessage;
use super::error::{GroupError, GroupResult};
use crate::identity::IdentityPublicKey;

/// An MLS group id (opaque bytes; Hush uses 32 random bytes).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId(pub(crate) Vec<u8>);

impl GroupId {
    /// Wraps group id bytes (for example read from the relay's group log).
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// The id's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for GroupId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("GroupId(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// A member of a group: its leaf, its Hush identity (the device's), and the person that
/// vouched for the device when its credential carries the person's word.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupMember {
    /// The member's leaf index in the ratchet tree (stable while it stays in the group).
    pub leaf_index: u32,
    /// The member's identity (credential checked against the leaf's signature key).
    pub identity: IdentityPublicKey,
    /// The person whose device this is, from the person's signature in the credential
    /// (`spec/multi-device.md` section 5, checked). `None`: the credential names the device
    /// alone (a person's first device is the person; a device linked before credentials
    /// named persons shows none). Whether the device is still on the person's list is for a
    /// holder of that list to check.
    pub person: Option<IdentityPublicKey>,
}

impl GroupMember {
    /// The person to show for this member: [`GroupMember::person`] if the credential names
    /// one, else the member's own identity.
    pub fn shown_person(&self) -> &IdentityPublicKey {
        self.person.as_ref().unwrap_or(&self.identity)
    }
}

/// A member a commit adds, and the KeyPackage it was added with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMember {
    /// The new member's identity.
    pub identity: IdentityPublicKey,
    /// `KeyPackageRef` (RFC 9420, section 5.2) of the KeyPackage consumed.
    pub key_package_ref: Vec<u8>,
}

/// A commit to hand to the relay's group log, with its Welcome if it adds members.
#[derive(Clone, Debug)]
pub struct CommitOutput {
    /// Epoch the commit was made in: the relay's group log accepts one commit per epoch.
    /// Once accepted, the commit creates epoch `epoch + 1`.
    pub epoch: u64,
    /// TLS-encoded `MLSMessage` (a `PrivateMessage` carrying the commit).
    pub commit: Vec<u8>,
    /// TLS-encoded `MLSMessage(Welcome)` for all new members together, if any were added.
    /// Send it only after the relay accepted the commit.
    pub welcome: Option<Vec<u8>>,
    /// The members the commit adds, in KeyPackage order.
    pub new_members: Vec<NewMember>,
}

impl CommitOutput {
    /// A Welcome for the `i`-th new member alone: the same message with only that member's
    /// `EncryptedGroupSecrets`, so each mailbox receives one small Welcome.
    pub fn welcome_for(&self, i: usize) -> GroupResult<Vec<u8>> {
        let welcome = self
            .welcome
            .as_deref()
            .ok_or(GroupError::EmptyInput("this commit has no Welcome"))?;
        let member = self.new_members.get(i).ok_or(GroupError::NoSuchMember)?;
        split_welcome(welcome, &member.key_package_ref)
    }
}

/// Rebuilds `welcome` with only the `EncryptedGroupSecrets` for `key_package_ref`.
pub(crate) fn split_welcome(welcome: &[u8], key_package_ref: &[u8]) -> GroupResult<Vec<u8>> {
    let msg = MlsWireMessage::from_bytes(welcome)?;
    let MlsMessageBodyIn::Welcome(w) = msg.into_inner().extract() else {
        return Err(GroupError::UnexpectedMessage {
            expected: "Welcome",
        });
    };
    let secrets = w.secrets().to_vec();
    let ours: Vec<_> = secrets
        .iter()
        .filter(|s| s.new_member().as_slice() == key_package_ref)
        .cloned()
        .collect();
    if ours.is_empty() {
        return Err(GroupError::NoSuchMember);
    }
    let malformed = |_| GroupError::Malformed("Welcome");
    // MLSMessage = version (2) ‖ wire_format (2) ‖ Welcome { cipher_suite (2) ‖ secrets ‖
    // encrypted_group_info }.
    let header = 6;
    let secrets_len = secrets.tls_serialized_len();
    let rest = welcome
        .get(header + secrets_len..)
        .ok_or(GroupError::Malformed("Welcome"))?;
    let head = welcome
        .get(..header)
        .ok_or(GroupError::Malformed("Welcome"))?;
    let mut out = Vec::with_capacity(header + rest.len() + 256);
    out.extend_from_slice(head);
    out.extend_from_slice(&ours.tls_serialize_detached().map_err(malformed)?);
    out.extend_from_slice(rest);
    // Check the result decodes as a Welcome.
    MlsWireMessage::from_bytes(&out)?;
    Ok(out)
}

/// What processing one message (and any buffered messages it unlocked) produced.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// An application message.
    Application {
        /// Epoch it was sent in.
        epoch: u64,
        /// The sender.
        sender: GroupMember,
        /// The plaintext.
        plaintext: Vec<u8>,
        /// The sender's authenticated data (sent in clear, covered by the signature).
        authenticated_data: Vec<u8>,
    },
    /// A proposal, now pending: some member must commit it
    /// ([`GroupClient::commit_pending_proposals`](super::GroupClient::commit_pending_proposals)).
    Proposal {
        /// Epoch it was sent in.
        epoch: u64,
        /// The proposer (`None` only in interop clients, for non-Hush credentials).
        sender: Option<GroupMember>,
        /// For a removal (or a member's leave), the leaf removed.
        removes: Option<u32>,
    },
    /// Another member's commit was applied: the group is now at `epoch`.
    Commit {
        /// The new epoch.
        epoch: u64,
        /// The committer (`None` only in interop clients, for non-Hush credentials).
        committer: Option<GroupMember>,
        /// Members added.
        added: Vec<GroupMember>,
        /// Members removed (as they were before the commit).
        removed: Vec<GroupMember>,
    },
    /// Our own pending commit came back from the relay's log and was applied.
    OwnCommitApplied {
        /// The new epoch.
        epoch: u64,
    },
    /// A commit removed this member: the group is inactive and can no longer send or read.
    RemovedFromGroup {
        /// Epoch of the commit that removed us.
        epoch: u64,
    },
    /// Our own application message came back from the relay (it cannot be decrypted by us).
    OwnMessage {
        /// Epoch it was sent in.
        epoch: u64,
    },
    /// The message is for a future epoch and was buffered until that epoch arrives.
    Buffered {
        /// Epoch of the message.
        epoch: u64,
    },
    /// A buffered message was dropped when its epoch arrived because it did not validate.
    BufferedMessageRejected {
        /// Epoch of the message.
        epoch: u64,
        /// Why it was rejected.
        error: GroupError,
    },
}

/// The outcome of [`GroupClient::resolve_conflict`](super::GroupClient::resolve_conflict).
#[derive(Clone, Debug)]
pub struct ConflictResolution {
    /// Events from applying the winning commit (and any buffered messages it unlocked).
    pub events: Vec<GroupEvent>,
    /// Our change redone on top of the winner, to send to the relay for the new epoch;
    /// `None` if the winner already made it (or it no longer applies, e.g. the members to
    /// remove are gone) or we were removed.
    pub retry: Option<CommitOutput>,
}
