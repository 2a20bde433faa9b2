//! `hush://FPR@HOST:PORT` relay URLs.

use crate::types::{Fingerprint, IdError};
use std::fmt;
use std::str::FromStr;

/// A relay address with its pinned certificate fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelayUrl {
    /// The pinned fingerprint: SHA-256 of the relay certificate's SubjectPublicKeyInfo (or, in
    /// addresses made before key pinning, of the whole certificate).
    pub fingerprint: Fingerprint,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
}

/// A URL that is not `hush://FPR@HOST:PORT`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    /// Wrong scheme.
    #[error("relay URL must start with hush://")]
    Scheme,
    /// No `FPR@` part.
    #[error("relay URL must be hush://FINGERPRINT@HOST:PORT")]
    Shape,
    /// Bad fingerprint.
    #[error("{0}")]
    Fingerprint(#[from] IdError),
    /// Bad or missing port.
    #[error("relay URL needs a port 1-65535")]
    Port,
}

impl FromStr for RelayUrl {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        let rest = s.strip_prefix("hush://").ok_or(UrlError::Scheme)?;
        let rest = rest.trim_end_matches('/');
        let (fpr, hostport) = rest.split_once('@').ok_or(UrlError::Shape)?;
        let fingerprint = Fingerprint::from_hex(fpr)?;
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, p) = v6.split_once("]:").ok_or(UrlError::Port)?;
            (h, p)
        } else {
            hostport.rsplit_once(':').ok_or(UrlError::Port)?
        };
        if host.is_empty() {
            return Err(UrlError::Shape);
        }
        let port: u16 = port.parse().map_err(|_| UrlError::Port)?;
        if port == 0 {
            return Err(UrlError::Port);
        }
        Ok(RelayUrl {
            fingerprint,
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for RelayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "hush://{}@[{}]:{}",
                self.fingerprint, self.host, self.port
            )
        } else {
            write!(f, "hush://{}@{}:{}", self.fingerprint, self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        let f = "ab".repeat(32);
        let u: RelayUrl = format!("hush://{f}@127.0.0.1:4433").parse().unwrap();
        assert_eq!(u.port, 4433);
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.to_string(), format!("hush://{f}@127.0.0.1:4433"));
        let v6: RelayUrl = format!("hush://{f}@[::1]:9").parse().unwrap();
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.to_string(), format!("hush://{f}@[::1]:9"));
        assert_eq!("http://x".parse::<RelayUrl>(), Err(UrlError::Scheme));
        assert!(format!("hush://{f}@host").parse::<RelayUrl>().is_err());
        assert!("hush://abc@host:1".parse::<RelayUrl>().is_err());
        assert!(format!("hush://{f}@host:0").parse::<RelayUrl>().is_err());
    }
}
