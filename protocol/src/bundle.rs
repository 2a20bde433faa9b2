//! The prekey bundle: what an initiator fetches to start a session (X3DH, or PQXDH when it
//! carries a signed KEM prekey), and the PQXDH downgrade rule (`spec/pqxdh.md`, section 6).

use prost::Message;

use crate::identity::IdentityPublicKey;
use crate::kem_prekeys::KemPreKeyPublic;
use crate::prekeys::{OneTimePreKeyPublic, SignedPreKeyPublic};
use crate::proto::wire;
use crate::{Error, Result};

/// Version of an encoded [`PreKeyBundle`].
pub const BUNDLE_VERSION: u32 = 1;

/// What an initiator needs to start a session: the responder's signed prekey and, while the
/// stock lasts, one of its one-time prekeys; for PQXDH also a signed KEM prekey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreKeyBundle {
    signed: SignedPreKeyPublic,
    one_time: Option<OneTimePreKeyPublic>,
    kem: Option<KemPreKeyPublic>,
}

impl PreKeyBundle {
    /// Assembles an X3DH bundle from its verified parts. If the signed prekey offers PQXDH,
    /// [`Session::initiate`](crate::Session::initiate) refuses the bundle
    /// ([`Error::PqxdhDowngrade`]): use [`PreKeyBundle::new_pqxdh`].
    pub fn new(signed: SignedPreKeyPublic, one_time: Option<OneTimePreKeyPublic>) -> Self {
        Self {
            signed,
            one_time,
            kem: None,
        }
    }

    /// Assembles a bundle that may carry a KEM prekey (PQXDH). The KEM prekey must have been
    /// verified against the signed prekey's identity; a signed prekey that offers PQXDH
    /// without a KEM prekey is refused ([`Error::PqxdhDowngrade`]).
    pub fn new_pqxdh(
        signed: SignedPreKeyPublic,
        one_time: Option<OneTimePreKeyPublic>,
        kem: Option<KemPreKeyPublic>,
    ) -> Result<Self> {
        let bundle = Self {
            signed,
            one_time,
            kem,
        };
        bundle.check_pqxdh()?;
        Ok(bundle)
    }

    /// Assembles a bundle from the blobs a relay directory hands out, the KEM prekey included
    /// when there is one, and verifies every signature and the downgrade rule.
    pub fn from_parts_pqxdh(
        signed_prekey: &[u8],
        one_time_prekey: Option<&[u8]>,
        kem_prekey: Option<&[u8]>,
    ) -> Result<Self> {
        let signed = SignedPreKeyPublic::from_bytes(signed_prekey)?;
        let kem = kem_prekey
            .map(|k| KemPreKeyPublic::from_bytes(k, &signed.identity))
            .transpose()?;
        Self::new_pqxdh(
            signed,
            one_time_prekey
                .map(OneTimePreKeyPublic::from_bytes)
                .transpose()?,
            kem,
        )
    }

    /// The KEM prekey, if the bundle offers PQXDH.
    pub fn kem_prekey(&self) -> Option<&KemPreKeyPublic> {
        self.kem.as_ref()
    }

    /// `spec/pqxdh.md` section 6: a signed prekey signed as offering PQXDH comes with a KEM
    /// prekey, and the KEM prekey is signed by the same identity.
    pub(crate) fn check_pqxdh(&self) -> Result<()> {
        match &self.kem {
            None if self.signed.offers_pqxdh => Err(Error::PqxdhDowngrade),
            Some(k) if k.identity() != &self.signed.identity => {
                Err(Error::BadSignature("KEM prekey"))
            }
            _ => Ok(()),
        }
    }

    /// Assembles an X3DH bundle from the two blobs a relay directory hands out. A signed
    /// prekey that offers PQXDH is refused here ([`Error::PqxdhDowngrade`]): its KEM prekey
    /// is missing, use [`PreKeyBundle::from_parts_pqxdh`].
    pub fn from_parts(signed_prekey: &[u8], one_time_prekey: Option<&[u8]>) -> Result<Self> {
        Self::from_parts_pqxdh(signed_prekey, one_time_prekey, None)
    }

    /// The responder's identity.
    pub fn identity(&self) -> &IdentityPublicKey {
        &self.signed.identity
    }

    /// The signed prekey.
    pub fn signed_prekey(&self) -> &SignedPreKeyPublic {
        &self.signed
    }

    /// The one-time prekey, if the bundle has one.
    pub fn one_time_prekey(&self) -> Option<&OneTimePreKeyPublic> {
        self.one_time.as_ref()
    }

    /// Encodes as protobuf `hush.v1.PreKeyBundle`.
    pub fn to_bytes(&self) -> Vec<u8> {
        wire::PreKeyBundle {
            version: BUNDLE_VERSION,
            signed_prekey: Some(self.signed.to_proto()),
            one_time_prekey: self.one_time.map(OneTimePreKeyPublic::to_proto),
            kem_prekey: self.kem.as_ref().map(KemPreKeyPublic::to_proto),
        }
        .encode_to_vec()
    }

    /// Decodes a bundle and verifies its signatures and the PQXDH downgrade rule.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let p = wire::PreKeyBundle::decode(bytes).map_err(|_| Error::Malformed("prekey bundle"))?;
        if p.version != BUNDLE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "prekey bundle",
                version: p.version,
            });
        }
        let signed = SignedPreKeyPublic::from_proto(
            p.signed_prekey
                .as_ref()
                .ok_or(Error::Malformed("prekey bundle"))?,
        )?;
        let kem = p
            .kem_prekey
            .as_ref()
            .map(|k| KemPreKeyPublic::from_proto(k, &signed.identity))
            .transpose()?;
        Self::new_pqxdh(
            signed,
            p.one_time_prekey
                .as_ref()
                .map(OneTimePreKeyPublic::from_proto)
                .transpose()?,
            kem,
        )
    }
}
