//! The client's TLS configuration: the relay certificate is trusted by its pinned key
//! fingerprint alone.

use hush_wire::quic::key_fingerprint;
use hush_wire::{ALPN, Fingerprint};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A problem setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// quinn refused the rustls configuration.
    #[error("QUIC TLS configuration: {0}")]
    Quic(String),
    /// The relay's certificate is not a parseable X.509 end-entity certificate.
    #[error("invalid certificate: {0}")]
    BadCertificate(String),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls client configuration that accepts exactly the relay certificates `pin` names:
/// those whose key fingerprint ([`key_fingerprint`]) is `pin`, and (addresses made before key
/// pinning) the one certificate whose whole-DER SHA-256 is `pin`.
pub fn client_crypto(
    pin: Fingerprint,
) -> Result<quinn::crypto::rustls::QuicClientConfig, TlsError> {
    let provider = provider();
    let verifier = Arc::new(PinnedVerifier {
        pin,
        provider: provider.clone(),
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![ALPN.to_vec()];
    quinn::crypto::rustls::QuicClientConfig::try_from(cfg)
        .map_err(|e| TlsError::Quic(e.to_string()))
}

/// Accepts the server certificate iff SHA-256 of its SubjectPublicKeyInfo, or (old addresses)
/// of its whole DER, equals the pinned fingerprint, and checks the handshake signature with
/// that certificate's key. Names and dates are not checked: the pin is the trust anchor.
#[derive(Debug)]
struct PinnedVerifier {
    pin: Fingerprint,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl rustls::client::danger::ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        // Comparing public values: a timing difference reveals nothing secret.
        let key = key_fingerprint(end_entity).ok();
        if key == Some(self.pin) || Fingerprint::of_certificate(end_entity.as_ref()) == self.pin {
            return Ok(rustls::client::danger::ServerCertVerified::assertion());
        }
        Err(rustls::Error::General(match key {
            Some(key) => format!(
                "relay key fingerprint {key} does not match the pinned {}",
                self.pin
            ),
            None => format!(
                "relay certificate does not parse and does not match the pinned {}",
                self.pin
            ),
        }))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
