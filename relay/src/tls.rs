//! Relay identity on disk (TLS certificate, receipt key) and the QUIC/TLS configurations.
//!
//! On first start the relay writes a self-signed certificate (`tls-cert.der`, `tls-key.der`)
//! and an Ed25519 receipt key (`receipt-key.bin`) into its data folder and reuses them on
//! every later start. Clients pin SHA-256 of the certificate's SubjectPublicKeyInfo (the
//! [`Fingerprint`], see [`key_fingerprint`]), so a CA-issued certificate given by configuration
//! works the same way, and a certificate renewed with the same key keeps the relay's address.
//! For addresses made before key pinning, clients also accept SHA-256 of the whole
//! certificate (see the relay client crate, `hush-relay-client`).

use crate::types::Fingerprint;
use ed25519_dalek::SigningKey;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use hush_wire::ALPN;

/// The self-signed certificate in the data folder (DER).
pub const CERT_FILE: &str = "tls-cert.der";
/// Its private key in the data folder (PKCS#8 DER).
pub const KEY_FILE: &str = "tls-key.der";
/// The receipt signing key's 32-byte Ed25519 seed in the data folder.
pub const RECEIPT_KEY_FILE: &str = "receipt-key.bin";

/// A problem with certificates, keys or TLS setup.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a key file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be parsed.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A stored key file has the wrong size or format.
    #[error("{0}: invalid key file")]
    BadKey(PathBuf),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// quinn refused the rustls configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
    /// A certificate is not a parseable X.509 end-entity certificate.
    #[error("invalid certificate: {0}")]
    BadCertificate(String),
}

pub use hush_wire::quic::peer_fingerprint;

/// The relay's address fingerprint: SHA-256 of the DER `SubjectPublicKeyInfo` of `cert` (see
/// [`hush_wire::quic::key_fingerprint`]).
pub fn key_fingerprint(cert: &CertificateDer<'_>) -> Result<Fingerprint, TlsError> {
    hush_wire::quic::key_fingerprint(cert).map_err(|e| TlsError::BadCertificate(e.0))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file atomically (temp file, fsync, rename), readable only by the owner.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Where the relay's TLS certificate comes from.
#[derive(Debug, Clone)]
pub enum CertSource {
    /// Self-signed, created in the data folder on first start.
    SelfSigned,
    /// PEM files (for example CA-issued): the certificate chain and its private key.
    Pem {
        /// Certificate chain, leaf first.
        cert: PathBuf,
        /// PKCS#8, PKCS#1 or SEC1 private key.
        key: PathBuf,
    },
}

/// The relay's long-term identity.
pub struct RelayIdentity {
    /// Certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf certificate's private key.
    pub key: PrivateKeyDer<'static>,
    /// SHA-256 of the leaf certificate's SubjectPublicKeyInfo: the address fingerprint.
    pub fingerprint: Fingerprint,
    /// SHA-256 of the whole leaf certificate: the fingerprint of addresses made before key
    /// pinning, still accepted by clients while this certificate is in use.
    pub certificate_fingerprint: Fingerprint,
    /// Ed25519 key that signs receipts.
    pub receipt_key: SigningKey,
}

impl RelayIdentity {
    /// Loads the identity from `data_dir`, creating what is missing.
    pub fn load_or_create(data_dir: &Path, source: &CertSource) -> Result<Self, TlsError> {
        std::fs::create_dir_all(data_dir).map_err(io_err(data_dir))?;
        let (chain, key) = match source {
            CertSource::SelfSigned => {
                let cert_path = data_dir.join(CERT_FILE);
                let key_path = data_dir.join(KEY_FILE);
                if !cert_path.exists() || !key_path.exists() {
                    let ck = rcgen::generate_simple_self_signed(vec![
                        "hush-relay".to_string(),
                        "localhost".to_string(),
                    ])?;
                    write_private(&key_path, &ck.signing_key.serialize_der())?;
                    write_private(&cert_path, ck.cert.der())?;
                }
                let cert = std::fs::read(&cert_path).map_err(io_err(&cert_path))?;
                let key = std::fs::read(&key_path).map_err(io_err(&key_path))?;
                (
                    vec![CertificateDer::from(cert)],
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
                )
            }
            CertSource::Pem { cert, key } => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| TlsError::Pem {
                        path: cert.clone(),
                        message: e.to_string(),
                    })?;
                if chain.is_empty() {
                    return Err(TlsError::Pem {
                        path: cert.clone(),
                        message: "no certificate found".into(),
                    });
                }
                let k = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
                    path: key.clone(),
                    message: e.to_string(),
                })?;
                (chain, k)
            }
        };
        let fingerprint = key_fingerprint(&chain[0])?;
        let certificate_fingerprint = Fingerprint::of_certificate(chain[0].as_ref());
        let rk_path = data_dir.join(RECEIPT_KEY_FILE);
        if !rk_path.exists() {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| TlsError::Io {
                path: rk_path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            write_private(&rk_path, &seed)?;
        }
        let seed = std::fs::read(&rk_path).map_err(io_err(&rk_path))?;
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| TlsError::BadKey(rk_path.clone()))?;
        Ok(RelayIdentity {
            chain,
            key,
            fingerprint,
            certificate_fingerprint,
            receipt_key: SigningKey::from_bytes(&seed),
        })
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls server configuration (TLS 1.3 only, ALPN `hush/1`, no client certificates).
pub fn server_crypto(
    id: &RelayIdentity,
) -> Result<quinn::crypto::rustls::QuicServerConfig, TlsError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(id.chain.clone(), id.key.clone_key())?;
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    cfg.max_early_data_size = 0;
    quinn::crypto::rustls::QuicServerConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}
