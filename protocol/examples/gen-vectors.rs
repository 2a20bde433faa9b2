//! Writes `test-vectors/x3dh.json` and `test-vectors/double-ratchet.json`.
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
        dir.join("double-ratchet.json"),
        hush_protocol::vectors::double_ratchet_vectors(),
    )?;
    println!("wrote {}/x3dh.json and double-ratchet.json", dir.display());
    Ok(())
}
