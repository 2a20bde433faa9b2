//! The published vectors regenerate byte for byte from the code.

use std::path::PathBuf;

fn check(file: &str, generated: String) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../test-vectors")
        .join(file);
    let on_disk = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    if on_disk != generated {
        let line = on_disk
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "length differs".to_owned(),
                |i| format!("line {}", i + 1),
            );
        panic!(
            "{file} differs from what the code computes ({line}); if the change is intended, \
             run `cargo run -p hush-protocol --features vectors --example gen-vectors`"
        );
    }
}

#[test]
fn x3dh_vectors_match() {
    check("x3dh.json", hush_protocol::vectors::x3dh_vectors());
}

#[test]
fn pqxdh_vectors_match() {
    check("pqxdh.json", hush_protocol::vectors::pqxdh_vectors());
}

#[test]
fn double_ratchet_vectors_match() {
    check(
        "double-ratchet.json",
        hush_protocol::vectors::double_ratchet_vectors(),
    );
}

#[test]
fn directory_vectors_match() {
    check(
        "directory.json",
        hush_protocol::vectors::directory_vectors(),
    );
}

#[test]
fn attachment_vectors_match() {
    check(
        "attachments.json",
        hush_protocol::vectors::attachment_vectors(),
    );
}
