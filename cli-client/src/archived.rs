//! Sessions set aside after a rollback (see `generation.rs`): they may still decrypt
//! messages a peer sent on them before it learned of the new session, but never encrypt.

use anyhow::{Context, Result};
use hush_protocol::{IdentityPublicKey, Session};

use crate::state::{Secret, State, fpr};

/// Tries the archived sessions with `peer`, newest first. On success the session that
/// decrypted is updated in place (it stays archived) and the plaintext returned; `None` when
/// none of them decrypts (or there are none). Does not save.
pub fn decrypt(
    state: &mut State,
    peer: &IdentityPublicKey,
    payload: &[u8],
) -> Result<Option<Vec<u8>>> {
    let Some(list) = state.archived_sessions.get_mut(&fpr(peer)) else {
        return Ok(None);
    };
    let mut rng = rand::rng();
    for slot in list.iter_mut().rev() {
        let mut s = Session::from_bytes(&slot.0).context("archived session is corrupt")?;
        if let Ok(pt) = s.decrypt(&mut rng, payload) {
            *slot = Secret::new(s.to_bytes());
            return Ok(Some(pt));
        }
    }
    Ok(None)
}
