//! Group invitations as they arrive in a sealed envelope of kind `GroupWelcome`.

use anyhow::{Context, Result};
use hush_protocol::group::GroupInvitation;
use serde::Deserialize;

/// The invitation format of CLI 0.1 (JSON with the Welcome in hex), still accepted from
/// older senders; invitations are sent as `hush.v1.GroupInvitation` (spec/groups.md §4.1).
#[derive(Deserialize)]
struct LegacyWelcomePayload {
    name: String,
    relay: String,
    welcome: String,
    #[serde(default)]
    cursor: u64,
}

/// Decodes an invitation: protobuf, or the JSON of CLI 0.1 (a protobuf invitation starts with
/// the version field's tag byte 0x08, JSON with `{`).
pub fn decode(payload: &[u8]) -> Result<GroupInvitation> {
    if payload.first() == Some(&b'{') {
        let w: LegacyWelcomePayload =
            serde_json::from_slice(payload).context("malformed group invitation")?;
        return Ok(GroupInvitation {
            welcome: hex::decode(&w.welcome).context("malformed group invitation")?,
            relay: w.relay,
            log_cursor: w.cursor,
            name: w.name,
        });
    }
    GroupInvitation::decode(payload).context("malformed group invitation")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_protobuf_and_the_legacy_json() {
        let inv = GroupInvitation {
            welcome: vec![0, 1, 0, 3, 7],
            relay: "hush://ab@127.0.0.1:1".into(),
            log_cursor: 9,
            name: "team".into(),
        };
        assert_eq!(decode(&inv.encode()).unwrap(), inv);
        let legacy =
            br#"{"name":"team","relay":"hush://ab@127.0.0.1:1","welcome":"0001000307","cursor":9}"#;
        assert_eq!(decode(legacy).unwrap(), inv);
        assert!(decode(br#"{"name":"team","relay":"r","welcome":"zz"}"#).is_err());
        assert!(decode(b"\x08\x02").is_err());
        assert!(decode(b"").is_err());
    }
}
