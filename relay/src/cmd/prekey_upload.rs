//! PREKEY_UPLOAD: the owner stores its signed prekey and adds one-time prekeys (opaque blobs),
//! or with `replace_one_time_prekeys` replaces its whole one-time stock; for PQXDH also
//! one-time KEM prekeys and its last-resort KEM prekey (opaque blobs too), in the same
//! transaction.

use super::{CmdError, Context, owned_mailbox, stock_to_proto};
use crate::capacity::check_entry;
use crate::proto::{self, response};
use crate::storage::{KemPrekey, OneTimePrekey, PrekeyUpload, SignedPrekey};

/// Most keys in one upload (of each kind: one-time prekeys, one-time KEM prekeys).
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
    if req.one_time_kem_prekeys.len() > MAX_UPLOAD {
        return Err(CmdError::malformed(format!(
            "at most {MAX_UPLOAD} one-time KEM prekeys per upload"
        )));
    }
    if req.one_time_prekeys.iter().any(|k| k.blob.is_empty()) {
        return Err(CmdError::malformed("empty one-time prekey"));
    }
    if req.one_time_kem_prekeys.iter().any(|k| k.blob.is_empty()) {
        return Err(CmdError::malformed("empty one-time KEM prekey"));
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
    for k in &req.one_time_kem_prekeys {
        check_entry("one-time KEM prekey", k.blob.len(), max_entry)?;
        bytes += k.blob.len() as u64;
    }
    if let Some(k) = &req.last_resort_kem_prekey {
        check_entry("last-resort KEM prekey", k.blob.len(), max_entry)?;
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
    let last_resort_kem = match req.last_resort_kem_prekey {
        Some(k) if k.blob.is_empty() => {
            return Err(CmdError::malformed("empty last-resort KEM prekey"));
        }
        Some(k) => Some(KemPrekey {
            id: k.id,
            blob: k.blob,
        }),
        None => None,
    };
    let upload = PrekeyUpload {
        signed_prekey: signed,
        one_time_prekeys: req
            .one_time_prekeys
            .into_iter()
            .map(|k| OneTimePrekey {
                id: k.id,
                blob: k.blob,
            })
            .collect(),
        one_time_kem_prekeys: req
            .one_time_kem_prekeys
            .into_iter()
            .map(|k| KemPrekey {
                id: k.id,
                blob: k.blob,
            })
            .collect(),
        last_resort_kem_prekey: last_resort_kem,
        replace_one_time: req.replace_one_time_prekeys,
    };
    let max = ctx.shared.config.directory_max_stock;
    let storage = &ctx.shared.storage;
    let capacity = &ctx.shared.capacity;
    let admitted = capacity.admit(&**storage, bytes).await?;
    let stock = storage.upload_prekeys(mailbox, upload, max).await?;
    admitted.keep();
    // A replaced signed prekey, last-resort KEM prekey or one-time stock (or a one-time id
    // uploaded again) frees what it replaces.
    capacity.freed();
    Ok(response::Body::DirectoryStock(stock_to_proto(ctx, stock)))
}
