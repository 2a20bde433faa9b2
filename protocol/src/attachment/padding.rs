//! Size buckets: the blob (ciphertext plus zero padding) has one of few lengths, so the
//! relay learns only a coarse size (`spec/attachments.md` section 4).

/// The smallest blob: every ciphertext shorter than this is padded up to it (64 KiB).
pub const MIN_PADDED_LEN: u64 = 1 << 16;

/// The padded (blob) length for a ciphertext of `ciphertext_len` bytes: at least
/// [`MIN_PADDED_LEN`], above that the Padmé rounding (the length keeps its top
/// `floor(log2(E)) + 1` bits, where `E = floor(log2(L))`; the overhead is at most 12 %).
pub fn padded_len(ciphertext_len: u64) -> u64 {
    if ciphertext_len <= MIN_PADDED_LEN {
        return MIN_PADDED_LEN;
    }
    let l = ciphertext_len;
    let e = 63 - u64::from(l.leading_zeros()); // floor(log2 L), >= 16 here
    let s = 64 - u64::from(e.leading_zeros()); // floor(log2 E) + 1
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    (l + mask) & !mask
}
