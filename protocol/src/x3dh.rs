//! X3DH key agreement (Signal's specification) over X25519 and SHA-256.
//!
//! `SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4], info)`,
//! `AD = Encode(IK_A) ‖ Encode(IK_B)`.

use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::Result;
use crate::bundle::PreKeyBundle;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::kem::KemSharedSecret;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::ratchet_key::dh;
use crate::trace::Trace;

/// HKDF info string of the X3DH KDF.
pub const X3DH_INFO: &[u8] = b"Hush-v1-X3DH";
/// HKDF info string that derives the two initial header keys from SK (header encryption only).
pub const HEADER_KEYS_INFO: &[u8] = b"Hush-v1-HeaderKeys";

/// The agreed secret (the associated data is recomputed by the session from the identities).
pub(crate) struct Agreement {
    pub(crate) shared_key: Zeroizing<[u8; 32]>,
}

fn kdf(dhs: &[Zeroizing<[u8; 32]>], trace: &mut Trace) -> Zeroizing<[u8; 32]> {
    kdf_with(dhs, None, X3DH_INFO, trace)
}

/// `HKDF-SHA256(salt = 32 zero bytes, ikm = 32 × 0xFF ‖ DH1 ‖ … ‖ DHn [‖ SS], info)`: the
/// X3DH KDF, and with the KEM shared secret appended the PQXDH KDF.
pub(crate) fn kdf_with(
    dhs: &[Zeroizing<[u8; 32]>],
    kem: Option<&KemSharedSecret>,
    info: &[u8],
    trace: &mut Trace,
) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 6));
    ikm.extend_from_slice(&[0xFF; 32]);
    for (i, d) in dhs.iter().enumerate() {
        trace.record(&format!("dh{}", i + 1), d.as_ref());
        ikm.extend_from_slice(d.as_ref());
    }
    if let Some(ss) = kem {
        trace.record("kem_shared_secret", ss.as_bytes());
        ikm.extend_from_slice(ss.as_bytes());
    }
    let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), &ikm);
    let mut sk = Zeroizing::new([0u8; 32]);
    hk.expand(info, sk.as_mut())
        .expect("HKDF output length is valid");
    trace.record("shared_key", sk.as_ref());
    sk
}

pub(crate) fn associated_data(
    initiator: &IdentityPublicKey,
    responder: &IdentityPublicKey,
) -> [u8; 128] {
    let mut ad = [0u8; 128];
    ad[..64].copy_from_slice(&initiator.encode());
    ad[64..].copy_from_slice(&responder.encode());
    ad
}

/// The initiator's side: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
/// DH4 = DH(EK_A, OPK_B).
pub(crate) fn initiator_agree(
    ours: &IdentityKeyPair,
    ephemeral: &StaticSecret,
    bundle: &PreKeyBundle,
    trace: &mut Trace,
) -> Result<Agreement> {
    let dhs = initiator_dhs(ours, ephemeral, bundle)?;
    let ad = associated_data(ours.public(), bundle.identity());
    trace.record("x3dh_associated_data", &ad);
    Ok(Agreement {
        shared_key: kdf(&dhs, trace),
    })
}

/// DH1–DH3 and, with a one-time prekey, DH4 of the initiator (shared with PQXDH).
pub(crate) fn initiator_dhs(
    ours: &IdentityKeyPair,
    ephemeral: &StaticSecret,
    bundle: &PreKeyBundle,
) -> Result<Vec<Zeroizing<[u8; 32]>>> {
    let spk = bundle.signed_prekey().public_key();
    let mut dhs = vec![
        dh(ours.dh_secret(), spk)?,
        dh(ephemeral, bundle.identity().dh_key())?,
        dh(ephemeral, spk)?,
    ];
    if let Some(opk) = bundle.one_time_prekey() {
        dhs.push(dh(ephemeral, opk.public_key())?);
    }
    Ok(dhs)
}

/// The responder's side, mirroring [`initiator_agree`].
pub(crate) fn responder_agree(
    ours: &IdentityKeyPair,
    signed_prekey: &StaticSecret,
    one_time_prekey: Option<&StaticSecret>,
    initiator: &IdentityPublicKey,
    base_key: &PublicKey,
    trace: &mut Trace,
) -> Result<Agreement> {
    let dhs = responder_dhs(ours, signed_prekey, one_time_prekey, initiator, base_key)?;
    let ad = associated_data(initiator, ours.public());
    trace.record("x3dh_associated_data", &ad);
    Ok(Agreement {
        shared_key: kdf(&dhs, trace),
    })
}

/// The responder's DH1–DH4, mirroring [`initiator_dhs`].
pub(crate) fn responder_dhs(
    ours: &IdentityKeyPair,
    signed_prekey: &StaticSecret,
    one_time_prekey: Option<&StaticSecret>,
    initiator: &IdentityPublicKey,
    base_key: &PublicKey,
) -> Result<Vec<Zeroizing<[u8; 32]>>> {
    let mut dhs = vec![
        dh(signed_prekey, initiator.dh_key())?,
        dh(ours.dh_secret(), base_key)?,
        dh(signed_prekey, base_key)?,
    ];
    if let Some(opk) = one_time_prekey {
        dhs.push(dh(opk, base_key)?);
    }
    Ok(dhs)
}

/// Header encryption: `HKDF-SHA256(salt = 32 zero bytes, ikm = SK, info = HEADER_KEYS_INFO)`,
/// 64 bytes → (initiator's first header key `HKa`, responder's first next header key `NHKb`).
pub(crate) fn initial_header_keys(
    shared_key: &[u8; 32],
    trace: &mut Trace,
) -> (HeaderKey, HeaderKey) {
    let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), shared_key);
    let mut okm = Zeroizing::new([0u8; 64]);
    hk.expand(HEADER_KEYS_INFO, okm.as_mut())
        .expect("HKDF output length is valid");
    let mut a = [0u8; 32];
    a.copy_from_slice(&okm[..32]);
    let mut b = [0u8; 32];
    b.copy_from_slice(&okm[32..]);
    trace.record("shared_header_key_a", &a);
    trace.record("shared_next_header_key_b", &b);
    (HeaderKey::new(a), HeaderKey::new(b))
}
