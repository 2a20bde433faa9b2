//! Structure-aware Double Ratchet target: one of the fixture's real messages from Bob is
//! decoded, its parts mutated (ratchet key, previous-chain and message counters, header and
//! ciphertext bytes, framing) and the result decrypted against Alice's fixed session.
//!
//! Invariants: no panic; a failed decrypt leaves the session state byte-identical; a decrypt
//! that succeeds returns one of the plaintexts Bob really sent (nothing is forged).
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use hush_protocol::Session;
use hush_protocol::proto::wire;
use libfuzzer_sys::fuzz_target;
use prost::Message;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Which real message to start from.
    which: u8,
    ops: Vec<Op>,
    /// Bit flips applied to the final encoding.
    raw_flips: Vec<u16>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    SetRatchetKey([u8; 32]),
    FlipRatchetKeyBit(u8),
    SetPreviousCounter(u32),
    SetCounter(u32),
    AddCounter(i16),
    FlipHeaderBit(u16),
    TruncateHeader(u8),
    ReplaceHeader(Vec<u8>),
    /// Takes the header of another real message (the ciphertext stays).
    SwapHeader(u8),
    /// Takes the ciphertext of another real message (the header stays).
    SwapCiphertext(u8),
    FlipCiphertextBit(u16),
    TruncateCiphertext(u16),
    AppendCiphertext(Vec<u8>),
    SetVersion(u32),
    DropBody,
}

fn ratchet(bytes: &[u8]) -> wire::RatchetMessage {
    match wire::HushMessage::decode(bytes).ok().and_then(|m| m.body) {
        Some(wire::hush_message::Body::Ratchet(r)) => r,
        _ => wire::RatchetMessage::default(),
    }
}

fn set_u32(header: &mut [u8], at: usize, v: u32) {
    if header.len() >= at + 4 {
        header[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
}

fn get_u32(header: &[u8], at: usize) -> u32 {
    header
        .get(at..at + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, u32::from_be_bytes)
}

fuzz_target!(|input: Input| {
    let f = common::fixture();
    let pick = |i: u8| &f.pending[usize::from(i) % f.pending.len()];
    let (original, _) = pick(input.which);
    let mut msg = match wire::HushMessage::decode(original.as_slice()) {
        Ok(m) => m,
        Err(_) => return,
    };
    for op in input.ops.iter().take(16) {
        if let Op::SetVersion(v) = op {
            msg.version = *v;
            continue;
        }
        if let Op::DropBody = op {
            msg.body = None;
            continue;
        }
        let Some(wire::hush_message::Body::Ratchet(r)) = msg.body.as_mut() else {
            continue;
        };
        let h = &mut r.header;
        match op {
            Op::SetRatchetKey(k) => {
                if h.len() >= 32 {
                    h[..32].copy_from_slice(k);
                }
            }
            Op::FlipRatchetKeyBit(b) => {
                if h.len() >= 32 {
                    h[usize::from(*b / 8) % 32] ^= 1 << (b % 8);
                }
            }
            Op::SetPreviousCounter(v) => set_u32(h, 32, *v),
            Op::SetCounter(v) => set_u32(h, 36, *v),
            Op::AddCounter(d) => {
                let n = get_u32(h, 36).wrapping_add_signed(i32::from(*d));
                set_u32(h, 36, n);
            }
            Op::FlipHeaderBit(b) => {
                if !h.is_empty() {
                    let i = usize::from(*b / 8) % h.len();
                    h[i] ^= 1 << (b % 8);
                }
            }
            Op::TruncateHeader(n) => h.truncate(usize::from(*n)),
            Op::ReplaceHeader(v) => *h = v.clone(),
            Op::SwapHeader(i) => r.header = ratchet(&pick(*i).0).header,
            Op::SwapCiphertext(i) => r.ciphertext = ratchet(&pick(*i).0).ciphertext,
            Op::FlipCiphertextBit(b) => {
                let c = &mut r.ciphertext;
                if !c.is_empty() {
                    let i = usize::from(*b / 8) % c.len();
                    c[i] ^= 1 << (b % 8);
                }
            }
            Op::TruncateCiphertext(n) => r.ciphertext.truncate(usize::from(*n)),
            Op::AppendCiphertext(v) => r.ciphertext.extend_from_slice(v),
            Op::SetVersion(_) | Op::DropBody => {}
        }
    }
    let mut bytes = msg.encode_to_vec();
    for b in input.raw_flips.iter().take(4) {
        if !bytes.is_empty() {
            let i = usize::from(*b / 8) % bytes.len();
            bytes[i] ^= 1 << (b % 8);
        }
    }
    let mut session = Session::from_bytes(&f.alice_session).expect("fixture state");
    let mut rng = common::rng();
    match session.decrypt(&mut rng, &bytes) {
        Ok(plaintext) => assert!(
            f.pending.iter().any(|(_, p)| *p == plaintext),
            "a mutated message decrypted to something Bob never sent"
        ),
        Err(_) => assert_eq!(
            *session.to_bytes(),
            f.alice_session,
            "failed decrypt changed the state"
        ),
    }
});
