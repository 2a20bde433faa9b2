//! DIRECTORY_STOCK: the owner asks how many one-time prekeys and KeyPackages are left.

use super::{CmdError, Context, owned_mailbox, stock_to_proto};
use crate::proto::{self, response};

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::DirectoryStockRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = owned_mailbox(ctx, &req.mailbox_address)?;
    let stock = ctx.shared.storage.directory_stock(mailbox).await?;
    Ok(response::Body::DirectoryStock(stock_to_proto(ctx, stock)))
}
