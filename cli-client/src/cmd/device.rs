//! `hush link` and `hush device`: this home as a new device of a person, and the person's
//! devices (`spec/multi-device.md`, `spec/cli.md`).

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::errors::EngineResult;
use crate::events::fpr;
use crate::home;
use crate::output::emit;

/// `hush link --relay URL`: makes this home a new device (its own identity, mailbox and
/// directory on the relay) and prints the one-line request to approve on the person's first
/// device with `hush device approve`; `hush recv` here then completes the link.
pub async fn link(dir: &Path, relay: &str) -> Result<()> {
    // The person's name replaces this one when the link completes.
    let made = super::basic::make_home(dir, relay, "new device", true).await?;
    let request = made.link_request.unwrap_or_default();
    emit(
        format!(
            "{request}\nOn the person's first device, run: hush device approve \"{request}\"\n\
             (valid for {} minutes), then here: hush recv",
            hush_client::LINK_LIFETIME_SECS / 60
        ),
        json!({
            "home": dir.display().to_string(),
            "request": request,
            "fingerprint": fpr(&made.fingerprint),
            "expires_in_s": hush_client::LINK_LIFETIME_SECS,
        }),
    );
    Ok(())
}

/// `hush device approve REQUEST`.
pub async fn approve(dir: &Path, request: &str) -> Result<()> {
    let mut o = home::open(dir)?;
    let approved = o.engine.approve_link(request).await;
    o.engine.close().await;
    let id = approved.cli()?;
    let person = o.engine.account().identity().fingerprint();
    emit(
        format!(
            "approved: device {id}; `hush recv` on it completes the link and shows the \
             fingerprint {person} to compare"
        ),
        json!({"device": id, "person_fingerprint": fpr(&person)}),
    );
    Ok(())
}

/// `hush device revoke ID`.
pub async fn revoke(dir: &Path, id: u32) -> Result<()> {
    let mut o = home::open(dir)?;
    let revoked = o.engine.revoke_device(id).await;
    o.engine.close().await;
    revoked.cli()?;
    let left = o.engine.device_list().cli()?.devices().count();
    emit(
        format!(
            "revoked: device {id}; contacts and the other devices are told, and it gets              nothing sent from now on ({left} device(s) left)"
        ),
        json!({"revoked": id, "devices_left": left}),
    );
    Ok(())
}

/// `hush device list`.
pub fn list(dir: &Path) -> Result<()> {
    let o = home::open(dir)?;
    let list = o.engine.device_list().cli()?;
    let me = o.engine.account().identity().clone();
    let mut lines = Vec::new();
    let mut rows = Vec::new();
    for (id, d) in list.devices() {
        let this = d.identity == me;
        lines.push(format!(
            "{id}  {}  {}{}",
            d.identity.fingerprint(),
            d.relay,
            if this { "  (this device)" } else { "" }
        ));
        rows.push(json!({
            "id": id, "fingerprint": fpr(&d.identity.fingerprint()), "relay": d.relay,
            "this_device": this,
        }));
    }
    emit(
        lines.join("\n"),
        json!({"person_fingerprint": fpr(&list.person().fingerprint()), "counter": list.counter(), "devices": rows}),
    );
    Ok(())
}
