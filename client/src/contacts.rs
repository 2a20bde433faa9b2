//! Contacts: people this account talks to, each under an alias the user chose, with the card
//! they gave and whether the user verified their safety number.

use crate::account::Account;
use crate::card::Card;
use crate::error::Error;
use crate::records::ContactRecord;
use crate::store::{Batch, Store, Table};
use hush_protocol::{IdentityPublicKey, SafetyNumber};
use prost::Message;
use zeroize::Zeroizing;

/// Longest alias, in bytes.
pub const MAX_ALIAS_LEN: usize = 64;

/// A contact.
#[derive(Clone)]
pub struct Contact {
    /// The alias the user chose.
    pub alias: String,
    /// Their card.
    pub card: Card,
    /// True once the user compared safety numbers with them.
    pub verified: bool,
    /// True once a prekey bundle of theirs offered PQXDH: from then on a bundle of theirs
    /// without a KEM prekey is refused as a downgrade ([`Error::PqxdhDowngrade`]), until
    /// their identity changes (`spec/client.md` §3, the sticky rule of `spec/pqxdh.md` §6).
    pub offers_pqxdh: bool,
}

impl std::fmt::Debug for Contact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contact")
            .field("alias", &self.alias)
            .field("identity", &self.card.identity.fingerprint())
            .field("verified", &self.verified)
            .field("offers_pqxdh", &self.offers_pqxdh)
            .finish()
    }
}

/// What [`Account::update_contact`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardUpdate {
    /// Same identity (a newer card of the same person, or the same card).
    SameIdentity,
    /// Another identity: sessions with the old one must go, the safety number changed, and
    /// the contact is no longer verified.
    NewIdentity,
}

/// Checks an alias: 1 to 64 of ASCII letters, digits, `-`, `_`, `.`.
pub fn check_alias(alias: &str) -> Result<(), Error> {
    if alias.is_empty()
        || alias.len() > MAX_ALIAS_LEN
        || !alias
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(Error::Invalid {
            what: "alias",
            why: format!("'{alias}': use 1 to 64 letters, digits, '-', '_' or '.'"),
        });
    }
    Ok(())
}

fn decode(alias: &[u8], value: &[u8]) -> Result<Contact, Error> {
    let rec = ContactRecord::decode(value).map_err(|_| Error::Corrupt("contact"))?;
    Ok(Contact {
        alias: String::from_utf8(alias.to_vec()).map_err(|_| Error::Corrupt("contact alias"))?,
        card: Card::parse(&rec.card).map_err(|_| Error::Corrupt("contact card"))?,
        verified: rec.verified,
        offers_pqxdh: rec.offers_pqxdh,
    })
}

/// Adds the writes of a contact and its index entry to `b`.
pub(crate) fn write_contact(b: &mut Batch, c: &Contact) -> Result<(), Error> {
    let rec = ContactRecord {
        card: c.card.encode()?,
        verified: c.verified,
        offers_pqxdh: c.offers_pqxdh,
    };
    b.put(
        Table::Contacts,
        c.alias.as_bytes(),
        Zeroizing::new(rec.encode_to_vec()),
    )
    .put(
        Table::ContactIndex,
        c.card.identity.fingerprint().0.to_vec(),
        Zeroizing::new(c.alias.as_bytes().to_vec()),
    );
    Ok(())
}

/// Checks `contacts` (alias, card text) as [`Account::add_contact`] does — a valid alias, a
/// card that parses, not `own`, no alias or identity twice in the list, and what `existing`
/// says of those already stored — and adds their writes to `b`. Returns their identity
/// fingerprints.
/// Writes new contacts: `(alias, card text, verified, offers_pqxdh)` each.
pub(crate) fn put_new_contacts<'a>(
    b: &mut Batch,
    own: &IdentityPublicKey,
    contacts: impl IntoIterator<Item = (&'a String, &'a String, bool, bool)>,
    existing: impl Fn(&str, &Card) -> Result<(), Error>,
) -> Result<std::collections::HashSet<[u8; 32]>, Error> {
    let mut aliases = std::collections::HashSet::new();
    let mut identities = std::collections::HashMap::new();
    for (alias, text, verified, offers_pqxdh) in contacts {
        check_alias(alias)?;
        let card = Card::parse(text.trim())?;
        if !aliases.insert(alias.clone()) {
            return Err(Error::AliasTaken(alias.clone()));
        }
        if card.identity == *own {
            return Err(Error::OwnCard);
        }
        if let Some(other) = identities.insert(card.identity.fingerprint().0, alias.clone()) {
            return Err(Error::AlreadyContact(other));
        }
        existing(alias, &card)?;
        write_contact(
            b,
            &Contact {
                alias: alias.clone(),
                card,
                verified,
                offers_pqxdh,
            },
        )?;
    }
    Ok(identities.into_keys().collect())
}

impl<S: Store> Account<S> {
    /// Every contact, sorted by alias.
    pub fn contacts(&self) -> Result<Vec<Contact>, Error> {
        let mut out = self
            .store
            .scan(Table::Contacts)?
            .into_iter()
            .map(|(k, v)| decode(&k, &v))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| a.alias.cmp(&b.alias));
        Ok(out)
    }

    /// The contact under `alias`.
    pub fn contact(&self, alias: &str) -> Result<Contact, Error> {
        match self.store.get(Table::Contacts, alias.as_bytes())? {
            Some(v) => decode(alias.as_bytes(), &v),
            None => Err(Error::UnknownContact(alias.to_string())),
        }
    }

    /// The alias of the contact with this identity, if any (one indexed read).
    pub fn alias_of(&self, identity: &IdentityPublicKey) -> Result<Option<String>, Error> {
        self.alias_by_fingerprint(&identity.fingerprint())
    }

    /// The alias of the contact whose identity has this fingerprint, if any.
    pub(crate) fn alias_by_fingerprint(
        &self,
        fingerprint: &hush_protocol::Fingerprint,
    ) -> Result<Option<String>, Error> {
        match self.store.get(Table::ContactIndex, &fingerprint.0)? {
            Some(a) => Ok(Some(
                String::from_utf8(a.to_vec()).map_err(|_| Error::Corrupt("contact index"))?,
            )),
            None => Ok(None),
        }
    }

    /// The contact with this identity, if any.
    pub fn contact_by_identity(
        &self,
        identity: &IdentityPublicKey,
    ) -> Result<Option<Contact>, Error> {
        match self.alias_of(identity)? {
            Some(alias) => Ok(Some(self.contact(&alias)?)),
            None => Ok(None),
        }
    }

    fn check_new_card(&self, alias: &str, card: &Card) -> Result<(), Error> {
        if card.identity == *self.identity() {
            return Err(Error::OwnCard);
        }
        if let Some(other) = self.contact_by_identity(&card.identity)?
            && other.alias != alias
        {
            return Err(Error::AlreadyContact(other.alias));
        }
        Ok(())
    }

    /// Writes a contact and its index entry; `old` is the identity it had before, whose
    /// index entry goes.
    fn put_contact(&mut self, c: &Contact, old: Option<&IdentityPublicKey>) -> Result<(), Error> {
        let mut b = Batch::new();
        if let Some(old) = old
            && *old != c.card.identity
        {
            b.delete(Table::ContactIndex, old.fingerprint().0.to_vec());
        }
        write_contact(&mut b, c)?;
        self.store.commit(b)?;
        Ok(())
    }

    /// Adds a contact from the text of their card.
    pub fn add_contact(&mut self, alias: &str, card: &str) -> Result<Contact, Error> {
        check_alias(alias)?;
        let card = Card::parse(card.trim())?;
        if self.store.get(Table::Contacts, alias.as_bytes())?.is_some() {
            return Err(Error::AliasTaken(alias.to_string()));
        }
        self.check_new_card(alias, &card)?;
        let c = Contact {
            alias: alias.to_string(),
            card,
            verified: false,
            offers_pqxdh: false,
        };
        self.put_contact(&c, None)?;
        Ok(c)
    }

    /// Adds many contacts in one batch (an address book import): each is checked as
    /// [`Account::add_contact`] checks it, and if any is refused none is added.
    pub fn import_contacts(&mut self, contacts: &[(String, String)]) -> Result<usize, Error> {
        let mut b = Batch::new();
        let new = contacts.iter().map(|(a, c)| (a, c, false, false));
        put_new_contacts(&mut b, self.identity(), new, |alias, card| {
            if self.store.get(Table::Contacts, alias.as_bytes())?.is_some() {
                return Err(Error::AliasTaken(alias.to_string()));
            }
            match self.alias_of(&card.identity)? {
                Some(other) => Err(Error::AlreadyContact(other)),
                None => Ok(()),
            }
        })?;
        self.store.commit(b)?;
        Ok(contacts.len())
    }

    /// Replaces a contact's card. With another identity, the contact is no longer verified
    /// (the caller forgets the sessions with the old identity).
    pub fn update_contact(&mut self, alias: &str, card: &str) -> Result<CardUpdate, Error> {
        let mut c = self.contact(alias)?;
        let new = Card::parse(card.trim())?;
        self.check_new_card(alias, &new)?;
        let change = if new.identity == c.card.identity {
            CardUpdate::SameIdentity
        } else {
            c.verified = false;
            c.offers_pqxdh = false;
            CardUpdate::NewIdentity
        };
        let old = std::mem::replace(&mut c.card, new).identity;
        self.put_contact(&c, Some(&old))?;
        Ok(change)
    }

    /// Marks a contact verified (or not) after comparing safety numbers.
    pub fn set_verified(&mut self, alias: &str, verified: bool) -> Result<(), Error> {
        let mut c = self.contact(alias)?;
        c.verified = verified;
        self.put_contact(&c, None)
    }

    /// Forgets a contact.
    pub fn remove_contact(&mut self, alias: &str) -> Result<Contact, Error> {
        let c = self.contact(alias)?;
        let mut b = Batch::new();
        b.delete(Table::Contacts, alias.as_bytes()).delete(
            Table::ContactIndex,
            c.card.identity.fingerprint().0.to_vec(),
        );
        self.store.commit(b)?;
        Ok(c)
    }

    /// The safety number of this account and a contact: the same on both sides, to compare
    /// out of band.
    pub fn safety_number(&self, alias: &str) -> Result<SafetyNumber, Error> {
        let c = self.contact(alias)?;
        Ok(SafetyNumber::new(self.identity(), &c.card.identity))
    }
}
