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

/// Where clients reach the relay, as an operator configures it (`public_address`): `HOST:PORT`,
/// `[IPv6]:PORT`, or a host alone (then the port is the one the relay listens on). The relay
/// prints it in its `hush://` address instead of the bound socket address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port; `None` means the listening port.
    pub port: Option<u16>,
}

impl FromStr for PublicAddress {
    type Err = UrlError;

    fn from_str(s: &str) -> Result<Self, UrlError> {
        let s = s.trim();
        let (host, port) = if let Some(v6) = s.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, "")) => (h, None),
                Some((h, rest)) => (h, Some(rest.strip_prefix(':').ok_or(UrlError::Port)?)),
                None => return Err(UrlError::Shape),
            }
        } else if s.matches(':').count() > 1 {
            // A bare IPv6 address: no port (a port needs brackets).
            (s, None)
        } else {
            match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            }
        };
        if host.is_empty() || host.contains(['/', '@', ' ']) {
            return Err(UrlError::Shape);
        }
        let port = match port {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(UrlError::Port),
                Ok(p) => Some(p),
            },
        };
        Ok(PublicAddress {
            host: host.to_string(),
            port,
        })
    }
}

/// The address a relay prints, and a warning when it is probably not usable by clients.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announced {
    /// The `hush://` address to print.
    pub url: RelayUrl,
    /// Set when the relay listens on an unspecified address (`0.0.0.0`, `::`) and no public
    /// address was configured: the printed address then uses the loopback address.
    pub warning: Option<String>,
}

impl RelayUrl {
    /// The address a relay listening on `bound` announces: `public` when configured; else the
    /// bound address, with the loopback address in place of an unspecified one (and a warning).
    pub fn announced(
        fingerprint: Fingerprint,
        bound: std::net::SocketAddr,
        public: Option<&PublicAddress>,
    ) -> Announced {
        if let Some(p) = public {
            let url = RelayUrl {
                fingerprint,
                host: p.host.clone(),
                port: p.port.unwrap_or(bound.port()),
            };
            return Announced { url, warning: None };
        }
        let ip = bound.ip();
        if !ip.is_unspecified() {
            let url = RelayUrl {
                fingerprint,
                host: ip.to_string(),
                port: bound.port(),
            };
            return Announced { url, warning: None };
        }
        let loopback: std::net::IpAddr = if ip.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        let url = RelayUrl {
            fingerprint,
            host: loopback.to_string(),
            port: bound.port(),
        };
        let warning = format!(
            "listening on {bound} (every interface), so the printed address uses {loopback}, \
             which only this machine can reach; set public_address (--public-address \
             HOST[:PORT]) to the name or address clients use"
        );
        Announced {
            url,
            warning: Some(warning),
        }
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

    #[test]
    fn public_addresses_parse() {
        let p = |s: &str| s.parse::<PublicAddress>();
        let pa = |h: &str, port| PublicAddress {
            host: h.into(),
            port,
        };
        assert_eq!(
            p("relay.example.org:443"),
            Ok(pa("relay.example.org", Some(443)))
        );
        assert_eq!(p("relay.example.org"), Ok(pa("relay.example.org", None)));
        assert_eq!(p("192.0.2.7:4433"), Ok(pa("192.0.2.7", Some(4433))));
        assert_eq!(p("[2001:db8::7]:4433"), Ok(pa("2001:db8::7", Some(4433))));
        assert_eq!(p("[2001:db8::7]"), Ok(pa("2001:db8::7", None)));
        assert_eq!(p("2001:db8::7"), Ok(pa("2001:db8::7", None)));
        assert_eq!(p("host:0"), Err(UrlError::Port));
        assert_eq!(p("host:x"), Err(UrlError::Port));
        assert_eq!(p("host:"), Err(UrlError::Port));
        assert_eq!(p("[::1]x"), Err(UrlError::Port));
        assert_eq!(p(":4433"), Err(UrlError::Shape));
        assert_eq!(p("hush://x@y:1"), Err(UrlError::Shape));
    }

    #[test]
    fn announced_address() {
        let f = Fingerprint([7; 32]);
        let bound: std::net::SocketAddr = "0.0.0.0:4433".parse().unwrap();
        let a = RelayUrl::announced(f, bound, None);
        assert_eq!(a.url.to_string(), format!("hush://{f}@127.0.0.1:4433"));
        assert!(a.warning.unwrap().contains("--public-address"));
        let a = RelayUrl::announced(f, "[::]:9".parse().unwrap(), None);
        assert_eq!(a.url.to_string(), format!("hush://{f}@[::1]:9"));
        assert!(a.warning.is_some());
        let a = RelayUrl::announced(f, "192.0.2.1:5".parse().unwrap(), None);
        assert_eq!(a.url.to_string(), format!("hush://{f}@192.0.2.1:5"));
        assert_eq!(a.warning, None);
        let public: PublicAddress = "relay.example.org".parse().unwrap();
        let a = RelayUrl::announced(f, bound, Some(&public));
        assert_eq!(
            a.url.to_string(),
            format!("hush://{f}@relay.example.org:4433")
        );
        assert_eq!(a.warning, None);
        let public: PublicAddress = "[2001:db8::1]:443".parse().unwrap();
        let a = RelayUrl::announced(f, bound, Some(&public));
        assert_eq!(a.url.to_string(), format!("hush://{f}@[2001:db8::1]:443"));
    }
}
