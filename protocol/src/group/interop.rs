//! Interop clients: a passive member built from externally generated key material, as the
//! RFC 9420 passive-client test vectors describe one. Used to check the group layer against
//! the vectors; not for Hush members (their credentials are not Hush identities, so events
//! name no sender identity).

use ed25519_dalek::SigningKey;
use openmls::prelude::{
    BasicCredential, Credential, CredentialWithKey, KeyPackage, KeyPackageVerifyError,
    MlsMessageBodyIn, ProtocolVersion,
};
use openmls::schedule::PreSharedKeyId;
use openmls_rust_crypto::RustCrypto;
use openmls_traits::storage::{CURRENT_VERSION, Entity, StorageProvider as _, traits};
use openmls_traits::types::HpkePrivateKey;
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::client::GroupClient;
use super::codec::MlsWireMessage;
use super::config::{GroupCiphersuite, GroupConfig};
use super::error::{GroupError, GroupResult, mls};
use super::provider::Provider;
use super::signer::GroupSigner;
use super::storage::GroupStorage;

/// The private half of an externally generated KeyPackage.
pub struct KeyPackageSecrets<'a> {
    /// HPKE private key of the KeyPackage's `init_key`.
    pub init_private_key: &'a [u8],
    /// HPKE private key of the leaf's `encryption_key`.
    pub encryption_private_key: &'a [u8],
    /// Ed25519 private key (32-byte seed) of the leaf's `signature_key`.
    pub signature_private_key: &'a [u8],
}

/// openmls' `KeyPackageBundle`, field for field as its storage encoding names them, so a
/// KeyPackage with known private keys can be put into the store.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeyPackageBundleRecord {
    key_package: KeyPackage,
    private_init_key: HpkePrivateKey,
    private_encryption_key: EncryptionPrivateKeyRecord,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct EncryptionPrivateKeyRecord {
    key: HpkePrivateKey,
}

impl Entity<CURRENT_VERSION> for KeyPackageBundleRecord {}
impl traits::KeyPackage<CURRENT_VERSION> for KeyPackageBundleRecord {}

pub(crate) fn placeholder_credential(signature_key: &[u8]) -> CredentialWithKey {
    CredentialWithKey {
        credential: Credential::from(BasicCredential::new(Vec::new())),
        signature_key: signature_key.to_vec().into(),
    }
}

impl GroupClient {
    /// An interop client holding one KeyPackage (TLS-encoded `MLSMessage(KeyPackage)`) whose
    /// private keys are given, and the external PSKs `(psk_id, psk)` it may need to join.
    /// It accepts any basic credential and `PublicMessage` handshakes; it is meant to join
    /// with [`GroupClient::join`] and follow epochs with [`GroupClient::process`].
    pub fn interop_passive<R: CryptoRng + ?Sized>(
        rng: &mut R,
        key_package: &[u8],
        secrets: &KeyPackageSecrets<'_>,
        external_psks: &[(&[u8], &[u8])],
    ) -> GroupResult<Self> {
        let msg = MlsWireMessage::from_bytes(key_package)?;
        let MlsMessageBodyIn::KeyPackage(kp) = msg.into_inner().extract() else {
            return Err(GroupError::UnexpectedMessage {
                expected: "KeyPackage",
            });
        };
        let crypto = RustCrypto::default();
        // The vectors' KeyPackages expired long ago (openmls checks lifetimes against the
        // system clock). A KeyPackage whose only fault is its lifetime is taken as it is:
        // it is this client's own key material, and the Welcome is fully validated.
        let kp = match kp.clone().validate(&crypto, ProtocolVersion::Mls10) {
            Ok(kp) => kp,
            Err(KeyPackageVerifyError::LifetimeError(_)) => kp.into_unchecked(),
            Err(_) => return Err(GroupError::InvalidKeyPackage),
        };
        let ciphersuite = GroupCiphersuite::from_code(u16::from(kp.ciphersuite()))?;
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            secrets
                .signature_private_key
                .try_into()
                .map_err(|_| GroupError::Malformed("signature private key"))?,
        );
        let signer = GroupSigner::new(SigningKey::from_bytes(&seed));
        if signer.public_key().as_slice() != kp.leaf_node().signature_key().as_slice() {
            return Err(GroupError::InvalidCredential(
                "signature private key does not match the KeyPackage",
            ));
        }
        let storage = GroupStorage::default();
        let hash_ref = kp.hash_ref(&crypto).map_err(mls)?;
        let record = KeyPackageBundleRecord {
            key_package: kp.clone(),
            private_init_key: HpkePrivateKey::from(secrets.init_private_key),
            private_encryption_key: EncryptionPrivateKeyRecord {
                key: HpkePrivateKey::from(secrets.encryption_private_key),
            },
        };
        storage
            .write_key_package(&hash_ref, &record)
            .map_err(|_| GroupError::Storage)?;
        {
            let provider = Provider::new(&crypto, &storage, rng);
            for (id, psk) in external_psks {
                PreSharedKeyId::external(id.to_vec(), Vec::new())
                    .store(&provider, psk)
                    .map_err(mls)?;
            }
        }
        let credential = CredentialWithKey {
            credential: kp.leaf_node().credential().clone(),
            signature_key: kp.leaf_node().signature_key().clone(),
        };
        Ok(Self {
            identity: None,
            signer,
            credential,
            device_of: None,
            header_changed: false,
            config: GroupConfig {
                ciphersuite,
                padding_size: 0,
                ..GroupConfig::default()
            },
            interop: true,
            crypto,
            storage,
            groups: super::client::Slots::default(),
            identities: Default::default(),
        })
    }
}
