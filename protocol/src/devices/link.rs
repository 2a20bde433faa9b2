//! Linking a new device (`spec/multi-device.md`, section 3): the new device's signed request,
//! the person's signed approval sealed to the request's one-time link key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use prost::Message;
use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::device_of::DeviceOf;
use super::list::{Device, DeviceList};
use super::{signature_of, signed_message};
use crate::identity::IdentityKeyPair;
use crate::proto::{key32, wire};
use crate::ratchet::ratchet_key::dh;
use crate::{Error, Result};

/// Context prefixed to a link request's content before the new device signs it.
pub const LINK_REQUEST_CONTEXT: &[u8] = b"Hush-v1-LinkRequest";
/// Context prefixed to an approval's content before the person signs it.
pub const LINK_APPROVAL_CONTEXT: &[u8] = b"Hush-v1-LinkApproval";
/// HKDF info of the key and nonce that seal an approval to the link key.
pub const LINK_SEAL_INFO: &[u8] = b"Hush-v1-LinkSeal";
/// Version of link requests and approvals.
pub const LINK_VERSION: u32 = 1;
/// First byte of a sealed approval.
pub const SEALED_APPROVAL_VERSION: u8 = 1;
/// Longest a link request may live: its expiry is at most this many seconds after it was made.
pub const MAX_LINK_LIFETIME_SECS: u64 = 600;
/// Clock difference tolerated between the two devices when checking a request's expiry.
pub const LINK_CLOCK_SKEW_SECS: u64 = 60;
/// Largest encoded link request accepted.
pub const MAX_LINK_REQUEST_LEN: usize = 2048;
/// Largest sealed approval accepted (the account transfer it carries included): 4 MiB.
pub const MAX_SEALED_APPROVAL_LEN: usize = 4 << 20;

/// The new device's one-time X25519 secret, the other half of its request's link key. Kept
/// until the approval arrives, then dropped; wiped from memory on drop.
pub struct LinkSecret {
    secret: StaticSecret,
}

impl ZeroizeOnDrop for LinkSecret {}

impl core::fmt::Debug for LinkSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinkSecret(..)")
    }
}

impl LinkSecret {
    /// The secret's bytes, to keep until the approval arrives. Encrypt them at rest.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The secret from [`LinkSecret::to_bytes`].
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self {
            secret: StaticSecret::from(*bytes),
        }
    }
}

/// A request to be linked to a person's account, signed by the new device. A value of this
/// type has had its signature, fields and expiry checked.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkRequest {
    device: Device,
    link_key: [u8; 32],
    expires_at: u64,
    encoded: Vec<u8>,
}

impl core::fmt::Debug for LinkRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkRequest")
            .field("device", &self.device)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl LinkRequest {
    /// Makes a request for the device `identity` (its mailbox, directory secret and relay in
    /// `device`, whose `identity` must be `identity`'s public key), valid for `lifetime`
    /// seconds from `now` (Unix seconds, at most [`MAX_LINK_LIFETIME_SECS`]). Returns the
    /// request and the secret that opens its approval.
    pub fn new<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &IdentityKeyPair,
        device: Device,
        now: u64,
        lifetime: u64,
    ) -> Result<(Self, LinkSecret)> {
        if &device.identity != identity.public() {
            return Err(Error::InvalidLink("device identity is not the signer"));
        }
        if lifetime == 0 || lifetime > MAX_LINK_LIFETIME_SECS {
            return Err(Error::InvalidLink("lifetime 0 or over 600 s"));
        }
        let mut b = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(b.as_mut());
        let secret = LinkSecret::from_bytes(&b);
        let link_key = PublicKey::from(&secret.secret).to_bytes();
        let expires_at = now
            .checked_add(lifetime)
            .ok_or(Error::InvalidLink("expiry overflows"))?;
        let content = wire::LinkRequestContent {
            version: LINK_VERSION,
            device: Some(device.identity.to_proto()),
            link_key: link_key.to_vec(),
            mailbox_address: device.mailbox.to_vec(),
            directory_secret: device.directory_secret.as_bytes().to_vec(),
            relay: device.relay.clone(),
            expires_at,
        }
        .encode_to_vec();
        let signature = identity.sign(&signed_message(LINK_REQUEST_CONTEXT, &content));
        let encoded = wire::LinkRequest {
            content,
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        Ok((Self::from_bytes(&encoded, now)?, secret))
    }

    /// Decodes a request and checks its signature, its fields and that it has not expired
    /// at `now` (Unix seconds), allowing [`LINK_CLOCK_SKEW_SECS`] either way.
    pub fn from_bytes(bytes: &[u8], now: u64) -> Result<Self> {
        if bytes.len() > MAX_LINK_REQUEST_LEN {
            return Err(Error::InvalidLink("request larger than 2 KiB"));
        }
        let signed =
            wire::LinkRequest::decode(bytes).map_err(|_| Error::Malformed("link request"))?;
        let c = wire::LinkRequestContent::decode(signed.content.as_slice())
            .map_err(|_| Error::Malformed("link request content"))?;
        if c.version != LINK_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "link request",
                version: c.version,
            });
        }
        let device = Device::from_parts(
            &c.device,
            &c.mailbox_address,
            &c.directory_secret,
            &c.relay,
            "link request device",
        )
        .map_err(|e| match e {
            Error::InvalidDeviceList(what) => Error::InvalidLink(what),
            e => e,
        })?;
        let signature = signature_of(&signed.signature, "link request signature")?;
        device
            .identity
            .verify(
                &signed_message(LINK_REQUEST_CONTEXT, &signed.content),
                &signature,
            )
            .map_err(|_| Error::BadSignature("link request"))?;
        let link_key = key32(&c.link_key, "link")?;
        if now > c.expires_at.saturating_add(LINK_CLOCK_SKEW_SECS) {
            return Err(Error::LinkExpired);
        }
        if c.expires_at > now.saturating_add(MAX_LINK_LIFETIME_SECS + LINK_CLOCK_SKEW_SECS) {
            return Err(Error::InvalidLink("expiry more than 600 s ahead"));
        }
        Ok(Self {
            device,
            link_key,
            expires_at: c.expires_at,
            encoded: bytes.to_vec(),
        })
    }

    /// Reads back a request this device made and kept (with its [`LinkSecret`]) to open the
    /// approval: every check of [`LinkRequest::from_bytes`] but the expiry, which the
    /// approver checked (an approval made in time may be read later).
    pub fn reopen(bytes: &[u8]) -> Result<Self> {
        let signed =
            wire::LinkRequest::decode(bytes).map_err(|_| Error::Malformed("link request"))?;
        let c = wire::LinkRequestContent::decode(signed.content.as_slice())
            .map_err(|_| Error::Malformed("link request content"))?;
        let now = c.expires_at.saturating_sub(1);
        Self::from_bytes(bytes, now)
    }

    /// The encoded request (what the new device shows, as text or a QR code).
    pub fn to_bytes(&self) -> &[u8] {
        &self.encoded
    }

    /// SHA-256 of [`LinkRequest::to_bytes`]: what an approval names, and what an approver
    /// remembers to refuse a replayed request.
    pub fn hash(&self) -> [u8; 32] {
        Sha256::digest(&self.encoded).into()
    }

    /// The device asking to be linked.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// When the request expires (Unix seconds).
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// Approves the request for `person`, whose current list is `current`: the next list with
    /// the new device on it, and the approval sealed to the request's link key (to send to the
    /// new device's mailbox), carrying `transfer` (the account the new device takes on).
    /// Refused: a device already on the list, or a list of another person. The caller also
    /// refuses a request it has approved before ([`LinkRequest::hash`]).
    pub fn approve<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        person: &IdentityKeyPair,
        current: &DeviceList,
        transfer: &[u8],
    ) -> Result<(DeviceList, Vec<u8>)> {
        if current.id_of(&self.device.identity).is_some() {
            return Err(Error::InvalidLink("the device is already on the list"));
        }
        let (list, device_id) = current.with_device(person, self.device.clone())?;
        let content = Zeroizing::new(
            wire::LinkApprovalContent {
                version: LINK_VERSION,
                request_hash: self.hash().to_vec(),
                device_id,
                device_list: Some(
                    wire::SignedDeviceList::decode(list.to_bytes())
                        .map_err(|_| Error::Malformed("device list"))?,
                ),
                transfer: transfer.to_vec(),
                device_of: DeviceOf::sign(person, &self.device.identity)
                    .signature()
                    .to_vec(),
            }
            .encode_to_vec(),
        );
        let signature = person.sign(&signed_message(LINK_APPROVAL_CONTEXT, &content));
        let plain = Zeroizing::new(
            wire::LinkApproval {
                content: content.to_vec(),
                signature: signature.to_vec(),
            }
            .encode_to_vec(),
        );
        let sealed = seal(rng, &self.link_key, &self.hash(), &plain)?;
        Ok((list, sealed))
    }

    /// Opens an approval of this request with the request's secret and checks it: the
    /// person's signature, the request it names, and that the list it carries holds this
    /// device under the id it gives. Returns the list (the new device's person is its
    /// signer), the device's id and the transfer.
    pub fn open_approval(&self, secret: &LinkSecret, sealed: &[u8]) -> Result<LinkApproval> {
        if PublicKey::from(&secret.secret).to_bytes() != self.link_key {
            return Err(Error::InvalidLink("secret of another request"));
        }
        let plain = open(secret, &self.link_key, &self.hash(), sealed)?;
        let signed = wire::LinkApproval::decode(plain.as_slice())
            .map_err(|_| Error::Malformed("link approval"))?;
        let mut c = wire::LinkApprovalContent::decode(signed.content.as_slice())
            .map_err(|_| Error::Malformed("link approval content"))?;
        if c.version != LINK_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "link approval",
                version: c.version,
            });
        }
        let list = DeviceList::from_bytes(
            &c.device_list
                .as_ref()
                .ok_or(Error::Malformed("link approval device list"))?
                .encode_to_vec(),
        )?;
        let signature = signature_of(&signed.signature, "link approval signature")?;
        list.person()
            .verify(
                &signed_message(LINK_APPROVAL_CONTEXT, &signed.content),
                &signature,
            )
            .map_err(|_| Error::BadSignature("link approval"))?;
        if c.request_hash.as_slice() != self.hash() {
            return Err(Error::InvalidLink("approval of another request"));
        }
        if list.device(c.device_id) != Some(&self.device) {
            return Err(Error::InvalidLink(
                "the list does not hold this device under its id",
            ));
        }
        // An approval made before `device_of` existed has none: the device's credential then
        // names the device alone.
        let device_of = if c.device_of.is_empty() {
            None
        } else {
            Some(DeviceOf::from_signature(
                list.person(),
                &self.device.identity,
                &c.device_of,
            )?)
        };
        Ok(LinkApproval {
            list,
            device_id: c.device_id,
            device_of,
            transfer: Zeroizing::new(std::mem::take(&mut c.transfer)),
        })
    }
}

/// An approval opened and checked by [`LinkRequest::open_approval`].
pub struct LinkApproval {
    /// The person's list with the new device on it; its signer is the new device's person.
    pub list: DeviceList,
    /// The new device's id on `list`.
    pub device_id: u32,
    /// The person's word that the new device is theirs, for its group credential (`None`
    /// from an approval made before it existed).
    pub device_of: Option<DeviceOf>,
    /// The account the new device takes on (the client engine's encoding), wiped on drop.
    pub transfer: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for LinkApproval {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkApproval")
            .field("list", &self.list)
            .field("device_id", &self.device_id)
            .field("device_of", &self.device_of.is_some())
            .field("transfer_len", &self.transfer.len())
            .finish()
    }
}

/// Key and nonce for sealing to `link_key` with the ephemeral key `eph`:
/// HKDF-SHA256(ikm = X25519, salt = eph ‖ link_key, info = LINK_SEAL_INFO), 32 + 12 bytes.
fn seal_keys(shared: &[u8; 32], eph: &[u8; 32], link_key: &[u8; 32]) -> Zeroizing<[u8; 44]> {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(eph);
    salt[32..].copy_from_slice(link_key);
    let mut okm = Zeroizing::new([0u8; 44]);
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(LINK_SEAL_INFO, okm.as_mut())
        .expect("44 bytes is a valid HKDF-SHA256 output length");
    okm
}

fn nonce_of(okm: &[u8; 44]) -> Nonce {
    let mut n = [0u8; 12];
    n.copy_from_slice(&okm[32..]);
    Nonce::from(n)
}

/// `0x01 ‖ eph (32) ‖ ChaCha20-Poly1305(key, nonce, plain, aad = request hash)`.
fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    link_key: &[u8; 32],
    request_hash: &[u8; 32],
    plain: &[u8],
) -> Result<Vec<u8>> {
    let mut b = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(b.as_mut());
    let eph = StaticSecret::from(*b);
    let eph_pub = PublicKey::from(&eph).to_bytes();
    let shared = dh(&eph, &PublicKey::from(*link_key))?;
    let okm = seal_keys(&shared, &eph_pub, link_key);
    let cipher =
        ChaCha20Poly1305::new_from_slice(&okm[..32]).map_err(|_| Error::InvalidKey("link seal"))?;
    let ct = cipher
        .encrypt(
            &nonce_of(&okm),
            Payload {
                msg: plain,
                aad: request_hash,
            },
        )
        .map_err(|_| Error::InvalidLink("approval too large to seal"))?;
    let mut out = Vec::with_capacity(1 + 32 + ct.len());
    out.push(SEALED_APPROVAL_VERSION);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&ct);
    if out.len() > MAX_SEALED_APPROVAL_LEN {
        return Err(Error::InvalidLink("approval larger than 4 MiB"));
    }
    Ok(out)
}

fn open(
    secret: &LinkSecret,
    link_key: &[u8; 32],
    request_hash: &[u8; 32],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() > MAX_SEALED_APPROVAL_LEN {
        return Err(Error::InvalidLink("approval larger than 4 MiB"));
    }
    let (&version, rest) = sealed
        .split_first()
        .ok_or(Error::Malformed("sealed approval"))?;
    if version != SEALED_APPROVAL_VERSION {
        return Err(Error::UnsupportedVersion {
            what: "sealed approval",
            version: version.into(),
        });
    }
    if rest.len() < 32 + 16 {
        return Err(Error::Malformed("sealed approval"));
    }
    let (eph, ct) = rest.split_at(32);
    let eph = key32(eph, "link ephemeral")?;
    let shared = dh(&secret.secret, &PublicKey::from(eph))?;
    let okm = seal_keys(&shared, &eph, link_key);
    let cipher =
        ChaCha20Poly1305::new_from_slice(&okm[..32]).map_err(|_| Error::InvalidKey("link seal"))?;
    cipher
        .decrypt(
            &nonce_of(&okm),
            Payload {
                msg: ct,
                aad: request_hash,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| Error::DecryptionFailed)
}
