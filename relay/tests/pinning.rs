//! Key pinning (spec §1): the address fingerprint is SHA-256 of the certificate's
//! SubjectPublicKeyInfo, so a certificate renewed with the same key keeps the address; old
//! whole-certificate addresses still connect; another key is refused.

mod common;

use common::*;
use hush_relay::server::RelayHandle;
use hush_relay::tls::CertSource;
use hush_relay_client::{Client, EnvelopeId, Fingerprint, RelayUrl};
use rcgen::{CertificateParams, KeyPair, PublicKeyData, SerialNumber, date_time_ymd};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A self-signed certificate for `key` with the given serial number and validity start year.
fn certificate(key: &KeyPair, serial: u64, year: i32) -> rcgen::Certificate {
    let mut params = CertificateParams::new(vec!["relay.example".to_string()]).unwrap();
    params.serial_number = Some(SerialNumber::from(serial));
    params.not_before = date_time_ymd(year, 1, 1);
    params.not_after = date_time_ymd(year + 1, 1, 1);
    params.self_signed(key).unwrap()
}

/// Writes the PEM files and starts a relay on them in `dir`.
async fn start_with(dir: &Path, key: &KeyPair, cert: &rcgen::Certificate) -> RelayHandle {
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    start_in(dir, |c| {
        c.cert = CertSource::Pem {
            cert: cert_path,
            key: key_path,
        }
    })
    .await
}

/// SHA-256 of the key's SubjectPublicKeyInfo, computed by rcgen (independently of the relay's
/// certificate parser).
fn spki_sha256(key: &KeyPair) -> Fingerprint {
    Fingerprint(Sha256::digest(key.subject_public_key_info()).into())
}

fn url_with(relay: &RelayHandle, fingerprint: Fingerprint) -> RelayUrl {
    RelayUrl {
        fingerprint,
        ..relay.url()
    }
}

/// Connects, authenticates a mailbox and sends it an envelope: the whole pinned path works.
async fn use_relay(url: &RelayUrl, n: u8) {
    let client = Client::connect(url).await.expect("pinned connection");
    let addr = client.authenticate(&key(n)).await.expect("AUTH");
    let id = EnvelopeId::new(vec![n; 16]).unwrap();
    client.send(&addr, &id, vec![n; 32]).await.expect("SEND");
    assert_eq!(client.fetch(&addr, 0, 10).await.unwrap().envelopes.len(), 1);
    client.close().await;
}

#[tokio::test]
async fn renewed_certificate_with_the_same_key_keeps_the_address() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let first = certificate(&key, 1, 2025);
    let relay = start_with(dir.path(), &key, &first).await;
    let address = relay.url();
    assert_eq!(
        relay.fingerprint(),
        spki_sha256(&key),
        "address = SPKI hash"
    );
    assert_ne!(
        relay.fingerprint(),
        Fingerprint::of_certificate(first.der()),
        "not the whole-certificate hash"
    );
    use_relay(&address, 1).await;
    relay.shutdown().await.unwrap();

    let renewed = certificate(&key, 2, 2026);
    assert_ne!(renewed.der(), first.der());
    let relay = start_with(dir.path(), &key, &renewed).await;
    assert_eq!(relay.fingerprint(), address.fingerprint);
    let address = url_with(&relay, address.fingerprint);
    use_relay(&address, 2).await;
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn old_whole_certificate_address_still_connects_and_authenticates() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = certificate(&key, 7, 2025);
    let relay = start_with(dir.path(), &key, &cert).await;
    let old = url_with(&relay, Fingerprint::of_certificate(cert.der()));
    let client = Client::connect(&old).await.expect("old address connects");
    assert_eq!(client.relay_fingerprint(), relay.fingerprint());
    client.close().await;
    // AUTH signs over the relay's key fingerprint even when the URL carries the old one.
    use_relay(&old, 3).await;
    relay.shutdown().await.unwrap();
}

/// A client from before key pinning signs AUTH over the whole-certificate fingerprint of its
/// old address: the relay still accepts that (and only its own two fingerprints).
#[tokio::test]
async fn auth_over_the_old_whole_certificate_fingerprint_is_accepted() {
    use ed25519_dalek::Signer;
    use hush_relay::proto::ErrorCode;
    use hush_relay::types::auth_message;
    let dir = tempfile::tempdir().unwrap();
    let key_pair = KeyPair::generate().unwrap();
    let cert = certificate(&key_pair, 3, 2025);
    let relay = start_with(dir.path(), &key_pair, &cert).await;
    let old = Fingerprint::of_certificate(cert.der());
    let client = Client::connect(&url_with(&relay, old)).await.unwrap();
    let alice = key(6);
    let sign = |c: &[u8; 32], f: &Fingerprint| alice.sign(&auth_message(c, f)).to_bytes();

    let c = client.challenge().await.unwrap();
    client
        .authenticate_with(&alice.verifying_key(), c, sign(&c, &old))
        .await
        .expect("old clients' AUTH");
    let c = client.challenge().await.unwrap();
    client
        .authenticate_with(&alice.verifying_key(), c, sign(&c, &relay.fingerprint()))
        .await
        .expect("AUTH over the key fingerprint");
    let c = client.challenge().await.unwrap();
    let other = Fingerprint::of_certificate(b"another relay's certificate");
    let e = client
        .authenticate_with(&alice.verifying_key(), c, sign(&c, &other))
        .await
        .unwrap_err();
    assert_eq!(e.relay_code(), Some(ErrorCode::BadSignature));
    client.close().await;
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn self_signed_relay_prints_its_key_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let relay = start_in(dir.path(), |_| {}).await;
    let pkcs8 = std::fs::read(dir.path().join("tls-key.der")).unwrap();
    let key = KeyPair::try_from(pkcs8.as_slice()).unwrap();
    assert_eq!(relay.fingerprint(), spki_sha256(&key));
    let cert = std::fs::read(dir.path().join("tls-cert.der")).unwrap();
    use_relay(&url_with(&relay, Fingerprint::of_certificate(&cert)), 4).await;
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn another_key_is_refused_under_both_address_forms() {
    let dir = tempfile::tempdir().unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = certificate(&key, 1, 2025);
    let relay = start_with(dir.path(), &key, &cert).await;
    let (spki, whole) = (relay.url(), Fingerprint::of_certificate(cert.der()));
    relay.shutdown().await.unwrap();

    // Same names, serial and validity, new key: an impostor's certificate.
    let other = KeyPair::generate().unwrap();
    let forged = certificate(&other, 1, 2025);
    let relay = start_with(dir.path(), &other, &forged).await;
    assert_ne!(relay.fingerprint(), spki.fingerprint);
    for pin in [spki.fingerprint, whole] {
        let url = url_with(&relay, pin);
        let err = Client::connect(&url).await.err().expect("refused");
        let msg = err.to_string();
        assert!(msg.contains("does not match the pinned"), "{msg}");
    }
    // Its own address works (the refusal above is the pin, not a broken relay).
    use_relay(&relay.url(), 5).await;
    relay.shutdown().await.unwrap();
}
