//! 1:1 sessions with one peer, kept as one record (table `sessions`, key = the peer's
//! identity fingerprint): the current session and the ones it replaced.
//!
//! When both people start a session at once, each side ends up with two: the one it started
//! and the one the other started. Messages may arrive on either, so a replaced session is
//! kept (at most [`MAX_PREVIOUS`]) and still decrypts; the one that decrypts becomes current
//! again, so both sides settle on one session.

use crate::error::Error;
use crate::records::SessionsRecord;
use hush_protocol::{CryptoRng, Session};
use prost::Message;
use zeroize::Zeroizing;

/// Replaced sessions kept per peer.
pub const MAX_PREVIOUS: usize = 4;
/// Sessions set aside after a rollback kept per peer (decrypt only).
pub const MAX_ARCHIVED: usize = 4;

/// The sessions with one peer.
#[derive(Default)]
pub(crate) struct PeerSessions {
    pub(crate) current: Option<Session>,
    previous: Vec<Session>,
    archived: Vec<Session>,
}

impl PeerSessions {
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let rec = SessionsRecord::decode(bytes).map_err(|_| Error::Corrupt("sessions"))?;
        let s = |b: &Vec<u8>| Session::from_bytes(b).map_err(|_| Error::Corrupt("session"));
        Ok(Self {
            current: if rec.current.is_empty() {
                None
            } else {
                Some(s(&rec.current)?)
            },
            previous: rec.previous.iter().map(s).collect::<Result<_, _>>()?,
            archived: rec.archived.iter().map(s).collect::<Result<_, _>>()?,
        })
    }

    pub(crate) fn encode(&self) -> Zeroizing<Vec<u8>> {
        let rec = SessionsRecord {
            current: self
                .current
                .as_ref()
                .map(|s| s.to_bytes().to_vec())
                .unwrap_or_default(),
            previous: self
                .previous
                .iter()
                .map(|s| s.to_bytes().to_vec())
                .collect(),
            archived: self
                .archived
                .iter()
                .map(|s| s.to_bytes().to_vec())
                .collect(),
        };
        Zeroizing::new(rec.encode_to_vec())
    }

    /// Decrypts with the current session, then with the replaced ones (newest first); one of
    /// those that decrypts becomes current. `Err` with the current session's error (or `None`
    /// when there is no session) if none does; the sessions are unchanged then.
    pub(crate) fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        payload: &[u8],
    ) -> Result<Vec<u8>, Option<hush_protocol::Error>> {
        let mut why = None;
        if let Some(s) = self.current.as_mut() {
            match s.decrypt(rng, payload) {
                Ok(pt) => return Ok(pt),
                Err(e) => why = Some(e),
            }
        }
        for i in (0..self.previous.len()).rev() {
            if let Ok(pt) = self.previous[i].decrypt(rng, payload) {
                let s = self.previous.remove(i);
                self.replace(s);
                return Ok(pt);
            }
        }
        // Set aside after a rollback: decrypts a late message, stays aside.
        for s in self.archived.iter_mut().rev() {
            if let Ok(pt) = s.decrypt(rng, payload) {
                return Ok(pt);
            }
        }
        Err(why)
    }

    /// Sets every session aside (after a rollback): none is sent on again, the next message
    /// starts a new one. Returns whether there was any.
    pub(crate) fn set_aside(&mut self) -> bool {
        let mut moved = std::mem::take(&mut self.previous);
        moved.extend(self.current.take());
        let any = !moved.is_empty();
        self.archived.extend(moved);
        while self.archived.len() > MAX_ARCHIVED {
            self.archived.remove(0);
        }
        any
    }

    /// Makes `session` current; the one it replaces is kept as a previous one.
    pub(crate) fn replace(&mut self, session: Session) {
        if let Some(old) = self.current.replace(session) {
            self.previous.push(old);
            while self.previous.len() > MAX_PREVIOUS {
                self.previous.remove(0);
            }
        }
    }
}
