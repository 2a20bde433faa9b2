//! One message to every device of a person (`spec/multi-device.md` §4.1): a session and an
//! envelope per device of the contact's list, a copy marked "sent" to each other device of
//! our own, and our device list attached wherever it has not been sent yet.
//!
//! The framing of a 1:1 plaintext (both tags start with `0xFF`, which never occurs in UTF-8,
//! so no text message is taken for one):
//! - `DEVICES_TAG ‖ u32 length (big-endian) ‖ SignedDeviceList ‖ 0x00` (the list alone) or
//!   `… ‖ 0x01 ‖ inner` (the list, then a message `inner`);
//! - `SENT_TAG ‖ recipient person's fingerprint (32) ‖ body`: a copy of a message sent from
//!   another device of the same person.

use super::Engine;
use super::outbox::new_entry;
use crate::card::Card;
use crate::contacts::Contact;
use crate::directory;
use crate::error::Error;
use crate::records::OutboxRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::devices::DeviceList;
use hush_protocol::envelope::{self, ContentKind};
use hush_protocol::{Fingerprint, IdentityPublicKey, Session, SessionConfig};
use hush_relay_client::{EnvelopeId, MailboxAddress};
use prost::Message;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

/// First bytes of a plaintext that carries the sender's device list.
pub(crate) const DEVICES_TAG: &[u8] = b"\xFFhush-devices-1";
/// First bytes of a plaintext that is a copy of a message sent from another own device.
pub(crate) const SENT_TAG: &[u8] = b"\xFFhush-sent-1";

/// What the outbox says an envelope to one of our own devices is for.
pub(crate) const OWN_DEVICE: &str = "(own device)";

/// `Table::Devices` key of a device's last announced counter of our list.
pub(crate) fn announced_key(device: &IdentityPublicKey) -> Vec<u8> {
    [b"announced:".as_slice(), &device.fingerprint().0].concat()
}

/// The plaintext carrying `list`, then `inner` if any.
pub(crate) fn with_list(list: &[u8], inner: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(
        DEVICES_TAG.len() + 5 + list.len() + inner.map_or(0, <[u8]>::len),
    ));
    out.extend_from_slice(DEVICES_TAG);
    // A list is at most MAX_DEVICE_LIST_LEN (32 KiB): its length fits in a u32.
    out.extend_from_slice(&(list.len() as u32).to_be_bytes());
    out.extend_from_slice(list);
    match inner {
        None => out.push(0),
        Some(b) => {
            out.push(1);
            out.extend_from_slice(b);
        }
    }
    out
}

/// The plaintext of a copy, for our other devices, of `body` sent to `to` (a person).
pub(crate) fn sent_copy(to: &Fingerprint, body: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(SENT_TAG.len() + 32 + body.len()));
    out.extend_from_slice(SENT_TAG);
    out.extend_from_slice(&to.0);
    out.extend_from_slice(body);
    out
}

fn malformed(why: &str) -> Error {
    Error::Invalid {
        what: "message framing",
        why: why.into(),
    }
}

/// A plaintext's parts: the device list it carries (if any) and the message (`None`: the
/// list alone).
pub(crate) type Framed<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// Splits a plaintext into the device list it carries (if any) and the message.
pub(crate) fn split_list(plain: &[u8]) -> Result<Framed<'_>, Error> {
    let Some(rest) = plain.strip_prefix(DEVICES_TAG) else {
        return Ok((None, Some(plain)));
    };
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("a device list without its length"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() <= len {
        return Err(malformed("a device list longer than the message"));
    }
    let (list, rest) = rest.split_at(len);
    match rest.split_first() {
        Some((0, [])) => Ok((Some(list), None)),
        Some((1, inner)) => Ok((Some(list), Some(inner))),
        _ => Err(malformed(
            "bytes after a device list alone, or an unknown flag",
        )),
    }
}

/// A copy's recipient and body, when `body` is a copy.
pub(crate) fn split_sent(body: &[u8]) -> Result<Option<(Fingerprint, &[u8])>, Error> {
    let Some(rest) = body.strip_prefix(SENT_TAG) else {
        return Ok(None);
    };
    let (to, body) = rest
        .split_first_chunk::<32>()
        .ok_or_else(|| malformed("a sent copy without its recipient"))?;
    Ok(Some((Fingerprint(*to), body)))
}

/// The card of a device on a list (how to reach it and fetch its keys), under `name`.
fn card_of(name: &str, d: &hush_protocol::devices::Device) -> Result<Card, Error> {
    Ok(Card {
        name: name.to_string(),
        identity: d.identity.clone(),
        mailbox: MailboxAddress::from_slice(&d.mailbox)
            .map_err(|_| Error::Corrupt("device list"))?,
        relay: d.relay.parse().map_err(|_| Error::Corrupt("device list"))?,
        directory: Some(d.directory_secret.clone()),
    })
}

/// What a send learns of the contact's PQXDH offer along the way (the sticky rule,
/// `spec/client.md` §3, applied to every device of theirs; our own devices always offer
/// it, as every engine publishes KEM prekeys).
pub(crate) struct Pqxdh {
    /// A bundle of theirs offered PQXDH before (or during this send).
    pub sticky: bool,
    /// This send learned it.
    pub learned: bool,
}

/// What every envelope of one send shares, read once per send: its random numbers, this
/// person's stored device list (`None`: one device, nothing to announce) and our card.
pub(crate) struct Sending {
    /// The send's random numbers (keys, nonces, envelope ids).
    pub rng: StdRng,
    /// This person's stored device list.
    pub list: Option<DeviceList>,
    reply_to: String,
}

/// One envelope of a send, ready for the outbox.
pub(crate) type Sealed = (EnvelopeId, OutboxRecord);

impl<S: Store> Engine<S> {
    /// The cards of a contact's devices: from the latest list of theirs that arrived, else
    /// their card (one device).
    pub(crate) fn device_cards(&self, contact: &Contact) -> Result<Vec<Card>, Error> {
        let Some(list) = self.contact_list(&contact.card.identity)? else {
            return Ok(vec![contact.card.clone()]);
        };
        list.devices()
            .map(|(_, d)| {
                if d.identity == contact.card.identity {
                    return Ok(contact.card.clone());
                }
                card_of(&contact.card.name, d)
            })
            .collect()
    }

    /// What the envelopes of a send share ([`Sending`]).
    pub(crate) fn sending(&mut self) -> Result<Sending, Error> {
        Ok(Sending {
            rng: self.child_rng(),
            list: self.stored_list()?,
            reply_to: self.account.card().encode()?,
        })
    }

    /// The cards of this person's other devices on `list` (none without a stored list).
    pub(crate) fn own_cards(&self, list: Option<&DeviceList>) -> Result<Vec<Card>, Error> {
        let Some(list) = list else {
            return Ok(Vec::new());
        };
        let me = self.account.identity();
        let name = self.account.name();
        list.devices()
            .filter(|(_, d)| d.identity != *me)
            .map(|(_, d)| card_of(name, d))
            .collect()
    }

    /// Encrypts for the device of `card` (a session from its directory when there is none)
    /// `body`, with our device list in front when that device has not been sent our current
    /// one or the session is new, and seals it. The session, the outbox entry and what was
    /// announced go into `batch`. `None`: `body` is `None` (a list alone) and the device has
    /// the list already. `pq`: the sticky PQXDH rule of the contact (not for own devices).
    pub(crate) async fn seal_for(
        &mut self,
        sending: &mut Sending,
        to: &str,
        card: &Card,
        body: Option<&[u8]>,
        pq: Option<&mut Pqxdh>,
        batch: &mut Batch,
    ) -> Result<Option<Sealed>, Error> {
        let mut sessions = self.sessions(&card.identity)?;
        let new_session = sessions.current.is_none();
        let announced = match self
            .account
            .store
            .get(Table::Devices, &announced_key(&card.identity))?
        {
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("announced counter"))?,
            ),
            None => 0,
        };
        let list = sending
            .list
            .as_ref()
            .filter(|l| new_session || announced < l.counter());
        if list.is_none() && body.is_none() {
            return Ok(None);
        }
        if new_session {
            let client = self.client(&card.relay).await?;
            let bundle = directory::fetch_bundle(client, to, card).await?;
            if bundle.identity() != &card.identity {
                return Err(Error::IdentityMismatch(to.to_string()));
            }
            if let Some(pq) = pq {
                let offers = bundle.kem_prekey().is_some() || bundle.signed_prekey().offers_pqxdh();
                if pq.sticky && !offers {
                    return Err(Error::PqxdhDowngrade(to.to_string()));
                }
                if offers && !pq.sticky {
                    pq.sticky = true;
                    pq.learned = true;
                }
            }
            let me = self.account.identity_key_pair();
            sessions.replace(Session::initiate(
                &mut sending.rng,
                me,
                &bundle,
                SessionConfig::default(),
            )?);
        }
        let plain = match (list, body) {
            (Some(l), inner) => {
                batch.put(
                    Table::Devices,
                    announced_key(&card.identity),
                    Zeroizing::new(l.counter().to_be_bytes().to_vec()),
                );
                with_list(l.to_bytes(), inner)
            }
            (None, Some(b)) => Zeroizing::new(b.to_vec()),
            (None, None) => return Ok(None),
        };
        let me = self.account.identity_key_pair();
        let session = sessions
            .current
            .as_mut()
            .ok_or(Error::Corrupt("sessions"))?;
        let message = session.encrypt(&mut sending.rng, &plain)?;
        let sealed = envelope::seal(
            &mut sending.rng,
            me,
            &card.identity,
            ContentKind::SessionMessage,
            &message,
            sending.reply_to.as_bytes(),
        )?;
        let (envelope_id, rec) = new_entry(
            &mut sending.rng,
            card.relay.to_string(),
            card.mailbox.as_bytes().to_vec(),
            sealed,
            to.to_string(),
            self.now_ms(),
        )?;
        batch
            .put(
                Table::Sessions,
                card.identity.fingerprint().0.to_vec(),
                sessions.encode(),
            )
            .put(
                Table::Outbox,
                envelope_id.as_bytes().to_vec(),
                Zeroizing::new(rec.encode_to_vec()),
            );
        Ok(Some((envelope_id, rec)))
    }

    /// Sends our current device list, alone, to every device of every contact and to our
    /// other devices that have not been sent it. Best effort: a device that cannot be reached
    /// now (no session and its directory out of reach) gets the list with the next message
    /// to it. Returns how many envelopes were queued.
    pub(crate) async fn announce_list(&mut self) -> Result<usize, Error> {
        let mut sending = self.sending()?;
        let mut batch = Batch::new();
        let mut queued = Vec::new();
        // (recipient, device card, whether PQXDH is required of it)
        let mut targets = Vec::new();
        for contact in self.account.contacts()? {
            for card in self.device_cards(&contact)? {
                targets.push((contact.alias.clone(), card, contact.offers_pqxdh));
            }
        }
        for card in self.own_cards(sending.list.as_ref())? {
            targets.push((OWN_DEVICE.to_string(), card, true));
        }
        for (to, card, sticky) in targets {
            // A target that fails leaves nothing in the batch: its writes go to a batch of
            // its own, added once it succeeded.
            let mut one = Batch::new();
            let mut pq = Pqxdh {
                sticky,
                learned: false,
            };
            if let Ok(Some(s)) = self
                .seal_for(&mut sending, &to, &card, None, Some(&mut pq), &mut one)
                .await
            {
                batch.append(one);
                queued.push(s);
            }
        }
        self.account.store.commit(batch)?;
        let n = queued.len();
        self.deliver_all(queued).await;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a session decrypted, the framing reads it without panicking; what
        /// `with_list` and `sent_copy` write reads back as written.
        #[test]
        fn framing_reads_back_and_never_panics(
            junk in proptest::collection::vec(any::<u8>(), 0..300),
            list in proptest::collection::vec(any::<u8>(), 0..200),
            body in proptest::collection::vec(any::<u8>(), 0..200),
            to in any::<[u8; 32]>(),
            alone in any::<bool>(),
        ) {
            let _ = split_list(&junk).map(|(_, b)| b.map(split_sent));
            let mut tagged = DEVICES_TAG.to_vec();
            tagged.extend_from_slice(&junk);
            let _ = split_list(&tagged);
            let mut tagged = SENT_TAG.to_vec();
            tagged.extend_from_slice(&junk);
            let _ = split_sent(&tagged);

            let copy = sent_copy(&Fingerprint(to), &body);
            let framed = with_list(&list, (!alone).then_some(&copy[..]));
            let (l, inner) = split_list(&framed).unwrap();
            prop_assert_eq!(l, Some(&list[..]));
            if alone {
                prop_assert_eq!(inner, None);
            } else {
                let (t, b) = split_sent(inner.unwrap()).unwrap().unwrap();
                prop_assert_eq!(t, Fingerprint(to));
                prop_assert_eq!(b, &body[..]);
            }
            // Cut anywhere before the flag, or with a byte more after a list alone: refused.
            for cut in DEVICES_TAG.len()..DEVICES_TAG.len() + 4 + list.len() + 1 {
                prop_assert!(split_list(&framed[..cut]).is_err());
            }
            if alone {
                let mut more = framed.to_vec();
                more.push(0);
                prop_assert!(split_list(&more).is_err());
            }
        }
    }

    #[test]
    fn plain_bodies_are_not_framing() {
        assert_eq!(split_list(b"hello").unwrap(), (None, Some(&b"hello"[..])));
        assert_eq!(split_sent(b"hello").unwrap(), None);
        assert!(split_sent(b"\xFFhush-sent-1short").is_err());
        let mut bad_flag = with_list(b"l", None).to_vec();
        *bad_flag.last_mut().unwrap() = 2;
        assert!(split_list(&bad_flag).is_err());
    }
}
