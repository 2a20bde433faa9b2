//! PQXDH key agreement (Signal's PQXDH specification, revision 3) over X25519, SHA-256 and
//! ML-KEM-768: X3DH plus one KEM encapsulation to the responder's signed KEM prekey.
//!
//! `SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 32 × 0xFF ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS,
//! info = PQXDH_INFO)`; `AD = Encode(IK_A) ‖ Encode(IK_B) ‖ KB` with the KEM binding
//! `KB = SHA-256(KEM_BINDING_CONTEXT ‖ kind ‖ id ‖ PQPK ‖ CT)` (`spec/pqxdh.md`, section 4).

use sha2::{Digest, Sha256};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::Result;
use crate::bundle::PreKeyBundle;
use crate::identity::{IdentityKeyPair, IdentityPublicKey};
use crate::kem_prekeys::{KemPreKeyKind, KemPreKeyPublic, KemPreKeySecret};
use crate::trace::Trace;
use crate::x3dh::{self, Agreement};

/// HKDF info string of the PQXDH KDF.
pub const PQXDH_INFO: &[u8] = b"Hush-v1-PQXDH-X25519-SHA256-MLKEM768";
/// Context of the KEM binding `KB` that PQXDH appends to the associated data.
pub const KEM_BINDING_CONTEXT: &[u8] = b"Hush-v1-PQXDH-KEM-Binding";

/// What the initiator sends besides the X3DH fields: which KEM prekey, and the ciphertext.
pub(crate) struct KemHandshake {
    pub(crate) kem_prekey_id: u32,
    pub(crate) ciphertext: Vec<u8>,
    /// `KB`, appended to the session's associated data.
    pub(crate) binding: [u8; 32],
}

/// `KB = SHA-256(KEM_BINDING_CONTEXT ‖ kind (1 byte) ‖ id (u32 BE) ‖ PQPK ‖ CT)`.
pub(crate) fn kem_binding(
    kind: KemPreKeyKind,
    id: u32,
    public: &[u8],
    ciphertext: &[u8],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(KEM_BINDING_CONTEXT);
    h.update([kind.byte()]);
    h.update(id.to_be_bytes());
    h.update(public);
    h.update(ciphertext);
    h.finalize().into()
}

/// `AD = Encode(IK_A) ‖ Encode(IK_B) ‖ KB` (160 bytes).
pub(crate) fn associated_data(
    initiator: &IdentityPublicKey,
    responder: &IdentityPublicKey,
    binding: &[u8; 32],
) -> [u8; 160] {
    let mut ad = [0u8; 160];
    ad[..128].copy_from_slice(&x3dh::associated_data(initiator, responder));
    ad[128..].copy_from_slice(binding);
    ad
}

/// The initiator's side: the X3DH DHs, then `(CT, SS) = Encaps(PQPK_B)` with 32 bytes drawn
/// from `rng` right after the ephemeral key.
pub(crate) fn initiator_agree<R: rand_core::CryptoRng + ?Sized>(
    rng: &mut R,
    ours: &IdentityKeyPair,
    ephemeral: &StaticSecret,
    bundle: &PreKeyBundle,
    kem: &KemPreKeyPublic,
    trace: &mut Trace,
) -> Result<(Agreement, KemHandshake)> {
    let dhs = x3dh::initiator_dhs(ours, ephemeral, bundle)?;
    let (ciphertext, ss, m) = kem.public_key().encapsulate(rng);
    trace.record("kem_encapsulation_randomness", m.as_ref());
    trace.record("kem_ciphertext", &ciphertext);
    let binding = kem_binding(kem.kind(), kem.id(), &kem.public_key_bytes(), &ciphertext);
    trace.record("kem_binding", &binding);
    let ad = associated_data(ours.public(), bundle.identity(), &binding);
    trace.record("pqxdh_associated_data", &ad);
    let shared_key = x3dh::kdf_with(&dhs, Some(&ss), PQXDH_INFO, trace);
    Ok((
        Agreement { shared_key },
        KemHandshake {
            kem_prekey_id: kem.id(),
            ciphertext,
            binding,
        },
    ))
}

/// The responder's side, given its X3DH DHs ([`x3dh::responder_dhs`]): `SS = Decaps(dk, CT)`. Returns the agreement and
/// `KB`. A tampered ciphertext gives an unrelated `SS` and `KB`, so the first message fails
/// to decrypt.
pub(crate) fn responder_agree(
    ours: &IdentityKeyPair,
    dhs: &[Zeroizing<[u8; 32]>],
    kem: &KemPreKeySecret,
    ciphertext: &[u8],
    initiator: &IdentityPublicKey,
    trace: &mut Trace,
) -> Result<(Agreement, [u8; 32])> {
    let (ss, public) = kem.seed.decapsulate(ciphertext)?;
    let binding = kem_binding(kem.kind, kem.id, &public.to_bytes(), ciphertext);
    trace.record("kem_binding", &binding);
    let ad = associated_data(initiator, ours.public(), &binding);
    trace.record("pqxdh_associated_data", &ad);
    let shared_key = x3dh::kdf_with(dhs, Some(&ss), PQXDH_INFO, trace);
    Ok((Agreement { shared_key }, binding))
}
