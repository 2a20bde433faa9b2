//! Group-layer benchmarks, each operation next to the same operation on raw openmls in the
//! same run (ratio = ours / raw). Sizes from `HUSH_GROUP_BENCH_SIZES` (default "10,100,1000").
//!
//! `cargo bench -p hush-protocol --bench group`

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use hush_protocol::IdentityKeyPair;
use hush_protocol::group::{GroupClient, GroupConfig, GroupId};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng};

const CS: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;
const PAYLOAD: [u8; 1024] = [0x42; 1024];

// ---------- raw openmls ----------

#[derive(Default)]
struct RawProvider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for RawProvider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;
    fn storage(&self) -> &MemoryStorage {
        &self.storage
    }
    fn crypto(&self) -> &RustCrypto {
        &self.crypto
    }
    fn rand(&self) -> &RustCrypto {
        &self.crypto
    }
}

impl RawProvider {
    fn fork(&self) -> Self {
        let values = self.storage.values.read().expect("lock").clone();
        Self {
            crypto: RustCrypto::default(),
            storage: MemoryStorage {
                values: std::sync::RwLock::new(values),
            },
        }
    }
}

struct Raw {
    p: RawProvider,
    signer: SignatureKeyPair,
    cred: CredentialWithKey,
}

/// A raw openmls member whose credential identity is `identity_len` random bytes: as long as
/// a Hush identity's encoding (keys and a signature, random-looking too), so that both sides
/// hash and store leaves of the same size and content. (Zero padding made raw openmls' store
/// cheaper: its JSON writes each byte of a credential as a decimal number.)
fn raw_member(i: usize, identity_len: usize) -> Raw {
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).expect("keys");
    let mut identity = vec![0u8; identity_len];
    StdRng::seed_from_u64(0x5eed_0000 + i as u64).fill_bytes(&mut identity);
    let cred = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: signer.public().into(),
    };
    Raw {
        p: RawProvider::default(),
        signer,
        cred,
    }
}

fn raw_kp(m: &Raw) -> KeyPackage {
    KeyPackage::builder()
        .build(CS, &m.p, &m.signer, m.cred.clone())
        .expect("kp")
        .key_package()
        .clone()
}

fn raw_config() -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(CS)
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .padding_size(64)
        .max_past_epochs(2)
        .use_ratchet_tree_extension(true)
        .build()
}

fn to_in(m: &MlsMessageOut) -> MlsMessageIn {
    MlsMessageIn::tls_deserialize_exact(m.tls_serialize_detached().expect("ser")).expect("de")
}

// ---------- benches ----------

/// Valgrind client requests (`valgrind/callgrind.h`) that switch callgrind's instrumentation
/// on and off. `scripts/bench-group-instructions` runs the benchmark with
/// `--instr-atstart=no`, so the set-up (thousands of KeyPackages and a group of that size, for
/// both sides) runs at valgrind's uninstrumented speed and only the timed sections are
/// simulated; that is what makes 10,000 members countable.
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
mod callgrind {
    /// `VG_USERREQ_TOOL_BASE('C','T')`.
    const BASE: u64 = (b'C' as u64) << 24 | (b'T' as u64) << 16;
    pub const START_INSTRUMENTATION: u64 = BASE + 4;
    pub const STOP_INSTRUMENTATION: u64 = BASE + 5;

    #[inline(always)]
    pub fn request(code: u64) {
        let args: [u64; 6] = [code, 0, 0, 0, 0, 0];
        // SAFETY: valgrind's documented amd64 client-request sequence (`valgrind.h`,
        // `VALGRIND_DO_CLIENT_REQUEST_EXPR`). On a real CPU it does nothing: rdi is rotated
        // by 3 + 13 + 61 + 51 = 128 bits, i.e. back to its value, and `xchg rbx, rbx` swaps
        // a register with itself; only flags change, which `asm!` assumes anyway. Under
        // valgrind the tool reads the six words at rax (a live local array) and writes its
        // answer to rdx, declared clobbered. Exercised by every benchmark run (no-op) and by
        // `scripts/bench-group-instructions` (under callgrind).
        unsafe {
            core::arch::asm!(
                "rol rdi, 3",
                "rol rdi, 13",
                "rol rdi, 61",
                "rol rdi, 51",
                "xchg rbx, rbx",
                in("rax") args.as_ptr(),
                inout("rdx") 0u64 => _,
                inout("rdi") 0u64 => _,
                options(nostack, readonly),
            );
        }
    }
}

#[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
mod callgrind {
    pub const START_INSTRUMENTATION: u64 = 0;
    pub const STOP_INSTRUMENTATION: u64 = 0;
    pub fn request(_code: u64) {}
}

/// The timed part of each benchmark: `measured_<op>_<side>` switches callgrind's
/// instrumentation on, calls `counted_<op>_<side>` (never inlined) and switches it off.
/// `valgrind --tool=callgrind --instr-atstart=no --toggle-collect='*counted_*'` then counts
/// exactly what criterion times, per operation (`scripts/bench-group-instructions`). Outside
/// valgrind the two requests are a handful of no-op instructions on both sides.
macro_rules! measured_fns {
    ($($outer:ident => $inner:ident),* $(,)?) => {$(
        #[inline(never)]
        fn $inner<T>(f: impl FnOnce() -> T) -> T {
            black_box(f())
        }

        fn $outer<T>(f: impl FnOnce() -> T) -> T {
            callgrind::request(callgrind::START_INSTRUMENTATION);
            let out = $inner(f);
            callgrind::request(callgrind::STOP_INSTRUMENTATION);
            out
        }
    )*};
}

measured_fns!(
    measured_add_member_hush => counted_add_member_hush,
    measured_add_member_openmls => counted_add_member_openmls,
    measured_process_add_hush => counted_process_add_hush,
    measured_process_add_openmls => counted_process_add_openmls,
    measured_join_hush => counted_join_hush,
    measured_join_openmls => counted_join_openmls,
    measured_self_update_hush => counted_self_update_hush,
    measured_self_update_openmls => counted_self_update_openmls,
    measured_process_update_hush => counted_process_update_hush,
    measured_process_update_openmls => counted_process_update_openmls,
    measured_remove_member_hush => counted_remove_member_hush,
    measured_remove_member_openmls => counted_remove_member_openmls,
    measured_decrypt_1kib_hush => counted_decrypt_1kib_hush,
    measured_decrypt_1kib_openmls => counted_decrypt_1kib_openmls,
    measured_encrypt_1kib_hush => counted_encrypt_1kib_hush,
    measured_encrypt_1kib_openmls => counted_encrypt_1kib_openmls,
);

fn sizes() -> Vec<usize> {
    std::env::var("HUSH_GROUP_BENCH_SIZES")
        .unwrap_or_else(|_| "10,100,1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn bench_size(c: &mut Criterion, n: usize) {
    let mut rng = StdRng::seed_from_u64(n as u64);

    // ---- ours: a group of n, Bob an existing member, Joiner holding one KeyPackage ----
    let ids: Vec<IdentityKeyPair> = (0..n + 1)
        .map(|_| IdentityKeyPair::generate(&mut rng))
        .collect();
    let mut clients: Vec<GroupClient> = ids
        .iter()
        .map(|id| GroupClient::new(id, GroupConfig::default()).expect("client"))
        .collect();
    let kps: Vec<Vec<u8>> = clients[1..n]
        .iter_mut()
        .map(|c| c.generate_key_packages(&mut rng, 1).expect("kp").remove(0))
        .collect();
    let joiner_kp = clients[n]
        .generate_key_packages(&mut rng, 1)
        .expect("kp")
        .remove(0);
    let joiner_blob = clients[n].to_bytes().expect("blob");
    let mut alice = clients.remove(0);
    let mut bob = clients.remove(0);
    let g: GroupId = alice.create_group(&mut rng).expect("group");
    let refs: Vec<&[u8]> = kps.iter().map(Vec::as_slice).collect();
    let add = alice.add_members(&mut rng, &g, &refs).expect("add");
    alice
        .process(&mut rng, &g, &add.commit)
        .expect("own commit");
    bob.join(&mut rng, &add.welcome_for(0).expect("welcome"), None)
        .expect("join");
    drop(clients);
    let bob_blob = bob.to_bytes().expect("blob");
    let add_j = alice
        .add_members(&mut rng, &g, &[&joiner_kp])
        .expect("add joiner");
    alice.discard_pending_commit(&g).expect("discard");
    let welcome_j = add_j.welcome_for(0).expect("welcome");
    let upd = alice.self_update(&mut rng, &g).expect("update");
    alice.discard_pending_commit(&g).expect("discard");
    let victim = ids[n - 1].public().clone();

    // ---- raw: the same group ----
    let identity_len = ids[0].public().to_bytes().len();
    let mut raws: Vec<Raw> = (0..n + 1).map(|i| raw_member(i, identity_len)).collect();
    let raw_kps: Vec<KeyPackage> = raws[1..n].iter().map(raw_kp).collect();
    let raw_joiner = raws.pop().expect("joiner");
    let raw_joiner_kp = raw_kp(&raw_joiner);
    let raw_joiner_kp_bytes = MlsMessageOut::from(raw_joiner_kp.clone())
        .tls_serialize_detached()
        .expect("ser");
    let ra = raws.remove(0);
    let rb = raws.remove(0);
    drop(raws);
    let mut ga = MlsGroup::new(&ra.p, &ra.signer, &raw_config(), ra.cred.clone()).expect("group");
    let (_, rwelcome, _) = ga.add_members(&ra.p, &ra.signer, &raw_kps).expect("add");
    ga.merge_pending_commit(&ra.p).expect("merge");
    let rwelcome = match to_in(&rwelcome).extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => unreachable!(),
    };
    let join_cfg = raw_config().join_config().clone();
    let gb = StagedWelcome::new_from_welcome(&rb.p, &join_cfg, rwelcome, None)
        .expect("stage")
        .into_group(&rb.p)
        .expect("group");
    let gid = gb.group_id().clone();
    drop(gb);
    let (radd_j, rwelcome_j, _) = ga
        .add_members(&ra.p, &ra.signer, std::slice::from_ref(&raw_joiner_kp))
        .expect("add");
    ga.clear_pending_commit(ra.p.storage()).expect("clear");
    let rwelcome_j = match to_in(&rwelcome_j).extract() {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => unreachable!(),
    };
    let rupd = ga
        .self_update(&ra.p, &ra.signer, LeafNodeParameters::default())
        .expect("upd")
        .into_commit();
    ga.clear_pending_commit(ra.p.storage()).expect("clear");
    let rvictim = LeafNodeIndex::new((n - 1) as u32);

    let mut grp = c.benchmark_group(format!("group/{n}"));
    grp.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));

    grp.bench_function("add_member/hush", |b| {
        b.iter(|| {
            measured_add_member_hush(|| {
                let out = alice.add_members(&mut rng, &g, &[&joiner_kp]).expect("add");
                alice.discard_pending_commit(&g).expect("discard");
                black_box(out)
            })
        })
    });
    grp.bench_function("add_member/openmls", |b| {
        b.iter(|| {
            measured_add_member_openmls(|| {
                // From bytes and validated, as the Hush side takes KeyPackages.
                let kp = match MlsMessageIn::tls_deserialize_exact(&raw_joiner_kp_bytes)
                    .expect("de")
                    .extract()
                {
                    MlsMessageBodyIn::KeyPackage(kp) => kp
                        .validate(ra.p.crypto(), ProtocolVersion::Mls10)
                        .expect("valid"),
                    _ => unreachable!(),
                };
                let out = ga
                    .add_members(&ra.p, &ra.signer, std::slice::from_ref(&kp))
                    .expect("add");
                let w = out.1.tls_serialize_detached().expect("ser");
                ga.clear_pending_commit(ra.p.storage()).expect("clear");
                black_box((out.0.tls_serialize_detached().expect("ser"), w))
            })
        })
    });

    let mut rng2 = StdRng::seed_from_u64(7);
    grp.bench_function("process_add/hush", |b| {
        b.iter_batched(
            || GroupClient::from_bytes(&ids[1], &bob_blob).expect("bob"),
            |mut bob| {
                measured_process_add_hush(|| {
                    // Return the client: criterion drops outputs outside the timed section.
                    let ev = bob.process(&mut rng2, &g, &add_j.commit).expect("process");
                    black_box((bob, ev))
                })
            },
            BatchSize::PerIteration,
        )
    });
    grp.bench_function("process_add/openmls", |b| {
        b.iter_batched(
            || {
                let p = rb.p.fork();
                let grp = MlsGroup::load(p.storage(), &gid)
                    .expect("load")
                    .expect("group");
                (p, grp, radd_j.tls_serialize_detached().expect("ser"))
            },
            |(p, mut grp, bytes)| {
                measured_process_add_openmls(|| {
                    // From bytes, as the Hush side does.
                    let msg = MlsMessageIn::tls_deserialize_exact(&bytes)
                        .expect("de")
                        .try_into_protocol_message()
                        .expect("protocol");
                    let pm = grp.process_message(&p, msg).expect("process");
                    if let ProcessedMessageContent::StagedCommitMessage(s) = pm.into_content() {
                        grp.merge_staged_commit(&p, *s).expect("merge");
                    }
                    black_box((p, grp))
                })
            },
            BatchSize::PerIteration,
        )
    });

    grp.bench_function("join/hush", |b| {
        b.iter_batched(
            || GroupClient::from_bytes(&ids[n], &joiner_blob).expect("joiner"),
            |mut j| {
                measured_join_hush(|| {
                    let id = j.join(&mut rng2, &welcome_j, None).expect("join");
                    black_box((j, id))
                })
            },
            BatchSize::PerIteration,
        )
    });
    grp.bench_function("join/openmls", |b| {
        b.iter_batched(
            || (raw_joiner.p.fork(), rwelcome_j.clone()),
            |(p, w)| {
                measured_join_openmls(|| {
                    let grp = StagedWelcome::new_from_welcome(&p, &join_cfg, w, None)
                        .expect("stage")
                        .into_group(&p)
                        .expect("group");
                    black_box((p, grp))
                })
            },
            BatchSize::PerIteration,
        )
    });

    grp.bench_function("self_update/hush", |b| {
        b.iter(|| {
            measured_self_update_hush(|| {
                let out = alice.self_update(&mut rng, &g).expect("update");
                alice.discard_pending_commit(&g).expect("discard");
                black_box(out)
            })
        })
    });
    grp.bench_function("self_update/openmls", |b| {
        b.iter(|| {
            measured_self_update_openmls(|| {
                let out = ga
                    .self_update(&ra.p, &ra.signer, LeafNodeParameters::default())
                    .expect("upd");
                let bytes = out.commit().tls_serialize_detached().expect("ser");
                ga.clear_pending_commit(ra.p.storage()).expect("clear");
                black_box(bytes)
            })
        })
    });
    grp.bench_function("process_update/hush", |b| {
        b.iter_batched(
            || GroupClient::from_bytes(&ids[1], &bob_blob).expect("bob"),
            |mut bob| {
                measured_process_update_hush(|| {
                    let ev = bob.process(&mut rng2, &g, &upd.commit).expect("process");
                    black_box((bob, ev))
                })
            },
            BatchSize::PerIteration,
        )
    });
    grp.bench_function("process_update/openmls", |b| {
        b.iter_batched(
            || {
                let p = rb.p.fork();
                let grp = MlsGroup::load(p.storage(), &gid)
                    .expect("load")
                    .expect("group");
                (p, grp, rupd.tls_serialize_detached().expect("ser"))
            },
            |(p, mut grp, bytes)| {
                measured_process_update_openmls(|| {
                    // From bytes, as the Hush side does.
                    let msg = MlsMessageIn::tls_deserialize_exact(&bytes)
                        .expect("de")
                        .try_into_protocol_message()
                        .expect("protocol");
                    let pm = grp.process_message(&p, msg).expect("process");
                    if let ProcessedMessageContent::StagedCommitMessage(s) = pm.into_content() {
                        grp.merge_staged_commit(&p, *s).expect("merge");
                    }
                    black_box((p, grp))
                })
            },
            BatchSize::PerIteration,
        )
    });

    grp.bench_function("remove_member/hush", |b| {
        b.iter(|| {
            measured_remove_member_hush(|| {
                let out = alice
                    .remove_members(&mut rng, &g, std::slice::from_ref(&victim))
                    .expect("remove");
                alice.discard_pending_commit(&g).expect("discard");
                black_box(out)
            })
        })
    });
    grp.bench_function("remove_member/openmls", |b| {
        b.iter(|| {
            measured_remove_member_openmls(|| {
                let out = ga
                    .remove_members(&ra.p, &ra.signer, &[rvictim])
                    .expect("remove");
                let bytes = out.0.tls_serialize_detached().expect("ser");
                ga.clear_pending_commit(ra.p.storage()).expect("clear");
                black_box(bytes)
            })
        })
    });

    // Decrypt first: the encrypt benchmark moves the sender's ratchet far ahead.
    let mut gb = MlsGroup::load(rb.p.storage(), &gid)
        .expect("load")
        .expect("group");
    grp.bench_function("decrypt_1KiB/hush", |b| {
        b.iter_batched(
            || alice.encrypt(&mut rng, &g, &PAYLOAD).expect("encrypt"),
            |m| measured_decrypt_1kib_hush(|| bob.process(&mut rng2, &g, &m).expect("decrypt")),
            BatchSize::SmallInput,
        )
    });
    grp.bench_function("decrypt_1KiB/openmls", |b| {
        b.iter_batched(
            || {
                let m = ga
                    .create_message(&ra.p, &ra.signer, &PAYLOAD)
                    .expect("encrypt");
                m.tls_serialize_detached().expect("ser")
            },
            |bytes| {
                measured_decrypt_1kib_openmls(|| {
                    let msg = MlsMessageIn::tls_deserialize_exact(&bytes)
                        .expect("de")
                        .try_into_protocol_message()
                        .expect("protocol");
                    black_box(gb.process_message(&rb.p, msg).expect("decrypt"))
                })
            },
            BatchSize::SmallInput,
        )
    });
    grp.bench_function("encrypt_1KiB/hush", |b| {
        b.iter(|| {
            measured_encrypt_1kib_hush(|| alice.encrypt(&mut rng, &g, &PAYLOAD).expect("encrypt"))
        })
    });
    grp.bench_function("encrypt_1KiB/openmls", |b| {
        b.iter(|| {
            measured_encrypt_1kib_openmls(|| {
                let m = ga
                    .create_message(&ra.p, &ra.signer, &PAYLOAD)
                    .expect("encrypt");
                black_box(m.tls_serialize_detached().expect("ser"))
            })
        })
    });
    grp.finish();
}

fn benches(c: &mut Criterion) {
    for n in sizes() {
        bench_size(c, n);
    }
}

criterion_group!(group_benches, benches);
criterion_main!(group_benches);
