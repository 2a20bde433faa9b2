//! PREKEY_FETCH: a holder of the owner's card (anyone, for a legacy mailbox without a fetch
//! verifier) gets a mailbox's prekey bundle; each one-time prekey is handed out at most once
//! (the storage takes it atomically), and the bundle comes without one when the stock is
//! empty. Likewise each one-time KEM prekey (PQXDH) is handed out at most once, and the
//! last-resort KEM prekey when none is left. A refused token takes nothing.

use super::directory_access::check_fetch_token;
use super::{CmdError, Context};
use crate::proto::{self, ErrorCode, response};
use crate::types::MailboxAddress;

pub(crate) async fn handle(
    ctx: &Context,
    req: proto::PrekeyFetchRequest,
) -> Result<response::Body, CmdError> {
    let mailbox = MailboxAddress::from_slice(&req.mailbox_address)?;
    check_fetch_token(ctx, mailbox, &req.fetch_token).await?;
    let Some(b) = ctx.shared.storage.take_prekey_bundle(mailbox).await? else {
        return Err(CmdError::new(
            ErrorCode::NotFound,
            "no prekey bundle for this mailbox",
        ));
    };
    ctx.shared.capacity.freed();
    if b.one_time_prekey.is_none() {
        metrics::counter!("hush_relay_prekey_bundles_without_one_time_total").increment(1);
    }
    if b.kem_prekey_last_resort {
        metrics::counter!("hush_relay_prekey_bundles_with_last_resort_kem_total").increment(1);
    }
    Ok(response::Body::PrekeyBundle(proto::PrekeyBundle {
        signed_prekey: Some(proto::SignedPrekey {
            id: b.signed_prekey.id,
            blob: b.signed_prekey.blob,
        }),
        one_time_prekey: b.one_time_prekey.map(|k| proto::OneTimePrekey {
            id: k.id,
            blob: k.blob,
        }),
        kem_prekey: b.kem_prekey.map(|k| proto::KemPrekey {
            id: k.id,
            blob: k.blob,
        }),
        kem_prekey_last_resort: b.kem_prekey_last_resort,
    }))
}
