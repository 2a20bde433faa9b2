//! Rollback detection: the state generation this account shares with its home relay
//! (GENERATION in `spec/relay-protocol.md`), as the CLI does it (`spec/cli.md`, "Rollback").
//!
//! A store restored from an older copy holds sending chains that already encrypted messages;
//! sending on them would reuse message keys. So before the first encryption with a sending
//! chain in an engine's life (a 1:1 message, a group message, a commit), the engine advances
//! a counter its home relay keeps for its mailbox, compare-and-set from the value its store
//! holds. The store gets the new value *before* the request, so a crash in between leaves the
//! store ahead of the relay, which the next engine recognizes as its own unfinished advance
//! and finishes. A relay ahead of the store (or level with it without our advance) means
//! another copy of this account advanced it: this store is stale. Then every 1:1 session is
//! set aside (it only decrypts late messages; the next message starts a new one), every
//! group's MLS state is forgotten and the group marked as needing a re-add, and an
//! [`EventKind::Restored`] event says so.

use super::Engine;
use super::groups::{STATE_MEMBER, STATE_REJOIN, put_group};
use crate::error::Error;
use crate::event::EventKind;
use crate::sessions::PeerSessions;
use crate::store::{Batch, Store, Table};
use hush_protocol::group::GroupId;
use zeroize::Zeroizing;

/// The account record holding the state generation (u64, big-endian).
pub(crate) const GENERATION: &[u8] = b"generation";
/// Most compare-and-set rounds one check tries.
const MAX_ROUNDS: usize = 4;

impl<S: Store> Engine<S> {
    /// Connects to the home relay, publishes this account's directory if it never was, and
    /// checks that this store is not an older copy of the account (a restored backup, a
    /// copied file): if it is, its keys are set aside as [`EventKind::Restored`] describes,
    /// and the event is returned by the next [`Engine::receive`]. Every call that needs this
    /// does it by itself; call it at startup to learn early.
    pub async fn start(&mut self) -> Result<(), Error> {
        self.check_generation().await
    }

    /// Advances the state generation once per engine, handling a rollback as the module
    /// describes. Call before encrypting with any sending chain.
    pub(crate) async fn check_generation(&mut self) -> Result<(), Error> {
        if self.generation_checked {
            return Ok(());
        }
        let (url, mailbox) = self.home().await?;
        let mut base = match self.account.store.get(Table::Account, GENERATION)? {
            Some(b) => u64::from_be_bytes(
                b.as_slice()
                    .try_into()
                    .map_err(|_| Error::Corrupt("generation"))?,
            ),
            None => 0,
        };
        let mut expected = base;
        for _ in 0..MAX_ROUNDS {
            let next = base.checked_add(1).ok_or(Error::Corrupt("generation"))?;
            // In the store before the relay moves: a crash in between leaves us ahead.
            let mut b = Batch::new();
            b.put(
                Table::Account,
                GENERATION,
                Zeroizing::new(next.to_be_bytes().to_vec()),
            );
            self.account.store.commit(b)?;
            let out = self
                .client(&url)
                .await?
                .advance_generation(&mailbox, expected, next)
                .await?;
            if out.advanced {
                self.generation_checked = true;
                return Ok(());
            }
            if out.current < base {
                // Behind our store: our own advance that a crash interrupted. Finish it.
                expected = out.current;
                continue;
            }
            // Ahead of our store: another copy of this account advanced it.
            self.set_aside()?;
            base = out.current;
            expected = out.current;
        }
        Err(Error::GenerationRace)
    }

    /// Sets every 1:1 session aside and forgets every group's MLS state (the groups need a
    /// re-add); one batch with a [`EventKind::Restored`] event.
    fn set_aside(&mut self) -> Result<(), Error> {
        let mut b = Batch::new();
        for (peer, v) in self.account.store.scan(Table::Sessions)? {
            let mut s = PeerSessions::decode(&v)?;
            if s.set_aside() {
                b.put(Table::Sessions, peer, s.encode());
            }
        }
        let mut groups = Vec::new();
        for (name, mut rec) in self.group_records()? {
            if rec.state != STATE_MEMBER {
                continue;
            }
            let id = GroupId::from_slice(&rec.id);
            if self.groups.group_ids().contains(&id) {
                self.groups.delete_group(&id)?;
            }
            rec.state = STATE_REJOIN;
            rec.pending = None;
            rec.leaving = false;
            put_group(&mut b, &name, &rec);
            groups.push(name);
        }
        let events = self.push_events(&mut b, None, vec![EventKind::Restored { groups }])?;
        self.commit_groups(b)?;
        self.unreported.extend(events);
        Ok(())
    }
}
