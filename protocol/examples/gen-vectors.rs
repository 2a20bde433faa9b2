//! Writes `test-vectors/x3dh.json`, `test-vectors/pqxdh.json`, `test-vectors/double-ratchet.json`,
//! `test-vectors/directory.json`, `test-vectors/attachments.json`, `test-vectors/envelope.json`,
//! `test-vectors/devices.json` and `test-vectors/state.json`.
//!
//! `cargo run -p hush-protocol --features vectors --example gen-vectors [-- OUT_DIR]`

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-vectors"));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("x3dh.json"),
        hush_protocol::vectors::x3dh_vectors(),
    )?;
    std::fs::write(
        dir.join("pqxdh.json"),
        hush_protocol::vectors::pqxdh_vectors(),
    )?;
    std::fs::write(
        dir.join("double-ratchet.json"),
        hush_protocol::vectors::double_ratchet_vectors(),
    )?;
    std::fs::write(
        dir.join("directory.json"),
        hush_protocol::vectors::directory_vectors(),
    )?;
    std::fs::write(
        dir.join("attachments.json"),
        hush_protocol::vectors::attachment_vectors(),
    )?;
    std::fs::write(
        dir.join("envelope.json"),
        hush_protocol::vectors::envelope_vectors(),
    )?;
    std::fs::write(
        dir.join("devices.json"),
        hush_protocol::vectors::devices_vectors(),
    )?;
    std::fs::write(
        dir.join("state.json"),
        hush_protocol::vectors::state_vectors(),
    )?;
    println!(
        "wrote {}/x3dh.json, pqxdh.json, double-ratchet.json, directory.json, attachments.json, envelope.json, devices.json and state.json",
        dir.display()
    );
    Ok(())
}
