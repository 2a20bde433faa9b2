//! Identifiers, fingerprints and relay-signed receipts shared by the server and the client.
//!
//! Every byte layout here is written down in `spec/relay-protocol.md`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use std::fmt;

/// Domain-separation prefix for mailbox addresses.
pub const ADDRESS_CONTEXT: &[u8] = b"Hush-v1-Relay-Mailbox-Address";
/// Domain-separation prefix for the mailbox authentication signature.
pub const AUTH_CONTEXT: &[u8] = b"Hush-v1-Relay-Mailbox-Auth";
/// Domain-separation prefix for stored receipts.
pub const STORED_RECEIPT_CONTEXT: &[u8] = b"Hush-v1-Relay-Stored-Receipt";
/// Domain-separation prefix for delivered receipts.
pub const DELIVERED_RECEIPT_CONTEXT: &[u8] = b"Hush-v1-Relay-Delivered-Receipt";

/// Longest envelope id the relay accepts, in bytes.
pub const MAX_ENVELOPE_ID_LEN: usize = 64;
/// Longest group id the relay accepts, in bytes.
pub const MAX_GROUP_ID_LEN: usize = 255;

/// A malformed identifier or key from the network.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdError {
    /// A fixed-length field had the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// Which field.
        what: &'static str,
        /// Expected length.
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// A variable-length field was empty or too long.
    #[error("{what} must be 1 to {max} bytes, got {got}")]
    Range {
        /// Which field.
        what: &'static str,
        /// Longest allowed.
        max: usize,
        /// Actual length.
        got: usize,
    },
    /// Bytes that are not a valid Ed25519 public key.
    #[error("invalid Ed25519 public key")]
    PublicKey,
    /// A fingerprint that is not 64 lowercase or uppercase hex digits.
    #[error("fingerprint must be 64 hex digits")]
    Fingerprint,
}

fn fixed32(what: &'static str, bytes: &[u8]) -> Result<[u8; 32], IdError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| IdError::Length {
        what,
        expected: 32,
        got: bytes.len(),
    })
}

/// SHA-256 of `parts` concatenated.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    let out = h.finalize();
    let mut a = [0u8; 32];
    a.copy_from_slice(&out);
    a
}

/// The send address of a mailbox: `SHA-256("Hush-v1-Relay-Mailbox-Address" || mailbox public key)`.
///
/// Contacts send to this address; only the holder of the mailbox's Ed25519 key can read it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxAddress(pub [u8; 32]);

impl MailboxAddress {
    /// Derives the address of the mailbox whose Ed25519 public key is `key`.
    pub fn from_public_key(key: &VerifyingKey) -> Self {
        MailboxAddress(sha256(&[ADDRESS_CONTEXT, key.as_bytes()]))
    }

    /// Parses a 32-byte address from the wire.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, IdError> {
        fixed32("mailbox address", bytes).map(MailboxAddress)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Debug for MailboxAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MailboxAddress({})", &self.to_hex()[..16])
    }
}

/// A client-chosen envelope id (1 to 64 bytes).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvelopeId(Vec<u8>);

impl EnvelopeId {
    /// Checks the length and wraps the bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, IdError> {
        let bytes = bytes.into();
        if bytes.is_empty() || bytes.len() > MAX_ENVELOPE_ID_LEN {
            return Err(IdError::Range {
                what: "envelope id",
                max: MAX_ENVELOPE_ID_LEN,
                got: bytes.len(),
            });
        }
        Ok(EnvelopeId(bytes))
    }

    /// A fresh random 16-byte id.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)?;
        Ok(EnvelopeId(b.to_vec()))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for EnvelopeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EnvelopeId({})", hex::encode(&self.0))
    }
}

/// A group id (1 to 255 opaque bytes).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GroupId(Vec<u8>);

impl GroupId {
    /// Checks the length and wraps the bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, IdError> {
        let bytes = bytes.into();
        if bytes.is_empty() || bytes.len() > MAX_GROUP_ID_LEN {
            return Err(IdError::Range {
                what: "group id",
                max: MAX_GROUP_ID_LEN,
                got: bytes.len(),
            });
        }
        Ok(GroupId(bytes))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// SHA-256 of the id: the fixed-length key the storage uses.
    pub fn digest(&self) -> [u8; 32] {
        sha256(&[&self.0])
    }
}

impl fmt::Debug for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupId({})", hex::encode(&self.0))
    }
}

/// What clients pin: SHA-256 of the relay certificate's DER SubjectPublicKeyInfo (see
/// `quic::key_fingerprint`), or for addresses made before key pinning SHA-256 of the whole
/// certificate. Displayed as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// SHA-256 of a whole DER-encoded certificate (the fingerprint of addresses made before
    /// key pinning).
    pub fn of_certificate(der: &[u8]) -> Self {
        Fingerprint(sha256(&[der]))
    }

    /// SHA-256 of a DER-encoded SubjectPublicKeyInfo (the address fingerprint).
    pub fn of_public_key(spki_der: &[u8]) -> Self {
        Fingerprint(sha256(&[spki_der]))
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Result<Self, IdError> {
        if s.len() != 64 {
            return Err(IdError::Fingerprint);
        }
        let v = hex::decode(s).map_err(|_| IdError::Fingerprint)?;
        fixed32("fingerprint", &v)
            .map(Fingerprint)
            .map_err(|_| IdError::Fingerprint)
    }

    /// Lowercase hex, as printed in `hush://` URLs.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", self.to_hex())
    }
}

/// Parses a 32-byte Ed25519 public key from the wire.
pub fn parse_public_key(bytes: &[u8]) -> Result<VerifyingKey, IdError> {
    let a = fixed32("public key", bytes)?;
    VerifyingKey::from_bytes(&a).map_err(|_| IdError::PublicKey)
}

/// The bytes a mailbox owner signs to authenticate:
/// `"Hush-v1-Relay-Mailbox-Auth" || challenge (32) || certificate fingerprint (32)`.
pub fn auth_message(challenge: &[u8; 32], fingerprint: &Fingerprint) -> Vec<u8> {
    let mut m = Vec::with_capacity(AUTH_CONTEXT.len() + 64);
    m.extend_from_slice(AUTH_CONTEXT);
    m.extend_from_slice(challenge);
    m.extend_from_slice(&fingerprint.0);
    m
}

fn receipt_message(context: &[u8], id: &EnvelopeId, mailbox: &MailboxAddress, at: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(context.len() + 1 + id.0.len() + 40);
    m.extend_from_slice(context);
    // An id is at most 64 bytes, so its length always fits one byte.
    m.push(id.0.len() as u8);
    m.extend_from_slice(&id.0);
    m.extend_from_slice(&mailbox.0);
    m.extend_from_slice(&at.to_be_bytes());
    m
}

/// A receipt failed to verify or was malformed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReceiptError {
    /// A field had a bad length.
    #[error("malformed receipt: {0}")]
    Malformed(#[from] IdError),
    /// The signature is missing or wrong.
    #[error("receipt signature does not verify against the relay key")]
    BadSignature,
    /// The receipt is for another envelope or mailbox than expected.
    #[error("receipt does not match the request")]
    Mismatch,
}

/// The relay's promise that an envelope is durably stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredReceipt {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// The recipient mailbox.
    pub mailbox: MailboxAddress,
    /// When it was stored, Unix milliseconds.
    pub stored_at_ms: u64,
    /// Ed25519 signature by the relay's receipt key.
    pub signature: [u8; 64],
}

/// The relay's statement that the owner acknowledged (and so deleted) an envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveredReceipt {
    /// The envelope.
    pub envelope_id: EnvelopeId,
    /// The recipient mailbox.
    pub mailbox: MailboxAddress,
    /// When it was acknowledged, Unix milliseconds.
    pub delivered_at_ms: u64,
    /// Ed25519 signature by the relay's receipt key.
    pub signature: [u8; 64],
}

fn verify_sig(key: &VerifyingKey, msg: &[u8], sig: &[u8; 64]) -> Result<(), ReceiptError> {
    key.verify(msg, &Signature::from_bytes(sig))
        .map_err(|_| ReceiptError::BadSignature)
}

fn sig_from_slice(bytes: &[u8]) -> Result<[u8; 64], ReceiptError> {
    <[u8; 64]>::try_from(bytes).map_err(|_| ReceiptError::BadSignature)
}

impl StoredReceipt {
    /// Signs a stored receipt with the relay key.
    pub fn sign(
        key: &SigningKey,
        envelope_id: EnvelopeId,
        mailbox: MailboxAddress,
        at: u64,
    ) -> Self {
        let sig = key.sign(&receipt_message(
            STORED_RECEIPT_CONTEXT,
            &envelope_id,
            &mailbox,
            at,
        ));
        StoredReceipt {
            envelope_id,
            mailbox,
            stored_at_ms: at,
            signature: sig.to_bytes(),
        }
    }

    /// Checks the signature against the relay's receipt public key.
    pub fn verify(&self, relay_key: &VerifyingKey) -> Result<(), ReceiptError> {
        let m = receipt_message(
            STORED_RECEIPT_CONTEXT,
            &self.envelope_id,
            &self.mailbox,
            self.stored_at_ms,
        );
        verify_sig(relay_key, &m, &self.signature)
    }

    /// Wire form.
    pub fn to_proto(&self) -> crate::proto::StoredReceipt {
        crate::proto::StoredReceipt {
            envelope_id: self.envelope_id.0.clone(),
            mailbox_address: self.mailbox.0.to_vec(),
            stored_at_ms: self.stored_at_ms,
            signature: self.signature.to_vec(),
        }
    }

    /// Parses the wire form (does not verify).
    pub fn from_proto(p: &crate::proto::StoredReceipt) -> Result<Self, ReceiptError> {
        Ok(StoredReceipt {
            envelope_id: EnvelopeId::new(p.envelope_id.clone())?,
            mailbox: MailboxAddress::from_slice(&p.mailbox_address)?,
            stored_at_ms: p.stored_at_ms,
            signature: sig_from_slice(&p.signature)?,
        })
    }
}

impl DeliveredReceipt {
    /// Signs a delivered receipt with the relay key.
    pub fn sign(
        key: &SigningKey,
        envelope_id: EnvelopeId,
        mailbox: MailboxAddress,
        at: u64,
    ) -> Self {
        let sig = key.sign(&receipt_message(
            DELIVERED_RECEIPT_CONTEXT,
            &envelope_id,
            &mailbox,
            at,
        ));
        DeliveredReceipt {
            envelope_id,
            mailbox,
            delivered_at_ms: at,
            signature: sig.to_bytes(),
        }
    }

    /// Checks the signature against the relay's receipt public key.
    pub fn verify(&self, relay_key: &VerifyingKey) -> Result<(), ReceiptError> {
        let m = receipt_message(
            DELIVERED_RECEIPT_CONTEXT,
            &self.envelope_id,
            &self.mailbox,
            self.delivered_at_ms,
        );
        verify_sig(relay_key, &m, &self.signature)
    }

    /// Wire form.
    pub fn to_proto(&self) -> crate::proto::DeliveredReceipt {
        crate::proto::DeliveredReceipt {
            envelope_id: self.envelope_id.0.clone(),
            mailbox_address: self.mailbox.0.to_vec(),
            delivered_at_ms: self.delivered_at_ms,
            signature: self.signature.to_vec(),
        }
    }

    /// Parses the wire form (does not verify).
    pub fn from_proto(p: &crate::proto::DeliveredReceipt) -> Result<Self, ReceiptError> {
        Ok(DeliveredReceipt {
            envelope_id: EnvelopeId::new(p.envelope_id.clone())?,
            mailbox: MailboxAddress::from_slice(&p.mailbox_address)?,
            delivered_at_ms: p.delivered_at_ms,
            signature: sig_from_slice(&p.signature)?,
        })
    }
}

/// Current Unix time in milliseconds (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_verify_and_reject_tampering() {
        let relay = SigningKey::from_bytes(&[7u8; 32]);
        let id = EnvelopeId::new(vec![1, 2, 3]).unwrap();
        let mb = MailboxAddress([9u8; 32]);
        let mut r = StoredReceipt::sign(&relay, id.clone(), mb, 42);
        r.verify(&relay.verifying_key()).unwrap();
        let parsed = StoredReceipt::from_proto(&r.to_proto()).unwrap();
        assert_eq!(parsed, r);
        r.stored_at_ms = 43;
        assert_eq!(
            r.verify(&relay.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
        // A delivered receipt over the same fields is not a stored receipt.
        let d = DeliveredReceipt::sign(&relay, id.clone(), mb, 42);
        let forged = StoredReceipt {
            envelope_id: id,
            mailbox: mb,
            stored_at_ms: 42,
            signature: d.signature,
        };
        assert!(forged.verify(&relay.verifying_key()).is_err());
        d.verify(&relay.verifying_key()).unwrap();
    }

    #[test]
    fn ids_are_length_checked() {
        assert!(EnvelopeId::new(vec![]).is_err());
        assert!(EnvelopeId::new(vec![0; 65]).is_err());
        assert!(GroupId::new(vec![0; 256]).is_err());
        assert!(MailboxAddress::from_slice(&[0; 31]).is_err());
        assert!(Fingerprint::from_hex("zz").is_err());
        let f = Fingerprint([0xab; 32]);
        assert_eq!(Fingerprint::from_hex(&f.to_hex()).unwrap(), f);
    }
}
