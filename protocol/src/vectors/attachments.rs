//! `test-vectors/attachments.json` (spec/attachments.md section 7): files of sizes around
//! the chunk and bucket edges, encrypted chunk by chunk, with their padding, digest and
//! reference encoding, and a table of padded lengths.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{VectorRng, render};
use crate::attachment::{
    AttachmentKey, AttachmentRef, CHUNK_PLAINTEXT_LEN, Encryptor, MIN_PADDED_LEN, chunk_nonce,
    padded_len,
};

/// Sizes of the vector files: empty, tiny, a ciphertext one byte under and exactly at the
/// smallest bucket, one chunk - 1, one chunk, one chunk + 1, and four chunks.
const SIZES: [usize; 8] = [0, 37, 65_519, 65_520, 65_535, 65_536, 65_537, 200_000];

/// Chunks up to this length are written out in full; longer ones as SHA-256 and tag.
const INLINE: usize = 80;

fn case(rng: &mut VectorRng, size: usize) -> Value {
    let mut key_bytes = [0u8; 32];
    rng.fill(&mut key_bytes);
    let mut blob_id = [0u8; 32];
    rng.fill(&mut blob_id);
    let mut plaintext = vec![0u8; size];
    rng.fill(&mut plaintext);
    let key = AttachmentKey::from_bytes(key_bytes);
    let mut enc = Encryptor::new(&key);
    let mut stream = enc.update(&plaintext).expect("vector sizes are small");
    let done = enc.finish();
    stream.extend_from_slice(&done.last_chunk);

    let pieces: Vec<&[u8]> = if plaintext.is_empty() {
        vec![&[]]
    } else {
        plaintext.chunks(CHUNK_PLAINTEXT_LEN).collect()
    };
    let mut chunks = Vec::new();
    let mut offset = 0usize;
    for (i, p) in pieces.iter().enumerate() {
        let len = p.len() + 16;
        let ct = &stream[offset..offset + len];
        offset += len;
        let last = i + 1 == pieces.len();
        let mut c = json!({
            "index": i,
            "last": last,
            "nonce": hex::encode(chunk_nonce(i as u64, last)),
            "plaintext_len": p.len(),
            "ciphertext_len": len,
            "tag": hex::encode(&ct[len - 16..]),
        });
        if len <= INLINE {
            c["ciphertext"] = json!(hex::encode(ct));
        } else {
            c["ciphertext_sha256"] = json!(hex::encode(Sha256::digest(ct)));
        }
        chunks.push(c);
    }
    assert_eq!(offset, stream.len());
    let reference = AttachmentRef {
        blob_id,
        key: key.clone(),
        digest: done.digest,
        size: size as u64,
        name: format!("file-{size}.bin"),
        media_type: "application/octet-stream".into(),
    };
    let mut v = json!({
        "size": size,
        "key": hex::encode(key_bytes),
        "blob_id": hex::encode(blob_id),
        "plaintext_sha256": hex::encode(Sha256::digest(&plaintext)),
        "chunks": chunks,
        "ciphertext_len": stream.len(),
        "padded_len": done.padded_len,
        "padding_len": done.padding_len,
        "digest": hex::encode(done.digest),
        "name": reference.name,
        "media_type": reference.media_type,
        "reference": hex::encode(reference.encode().expect("vector reference is valid")),
    });
    if size <= INLINE {
        v["plaintext"] = json!(hex::encode(&plaintext));
    }
    v
}

/// The attachment vectors: one case per size in `SIZES` drawn from `VectorRng("attachments")`
/// (per case: 32-byte key, 32-byte blob id, then the plaintext), and padded lengths at the
/// bucket edges.
pub fn attachment_vectors() -> String {
    let seed = "attachments";
    let mut rng = VectorRng::new(seed.as_bytes());
    let cases: Vec<Value> = SIZES.iter().map(|&n| case(&mut rng, n)).collect();
    let m = MIN_PADDED_LEN;
    let padding: Vec<Value> = [
        0,
        1,
        m - 1,
        m,
        m + 1,
        67_584,
        67_585,
        (1 << 20) - 1,
        1 << 20,
        (1 << 20) + 1,
        1_000_000_000,
        (1 << 31) + (1 << 15) * 16,
    ]
    .iter()
    .map(|&l| json!([l, padded_len(l)]))
    .collect();
    render(json!({
        "description": "Hush attachment vectors (spec/attachments.md): STREAM chunks of ChaCha20-Poly1305 (64 KiB plaintext, nonce = 11-byte big-endian index || last flag, no associated data), zero padding to the Padme bucket (at least 65536 bytes), SHA-256 digest of the padded blob, and the encoded AttachmentReference.",
        "rng": "VectorRng: SHA-256(\"Hush-v1-VectorRNG\" || seed || counter_u64_be), counter = 0, 1, ...; bytes consumed in order, per case: key (32), blob id (32), plaintext (size)",
        "seed": hex::encode(seed.as_bytes()),
        "chunk_plaintext_len": CHUNK_PLAINTEXT_LEN,
        "cases": cases,
        "padded_lengths": padding,
    }))
}
