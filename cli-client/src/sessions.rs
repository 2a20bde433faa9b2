//! Which 1:1 session with a peer decrypts and which one encrypts.
//!
//! When both people start a session at the same time (each sends a first message before
//! reading the other's), each one's `Session::respond` replaces its own session by the
//! peer's, and each then sends on a session the other has just replaced. So a replaced
//! session is not dropped: it is kept as a *previous* session (up to
//! [`MAX_PREVIOUS`] per peer) that still decrypts, and the session that last decrypted a
//! message becomes the one to encrypt with. After one message each way both sides use the
//! same session again. (Signal's session records do the same.) Unlike the sessions set aside
//! after a rollback (`archived.rs`), previous sessions are up to date, so sending on one again
//! reuses no key.

use anyhow::{Context, Result};
use hush_protocol::{IdentityPublicKey, Session};

use crate::state::{State, fpr};

/// Most previous sessions kept per peer (the oldest go first).
pub const MAX_PREVIOUS: usize = 4;

/// What [`decrypt`] found.
pub enum Attempt {
    /// A session decrypted the message.
    Plaintext(Vec<u8>),
    /// None did: why the current session refused it, or `None` when there is none.
    Failed(Option<hush_protocol::Error>),
}

/// Tries the current session with `peer`, then its previous ones, newest first. A previous
/// session that decrypts becomes the current one (the current one moves to the previous
/// list). Does not save.
pub fn decrypt(state: &mut State, peer: &IdentityPublicKey, payload: &[u8]) -> Result<Attempt> {
    let mut rng = rand::rng();
    let mut why = None;
    if let Some(mut s) = state.session(peer)? {
        match s.decrypt(&mut rng, payload) {
            Ok(pt) => {
                state.set_session(&s);
                return Ok(Attempt::Plaintext(pt));
            }
            Err(e) => why = Some(e),
        }
    }
    let key = fpr(peer);
    let Some(list) = state.previous_sessions.get_mut(&key) else {
        return Ok(Attempt::Failed(why));
    };
    for i in (0..list.len()).rev() {
        let mut s = Session::from_bytes(&list[i].0).context("previous session is corrupt")?;
        if let Ok(pt) = s.decrypt(&mut rng, payload) {
            list.remove(i);
            replace(state, &s);
            return Ok(Attempt::Plaintext(pt));
        }
    }
    Ok(Attempt::Failed(why))
}

/// Makes `session` the current one with its peer; the session it replaces (if any) is kept
/// as the newest previous one.
pub fn replace(state: &mut State, session: &Session) {
    let key = fpr(session.remote_identity());
    if let Some(old) = state.sessions.remove(&key) {
        let list = state.previous_sessions.entry(key).or_default();
        list.push(old);
        while list.len() > MAX_PREVIOUS {
            list.remove(0);
        }
    }
    state.set_session(session);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Secret;
    use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, SessionConfig};

    fn state_of(id: &IdentityKeyPair) -> State {
        let mut s: State = serde_json::from_value(serde_json::json!({
            "version": 1, "name": "t", "relay": "r", "identity": "", "mailbox_key": "",
            "prekeys": "", "group_client": ""
        }))
        .unwrap();
        s.identity = Secret::new(id.to_bytes());
        s
    }

    struct Peer {
        id: IdentityKeyPair,
        store: PreKeyStore,
        state: State,
    }

    impl Peer {
        fn new() -> Self {
            let id = IdentityKeyPair::generate(&mut rand::rng());
            let mut store = PreKeyStore::new();
            store.rotate_signed_prekey(&mut rand::rng(), &id);
            let state = state_of(&id);
            Peer { id, store, state }
        }

        fn bundle(&mut self) -> PreKeyBundle {
            let spk = self.store.current_signed_prekey(&self.id).unwrap();
            let otk = self
                .store
                .generate_one_time_prekeys(&mut rand::rng(), 1)
                .remove(0);
            PreKeyBundle::new(spk, Some(otk))
        }

        fn send(
            &mut self,
            to: &IdentityPublicKey,
            bundle: Option<PreKeyBundle>,
            text: &[u8],
        ) -> Vec<u8> {
            let mut s = match self.state.session(to).unwrap() {
                Some(s) => s,
                None => Session::initiate(
                    &mut rand::rng(),
                    &self.id,
                    &bundle.unwrap(),
                    SessionConfig::default(),
                )
                .unwrap(),
            };
            let m = s.encrypt(&mut rand::rng(), text).unwrap();
            self.state.set_session(&s);
            m
        }

        /// What the engine does with a message from `from`.
        fn receive(&mut self, from: &IdentityPublicKey, m: &[u8]) -> Option<Vec<u8>> {
            if let Attempt::Plaintext(pt) = decrypt(&mut self.state, from, m).unwrap() {
                return Some(pt);
            }
            let (s, pt) = Session::respond(
                &mut rand::rng(),
                &self.id,
                &mut self.store,
                m,
                SessionConfig::default(),
            )
            .ok()?;
            replace(&mut self.state, &s);
            Some(pt)
        }
    }

    #[test]
    fn simultaneous_starts_lose_nothing_and_converge() {
        let mut a = Peer::new();
        let mut b = Peer::new();
        let (ia, ib) = (a.id.public().clone(), b.id.public().clone());
        let (ba, bb) = (a.bundle(), b.bundle());
        // Both start at once.
        let w1 = b.send(&ia, Some(ba), b"w1");
        let p1 = a.send(&ib, Some(bb), b"p1");
        assert_eq!(b.receive(&ia, &p1).as_deref(), Some(&b"p1"[..]));
        let w2 = b.send(&ia, None, b"w2");
        let p2 = a.send(&ib, None, b"p2");
        assert_eq!(a.receive(&ib, &w1).as_deref(), Some(&b"w1"[..]));
        assert_eq!(a.receive(&ib, &w2).as_deref(), Some(&b"w2"[..]));
        assert_eq!(b.receive(&ia, &p2).as_deref(), Some(&b"p2"[..]));
        // From here on both use one session: each message decrypts with the current one.
        for i in 0..3u8 {
            let m = a.send(&ib, None, &[i]);
            let mut cur = b.state.session(&ia).unwrap().unwrap();
            assert!(
                cur.decrypt(&mut rand::rng(), &m).is_ok(),
                "b's current session"
            );
            assert_eq!(b.receive(&ia, &m), Some(vec![i]));
            let m = b.send(&ia, None, &[i + 10]);
            let mut cur = a.state.session(&ib).unwrap().unwrap();
            assert!(
                cur.decrypt(&mut rand::rng(), &m).is_ok(),
                "a's current session"
            );
            assert_eq!(a.receive(&ib, &m), Some(vec![i + 10]));
        }
    }

    #[test]
    fn previous_sessions_are_bounded() {
        let mut a = Peer::new();
        let mut b = Peer::new();
        let ia = a.id.public().clone();
        for _ in 0..(MAX_PREVIOUS + 3) {
            let bundle = b.bundle();
            // A fresh session each round: a forgets b's state and starts again.
            a.state.sessions.clear();
            let m = a.send(&b.id.public().clone(), Some(bundle), b"x");
            assert!(b.receive(&ia, &m).is_some());
        }
        assert_eq!(b.state.previous_sessions[&fpr(&ia)].len(), MAX_PREVIOUS);
    }
}
