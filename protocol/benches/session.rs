//! Costs of 1:1 sessions and of the primitives they are built from, in one run, so that
//! BENCHMARKS.md can state each operation as a ratio to its primitive floor.
//!
//! `cargo bench -p hush-protocol --bench session`

use std::hint::black_box;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce, XChaCha20Poly1305, XNonce};
use criterion::measurement::WallTime;
use criterion::{
    BatchSize, BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main,
};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use hush_protocol::{IdentityKeyPair, PreKeyBundle, PreKeyStore, Session, SessionConfig};
use ml_kem::kem::Decapsulate;
use ml_kem::{KeyExport, MlKem768};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

/// Plaintext sizes of the in-order benchmarks.
const SIZES: [usize; 3] = [64, 1024, 16 * 1024];
/// What a session's message AEAD authenticates besides the ciphertext: AD (128) ‖ header (40).
const SESSION_AAD_LEN: usize = 128 + 40;

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(50);
    g
}

fn primitives(c: &mut Criterion) {
    let mut g = group(c, "primitive");

    let a = StaticSecret::from([0x11; 32]);
    let b = PublicKey::from(&StaticSecret::from([0x22; 32]));
    g.bench_function("x25519_dh", |bench| {
        bench.iter(|| black_box(&a).diffie_hellman(black_box(&b)))
    });
    g.bench_function("x25519_public_from_secret", |bench| {
        bench.iter(|| PublicKey::from(black_box(&a)))
    });

    let sk = SigningKey::from_bytes(&[0x33; 32]);
    let vk_bytes = sk.verifying_key().to_bytes();
    let msg = [0x44u8; 56];
    let sig = sk.sign(&msg);
    let vk = VerifyingKey::from_bytes(&vk_bytes).unwrap();
    g.bench_function("ed25519_verify_strict", |bench| {
        bench.iter(|| {
            black_box(&vk)
                .verify_strict(black_box(&msg), black_box(&sig))
                .unwrap()
        })
    });
    g.bench_function("ed25519_decode_public_key", |bench| {
        bench.iter(|| VerifyingKey::from_bytes(black_box(&vk_bytes)).unwrap())
    });

    let key = [0x55u8; 32];
    g.bench_function("hmac_sha256_1B", |bench| {
        bench.iter(|| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key)).unwrap();
            mac.update(&[0x01]);
            mac.finalize().into_bytes()
        })
    });
    g.bench_function("hkdf_sha256_expand_44B", |bench| {
        bench.iter(|| {
            let hk = Hkdf::<Sha256>::from_prk(black_box(&key)).unwrap();
            let mut okm = [0u8; 44];
            hk.expand(b"Hush-v1-MessageKeys", &mut okm).unwrap();
            okm
        })
    });
    g.bench_function("hkdf_sha256_extract_expand_44B", |bench| {
        bench.iter(|| {
            let hk = Hkdf::<Sha256>::new(Some(&[0u8; 32]), black_box(&key));
            let mut okm = [0u8; 44];
            hk.expand(b"Hush-v1-MessageKeys", &mut okm).unwrap();
            okm
        })
    });

    // Header encryption: one 40-byte header, empty associated data.
    let header = [0x88u8; 40];
    g.bench_function("xchacha20poly1305_encrypt_decrypt_40B", |bench| {
        bench.iter(|| {
            let nonce = XNonce::default();
            let cipher = XChaCha20Poly1305::new_from_slice(black_box(&key)).unwrap();
            let ct = cipher.encrypt(&nonce, black_box(&header[..])).unwrap();
            let cipher = XChaCha20Poly1305::new_from_slice(black_box(&key)).unwrap();
            cipher.decrypt(&nonce, &ct[..]).unwrap()
        })
    });

    // ML-KEM-768 (PQXDH): encapsulation, decapsulation, and key expansion from a 64-byte seed.
    let seed = ml_kem::array::Array::from([0x99u8; 64]);
    let dk = ml_kem::DecapsulationKey::<MlKem768>::from_seed(seed);
    let ek = dk.encapsulation_key().clone();
    let ek_bytes = ek.to_bytes();
    let m = ml_kem::array::Array::from([0xAAu8; 32]);
    let (ct, _) = ek.encapsulate_deterministic(&m);
    g.bench_function("ml_kem_768_encapsulate", |bench| {
        bench.iter(|| black_box(&ek).encapsulate_deterministic(black_box(&m)))
    });
    g.bench_function("ml_kem_768_decapsulate", |bench| {
        bench.iter(|| black_box(&dk).decapsulate(black_box(&ct)))
    });
    g.bench_function("ml_kem_768_keygen_from_seed", |bench| {
        bench.iter(|| ml_kem::DecapsulationKey::<MlKem768>::from_seed(black_box(seed)))
    });
    g.bench_function("ml_kem_768_encapsulation_key_decode", |bench| {
        bench.iter(|| ml_kem::EncapsulationKey::<MlKem768>::new(black_box(&ek_bytes)).unwrap())
    });

    let aad = [0x66u8; SESSION_AAD_LEN];
    for size in SIZES {
        let pt = vec![0x77u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(
            format!("chacha20poly1305_encrypt_decrypt_{size}B"),
            |bench| {
                bench.iter(|| {
                    let cipher = ChaCha20Poly1305::new_from_slice(black_box(&key)).unwrap();
                    let nonce = Nonce::default();
                    let ct = cipher
                        .encrypt(
                            &nonce,
                            Payload {
                                msg: black_box(&pt),
                                aad: &aad,
                            },
                        )
                        .unwrap();
                    let cipher = ChaCha20Poly1305::new_from_slice(black_box(&key)).unwrap();
                    cipher
                        .decrypt(
                            &nonce,
                            Payload {
                                msg: &ct,
                                aad: &aad,
                            },
                        )
                        .unwrap()
                })
            },
        );
    }
    g.finish();
}

/// Bob's identity, a store holding one signed and one one-time prekey (serialized, so each
/// iteration can start from a fresh copy), the matching bundle, and Alice's identity.
struct Parties {
    alice: IdentityKeyPair,
    bob: IdentityKeyPair,
    store: Vec<u8>,
    bundle: Vec<u8>,
}

fn parties(rng: &mut StdRng) -> Parties {
    parties_with(rng, false)
}

/// `pq`: Bob's signed prekey offers PQXDH and the bundle carries a one-time KEM prekey.
fn parties_with(rng: &mut StdRng, pq: bool) -> Parties {
    let alice = IdentityKeyPair::generate(rng);
    let bob = IdentityKeyPair::generate(rng);
    let mut store = PreKeyStore::new();
    let spk = if pq {
        store.rotate_signed_prekey_pqxdh(rng, &bob)
    } else {
        store.rotate_signed_prekey(rng, &bob)
    };
    let opk = store.generate_one_time_prekeys(rng, 1);
    let kem = pq.then(|| store.generate_one_time_kem_prekeys(rng, &bob, 1).remove(0));
    let bundle = PreKeyBundle::new_pqxdh(spk, Some(opk[0]), kem)
        .unwrap()
        .to_bytes();
    Parties {
        alice,
        bob,
        store: store.to_bytes().to_vec(),
        bundle,
    }
}

/// An established pair: Alice initiated, Bob answered, Alice read the answer.
fn established(rng: &mut StdRng, p: &Parties, config: SessionConfig) -> (Session, Session) {
    let bundle = PreKeyBundle::from_bytes(&p.bundle).unwrap();
    let mut store = PreKeyStore::from_bytes(&p.store).unwrap();
    let mut alice = Session::initiate(rng, &p.alice, &bundle, config).unwrap();
    let m = alice.encrypt(rng, b"hello").unwrap();
    let (mut bob, _) = Session::respond(rng, &p.bob, &mut store, &m, config).unwrap();
    let r = bob.encrypt(rng, b"hi").unwrap();
    alice.decrypt(rng, &r).unwrap();
    (alice, bob)
}

fn x3dh(c: &mut Criterion) {
    handshake(c, "x3dh", false);
}

/// PQXDH: the same three measurements with a bundle carrying a one-time KEM prekey.
fn pqxdh(c: &mut Criterion) {
    handshake(c, "pqxdh", true);
}

fn handshake(c: &mut Criterion, name: &str, pq: bool) {
    let mut rng = StdRng::seed_from_u64(1);
    let p = parties_with(&mut rng, pq);
    let config = SessionConfig::default();
    let mut g = group(c, name);

    // Everything both sides do to get from a bundle to a first decrypted message: decode and
    // verify the bundle, initiate, encrypt the first message, respond (which verifies the
    // initiator's identity, agrees, steps the ratchet and decrypts).
    g.bench_function("full_handshake", |bench| {
        bench.iter_batched(
            || PreKeyStore::from_bytes(&p.store).unwrap(),
            |mut store| {
                let bundle = PreKeyBundle::from_bytes(&p.bundle).unwrap();
                let mut alice = Session::initiate(&mut rng, &p.alice, &bundle, config).unwrap();
                let m = alice.encrypt(&mut rng, b"hello").unwrap();
                let (bob, pt) = Session::respond(&mut rng, &p.bob, &mut store, &m, config).unwrap();
                assert_eq!(bob.is_post_quantum(), pq);
                (alice, bob, pt, store)
            },
            BatchSize::SmallInput,
        )
    });
    // The two halves, for attribution.
    g.bench_function("initiator_half", |bench| {
        bench.iter(|| {
            let bundle = PreKeyBundle::from_bytes(&p.bundle).unwrap();
            let mut alice = Session::initiate(&mut rng, &p.alice, &bundle, config).unwrap();
            let m = alice.encrypt(&mut rng, b"hello").unwrap();
            (alice, m)
        })
    });
    let bundle = PreKeyBundle::from_bytes(&p.bundle).unwrap();
    let mut alice = Session::initiate(&mut rng, &p.alice, &bundle, config).unwrap();
    let first = alice.encrypt(&mut rng, b"hello").unwrap();
    g.bench_function("responder_half", |bench| {
        bench.iter_batched(
            || PreKeyStore::from_bytes(&p.store).unwrap(),
            |mut store| {
                let r = Session::respond(&mut rng, &p.bob, &mut store, &first, config).unwrap();
                (r, store)
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn ratchet(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let p = parties(&mut rng);
    for header_encryption in [false, true] {
        let config = SessionConfig {
            header_encryption,
            ..SessionConfig::default()
        };
        let suffix = if header_encryption { "_he" } else { "" };
        let mut g = group(c, &format!("ratchet{suffix}"));

        // Alice → Bob in order, same chain: one encrypt and one decrypt per iteration.
        let (mut alice, mut bob) = established(&mut rng, &p, config);
        for size in SIZES {
            let pt = vec![0x42u8; size];
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(format!("in_order_encrypt_decrypt_{size}B"), |bench| {
                bench.iter(|| {
                    let m = alice.encrypt(&mut rng, black_box(&pt)).unwrap();
                    bob.decrypt(&mut rng, &m).unwrap()
                })
            });
        }
        g.throughput(Throughput::Elements(1));

        // One message each way, each forcing a DH ratchet step on its receiver.
        let pt = [0x42u8; 64];
        g.bench_function("dh_ratchet_turn_64B", |bench| {
            bench.iter(|| {
                let m = alice.encrypt(&mut rng, &pt).unwrap();
                bob.decrypt(&mut rng, &m).unwrap();
                let r = bob.encrypt(&mut rng, &pt).unwrap();
                alice.decrypt(&mut rng, &r).unwrap()
            })
        });

        // Bob sends 102 messages; Alice has read message 0 and now receives message 101:
        // 100 message keys are derived and stored on the way.
        let m = alice.encrypt(&mut rng, b"turn").unwrap();
        bob.decrypt(&mut rng, &m).unwrap();
        let msgs: Vec<_> = (0..102)
            .map(|_| bob.encrypt(&mut rng, &pt).unwrap())
            .collect();
        alice.decrypt(&mut rng, &msgs[0]).unwrap();
        let snapshot = alice.to_bytes();
        g.bench_function("decrypt_after_100_skipped_64B", |bench| {
            bench.iter_batched(
                || Session::from_bytes(&snapshot).unwrap(),
                |mut s| {
                    let out = s.decrypt(&mut rng, &msgs[101]).unwrap();
                    assert_eq!(s.skipped_key_count(), 100);
                    (s, out)
                },
                BatchSize::SmallInput,
            )
        });
        // Persistence of an established session (load verifies both identities' signatures).
        let blob = alice.to_bytes();
        g.bench_function("session_to_bytes", |bench| bench.iter(|| alice.to_bytes()));
        g.bench_function("session_from_bytes", |bench| {
            bench.iter(|| Session::from_bytes(black_box(&blob)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, primitives, x3dh, pqxdh, ratchet);
criterion_main!(benches);
