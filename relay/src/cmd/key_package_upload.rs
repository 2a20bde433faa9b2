//! KEY_PACKAGE_UPLOAD: the owner adds MLS KeyPackages (or with `replace_key_packages` replaces
//! its whole stock) and sets its last-resort KeyPackage.

use super::prekey_upload::MAX_UPLOAD;
use super::{CmdError, Context, owned_mailbox, stock_to_proto};
use crate::capacity::check_entry;
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::KeyPackageUploadRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    if req.key_packages.len() > MAX_UPLOAD {
        return Err(CmdError::malformed(format!(
            "at most {MAX_UPLOAD} KeyPackages per upload"
        )));
    }
    if req.key_packages.iter().any(|k| k.is_empty()) {
        return Err(CmdError::malformed("empty KeyPackage"));
    }
    let max_entry = ctx.shared.config.max_directory_entry_bytes;
    let mut bytes = req.last_resort.len() as u64;
    check_entry("last-resort KeyPackage", req.last_resort.len(), max_entry)?;
    for k in &req.key_packages {
        check_entry("KeyPackage", k.len(), max_entry)?;
        bytes += k.len() as u64;
    }
    let last_resort = (!req.last_resort.is_empty()).then_some(req.last_resort);
    let max = ctx.shared.config.directory_max_stock;
    let storage = &ctx.shared.storage;
    let capacity = &ctx.shared.capacity;
    let admitted = capacity.admit(&**storage, bytes).await?;
    let stock = if req.replace_key_packages {
        storage
            .replace_key_packages(mailbox, req.key_packages, last_resort, max)
            .await?
    } else {
        storage
            .put_key_packages(mailbox, req.key_packages, last_resort, max)
            .await?
    };
    admitted.keep();
    // A replaced last-resort KeyPackage or stock (or a byte-identical KeyPackage, stored once)
    // frees or does not take what it counted.
    capacity.freed();
    Ok(response::Body::DirectoryStock(stock_to_proto(ctx, stock)))
}
