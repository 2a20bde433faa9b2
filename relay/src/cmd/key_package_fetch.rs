//! KEY_PACKAGE_FETCH: a holder of the owner's card (anyone, for a legacy mailbox without a
//! fetch verifier) takes one KeyPackage of a mailbox (atomically, never twice), or gets the
//! reusable last-resort one when none are left. A refused token takes nothing.

use super::directory_access::check_fetch_token;
use super::{CmdError, Context};
use crate::proto::{self, ErrorCode, response};
use crate::types::MailboxAddress;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::KeyPackageFetchRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = MailboxAddress::from_slice(&req.mailbox_address)?;
    check_fetch_token(ctx, mailbox, &req.fetch_token).await?;
    let Some(kp) = ctx.shared.storage.take_key_package(mailbox).await? else {
        return Err(CmdError::new(
            ErrorCode::NotFound,
            "no KeyPackage for this mailbox",
        ));
    };
    if !kp.last_resort {
        ctx.shared.capacity.freed();
    }
    Ok(response::Body::KeyPackage(proto::KeyPackageResponse {
        key_package: kp.blob,
        last_resort: kp.last_resort,
    }))
}
