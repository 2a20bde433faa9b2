//! TLS to PostgreSQL with rustls (the ring provider, as on the QUIC side): libpq's `sslmode`
//! and `sslrootcert`.
//!
//! `tokio-postgres` knows `sslmode=disable|prefer|require` only and no `sslrootcert`, so both
//! settings are taken out of the URL here before the rest goes to `tokio-postgres`:
//!
//! | `sslmode`     | TLS                          | certificate check                     |
//! |---------------|------------------------------|---------------------------------------|
//! | `disable`     | never                        | none                                  |
//! | `prefer`      | when the server offers it    | none                                  |
//! | `require`     | always (else refused)        | none; with a CA file as `verify-ca`   |
//! | `verify-ca`   | always (else refused)        | chain up to the CA file               |
//! | `verify-full` | always (else refused)        | chain up to the CA file and host name |
//!
//! The default is `prefer`, as in libpq, except when the CA comes from the relay's own
//! setting (`storage_ca`) and the URL names no `sslmode`: then `verify-full`.
//! The host name checked under `verify-full` is the URL's host (not `hostaddr`), as in libpq.

use super::StorageError;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};

/// How the relay protects its connections to PostgreSQL: libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PgSslMode {
    /// Plain TCP only.
    Disable,
    /// TLS when the server offers it, plain otherwise; the certificate is not checked.
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless a CA file is given, which
    /// makes this [`PgSslMode::VerifyCa`]).
    Require,
    /// TLS with a certificate that chains up to the CA file; any host name.
    VerifyCa,
    /// TLS with a certificate that chains up to the CA file and names the host connected to.
    VerifyFull,
}

impl FromStr for PgSslMode {
    type Err = StorageError;

    fn from_str(s: &str) -> Result<Self, StorageError> {
        Ok(match s {
            "disable" => PgSslMode::Disable,
            "prefer" => PgSslMode::Prefer,
            "require" => PgSslMode::Require,
            "verify-ca" => PgSslMode::VerifyCa,
            "verify-full" => PgSslMode::VerifyFull,
            "allow" => {
                return Err(StorageError::Backend(
                    "sslmode=allow is not supported (use prefer, require, verify-ca or \
                     verify-full)"
                        .into(),
                ));
            }
            other => {
                return Err(StorageError::Backend(format!(
                    "invalid sslmode {other:?} (expected disable, prefer, require, verify-ca \
                     or verify-full)"
                )));
            }
        })
    }
}

/// The connection settings of a database URL: what `tokio-postgres` takes, and the TLS policy.
pub(crate) struct PgConnectSettings {
    /// Everything but the TLS policy (its `ssl_mode` set to match it).
    pub(crate) config: tokio_postgres::Config,
    /// The TLS connector for that policy.
    pub(crate) tls: MakeRustlsConnect,
}

/// Parses `url` (a `postgres://` URI or a libpq `key=value` string) with its `sslmode` and
/// `sslrootcert`; `default_ca` is the CA file to use when the URL names none.
pub(crate) fn settings(
    url: &str,
    default_ca: Option<&Path>,
) -> Result<PgConnectSettings, StorageError> {
    let (rest, params) = take_tls_params(url);
    let mut config = tokio_postgres::Config::from_str(&rest)
        .map_err(|e| StorageError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
    let named_mode = params
        .sslmode
        .as_deref()
        .map(PgSslMode::from_str)
        .transpose()?;
    if params.sslrootcert.as_deref() == Some("system") {
        return Err(StorageError::Backend(
            "sslrootcert=system is not supported: give the path of a CA file".into(),
        ));
    }
    let from_url = params.sslrootcert.map(PathBuf::from);
    let ca_from_setting = from_url.is_none() && default_ca.is_some();
    let ca = from_url.or_else(|| default_ca.map(Path::to_path_buf));
    let mode = match (named_mode, ca.is_some()) {
        (None, _) if ca_from_setting => PgSslMode::VerifyFull,
        (None, _) => PgSslMode::Prefer,
        (Some(PgSslMode::Require), true) => PgSslMode::VerifyCa,
        (Some(m), _) => m,
    };
    config.ssl_mode(match mode {
        PgSslMode::Disable => tokio_postgres::config::SslMode::Disable,
        PgSslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    });
    let tls = MakeRustlsConnect::new(mode, ca.as_deref())?;
    Ok(PgConnectSettings { config, tls })
}

/// `sslmode` and `sslrootcert` as found in a URL.
#[derive(Default, Debug, PartialEq, Eq)]
struct TlsParams {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl TlsParams {
    /// Keeps `value` when `key` is one of ours; says whether it was.
    fn take(&mut self, key: &str, value: String) -> bool {
        match key {
            "sslmode" => self.sslmode = Some(value),
            "sslrootcert" => self.sslrootcert = Some(value),
            _ => return false,
        }
        true
    }
}

/// `url` without its `sslmode` and `sslrootcert`, and their values (the last one wins).
fn take_tls_params(url: &str) -> (String, TlsParams) {
    let mut params = TlsParams::default();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return (url.to_owned(), params);
        };
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .filter(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                !params.take(&percent_decode(k), percent_decode(v))
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return (rest, params);
    }
    // key=value form; on anything this reader does not follow, the string goes to
    // tokio-postgres unchanged, which reports the error.
    let mut kept = Vec::new();
    let mut found = TlsParams::default();
    let mut s = url.trim_start();
    while !s.is_empty() {
        let Some((key, value, raw, tail)) = key_value(s) else {
            return (url.to_owned(), TlsParams::default());
        };
        if !found.take(key, value) {
            kept.push(format!("{key}={raw}"));
        }
        s = tail.trim_start();
    }
    (kept.join(" "), found)
}

/// One `key = value` of a libpq string: key, unescaped value, value as written, the rest.
fn key_value(s: &str) -> Option<(&str, String, &str, &str)> {
    let key_end = s.find(|c: char| c == '=' || c.is_whitespace())?;
    let key = &s[..key_end];
    let s = s[key_end..].trim_start().strip_prefix('=')?.trim_start();
    let mut value = String::new();
    let mut chars = s.char_indices();
    let quoted = s.starts_with('\'');
    if quoted {
        chars.next();
    }
    let mut end = s.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '\'' if quoted => {
                end = i + 1;
                break;
            }
            c if !quoted && c.is_whitespace() => {
                end = i;
                break;
            }
            c => value.push(c),
        }
        if quoted && chars.as_str().is_empty() {
            // An unterminated quote.
            return None;
        }
    }
    if key.is_empty() {
        return None;
    }
    Some((key, value, &s[..end], &s[end..]))
}

/// `%XX` decoding of a URI part (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = s.get(i + 1..i + 3)
            && let Ok(v) = u8::from_str_radix(h, 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads every certificate of a PEM file into a root store.
fn load_roots(path: &Path) -> Result<RootCertStore, StorageError> {
    let bad = |e: &dyn std::fmt::Display| {
        StorageError::Backend(format!("cannot read CA file {}: {e}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(&e))? {
        roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
    }
    if roots.is_empty() {
        return Err(bad(&"no certificate in it"));
    }
    Ok(roots)
}

/// A `tokio-postgres` TLS connector on rustls for one [`PgSslMode`].
#[derive(Clone)]
pub(crate) struct MakeRustlsConnect {
    /// `None` under [`PgSslMode::Disable`] (no TLS is ever attempted then).
    config: Option<Arc<ClientConfig>>,
}

impl MakeRustlsConnect {
    /// The connector for `mode`, checking certificates against the CA file `ca` where the
    /// mode says so.
    fn new(mode: PgSslMode, ca: Option<&Path>) -> Result<Self, StorageError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let needs_ca = |m: &str| {
            StorageError::Backend(format!(
                "sslmode={m} needs a CA file: sslrootcert=PATH in the URL or storage_ca in the \
                 relay's settings"
            ))
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (mode, ca) {
            (PgSslMode::Disable, _) => return Ok(MakeRustlsConnect { config: None }),
            (PgSslMode::Prefer | PgSslMode::Require, _) => Arc::new(NoCertificateCheck {
                provider: provider.clone(),
            }),
            (PgSslMode::VerifyCa, None) => return Err(needs_ca("verify-ca")),
            (PgSslMode::VerifyFull, None) => return Err(needs_ca("verify-full")),
            (PgSslMode::VerifyCa, Some(ca)) => Arc::new(ChainOnly {
                roots: load_roots(ca)?,
                provider: provider.clone(),
            }),
            (PgSslMode::VerifyFull, Some(ca)) => WebPkiServerVerifier::builder_with_provider(
                Arc::new(load_roots(ca)?),
                provider.clone(),
            )
            .build()
            .map_err(|e| StorageError::Backend(format!("TLS to PostgreSQL: {e}")))?,
        };
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StorageError::Backend(format!("TLS to PostgreSQL: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect {
            config: Some(Arc::new(config)),
        })
    }
}

/// The error of a handshake attempted under `sslmode=disable` (never happens:
/// `tokio-postgres` does not attempt one then).
fn tls_disabled() -> std::io::Error {
    std::io::Error::other("TLS to PostgreSQL is disabled (sslmode=disable)")
}

impl<S> MakeTlsConnect<S> for MakeRustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = std::io::Error;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, std::io::Error> {
        // tokio-postgres asks for a connector before it knows whether TLS is wanted (also
        // under sslmode=disable, and with no host name on a Unix socket): problems are
        // reported when a handshake is attempted.
        let name = ServerName::try_from(domain.to_owned()).map_err(|_| {
            std::io::Error::other(format!("{domain:?} is not a valid TLS server name"))
        });
        Ok(RustlsConnect {
            config: self.config.clone(),
            name,
        })
    }
}

/// One TLS handshake to come.
pub(crate) struct RustlsConnect {
    config: Option<Arc<ClientConfig>>,
    name: std::io::Result<ServerName<'static>>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            let config = self.config.ok_or_else(tls_disabled)?;
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(self.name?, stream)
                .await?;
            Ok(RustlsStream(tls))
        })
    }
}

/// A TLS connection to PostgreSQL. No channel binding is offered (SCRAM still authenticates;
/// `channel_binding=require` is refused by `tokio-postgres` then).
pub(crate) struct RustlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The handshake signature checks every verifier here shares (they prove the server holds
/// the key of the certificate it sent, checked or not).
macro_rules! handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
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
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

/// `prefer` and `require` (no CA file): encryption without authentication of the server.
#[derive(Debug)]
struct NoCertificateCheck {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoCertificateCheck {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

/// `verify-ca`: the chain up to the CA file, whatever names the certificate holds.
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.provider.signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(url: &str) -> (String, Option<String>, Option<String>) {
        let (rest, p) = take_tls_params(url);
        (rest, p.sslmode, p.sslrootcert)
    }

    #[test]
    fn uri_parameters_are_taken_out_and_decoded() {
        assert_eq!(
            params(
                "postgres://u@h:5/db?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x"
            ),
            (
                "postgres://u@h:5/db?application_name=x".into(),
                Some("verify-full".into()),
                Some("/etc/ca.pem".into())
            )
        );
        assert_eq!(
            params("postgresql://u@h/db?sslmode=require"),
            ("postgresql://u@h/db".into(), Some("require".into()), None)
        );
        assert_eq!(
            params("postgres://u@h/db"),
            ("postgres://u@h/db".into(), None, None)
        );
    }

    #[test]
    fn key_value_parameters_are_taken_out() {
        assert_eq!(
            params("host=h  user=u sslmode = verify-ca sslrootcert='/a b/c\\'s.pem' dbname=d"),
            (
                "host=h user=u dbname=d".into(),
                Some("verify-ca".into()),
                Some("/a b/c's.pem".into())
            )
        );
        // Unreadable strings go through unchanged, for tokio-postgres to report.
        assert_eq!(
            params("host='h sslmode=require"),
            ("host='h sslmode=require".into(), None, None)
        );
    }

    #[test]
    fn modes_follow_libpq() {
        let mode = |s: &str| PgSslMode::from_str(s);
        assert_eq!(mode("verify-full").unwrap(), PgSslMode::VerifyFull);
        assert_eq!(mode("verify-ca").unwrap(), PgSslMode::VerifyCa);
        assert!(mode("allow").is_err());
        assert!(mode("VERIFY-FULL").is_err());
        // No CA: verify modes are refused before any connection, with the cause.
        for m in ["verify-ca", "verify-full"] {
            let e = settings(&format!("postgres://u@127.0.0.1/db?sslmode={m}"), None)
                .err()
                .expect("refused");
            assert!(e.to_string().contains("needs a CA file"), "{e}");
        }
        let e = settings(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            None,
        )
        .err()
        .expect("refused");
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let s = settings("postgres://u@h/db", None).unwrap();
        assert_eq!(
            s.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Prefer
        );
        let s = settings("postgres://u@h/db?sslmode=require", None).unwrap();
        assert_eq!(
            s.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        let s = settings("postgres://u@h/db?sslmode=disable", None).unwrap();
        assert!(s.tls.config.is_none());
    }
}
