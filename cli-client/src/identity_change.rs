//! Noticing that someone who carries a contact's name writes from another identity (a
//! reinstall, or an impersonation): the contact is kept as it is until the user decides
//! (`hush contact update ALIAS FINGERPRINT` or `hush contact remove ALIAS`).

use crate::card::Card;
use crate::display::escape_text;
use crate::state::{InboxItem, State, fpr};

/// The `identity_changed` event for a card from a sender who is not a contact, when a
/// contact's card carries the same name (compared without case and surrounding spaces) and
/// another identity; `None` otherwise.
pub fn detect(state: &State, card: &Card) -> Option<InboxItem> {
    let name = card.name.trim().to_lowercase();
    let new = fpr(&card.identity);
    state.contacts.iter().find_map(|(alias, c)| {
        let known = Card::parse(&c.card).ok()?;
        let old = fpr(&known.identity);
        (known.name.trim().to_lowercase() == name && old != new).then(|| InboxItem {
            event: "identity_changed".into(),
            from: new.clone(),
            contact: Some(alias.clone()),
            old_fingerprint: Some(old),
            ..Default::default()
        })
    })
}

/// The human line for an `identity_changed` event.
pub fn describe(item: &InboxItem) -> String {
    let alias = escape_text(item.contact.as_deref().unwrap_or(""));
    let new = escape_text(&item.from);
    let old = escape_text(item.old_fingerprint.as_deref().unwrap_or(""));
    format!(
        "notice: someone with the name of your contact {alias} wrote from another identity \
         ({new}; {alias} is {old}). Messages from it show under its fingerprint. If {alias} \
         reinstalled Hush, compare safety numbers with them, then run: hush contact update \
         {alias} {new}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Contact;
    use hush_protocol::IdentityKeyPair;

    fn card(name: &str) -> Card {
        let id = IdentityKeyPair::generate(&mut rand::rng());
        Card {
            name: name.into(),
            identity: id.public().clone(),
            mailbox: hush_relay_client::MailboxAddress([7; 32]),
            relay: format!("hush://{}@127.0.0.1:4433", "ab".repeat(32))
                .parse()
                .unwrap(),
            directory: None,
        }
    }

    #[test]
    fn same_name_other_identity_is_noticed_once_per_contact() {
        let mut state: State = serde_json::from_value(serde_json::json!({
            "version": 1, "name": "me", "relay": "r", "identity": "", "mailbox_key": "",
            "prekeys": "", "group_client": ""
        }))
        .unwrap();
        let bob = card("Bob");
        state.contacts.insert(
            "bob".into(),
            Contact {
                card: bob.encode().unwrap(),
            },
        );
        let impostor = card(" bob ");
        let item = detect(&state, &impostor).expect("noticed");
        assert_eq!(item.event, "identity_changed");
        assert_eq!(item.contact.as_deref(), Some("bob"));
        assert_eq!(item.from, fpr(&impostor.identity));
        assert_eq!(item.old_fingerprint, Some(fpr(&bob.identity)));
        assert!(describe(&item).contains("hush contact update bob"));
        assert!(detect(&state, &card("Carol")).is_none());
        assert!(detect(&state, &bob).is_none(), "the contact itself");
    }
}
