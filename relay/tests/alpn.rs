//! How the relay answers a client that does not speak `hush/1` (spec §1): the TLS handshake
//! fails with the `no_application_protocol` alert, which QUIC carries as the crypto error
//! 0x178 in a CONNECTION_CLOSE, and nothing of the relay protocol is reachable.

mod common;

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// Accepts any certificate: these clients test ALPN, not pinning.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects offering exactly `alpn`; the negotiated protocol, or how the connection ended.
async fn connect_with_alpn(
    addr: std::net::SocketAddr,
    alpn: Vec<Vec<u8>>,
) -> Result<Option<Vec<u8>>, quinn::ConnectionError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    cfg.alpn_protocols = alpn;
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(cfg).unwrap();
    let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(crypto)));
    let connecting = endpoint.connect(addr, "hush-relay").unwrap();
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), connecting)
        .await
        .expect("the relay answers within 10 s")
        .map(|c| {
            c.handshake_data()
                .and_then(|h| h.downcast::<quinn::crypto::rustls::HandshakeData>().ok())
                .and_then(|h| h.protocol)
        });
    endpoint.close(0u32.into(), b"");
    out
}

#[tokio::test]
async fn a_client_without_hush_alpn_is_refused_in_the_handshake() {
    let dir = tempfile::tempdir().unwrap();
    let relay = common::start_in(dir.path(), |_| {}).await;
    let addr = relay.local_addr();
    // TLS alert 120, no_application_protocol, as the QUIC crypto error 0x100 + 120.
    let no_application_protocol = quinn::TransportErrorCode::crypto(120);
    for alpn in [
        vec![b"h3".to_vec()],
        vec![b"hush/2".to_vec(), b"hq-29".to_vec()],
        vec![],
    ] {
        match connect_with_alpn(addr, alpn.clone()).await {
            Err(quinn::ConnectionError::ConnectionClosed(close)) => {
                assert_eq!(close.error_code, no_application_protocol, "{alpn:?}");
            }
            other => panic!("offering {alpn:?}: {other:?}"),
        }
    }
    let right = connect_with_alpn(addr, vec![b"h3".to_vec(), b"hush/1".to_vec()]).await;
    assert_eq!(right.unwrap(), Some(b"hush/1".to_vec()));
    relay.shutdown().await.unwrap();
}
