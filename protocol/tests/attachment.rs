//! Attachments (spec/attachments.md): round trips at chunk and bucket edges, every tampering
//! refused, references, and a proptest over sizes and slicings.

use hush_protocol::attachment::{
    AttachmentError, AttachmentKey, AttachmentRef, CHUNK_CIPHERTEXT_LEN, CHUNK_PLAINTEXT_LEN,
    Decryptor, Encryptor, MAX_PLAINTEXT_SIZE, MIN_PADDED_LEN, TAG_LEN, ciphertext_len, padded_len,
};
use proptest::prelude::*;

const C: usize = CHUNK_PLAINTEXT_LEN;

fn plaintext(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8 ^ (i >> 16) as u8).collect()
}

/// The whole blob and the reference values for `data`, fed in slices of `step` bytes.
fn encrypt(key: &AttachmentKey, data: &[u8], step: usize) -> (Vec<u8>, [u8; 32]) {
    let mut enc = Encryptor::new(key);
    let mut blob = Vec::new();
    for piece in data.chunks(step.max(1)) {
        blob.extend(enc.update(piece).expect("within the size limit"));
    }
    let done = enc.finish();
    blob.extend(&done.last_chunk);
    blob.resize(blob.len() + done.padding_len as usize, 0);
    assert_eq!(blob.len() as u64, done.padded_len);
    assert_eq!(done.plaintext_size, data.len() as u64);
    (blob, done.digest)
}

fn decrypt(
    key: &AttachmentKey,
    size: u64,
    digest: [u8; 32],
    blob: &[u8],
    step: usize,
) -> Result<Vec<u8>, AttachmentError> {
    let mut dec = Decryptor::new(key, size, digest)?;
    let mut out = Vec::new();
    for piece in blob.chunks(step.max(1)) {
        out.extend(dec.update(piece)?);
    }
    dec.finish()?;
    Ok(out)
}

fn key(b: u8) -> AttachmentKey {
    AttachmentKey::from_bytes([b; 32])
}

#[test]
fn round_trips_at_chunk_and_bucket_edges() {
    // A ciphertext of exactly MIN_PADDED_LEN: one chunk of MIN - 16 bytes of plaintext.
    let at_min = MIN_PADDED_LEN as usize - TAG_LEN;
    // The first Padmé bucket above the minimum is 67_584 (mask 2047): plaintexts whose
    // ciphertext lands exactly on it and one byte over.
    let bucket = 67_584usize;
    let sizes = [
        0,
        1,
        C - 1,
        C,
        C + 1,
        2 * C,
        3 * C + 7,
        at_min,
        at_min + 1,
        bucket - 2 * TAG_LEN,
        bucket - 2 * TAG_LEN + 1,
    ];
    for (i, &n) in sizes.iter().enumerate() {
        let k = key(i as u8 + 1);
        let data = plaintext(n);
        for step in [1 << 20, 4096, 65_552, 999] {
            let (blob, digest) = encrypt(&k, &data, step);
            assert_eq!(blob.len() as u64, padded_len(ciphertext_len(n as u64)));
            assert!(blob.len() as u64 >= MIN_PADDED_LEN);
            let out = decrypt(&k, n as u64, digest, &blob, step).expect("round trip");
            assert_eq!(out, data, "size {n} step {step}");
        }
    }
}

#[test]
fn several_mib_round_trip_with_uneven_slices() {
    let n = 3 * 1024 * 1024 + 12_345;
    let data = plaintext(n);
    let k = key(9);
    let (blob, digest) = encrypt(&k, &data, 100_003);
    assert_eq!(
        decrypt(&k, n as u64, digest, &blob, 77_777).expect("ok"),
        data
    );
}

#[test]
fn padding_buckets() {
    assert_eq!(padded_len(0), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN), MIN_PADDED_LEN);
    assert_eq!(padded_len(MIN_PADDED_LEN + 1), 67_584);
    assert_eq!(padded_len(67_584), 67_584);
    assert_eq!(padded_len(67_585), 69_632);
    // Powers of two are their own bucket; the overhead stays below 12 %.
    for e in 17..=31u32 {
        let p = 1u64 << e;
        assert_eq!(padded_len(p), p);
        for l in [p + 1, p + p / 3, 2 * p - 1] {
            let b = padded_len(l);
            assert!(b >= l && (b - l) * 100 <= l * 12, "{l} -> {b}");
        }
    }
    // The largest attachment fits.
    let max = padded_len(ciphertext_len(MAX_PLAINTEXT_SIZE));
    assert!(max >= ciphertext_len(MAX_PLAINTEXT_SIZE));
}

fn three_chunks() -> (AttachmentKey, Vec<u8>, Vec<u8>, [u8; 32]) {
    let k = key(7);
    let data = plaintext(2 * C + 100);
    let (blob, digest) = encrypt(&k, &data, 1 << 20);
    (k, data, blob, digest)
}

#[test]
fn truncation_is_refused() {
    let (k, data, blob, digest) = three_chunks();
    let n = data.len() as u64;
    // Missing padding, missing final chunk, a cut inside a chunk.
    for cut in [
        blob.len() - 1,
        2 * CHUNK_CIPHERTEXT_LEN,
        CHUNK_CIPHERTEXT_LEN + 10,
        0,
    ] {
        let r = decrypt(&k, n, digest, &blob[..cut], 4096);
        assert!(
            matches!(r, Err(AttachmentError::Truncated { received, .. }) if received == cut as u64),
            "{cut}: {r:?}"
        );
    }
    // A file cut after two chunks, with the size (and digest) lying to match: the second
    // chunk was sealed as non-final and does not open as the final one.
    let (_, short_digest) = encrypt(&k, &data[..2 * C], 1 << 20);
    let mut cut = blob[..2 * CHUNK_CIPHERTEXT_LEN].to_vec();
    cut.resize(padded_len(cut.len() as u64) as usize, 0);
    let r = decrypt(&k, 2 * C as u64, short_digest, &cut, 1 << 20);
    assert_eq!(r, Err(AttachmentError::ChunkAuthentication { index: 1 }));
}

#[test]
fn reordered_and_swapped_chunks_are_refused() {
    let (k, data, blob, digest) = three_chunks();
    let n = data.len() as u64;
    let mut swapped = blob.clone();
    let (a, b) = swapped.split_at_mut(CHUNK_CIPHERTEXT_LEN);
    a.swap_with_slice(&mut b[..CHUNK_CIPHERTEXT_LEN]);
    assert_eq!(
        decrypt(&k, n, digest, &swapped, 4096),
        Err(AttachmentError::ChunkAuthentication { index: 0 })
    );
    // A chunk from another file under the same key at the same position still fails the
    // digest; under another key it fails authentication.
    let other = plaintext(2 * C + 100)
        .iter()
        .map(|b| b ^ 1)
        .collect::<Vec<_>>();
    let (other_blob, _) = encrypt(&k, &other, 1 << 20);
    let mut spliced = blob.clone();
    spliced[CHUNK_CIPHERTEXT_LEN..2 * CHUNK_CIPHERTEXT_LEN]
        .copy_from_slice(&other_blob[CHUNK_CIPHERTEXT_LEN..2 * CHUNK_CIPHERTEXT_LEN]);
    assert_eq!(
        decrypt(&k, n, digest, &spliced, 4096),
        Err(AttachmentError::DigestMismatch)
    );
    let (foreign, _) = encrypt(&key(8), &other, 1 << 20);
    let mut spliced = blob.clone();
    spliced[..CHUNK_CIPHERTEXT_LEN].copy_from_slice(&foreign[..CHUNK_CIPHERTEXT_LEN]);
    assert_eq!(
        decrypt(&k, n, digest, &spliced, 4096),
        Err(AttachmentError::ChunkAuthentication { index: 0 })
    );
}

#[test]
fn appended_chunk_and_bytes_are_refused() {
    let (k, data, blob, digest) = three_chunks();
    let n = data.len() as u64;
    let mut longer = blob.clone();
    longer.extend_from_slice(&blob[..CHUNK_CIPHERTEXT_LEN]);
    let r = decrypt(&k, n, digest, &longer, 1 << 20);
    assert!(matches!(r, Err(AttachmentError::TooLong { .. })), "{r:?}");
    let mut one_more = blob.clone();
    one_more.push(0);
    let r = decrypt(&k, n, digest, &one_more, 4096);
    assert!(matches!(r, Err(AttachmentError::TooLong { .. })), "{r:?}");
    // A chunk written into the padding after the final chunk.
    let small = plaintext(100);
    let (mut blob, digest) = encrypt(&k, &small, 4096);
    let end = 100 + TAG_LEN;
    let extra = hush_protocol::attachment::seal_chunk(&k, 1, true, b"more");
    blob[end..end + extra.len()].copy_from_slice(&extra);
    let r = decrypt(&k, 100, digest, &blob, 4096);
    assert!(
        matches!(r, Err(AttachmentError::PaddingAltered { offset }) if offset >= end as u64),
        "{r:?}"
    );
}

#[test]
fn altered_byte_wrong_key_wrong_digest_are_refused() {
    let (k, data, blob, digest) = three_chunks();
    let n = data.len() as u64;
    for (pos, index) in [
        (0, 0),
        (CHUNK_CIPHERTEXT_LEN + 5, 1),
        (blob.len() - 1, u64::MAX),
    ] {
        let mut bad = blob.clone();
        bad[pos] ^= 0x80;
        let r = decrypt(&k, n, digest, &bad, 4096);
        if index == u64::MAX {
            // The last byte is padding.
            assert!(
                matches!(r, Err(AttachmentError::PaddingAltered { .. })),
                "{r:?}"
            );
        } else {
            assert_eq!(r, Err(AttachmentError::ChunkAuthentication { index }));
        }
    }
    assert_eq!(
        decrypt(&key(99), n, digest, &blob, 4096),
        Err(AttachmentError::ChunkAuthentication { index: 0 })
    );
    let mut wrong = digest;
    wrong[31] ^= 1;
    assert_eq!(
        decrypt(&k, n, wrong, &blob, 4096),
        Err(AttachmentError::DigestMismatch)
    );
    // A wrong size moves the final chunk: refused.
    assert!(decrypt(&k, n - 1, digest, &blob, 4096).is_err());
    assert!(decrypt(&k, n + 1, digest, &blob, 4096).is_err());
}

#[test]
fn a_failed_decryptor_stays_failed() {
    let (k, data, mut blob, digest) = three_chunks();
    blob[3] ^= 1;
    let mut dec = Decryptor::new(&k, data.len() as u64, digest).expect("size ok");
    let e = dec
        .update(&blob[..CHUNK_CIPHERTEXT_LEN])
        .expect_err("tampered");
    assert_eq!(dec.update(&blob[CHUNK_CIPHERTEXT_LEN..]), Err(e.clone()));
    assert_eq!(dec.finish(), Err(e));
}

#[test]
fn sizes_beyond_the_limit_are_refused() {
    let k = key(1);
    assert!(matches!(
        Decryptor::new(&k, MAX_PLAINTEXT_SIZE + 1, [0; 32]),
        Err(AttachmentError::TooLarge { .. })
    ));
    assert!(Decryptor::new(&k, MAX_PLAINTEXT_SIZE, [0; 32]).is_ok());
}

fn sample_ref() -> AttachmentRef {
    AttachmentRef {
        blob_id: [3; 32],
        key: key(4),
        digest: [5; 32],
        size: 123_456,
        name: "holiday photo.jpg".into(),
        media_type: "image/jpeg".into(),
    }
}

#[test]
fn reference_round_trip_and_refusals() {
    let r = sample_ref();
    let bytes = r.encode().expect("valid");
    assert_eq!(AttachmentRef::decode(&bytes).expect("decodes"), r);
    let dbg = format!("{r:?}");
    assert!(!dbg.contains("4, 4, 4"), "key bytes printed: {dbg}");

    for (mutate, what) in [
        (
            Box::new(|r: &mut AttachmentRef| r.name = "../etc/passwd".into())
                as Box<dyn Fn(&mut AttachmentRef)>,
            "separator",
        ),
        (Box::new(|r| r.name = "x".repeat(256)), "long name"),
        (
            Box::new(|r| r.media_type = "image/png\n".into()),
            "media type",
        ),
        (Box::new(|r| r.size = MAX_PLAINTEXT_SIZE + 1), "size"),
    ] {
        let mut bad = sample_ref();
        mutate(&mut bad);
        assert!(bad.encode().is_err(), "{what}");
    }
    // Wrong lengths and version, and garbage.
    use hush_protocol::proto::wire::AttachmentReference;
    use prost::Message;
    let good = AttachmentReference::decode(bytes.as_slice()).expect("decodes");
    let mut m = good.clone();
    m.key.pop();
    assert!(AttachmentRef::decode(&m.encode_to_vec()).is_err());
    let mut m = good.clone();
    m.blob_id.push(0);
    assert!(AttachmentRef::decode(&m.encode_to_vec()).is_err());
    let mut m = good.clone();
    m.digest.clear();
    assert!(AttachmentRef::decode(&m.encode_to_vec()).is_err());
    let mut m = good;
    m.version = 2;
    assert_eq!(
        AttachmentRef::decode(&m.encode_to_vec()),
        Err(AttachmentError::UnsupportedVersion(2))
    );
    assert!(AttachmentRef::decode(&[0xff, 0xff, 0xff]).is_err());
}

#[test]
fn key_debug_hides_bytes() {
    let k = AttachmentKey::from_bytes([0xab; 32]);
    assert_eq!(format!("{k:?}"), "AttachmentKey(..)");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any size up to a few chunks, any slicing on both sides: the round trip holds, and
    /// flipping any one byte of the blob is refused.
    #[test]
    fn round_trip_and_single_flip(
        n in 0usize..(3 * C + 200),
        enc_step in 1usize..100_000,
        dec_step in 1usize..100_000,
        flip in any::<prop::sample::Index>(),
        seed in any::<u8>(),
    ) {
        let k = key(seed);
        let data = plaintext(n);
        let (blob, digest) = encrypt(&k, &data, enc_step);
        prop_assert_eq!(decrypt(&k, n as u64, digest, &blob, dec_step).expect("ok"), data);
        let mut bad = blob.clone();
        bad[flip.index(blob.len())] ^= 0x01;
        prop_assert!(decrypt(&k, n as u64, digest, &bad, dec_step).is_err());
    }
}
