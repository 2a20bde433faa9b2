//! Contact cards: one line of ASCII a person can paste, `hush1:` followed by unpadded
//! base64url of
//!
//! ```text
//! version (1) = 2 | name length (1) | name (UTF-8) | identity length (2, big-endian)
//! | identity (IdentityPublicKey::to_bytes) | mailbox address (32)
//! | relay URL length (2, big-endian) | relay URL (ASCII)
//! | directory secret (32, version 2 only) | checksum (4)
//! ```
//!
//! where the checksum is the first four bytes of SHA-256 over everything before it. Version 1
//! cards (no directory secret: a mailbox whose directory is not sealed yet) still parse.
//! Parsing is strict: every length is checked, nothing may follow the checksum.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hush_protocol::IdentityPublicKey;
use hush_protocol::directory::{DirectoryKeys, DirectorySecret};
use hush_relay_client::{MailboxAddress, RelayUrl};
use sha2::{Digest, Sha256};

/// Prefix of every card.
pub const PREFIX: &str = "hush1:";
/// Version byte of a card without a directory secret (legacy, unsealed directory).
pub const CARD_VERSION_LEGACY: u8 = 1;
/// Version byte of a card with a directory secret (`spec/relay-protocol.md` §6.1).
pub const CARD_VERSION: u8 = 2;
/// Longest display name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest card this parser accepts, in characters.
pub const MAX_CARD_LEN: usize = 2048;

/// Why a card was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum CardError {
    /// Missing `hush1:`.
    Prefix,
    /// Too long to be a card.
    TooLong,
    /// Not base64url.
    Encoding,
    /// The checksum does not match (a typo or a truncated paste).
    Checksum,
    /// Unknown version.
    Version(u8),
    /// A field is malformed.
    Field(&'static str),
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::Prefix => write!(f, "a contact card starts with {PREFIX}"),
            CardError::TooLong => write!(f, "too long to be a contact card"),
            CardError::Encoding => write!(f, "not valid base64url after {PREFIX}"),
            CardError::Checksum => {
                write!(f, "checksum mismatch (the card was mistyped or cut short)")
            }
            CardError::Version(v) => write!(f, "unsupported card version {v}"),
            CardError::Field(what) => write!(f, "malformed {what}"),
        }
    }
}

impl std::error::Error for CardError {}

/// A parsed contact card.
#[derive(Clone)]
pub struct Card {
    /// The name its owner chose (informational).
    pub name: String,
    /// The owner's identity.
    pub identity: IdentityPublicKey,
    /// The owner's mailbox address on `relay`.
    pub mailbox: MailboxAddress,
    /// The relay holding the mailbox.
    pub relay: RelayUrl,
    /// The secret that opens the mailbox's directory entries (version 2 cards); `None` for a
    /// version 1 card, whose directory is fetched without a token and is not sealed.
    pub directory: Option<DirectorySecret>,
}

impl Card {
    /// The one-line text form.
    pub fn encode(&self) -> Result<String, CardError> {
        let name = self.name.as_bytes();
        if name.len() > MAX_NAME_LEN {
            return Err(CardError::Field("name (too long)"));
        }
        let id = self.identity.to_bytes();
        let relay = self.relay.to_string();
        let mut b = Vec::with_capacity(8 + name.len() + id.len() + 32 + relay.len());
        b.push(self.version());
        b.push(name.len() as u8);
        b.extend_from_slice(name);
        b.extend_from_slice(
            &u16::try_from(id.len())
                .map_err(|_| CardError::Field("identity"))?
                .to_be_bytes(),
        );
        b.extend_from_slice(&id);
        b.extend_from_slice(self.mailbox.as_bytes());
        b.extend_from_slice(
            &u16::try_from(relay.len())
                .map_err(|_| CardError::Field("relay URL"))?
                .to_be_bytes(),
        );
        b.extend_from_slice(relay.as_bytes());
        if let Some(ds) = &self.directory {
            b.extend_from_slice(ds.as_bytes());
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum[..4]);
        Ok(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&b)))
    }

    /// Parses a card strictly (surrounding whitespace is ignored).
    pub fn parse(text: &str) -> Result<Self, CardError> {
        let text = text.trim();
        if text.len() > MAX_CARD_LEN {
            return Err(CardError::TooLong);
        }
        let body = text.strip_prefix(PREFIX).ok_or(CardError::Prefix)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CardError::Encoding)?;
        if raw.len() < 5 {
            return Err(CardError::Field("card (too short)"));
        }
        let (content, sum) = raw.split_at(raw.len() - 4);
        if Sha256::digest(content)[..4] != *sum {
            return Err(CardError::Checksum);
        }
        let mut r = Reader(content);
        let version = r.u8("version")?;
        if version != CARD_VERSION && version != CARD_VERSION_LEGACY {
            return Err(CardError::Version(version));
        }
        let name_len = usize::from(r.u8("name")?);
        if name_len > MAX_NAME_LEN {
            return Err(CardError::Field("name (too long)"));
        }
        let name = std::str::from_utf8(r.take(name_len, "name")?)
            .map_err(|_| CardError::Field("name (not UTF-8)"))?;
        if name.chars().any(char::is_control) {
            return Err(CardError::Field("name (control characters)"));
        }
        let id_len = usize::from(r.u16("identity")?);
        let identity = IdentityPublicKey::from_bytes(r.take(id_len, "identity")?)
            .map_err(|_| CardError::Field("identity key"))?;
        let mailbox = MailboxAddress::from_slice(r.take(32, "mailbox address")?)
            .map_err(|_| CardError::Field("mailbox address"))?;
        let url_len = usize::from(r.u16("relay URL")?);
        let url = std::str::from_utf8(r.take(url_len, "relay URL")?)
            .map_err(|_| CardError::Field("relay URL"))?;
        let relay: RelayUrl = url.parse().map_err(|_| CardError::Field("relay URL"))?;
        let directory = if version == CARD_VERSION {
            let ds = r.take(32, "directory secret")?;
            Some(
                DirectorySecret::from_slice(ds)
                    .map_err(|_| CardError::Field("directory secret"))?,
            )
        } else {
            None
        };
        if !r.0.is_empty() {
            return Err(CardError::Field("card (trailing bytes)"));
        }
        Ok(Card {
            name: name.to_string(),
            identity,
            mailbox,
            relay,
            directory,
        })
    }

    /// The card's version byte: 2 with a directory secret, 1 without.
    pub fn version(&self) -> u8 {
        if self.directory.is_some() {
            CARD_VERSION
        } else {
            CARD_VERSION_LEGACY
        }
    }

    /// The keys of the card's directory (seal key, fetch token), `None` for a version 1 card.
    pub fn directory_keys(&self) -> Option<DirectoryKeys> {
        self.directory
            .as_ref()
            .map(|ds| DirectoryKeys::derive(ds, self.mailbox.as_bytes()))
    }

    /// Whether `newer` is this card's successor: same identity, same mailbox and relay, and a
    /// higher version (a contact learns a version 2 card from a version 1 owner's message).
    pub fn is_upgraded_by(&self, newer: &Card) -> bool {
        newer.identity == self.identity
            && newer.mailbox == self.mailbox
            && newer.relay == self.relay
            && newer.version() > self.version()
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CardError> {
        if self.0.len() < n {
            return Err(CardError::Field(what));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CardError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, CardError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hush_protocol::IdentityKeyPair;

    fn card() -> Card {
        let id = IdentityKeyPair::generate(&mut rand::rng());
        Card {
            name: "Alice".into(),
            identity: id.public().clone(),
            mailbox: MailboxAddress([7; 32]),
            relay: format!("hush://{}@127.0.0.1:4433", "ab".repeat(32))
                .parse()
                .unwrap(),
            directory: Some(DirectorySecret::from_bytes([5; 32])),
        }
    }

    #[test]
    fn round_trip() {
        let c = card();
        let s = c.encode().unwrap();
        assert!(s.starts_with(PREFIX));
        assert!(s.is_ascii() && !s.contains(char::is_whitespace));
        let p = Card::parse(&format!("  {s}\n")).unwrap();
        assert_eq!(p.name, "Alice");
        assert_eq!(p.identity, c.identity);
        assert_eq!(p.mailbox, c.mailbox);
        assert_eq!(p.relay, c.relay);
        assert_eq!(p.version(), CARD_VERSION);
        assert_eq!(p.directory.unwrap().as_bytes(), &[5; 32]);
    }

    #[test]
    fn version_one_cards_still_parse_and_are_upgraded_by_version_two() {
        let mut old = card();
        old.directory = None;
        let text = old.encode().unwrap();
        let p = Card::parse(&text).unwrap();
        assert_eq!(p.version(), CARD_VERSION_LEGACY);
        assert!(p.directory.is_none() && p.directory_keys().is_none());
        let new = Card {
            directory: Some(DirectorySecret::from_bytes([6; 32])),
            ..p.clone()
        };
        assert!(p.is_upgraded_by(&new));
        assert!(!new.is_upgraded_by(&p));
        assert!(!new.is_upgraded_by(&new));
        let other_mailbox = Card {
            mailbox: MailboxAddress([8; 32]),
            ..new.clone()
        };
        assert!(!p.is_upgraded_by(&other_mailbox));
        // A version 1 card with 32 extra bytes is not a version 2 card.
        let mut raw = URL_SAFE_NO_PAD.decode(&text[PREFIX.len()..]).unwrap();
        raw.truncate(raw.len() - 4);
        raw.extend_from_slice(&[6; 32]);
        let sum = Sha256::digest(&raw);
        raw.extend_from_slice(&sum[..4]);
        let padded = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(matches!(Card::parse(&padded), Err(CardError::Field(_))));
    }

    #[test]
    fn strict_parsing() {
        let s = card().encode().unwrap();
        assert_eq!(Card::parse("hello").err(), Some(CardError::Prefix));
        assert_eq!(Card::parse("hush1:***").err(), Some(CardError::Encoding));
        // Cut short, or one character changed: the checksum catches it.
        assert!(Card::parse(&s[..s.len() - 3]).is_err());
        let mut chars: Vec<char> = s.chars().collect();
        let i = PREFIX.len() + 10;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let typo: String = chars.into_iter().collect();
        assert_eq!(Card::parse(&typo).err(), Some(CardError::Checksum));
        // Trailing bytes with a valid checksum are refused too.
        let mut raw = URL_SAFE_NO_PAD.decode(&s[PREFIX.len()..]).unwrap();
        raw.truncate(raw.len() - 4);
        raw.push(0);
        let sum = Sha256::digest(&raw);
        raw.extend_from_slice(&sum[..4]);
        let extended = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(matches!(Card::parse(&extended), Err(CardError::Field(_))));
    }
}
