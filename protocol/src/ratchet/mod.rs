//! The Double Ratchet (Signal's specification, with its recommended algorithms and the
//! optional header encryption variant).
//!
//! Every receive is computed on staged values and committed only once the message has been
//! authenticated: a failed decrypt never changes the state.

pub(crate) mod chain_key;
pub(crate) mod header;
pub(crate) mod header_key;
pub(crate) mod message_key;
pub(crate) mod ratchet_key;
pub(crate) mod root_key;
pub(crate) mod skipped_keys;

use rand_core::CryptoRng;

use self::chain_key::ChainKey;
use self::header::Header;
use self::header_key::HeaderKey;
use self::ratchet_key::RatchetKeyPair;
use self::root_key::RootKey;
use self::skipped_keys::{ChainId, SkippedKey, SkippedKeys};
use crate::trace::Trace;
use crate::{Error, Result};

/// Bounds on skipped message keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most keys skipped in one chain by one message (`MAX_SKIP`).
    pub(crate) max_skip: u32,
    /// Most skipped keys held in total; the oldest are evicted past it.
    pub(crate) max_skipped_total: u32,
}

/// Header keys of a session with header encryption.
#[derive(Clone)]
pub(crate) struct HeaderKeys {
    pub(crate) send: Option<HeaderKey>,
    pub(crate) recv: Option<HeaderKey>,
    pub(crate) next_send: HeaderKey,
    pub(crate) next_recv: HeaderKey,
}

/// The Double Ratchet state of one session.
pub(crate) struct DoubleRatchet {
    pub(crate) root: RootKey,
    pub(crate) dh_self: RatchetKeyPair,
    pub(crate) dh_remote: Option<[u8; 32]>,
    pub(crate) send: Option<ChainKey>,
    pub(crate) recv: Option<ChainKey>,
    pub(crate) ns: u32,
    pub(crate) nr: u32,
    pub(crate) pn: u32,
    pub(crate) header_keys: Option<HeaderKeys>,
    pub(crate) skipped: SkippedKeys,
    pub(crate) limits: Limits,
}

/// A receive that has authenticated, not yet applied to the state.
struct Staged {
    plaintext: Vec<u8>,
    change: Change,
}

enum Change {
    /// A key from the skipped store was used.
    UsedSkipped { chain: [u8; 32], n: u32 },
    /// The current receiving chain advanced.
    Advance {
        recv: ChainKey,
        nr: u32,
        skipped: Vec<SkippedKey>,
    },
    /// A DH ratchet step happened.
    Step(Box<StepState>),
}

struct StepState {
    root: RootKey,
    dh_self: RatchetKeyPair,
    dh_remote: [u8; 32],
    send: ChainKey,
    recv: ChainKey,
    nr: u32,
    header_keys: Option<HeaderKeys>,
    skipped: Vec<SkippedKey>,
}

impl DoubleRatchet {
    /// `RatchetInitAlice` (and `RatchetInitAliceHE`): the initiator knows the responder's
    /// ratchet key (its signed prekey) and can send at once.
    pub(crate) fn init_initiator<R: CryptoRng + ?Sized>(
        rng: &mut R,
        shared_key: [u8; 32],
        remote_ratchet_key: [u8; 32],
        header_keys: Option<(HeaderKey, HeaderKey)>,
        limits: Limits,
        trace: &mut Trace,
    ) -> Result<Self> {
        let dh_self = RatchetKeyPair::generate(rng);
        trace.record("ratchet_private_key", dh_self.secret_bytes().as_ref());
        trace.record("ratchet_public_key", &dh_self.public());
        let dh_out = dh_self.dh(&remote_ratchet_key)?;
        trace.record("dh_output", dh_out.as_ref());
        let step = RootKey::new(shared_key).kdf(&dh_out, header_keys.is_some(), trace);
        let header_keys = match (header_keys, step.next_header_key) {
            (Some((hka, nhkb)), Some(nhks)) => Some(HeaderKeys {
                send: Some(hka),
                recv: None,
                next_send: nhks,
                next_recv: nhkb,
            }),
            _ => None,
        };
        Ok(Self {
            root: step.root,
            dh_self,
            dh_remote: Some(remote_ratchet_key),
            send: Some(step.chain),
            recv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            header_keys,
            skipped: SkippedKeys::default(),
            limits,
        })
    }

    /// `RatchetInitBob` (and `RatchetInitBobHE`): the responder's first ratchet key is its
    /// signed prekey; it can send only after receiving.
    pub(crate) fn init_responder(
        shared_key: [u8; 32],
        own_ratchet_key: RatchetKeyPair,
        header_keys: Option<(HeaderKey, HeaderKey)>,
        limits: Limits,
    ) -> Self {
        Self {
            root: RootKey::new(shared_key),
            dh_self: own_ratchet_key,
            dh_remote: None,
            send: None,
            recv: None,
            ns: 0,
            nr: 0,
            pn: 0,
            header_keys: header_keys.map(|(hka, nhkb)| HeaderKeys {
                send: None,
                recv: None,
                next_send: nhkb,
                next_recv: hka,
            }),
            skipped: SkippedKeys::default(),
            limits,
        }
    }

    /// `RatchetEncrypt`: returns the header field (plain or encrypted) and the ciphertext.
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let chain = self.send.as_ref().ok_or(Error::NoSendingChain)?;
        let next_ns = self.ns.checked_add(1).ok_or(Error::CounterOverflow)?;
        trace.record("chain_key", chain.as_bytes());
        let mk = chain.message_key();
        let next = chain.next();
        let header = Header {
            dh: self.dh_self.public(),
            pn: self.pn,
            n: self.ns,
        };
        trace.record("header", &header.encode());
        let header_field = match &self.header_keys {
            None => header.encode().to_vec(),
            Some(hk) => hk
                .send
                .as_ref()
                .ok_or(Error::NoSendingChain)?
                .encrypt(rng, &header, trace),
        };
        let mut full_ad = Vec::with_capacity(ad.len() + header_field.len());
        full_ad.extend_from_slice(ad);
        full_ad.extend_from_slice(&header_field);
        let ct = mk.encrypt(plaintext, &full_ad, trace);
        self.send = Some(next);
        self.ns = next_ns;
        Ok((header_field, ct))
    }

    /// `RatchetDecrypt` (and `RatchetDecryptHE`). On error the state is unchanged.
    pub(crate) fn decrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        header_field: &[u8],
        ciphertext: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Vec<u8>> {
        let mut full_ad = Vec::with_capacity(ad.len() + header_field.len());
        full_ad.extend_from_slice(ad);
        full_ad.extend_from_slice(header_field);
        let staged = if self.header_keys.is_some() {
            self.stage_encrypted(rng, header_field, ciphertext, &full_ad, trace)?
        } else {
            self.stage_plain(rng, header_field, ciphertext, &full_ad, trace)?
        };
        self.commit(staged.change);
        Ok(staged.plaintext)
    }

    fn stage_plain<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        header_field: &[u8],
        ct: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Staged> {
        let h = Header::decode(header_field)?;
        trace.record("header", header_field);
        if self.dh_remote == Some(h.dh) && h.n >= self.nr {
            return self.stage_current_chain(&h.dh, &h, ct, ad, trace);
        }
        if let Some(st) = self.try_skipped(&h.dh, &h, ct, ad, trace)? {
            return Ok(st);
        }
        if self.dh_remote == Some(h.dh) {
            return Err(Error::DuplicateMessage);
        }
        self.stage_step(rng, &h, None, ct, ad, trace)
    }

    fn stage_encrypted<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        header_field: &[u8],
        ct: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Staged> {
        let Some(hk) = self.header_keys.as_ref() else {
            return Err(Error::HeaderDecryptionFailed);
        };
        if let Some(recv) = &hk.recv
            && let Some(h) = recv.decrypt(header_field)
        {
            trace.record("header", &h.encode());
            if h.n >= self.nr {
                return self.stage_current_chain(recv.as_bytes(), &h, ct, ad, trace);
            }
            return self
                .try_skipped(recv.as_bytes(), &h, ct, ad, trace)?
                .ok_or(Error::DuplicateMessage);
        }
        for chain in self.skipped.chains() {
            if hk.recv.as_ref().is_some_and(|r| chain.is(r.as_bytes())) {
                continue;
            }
            if let Some(h) = HeaderKey::new(chain.0).decrypt(header_field) {
                trace.record("header", &h.encode());
                return self
                    .try_skipped(&chain.0, &h, ct, ad, trace)?
                    .ok_or(Error::DuplicateMessage);
            }
        }
        if let Some(h) = hk.next_recv.decrypt(header_field) {
            trace.record("header", &h.encode());
            return self.stage_step(rng, &h, Some(hk), ct, ad, trace);
        }
        Err(Error::HeaderDecryptionFailed)
    }

    fn try_skipped(
        &self,
        chain: &[u8; 32],
        h: &Header,
        ct: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Option<Staged>> {
        let Some(mk) = self.skipped.get(chain, h.n) else {
            return Ok(None);
        };
        let plaintext = mk.decrypt(ct, ad, trace)?;
        Ok(Some(Staged {
            plaintext,
            change: Change::UsedSkipped {
                chain: *chain,
                n: h.n,
            },
        }))
    }

    /// Derives the keys of `chain` from message number `from` up to `until` (exclusive) as
    /// skipped keys; returns the chain key at `until`.
    fn skip(
        &self,
        chain_id: &[u8; 32],
        mut chain: ChainKey,
        from: u32,
        until: u32,
        out: &mut Vec<SkippedKey>,
    ) -> Result<ChainKey> {
        if until <= from {
            return Ok(chain);
        }
        let skip = u64::from(until - from);
        if skip > u64::from(self.limits.max_skip) {
            return Err(Error::TooFarAhead {
                skip,
                max_skip: self.limits.max_skip,
            });
        }
        for n in from..until {
            out.push(SkippedKey {
                chain: ChainId(*chain_id),
                n,
                key: chain.message_key(),
            });
            chain = chain.next();
        }
        Ok(chain)
    }

    fn stage_current_chain(
        &self,
        chain_id: &[u8; 32],
        h: &Header,
        ct: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Staged> {
        let recv = self.recv.clone().ok_or(Error::DuplicateMessage)?;
        let nr = h.n.checked_add(1).ok_or(Error::CounterOverflow)?;
        let mut skipped = Vec::new();
        let chain = self.skip(chain_id, recv, self.nr, h.n, &mut skipped)?;
        trace.record("chain_key", chain.as_bytes());
        let plaintext = chain.message_key().decrypt(ct, ad, trace)?;
        Ok(Staged {
            plaintext,
            change: Change::Advance {
                recv: chain.next(),
                nr,
                skipped,
            },
        })
    }

    /// `DHRatchet` (or `DHRatchetHE`) on staged values, then decryption in the new chain.
    fn stage_step<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        h: &Header,
        header_keys: Option<&HeaderKeys>,
        ct: &[u8],
        ad: &[u8],
        trace: &mut Trace,
    ) -> Result<Staged> {
        let nr = h.n.checked_add(1).ok_or(Error::CounterOverflow)?;
        let mut skipped = Vec::new();
        // Skip what is left of the current receiving chain (`SkipMessageKeys(state, header.pn)`).
        if let Some(recv) = self.recv.clone() {
            let old_id = match (header_keys, self.dh_remote) {
                (Some(hk), _) => hk.recv.as_ref().map(|k| *k.as_bytes()),
                (None, remote) => remote,
            };
            if let Some(old_id) = old_id {
                self.skip(&old_id, recv, self.nr, h.pn, &mut skipped)?;
            }
        }
        if u64::from(h.n) > u64::from(self.limits.max_skip) {
            return Err(Error::TooFarAhead {
                skip: u64::from(h.n),
                max_skip: self.limits.max_skip,
            });
        }
        let he = header_keys.is_some();
        trace.record("remote_ratchet_public_key", &h.dh);
        let dh_recv = self.dh_self.dh(&h.dh)?;
        trace.record("dh_output", dh_recv.as_ref());
        let recv_step = self.root.kdf(&dh_recv, he, trace);
        let dh_self = RatchetKeyPair::generate(rng);
        trace.record("ratchet_private_key", dh_self.secret_bytes().as_ref());
        trace.record("ratchet_public_key", &dh_self.public());
        let dh_send = dh_self.dh(&h.dh)?;
        trace.record("dh_output", dh_send.as_ref());
        let send_step = recv_step.root.kdf(&dh_send, he, trace);
        let new_header_keys = match (
            header_keys,
            recv_step.next_header_key,
            send_step.next_header_key,
        ) {
            (Some(hk), Some(next_recv), Some(next_send)) => Some(HeaderKeys {
                send: Some(hk.next_send.clone()),
                recv: Some(hk.next_recv.clone()),
                next_send,
                next_recv,
            }),
            _ => None,
        };
        let chain_id = match &new_header_keys {
            Some(hk) => *hk.recv.as_ref().map_or(&[0u8; 32], HeaderKey::as_bytes),
            None => h.dh,
        };
        let chain = self.skip(&chain_id, recv_step.chain.clone(), 0, h.n, &mut skipped)?;
        trace.record("chain_key", chain.as_bytes());
        let plaintext = chain.message_key().decrypt(ct, ad, trace)?;
        Ok(Staged {
            plaintext,
            change: Change::Step(Box::new(StepState {
                root: send_step.root.clone(),
                dh_self,
                dh_remote: h.dh,
                send: send_step.chain.clone(),
                recv: chain.next(),
                nr,
                header_keys: new_header_keys,
                skipped,
            })),
        })
    }

    fn commit(&mut self, change: Change) {
        let max_total = self.limits.max_skipped_total as usize;
        match change {
            Change::UsedSkipped { chain, n } => self.skipped.remove(&chain, n),
            Change::Advance { recv, nr, skipped } => {
                self.skipped.extend(skipped, max_total);
                self.recv = Some(recv);
                self.nr = nr;
            }
            Change::Step(step) => {
                let StepState {
                    root,
                    dh_self,
                    dh_remote,
                    send,
                    recv,
                    nr,
                    header_keys,
                    skipped,
                } = *step;
                self.skipped.extend(skipped, max_total);
                self.pn = self.ns;
                self.ns = 0;
                self.nr = nr;
                self.dh_remote = Some(dh_remote);
                self.dh_self = dh_self;
                self.root = root;
                self.send = Some(send);
                self.recv = Some(recv);
                if header_keys.is_some() {
                    self.header_keys = header_keys;
                }
            }
        }
    }
}
