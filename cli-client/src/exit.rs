//! Exit codes: distinct failures get distinct codes (spec/cli.md, "Exit codes"), so scripts
//! can tell a relay that is down from a wrong passphrase without reading the message.

use std::fmt;

/// What kind of failure ended a command. The numeric value is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Anything else (1).
    Other = 1,
    /// The command line or a value on it is wrong (2; clap's syntax errors too).
    Usage = 2,
    /// A relay could not be reached, or the connection to it was lost (3).
    Unreachable = 3,
    /// Keys that should be a contact's identity are another's (4).
    IdentityMismatch = 4,
    /// The passphrase does not open the state (or the file was altered) (5).
    WrongPassphrase = 5,
    /// No such home, contact, group or message (6).
    NotFound = 6,
    /// Another command holds the home (7).
    Busy = 7,
}

/// An error that carries its [`Failure`] kind; shown as its message.
#[derive(Debug)]
pub struct Classified {
    /// The kind.
    pub kind: Failure,
    message: String,
}

impl fmt::Display for Classified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Classified {}

/// An error of `kind` with `message`.
pub fn fail(kind: Failure, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Classified {
        kind,
        message: message.into(),
    })
}

/// The exit code for an error: the kind of the outermost classified error in its chain, 1
/// when none is.
pub fn code_of(e: &anyhow::Error) -> u8 {
    e.chain()
        .find_map(|c| c.downcast_ref::<Classified>())
        .map_or(Failure::Other as u8, |c| c.kind as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn the_kind_survives_context() {
        let e: anyhow::Result<()> = Err(fail(Failure::NotFound, "unknown alias 'x'"));
        let e = e.context("cannot send").unwrap_err();
        assert_eq!(code_of(&e), 6);
        assert_eq!(format!("{e:#}"), "cannot send: unknown alias 'x'");
        assert_eq!(code_of(&anyhow::anyhow!("plain")), 1);
    }
}
