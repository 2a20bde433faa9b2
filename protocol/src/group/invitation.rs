//! The invitation a new member receives, sealed, next to its MLS Welcome
//! (`hush.v1.GroupInvitation`, `spec/groups.md` §4.1).

use prost::Message;

use super::error::{GroupError, GroupResult};
use crate::proto::wire;

/// Version of the [`GroupInvitation`] encoding.
pub const GROUP_INVITATION_VERSION: u32 = 1;
/// Longest relay URL an invitation may carry, in bytes.
pub const MAX_INVITATION_RELAY_LEN: usize = 512;
/// Longest suggested group name an invitation may carry, in bytes.
pub const MAX_INVITATION_NAME_LEN: usize = 256;

/// What travels to a new member, inside a sealed envelope of kind
/// [`ContentKind::GroupWelcome`](crate::envelope::ContentKind::GroupWelcome): the MLS
/// Welcome, where the group's log lives, where to start reading it, and the adder's name for
/// the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInvitation {
    /// TLS-encoded `MLSMessage(Welcome)`, as [`CommitOutput::welcome_for`](super::CommitOutput::welcome_for) returns it.
    pub welcome: Vec<u8>,
    /// The `hush://` URL of the relay holding the group log (not checked here).
    pub relay: String,
    /// Group log position to start reading at: every earlier entry predates the join.
    pub log_cursor: u64,
    /// The group's name at the adder: a suggestion for the new member's local name.
    pub name: String,
}

impl GroupInvitation {
    /// The protobuf encoding (`hush.v1.GroupInvitation`, version 1).
    pub fn encode(&self) -> Vec<u8> {
        wire::GroupInvitation {
            version: GROUP_INVITATION_VERSION,
            welcome: self.welcome.clone(),
            relay: self.relay.clone(),
            log_cursor: self.log_cursor,
            name: self.name.clone(),
        }
        .encode_to_vec()
    }

    /// Decodes and checks an invitation: version 1, a Welcome present, relay and name
    /// within their length limits. The Welcome itself is checked by
    /// [`GroupClient::join`](super::GroupClient::join).
    pub fn decode(bytes: &[u8]) -> GroupResult<Self> {
        const WHAT: &str = "group invitation";
        let m = wire::GroupInvitation::decode(bytes).map_err(|_| GroupError::Malformed(WHAT))?;
        if m.version != GROUP_INVITATION_VERSION {
            return Err(GroupError::UnsupportedVersion {
                what: WHAT,
                version: m.version,
            });
        }
        if m.welcome.is_empty()
            || m.relay.len() > MAX_INVITATION_RELAY_LEN
            || m.name.len() > MAX_INVITATION_NAME_LEN
        {
            return Err(GroupError::Malformed(WHAT));
        }
        Ok(Self {
            welcome: m.welcome,
            relay: m.relay,
            log_cursor: m.log_cursor,
            name: m.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupInvitation {
        GroupInvitation {
            welcome: vec![0, 1, 0, 3, 0xaa, 0xbb],
            relay: "hush://00@127.0.0.1:4433".into(),
            log_cursor: 42,
            name: "team".into(),
        }
    }

    #[test]
    fn round_trips_and_pins_the_encoding() {
        let inv = sample();
        let bytes = inv.encode();
        // version 1, welcome (6 bytes), relay (24), cursor 42, name "team": field by field.
        let mut expected = vec![0x08, 0x01, 0x12, 0x06, 0, 1, 0, 3, 0xaa, 0xbb, 0x1a, 24];
        expected.extend_from_slice(b"hush://00@127.0.0.1:4433");
        expected.extend_from_slice(&[0x20, 42, 0x2a, 4]);
        expected.extend_from_slice(b"team");
        assert_eq!(bytes, expected);
        assert_eq!(GroupInvitation::decode(&bytes).unwrap(), inv);
    }

    #[test]
    fn refuses_bad_versions_and_fields() {
        let mut m = wire::GroupInvitation {
            version: 2,
            welcome: vec![1],
            relay: String::new(),
            log_cursor: 0,
            name: String::new(),
        };
        assert_eq!(
            GroupInvitation::decode(&m.encode_to_vec()),
            Err(GroupError::UnsupportedVersion {
                what: "group invitation",
                version: 2
            })
        );
        m.version = 1;
        m.welcome.clear();
        assert!(GroupInvitation::decode(&m.encode_to_vec()).is_err());
        m.welcome = vec![1];
        m.name = "n".repeat(MAX_INVITATION_NAME_LEN + 1);
        assert!(GroupInvitation::decode(&m.encode_to_vec()).is_err());
        m.name = "n".repeat(MAX_INVITATION_NAME_LEN);
        assert!(GroupInvitation::decode(&m.encode_to_vec()).is_ok());
        m.relay = "r".repeat(MAX_INVITATION_RELAY_LEN + 1);
        assert!(GroupInvitation::decode(&m.encode_to_vec()).is_err());
        // Not protobuf (the JSON wrapper of CLI 0.1) and invalid UTF-8 in a string field.
        assert!(GroupInvitation::decode(br#"{"name":"x"}"#).is_err());
        assert!(GroupInvitation::decode(&[0x08, 1, 0x12, 1, 0, 0x2a, 1, 0xff]).is_err());
    }
}
