//! Engine errors as the CLI states them: one line, and the exit code of their kind
//! (spec/cli.md, "Exit codes").

use hush_client::Error;
use hush_client::store::StoreError;
use hush_relay_client::{ClientError, ErrorCode};

use crate::exit::{Failure, fail};
use crate::net;

/// The message of a group command refused because this home must be re-added.
pub fn rejoin_message(group: &str) -> String {
    format!(
        "this home holds no usable state of group '{group}' (it was restored from an older copy \
         or a backup): ask a member of '{group}' to remove and re-add you"
    )
}

/// The message for a wrong passphrase (or an altered state file).
pub const WRONG_PASSPHRASE: &str =
    "wrong passphrase (or the state file was altered): cannot decrypt it";

/// Whether a relay client error means the relay could not be reached (or was lost).
pub fn unreachable(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Connection(_)
            | ClientError::Connect(_)
            | ClientError::Resolve(_)
            | ClientError::Socket(_)
            | ClientError::Stream(_)
            | ClientError::NoResponse
    )
}

/// An engine error as a CLI error.
pub fn engine(e: Error) -> anyhow::Error {
    match e {
        Error::Store(StoreError::WrongKey) => fail(Failure::WrongPassphrase, WRONG_PASSPHRASE),
        Error::Relay(c) if unreachable(&c) => fail(
            Failure::Unreachable,
            format!("the relay is unreachable: {c}"),
        ),
        Error::Relay(c) => match c.relay_code() {
            Some(ErrorCode::EpochConflict) => {
                anyhow::anyhow!("the group changed meanwhile; run the command again")
            }
            _ => anyhow::anyhow!("{}", net::describe(&c)),
        },
        Error::UnknownContact(a) => fail(
            Failure::NotFound,
            format!(
                "unknown alias '{a}' (see `hush contact list`, or add it with `hush contact add`)"
            ),
        ),
        Error::UnknownGroup(g) => fail(
            Failure::NotFound,
            format!("unknown group '{g}' (see `hush group list`)"),
        ),
        Error::AliasTaken(a) => anyhow::anyhow!("alias '{a}' is already taken"),
        Error::AlreadyContact(o) => {
            anyhow::anyhow!("this card's identity is already a contact, as '{o}'")
        }
        Error::OwnCard => anyhow::anyhow!("that is this home's own card"),
        Error::Card(c) => fail(Failure::Usage, format!("bad contact card: {c}")),
        Error::Invalid { what, why } => fail(Failure::Usage, format!("invalid {what} {why}")),
        Error::IdentityMismatch(a) => fail(
            Failure::IdentityMismatch,
            format!("the relay returned keys of another identity than {a}'s card"),
        ),
        Error::StaleCard(a) => anyhow::anyhow!(
            "{a}'s relay wants a newer contact card to hand out their keys: ask {a} for their \
             current card (or wait for a message from them, which carries it)"
        ),
        Error::NeedsReAdd(g) => anyhow::anyhow!("{}", rejoin_message(&g)),
        Error::NotInGroup(g) => anyhow::anyhow!("this home was removed from group '{g}'"),
        Error::AlreadyMember { alias, group } => {
            anyhow::anyhow!("{alias} is already in group '{group}'")
        }
        Error::NotMember { alias, group } => anyhow::anyhow!("{alias} is not in group '{group}'"),
        Error::GroupNameTaken(g) => anyhow::anyhow!("a group named '{g}' already exists"),
        Error::GroupBusy(g) => {
            anyhow::anyhow!("group '{g}' changed meanwhile; run the command again")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

/// `Result` with engine errors mapped.
pub trait EngineResult<T> {
    /// Maps the error with [`engine`].
    fn cli(self) -> anyhow::Result<T>;
}

impl<T> EngineResult<T> for Result<T, Error> {
    fn cli(self) -> anyhow::Result<T> {
        self.map_err(engine)
    }
}
