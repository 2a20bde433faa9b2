//! Which handshake started the current 1:1 session with a contact: PQXDH (post-quantum,
//! `spec/pqxdh.md`) or X3DH. It is a property of the saved session itself
//! (`Session::is_post_quantum`), so it is remembered with the session and changes only when
//! a new session replaces it.

use crate::account::Account;
use crate::error::Error;
use crate::sessions::PeerSessions;
use crate::store::{Store, Table};

/// The key agreement that started a 1:1 session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handshake {
    /// X3DH: classical only (the peer's bundle offered no KEM prekey).
    X3dh,
    /// PQXDH: X3DH plus an ML-KEM-768 encapsulation.
    Pqxdh,
}

impl Handshake {
    /// `"PQXDH"` or `"X3DH"`, as the CLI shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Handshake::X3dh => "X3DH",
            Handshake::Pqxdh => "PQXDH",
        }
    }
}

impl std::fmt::Display for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: Store> Account<S> {
    /// The handshake of the current session with the contact `alias`; `None` when there is
    /// no current session (none yet, or set aside after a rollback).
    pub fn session_handshake(&self, alias: &str) -> Result<Option<Handshake>, Error> {
        let c = self.contact(alias)?;
        let Some(b) = self
            .store
            .get(Table::Sessions, &c.card.identity.fingerprint().0)?
        else {
            return Ok(None);
        };
        Ok(PeerSessions::decode(&b)?.current.map(|s| {
            if s.is_post_quantum() {
                Handshake::Pqxdh
            } else {
                Handshake::X3dh
            }
        }))
    }
}
