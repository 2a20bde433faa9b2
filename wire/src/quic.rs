//! QUIC settings and helpers the relay and its clients share (feature `quic`).

use crate::types::Fingerprint;
use futures_util::FutureExt;
use quinn::rustls::pki_types::CertificateDer;

/// A certificate that is not a parseable X.509 end-entity certificate.
#[derive(Debug, thiserror::Error)]
#[error("invalid certificate: {0}")]
pub struct BadCertificate(pub String);

/// The relay's address fingerprint: SHA-256 of the DER `SubjectPublicKeyInfo` of `cert` (the
/// leaf certificate), parsed with rustls-webpki. It depends only on the public key, so a
/// certificate renewed with the same key (new serial number, new validity) keeps it. The same
/// value as `openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der |
/// sha256sum`.
pub fn key_fingerprint(cert: &CertificateDer<'_>) -> Result<Fingerprint, BadCertificate> {
    let ee = webpki::EndEntityCert::try_from(cert).map_err(|e| BadCertificate(format!("{e:?}")))?;
    Ok(Fingerprint::of_public_key(
        ee.subject_public_key_info().as_ref(),
    ))
}

/// The key fingerprint ([`key_fingerprint`]) of the certificate the peer of a QUIC connection
/// presented, or `None` when it presented none or one that does not parse.
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<Fingerprint> {
    let identity = conn.peer_identity()?;
    let chain = identity.downcast_ref::<Vec<CertificateDer<'static>>>()?;
    key_fingerprint(chain.first()?).ok()
}

/// Ack-eliciting packets a peer may receive before it must acknowledge them at once (QUIC
/// ACK frequency extension, which quinn speaks on both ends). QUIC's default, 1, makes the
/// peer answer every second packet with a packet of its own, and with one small request or
/// push per packet, as in messaging, most of those answers carry nothing but the ACK. Asking
/// for one ACK per five packets (or after the peer's `max_ack_delay`, 25 ms) removes most of
/// them while a window of initial size (ten packets) still gets acknowledged without waiting
/// for that timer. Both the relay and the client ask it of each other.
pub const ACK_ELICITING_THRESHOLD: u32 = 4;

/// The ACK frequency the relay and its clients ask of each other (see
/// [`ACK_ELICITING_THRESHOLD`]).
pub fn ack_frequency() -> quinn::AckFrequencyConfig {
    let mut c = quinn::AckFrequencyConfig::default();
    c.ack_eliciting_threshold(ACK_ELICITING_THRESHOLD.into());
    c
}

/// Reads the end of a QUIC stream whose one frame has been read, if that end has already
/// arrived; never waits. True if the stream is now read to its end.
///
/// A request and a response are each one frame followed by the end of the stream, which
/// almost always arrives in the same packet as the frame. A `quinn::RecvStream` dropped
/// before its end was read makes quinn send the peer a needless STOP_SENDING frame (one
/// more frame and often one more packet per request); reading the end first avoids it.
pub fn take_end(recv: &mut quinn::RecvStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        FutureExt::now_or_never(recv.read(&mut byte)),
        Some(Ok(None))
    )
}
