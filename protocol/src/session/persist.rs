//! Saving and loading a session: protobuf `hush.state.v1.SessionState`.

use prost::Message;
use zeroize::{Zeroize, Zeroizing};

use super::{PendingKem, PendingPreKey, SESSION_STATE_VERSION, Session, SessionConfig};
use crate::identity::IdentityPublicKey;
use crate::proto::{key32, opt_key32, state, wire};
use crate::ratchet::chain_key::ChainKey;
use crate::ratchet::header_key::HeaderKey;
use crate::ratchet::message_key::MessageKey;
use crate::ratchet::ratchet_key::RatchetKeyPair;
use crate::ratchet::root_key::RootKey;
use crate::ratchet::skipped_keys::{ChainId, SkippedKey, SkippedKeys};
use crate::ratchet::{DoubleRatchet, HeaderKeys};
use crate::{Error, Result};

impl Session {
    /// Serializes the whole session (secrets included) as versioned protobuf
    /// `hush.state.v1.SessionState`. Encrypt it at rest.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let r = &self.ratchet;
        let hk = r.header_keys.as_ref();
        let key = |k: Option<&HeaderKey>| k.map(|k| k.as_bytes().to_vec()).unwrap_or_default();
        let mut st = state::SessionState {
            version: SESSION_STATE_VERSION,
            local_identity: Some(self.local.to_proto()),
            remote_identity: Some(self.remote.to_proto()),
            initiator: self.initiator,
            base_key: self.base_key.to_vec(),
            pending_prekey: self.pending.as_ref().map(|p| state::PendingPreKeyState {
                base_key: self.base_key.to_vec(),
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                kem_prekey_id: p.kem.as_ref().map(|k| k.kem_prekey_id),
                kem_ciphertext: p
                    .kem
                    .as_ref()
                    .map(|k| k.ciphertext.clone())
                    .unwrap_or_default(),
            }),
            root_key: r.root.as_bytes().to_vec(),
            dh_self_secret: r.dh_self.secret_bytes().to_vec(),
            dh_remote: r.dh_remote.map(|k| k.to_vec()).unwrap_or_default(),
            sending_chain_key: r
                .send
                .as_ref()
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default(),
            receiving_chain_key: r
                .recv
                .as_ref()
                .map(|c| c.as_bytes().to_vec())
                .unwrap_or_default(),
            ns: r.ns,
            nr: r.nr,
            pn: r.pn,
            header_encryption: hk.is_some(),
            header_key_send: key(hk.and_then(|h| h.send.as_ref())),
            header_key_recv: key(hk.and_then(|h| h.recv.as_ref())),
            next_header_key_send: key(hk.map(|h| &h.next_send)),
            next_header_key_recv: key(hk.map(|h| &h.next_recv)),
            skipped: r
                .skipped
                .iter()
                .map(|k| state::SkippedKeyState {
                    chain_id: k.chain.0.to_vec(),
                    n: k.n,
                    message_key: k.key.as_bytes().to_vec(),
                })
                .collect(),
            max_skip: r.limits.max_skip,
            max_skipped_total: r.limits.max_skipped_total,
            pqxdh_binding: self.kem_binding.map(|k| k.to_vec()).unwrap_or_default(),
        };
        let out = Zeroizing::new(st.encode_to_vec());
        wipe_session_state(&mut st);
        out
    }

    /// Restores a session written by [`Session::to_bytes`]. A wrong, truncated or
    /// inconsistent blob is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut st =
            state::SessionState::decode(bytes).map_err(|_| Error::Malformed("session state"))?;
        let result = Self::from_state(&st);
        wipe_session_state(&mut st);
        result
    }

    fn from_state(st: &state::SessionState) -> Result<Self> {
        if st.version != SESSION_STATE_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "session state",
                version: st.version,
            });
        }
        // Both identities were verified when the session was made. The state is the caller's
        // own, as trusted as the secret keys in it, so loading decodes them without checking
        // their binding signatures again (two Ed25519 verifications per load otherwise).
        let identity = |p: &Option<wire::IdentityPublicKey>| {
            IdentityPublicKey::from_proto_endorsed(
                p.as_ref().ok_or(Error::Malformed("session state"))?,
            )
        };
        let limits = SessionConfig {
            max_skip: st.max_skip,
            max_skipped_total: st.max_skipped_total,
            header_encryption: st.header_encryption,
        }
        .limits()?;
        let header_keys = if st.header_encryption {
            let opt = |b: &[u8]| -> Result<Option<HeaderKey>> {
                Ok(opt_key32(b, "header")?.map(HeaderKey::new))
            };
            Some(HeaderKeys {
                send: opt(&st.header_key_send)?,
                recv: opt(&st.header_key_recv)?,
                next_send: HeaderKey::new(key32(&st.next_header_key_send, "header")?),
                next_recv: HeaderKey::new(key32(&st.next_header_key_recv, "header")?),
            })
        } else {
            None
        };
        let mut skipped_vec = Vec::with_capacity(st.skipped.len());
        for k in &st.skipped {
            skipped_vec.push(SkippedKey {
                chain: ChainId(key32(&k.chain_id, "skipped chain")?),
                n: k.n,
                key: MessageKey::new(key32(&k.message_key, "message")?),
            });
        }
        if skipped_vec.len() > limits.max_skipped_total as usize {
            return Err(Error::Malformed("session state: too many skipped keys"));
        }
        let mut skipped = SkippedKeys::default();
        skipped.extend(skipped_vec, limits.max_skipped_total as usize);
        let ratchet = DoubleRatchet {
            root: RootKey::new(key32(&st.root_key, "root")?),
            dh_self: RatchetKeyPair::from_secret_bytes(key32(&st.dh_self_secret, "ratchet")?),
            dh_remote: opt_key32(&st.dh_remote, "ratchet")?,
            send: opt_key32(&st.sending_chain_key, "chain")?.map(ChainKey::new),
            recv: opt_key32(&st.receiving_chain_key, "chain")?.map(ChainKey::new),
            ns: st.ns,
            nr: st.nr,
            pn: st.pn,
            header_keys,
            skipped,
            limits,
        };
        let base_key = key32(&st.base_key, "base")?;
        let pending = match &st.pending_prekey {
            Some(p) if st.initiator => Some(PendingPreKey {
                signed_prekey_id: p.signed_prekey_id,
                one_time_prekey_id: p.one_time_prekey_id,
                kem: match (p.kem_prekey_id, p.kem_ciphertext.is_empty()) {
                    (Some(kem_prekey_id), false) => Some(PendingKem {
                        kem_prekey_id,
                        ciphertext: p.kem_ciphertext.clone(),
                    }),
                    (None, true) => None,
                    _ => return Err(Error::Malformed("session state: pending KEM prekey")),
                },
            }),
            Some(_) => {
                return Err(Error::Malformed(
                    "session state: responder with pending prekey",
                ));
            }
            None => None,
        };
        if st.initiator && ratchet.send.is_none() {
            return Err(Error::Malformed(
                "session state: initiator without sending chain",
            ));
        }
        Ok(Self {
            local: identity(&st.local_identity)?,
            remote: identity(&st.remote_identity)?,
            initiator: st.initiator,
            base_key,
            kem_binding: opt_key32(&st.pqxdh_binding, "KEM binding")?,
            pending,
            ratchet,
        })
    }
}

fn wipe_session_state(st: &mut state::SessionState) {
    st.root_key.zeroize();
    st.dh_self_secret.zeroize();
    st.sending_chain_key.zeroize();
    st.receiving_chain_key.zeroize();
    st.header_key_send.zeroize();
    st.header_key_recv.zeroize();
    st.next_header_key_send.zeroize();
    st.next_header_key_recv.zeroize();
    for k in &mut st.skipped {
        k.chain_id.zeroize();
        k.message_key.zeroize();
    }
}
