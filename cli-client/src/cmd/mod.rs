//! One file per family of commands.

pub mod backup;
pub mod basic;
pub mod contact;
pub mod device;
pub mod files;
pub mod group;
pub mod recv;
pub mod send;
pub mod status;

use crate::exit::{Failure, fail};
use std::io::Read;

use anyhow::{Context, Result};

/// The longest message text `send` and `group send` take, in bytes. The largest envelope a
/// relay takes is 1 MiB (1,048,576 bytes); this leaves room for the sealed-sender envelope,
/// the session or MLS framing and the sender's card.
pub const MAX_TEXT_BYTES: usize = 1_000_000;

/// The message text of a `send`: `-` reads it from standard input (everything up to its
/// end, taken exactly), anything else is the text itself. Refuses text over
/// [`MAX_TEXT_BYTES`] and standard input that is not UTF-8.
pub fn message_text(arg: String) -> Result<String> {
    let text = if arg == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(MAX_TEXT_BYTES as u64 + 1)
            .read_to_end(&mut buf)
            .context("cannot read the message from standard input")?;
        if buf.len() > MAX_TEXT_BYTES {
            return Err(fail(Failure::Usage, too_long(None)));
        }
        String::from_utf8(buf).map_err(|_| {
            fail(
                Failure::Usage,
                "the message on standard input is not UTF-8 text",
            )
        })?
    } else {
        arg
    };
    if text.len() > MAX_TEXT_BYTES {
        return Err(fail(Failure::Usage, too_long(Some(text.len()))));
    }
    Ok(text)
}

fn too_long(len: Option<usize>) -> String {
    let len = len.map_or_else(|| "longer".to_string(), |n| format!("{n} bytes"));
    format!(
        "the message is too long ({len}); the limit is {MAX_TEXT_BYTES} bytes (one envelope holds at most 1 MiB)"
    )
}
