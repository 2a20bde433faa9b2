//! The attachment chunk decoder (spec/attachments.md §6): real blobs of four sizes (empty,
//! one short chunk, one full chunk, three chunks) under a fixed key, edited by `arbitrary`
//! operations (bit flips, truncation, appended bytes, chunks swapped, duplicated or removed,
//! the size in the reference changed), then fed to the `Decryptor` in slices of a chosen
//! length; or arbitrary bytes fed as the blob.
//!
//! Invariants: no panic; the decryptor accepts (every update and `finish` succeed) only the
//! unmodified blob with its true size, and then returns exactly the original plaintext.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use hush_protocol::attachment::{
    AttachmentKey, CHUNK_CIPHERTEXT_LEN, Decryptor, Encryptor, MAX_PLAINTEXT_SIZE,
};
use libfuzzer_sys::fuzz_target;

const SIZES: [usize; 4] = [0, 100, 65_536, 2 * 65_536 + 100];

struct File {
    plaintext: Vec<u8>,
    blob: Vec<u8>,
    digest: [u8; 32],
}

fn key() -> AttachmentKey {
    AttachmentKey::from_bytes([0x42; 32])
}

fn files() -> &'static [File] {
    static FILES: OnceLock<Vec<File>> = OnceLock::new();
    FILES.get_or_init(|| {
        SIZES
            .iter()
            .map(|&n| {
                let plaintext: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
                let mut enc = Encryptor::new(&key());
                let mut blob = enc.update(&plaintext).expect("small");
                let done = enc.finish();
                blob.extend_from_slice(&done.last_chunk);
                blob.resize(done.padded_len as usize, 0);
                File {
                    plaintext,
                    blob,
                    digest: done.digest,
                }
            })
            .collect()
    })
}

#[derive(Arbitrary, Debug)]
enum Op {
    Flip { at: u32, mask: u8 },
    Truncate { at: u32 },
    Append { bytes: Vec<u8> },
    SwapChunks { a: u8, b: u8 },
    DuplicateChunk { chunk: u8 },
    RemoveChunk { chunk: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    file: u8,
    size_delta: i32,
    step: u16,
    raw: Option<Vec<u8>>,
    ops: Vec<Op>,
}

fn chunk_range(blob: &[u8], chunk: u8) -> Option<std::ops::Range<usize>> {
    let start = usize::from(chunk) * CHUNK_CIPHERTEXT_LEN;
    (start < blob.len()).then(|| start..(start + CHUNK_CIPHERTEXT_LEN).min(blob.len()))
}

fn apply(blob: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Flip { at, mask } => {
            if !blob.is_empty() {
                let i = *at as usize % blob.len();
                blob[i] ^= mask;
            }
        }
        Op::Truncate { at } => blob.truncate(*at as usize),
        Op::Append { bytes } => blob.extend_from_slice(bytes),
        Op::SwapChunks { a, b } => {
            if let (Some(ra), Some(rb)) = (chunk_range(blob, *a), chunk_range(blob, *b)) {
                let (ca, cb) = (blob[ra.clone()].to_vec(), blob[rb.clone()].to_vec());
                if ca.len() == cb.len() {
                    blob[ra].copy_from_slice(&cb);
                    blob[rb].copy_from_slice(&ca);
                }
            }
        }
        Op::DuplicateChunk { chunk } => {
            if let Some(r) = chunk_range(blob, *chunk) {
                let c = blob[r.clone()].to_vec();
                blob.splice(r.end..r.end, c);
            }
        }
        Op::RemoveChunk { chunk } => {
            if let Some(r) = chunk_range(blob, *chunk) {
                blob.drain(r);
            }
        }
    }
}

fuzz_target!(|input: Input| {
    let f = &files()[usize::from(input.file) % SIZES.len()];
    let mut blob = match &input.raw {
        Some(raw) => raw.clone(),
        None => f.blob.clone(),
    };
    for op in input.ops.iter().take(8) {
        apply(&mut blob, op);
    }
    let size = (f.plaintext.len() as i64 + i64::from(input.size_delta)).max(0) as u64;
    let Ok(mut dec) = Decryptor::new(&key(), size, f.digest) else {
        assert!(size > MAX_PLAINTEXT_SIZE);
        return;
    };
    let step = usize::from(input.step).max(1);
    let mut out = Vec::new();
    for piece in blob.chunks(step) {
        match dec.update(piece) {
            Ok(p) => out.extend_from_slice(&p),
            Err(e) => {
                // Refused once, refused for good.
                assert_eq!(dec.update(&[]), Err(e));
                return;
            }
        }
    }
    if dec.finish().is_ok() {
        assert_eq!(blob, f.blob, "a modified blob was accepted");
        assert_eq!(size, f.plaintext.len() as u64);
        assert_eq!(out, f.plaintext);
    }
});
