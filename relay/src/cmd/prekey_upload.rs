//! PREKEY_UPLOAD: the owner stores its signed prekey and adds one-time prekeys (opaque blobs),
//! or with `replace_one_time_prekeys` replaces its whole one-time stock.

use super::{CmdError, Context, owned_mailbox, stock_to_proto};
use crate::capacity::check_entry;
use crate::proto::{self, response};
use crate::storage::{OneTimePrekey, SignedPrekey};

/// Most keys in one upload.
pub(crate) const MAX_UPLOAD: usize = 1000;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::PrekeyUploadRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    if req.one_time_prekeys.len() > MAX_UPLOAD {
        return Err(CmdError::malformed(format!(
            "at most {MAX_UPLOAD} one-time prekeys per upload"
        )));
    }
    if req.one_time_prekeys.iter().any(|k| k.blob.is_empty()) {
        return Err(CmdError::malformed("empty one-time prekey"));
    }
    let max_entry = ctx.shared.config.max_directory_entry_bytes;
    let mut bytes = 0u64;
    if let Some(s) = &req.signed_prekey {
        check_entry("signed prekey", s.blob.len(), max_entry)?;
        bytes += s.blob.len() as u64;
    }
    for k in &req.one_time_prekeys {
        check_entry("one-time prekey", k.blob.len(), max_entry)?;
        bytes += k.blob.len() as u64;
    }
    let signed = match req.signed_prekey {
        Some(s) if s.blob.is_empty() => return Err(CmdError::malformed("empty signed prekey")),
        Some(s) => Some(SignedPrekey {
            id: s.id,
            blob: s.blob,
        }),
        None => None,
    };
    let one_time = req
        .one_time_prekeys
        .into_iter()
        .map(|k| OneTimePrekey {
            id: k.id,
            blob: k.blob,
        })
        .collect();
    let max = ctx.shared.config.directory_max_stock;
    let storage = &ctx.shared.storage;
    let capacity = &ctx.shared.capacity;
    let admitted = capacity.admit(&**storage, bytes).await?;
    let stock = if req.replace_one_time_prekeys {
        storage
            .replace_prekeys(mailbox, signed, one_time, max)
            .await?
    } else {
        storage.put_prekeys(mailbox, signed, one_time, max).await?
    };
    admitted.keep();
    // A replaced signed prekey or one-time stock (or a one-time prekey id uploaded again)
    // frees what it replaces.
    capacity.freed();
    Ok(response::Body::DirectoryStock(stock_to_proto(ctx, stock)))
}
