//! PQ MLS measurement: 0x0003 vs X-Wing suites (0x004F, 0x004E), openmls 0.9.2 + openmls_rust_crypto 0.6.0.
//! Config mirrors Hush's raw-openmls bench config: pure-ciphertext wire format, padding 64,
//! max_past_epochs 2, ratchet tree in the Welcome (GroupInfo extension).
use std::time::{Duration, Instant};

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;

// group size at measurement time (env PQ_N, default 100); PQ_DENSE=0 skips the dense-tree groups
static N: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    std::env::var("PQ_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
});
const BATCH: usize = 20;
const ROUNDS: usize = 11;
const IDENTITY_LEN: usize = 128; // ~ a Hush identity encoding; same for every suite

#[derive(Default)]
struct P {
    crypto: RustCrypto,
    storage: MemoryStorage,
}
impl OpenMlsProvider for P {
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

struct Member {
    signer: SignatureKeyPair,
    cred: CredentialWithKey,
}

fn member(i: u64) -> Member {
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).expect("sig keys");
    let mut identity = vec![0u8; IDENTITY_LEN];
    identity[..8].copy_from_slice(&i.to_be_bytes());
    let cred = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: signer.public().into(),
    };
    Member { signer, cred }
}

fn kp(cs: Ciphersuite, p: &P, m: &Member) -> KeyPackage {
    KeyPackage::builder()
        .build(cs, p, &m.signer, m.cred.clone())
        .expect("kp")
        .key_package()
        .clone()
}

fn config(cs: Ciphersuite) -> MlsGroupCreateConfig {
    MlsGroupCreateConfig::builder()
        .ciphersuite(cs)
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .padding_size(64)
        .max_past_epochs(2)
        .use_ratchet_tree_extension(true)
        .build()
}

fn ser(m: &MlsMessageOut) -> Vec<u8> {
    m.tls_serialize_detached().expect("ser")
}

fn welcome_in(bytes: &[u8]) -> Welcome {
    match MlsMessageIn::tls_deserialize_exact(bytes)
        .expect("de")
        .extract()
    {
        MlsMessageBodyIn::Welcome(w) => w,
        _ => panic!("not a welcome"),
    }
}

/// Process a commit (bytes) on `g` and merge it.
fn process_commit(g: &mut MlsGroup, p: &P, bytes: &[u8]) {
    let pm = MlsMessageIn::tls_deserialize_exact(bytes)
        .expect("de")
        .try_into_protocol_message()
        .expect("protocol msg");
    let processed = g.process_message(p, pm).expect("process");
    match processed.into_content() {
        ProcessedMessageContent::StagedCommitMessage(sc) => {
            g.merge_staged_commit(p, *sc).expect("merge")
        }
        _ => panic!("not a commit"),
    }
}

#[derive(Default)]
struct Res {
    kp_size: usize,
    kp_create: Vec<Duration>,
    add_commit: Vec<usize>,
    add_welcome: Vec<usize>,
    add_nopath_commit: usize,
    add_nopath_welcome: usize,
    add_create: Vec<Duration>,
    add_process: Vec<Duration>,
    join: Vec<Duration>,
    upd_commit: Vec<usize>,
    upd_create: Vec<Duration>,
    upd_process: Vec<Duration>,
    build_time: Duration,
}

struct Suite {
    cs: Ciphersuite,
    dense: bool,
    pa: P,
    a: Member,
    ga: MlsGroup,
    pb: P,
    gb: MlsGroup,
    next_id: u64,
    res: Res,
}

fn build(cs: Ciphersuite, dense: bool) -> Suite {
    let t0 = Instant::now();
    let pa = P::default();
    let a = member(0);
    let phantom_p = P::default(); // holds the private keys of members that never join
    let mut ga = MlsGroup::new(&pa, &a.signer, &config(cs), a.cred.clone()).expect("group");
    // Real members other than A: (provider, member, group). Index 0 is B (leaf 1).
    // Sparse: only B is real. Dense: B and every even leaf are real; they all self-update once
    // so that every parent node of the tree is filled.
    let mut real: Vec<(P, Member, MlsGroup)> = Vec::new();
    let mut next_id = 1u64;
    // Build to N-1 members; the join rounds add the N-th.
    while ga.members().count() < *N - 1 {
        let want = (*N - 1 - ga.members().count()).min(BATCH);
        let mut kps = Vec::new();
        let mut newcomers: Vec<(P, Member)> = Vec::new();
        while kps.len() < want {
            let leaf = next_id; // leaves are filled left to right
            let m = member(next_id);
            next_id += 1;
            if leaf == 1 || (dense && leaf % 2 == 0) {
                let p = P::default();
                kps.push(kp(cs, &p, &m));
                newcomers.push((p, m));
            } else {
                kps.push(kp(cs, &phantom_p, &m));
            }
        }
        let (commit, welcome, _) = ga.add_members(&pa, &a.signer, &kps).expect("add");
        ga.merge_pending_commit(&pa).expect("merge");
        let cb = ser(&commit);
        for (p, _, g) in real.iter_mut() {
            process_commit(g, p, &cb);
        }
        let wb = ser(&welcome);
        for (p, m) in newcomers {
            let g = StagedWelcome::new_from_welcome(
                &p,
                config(cs).join_config(),
                welcome_in(&wb),
                None,
            )
            .expect("stage")
            .into_group(&p)
            .expect("join");
            real.push((p, m, g));
        }
    }
    if dense {
        // Every real member except B commits a self-update; all others process it.
        for i in 1..real.len() {
            let cb = {
                let (p, m, g) = &mut real[i];
                let bundle = g
                    .self_update(p, &m.signer, LeafNodeParameters::default())
                    .expect("upd");
                let cb = ser(bundle.commit());
                g.merge_pending_commit(p).expect("merge");
                cb
            };
            process_commit(&mut ga, &pa, &cb);
            for (k, (p, _, g)) in real.iter_mut().enumerate() {
                if k != i {
                    process_commit(g, p, &cb);
                }
            }
        }
        real.truncate(1);
    }
    let (pb, _b, gb) = real.pop().unwrap();
    assert_eq!(gb.own_leaf_index().u32(), 1);
    assert_eq!(
        ga.epoch_authenticator().as_slice(),
        gb.epoch_authenticator().as_slice()
    );
    let res = Res {
        build_time: t0.elapsed(),
        ..Default::default()
    };
    Suite {
        cs,
        dense,
        pa,
        a,
        ga,
        pb,
        gb,
        next_id: next_id + 1000,
        res,
    }
}

/// A adds one joiner J (group: N-1 -> N), B processes, J joins from the Welcome; then (unless
/// `keep`) A removes J again and B processes the removal.
fn join_round(s: &mut Suite, keep: bool, first: bool) {
    let cs = s.cs;
    let pj = P::default();
    let j = member(s.next_id);
    s.next_id += 1;
    let t = Instant::now();
    let kpj = kp(cs, &pj, &j);
    s.res.kp_create.push(t.elapsed());
    s.res.kp_size = ser(&MlsMessageOut::from(kpj.clone())).len();
    if first {
        let (c, w, _) =
            s.ga.add_members_without_update(&s.pa, &s.a.signer, std::slice::from_ref(&kpj))
                .expect("add");
        s.res.add_nopath_commit = ser(&c).len();
        s.res.add_nopath_welcome = ser(&w).len();
        s.ga.clear_pending_commit(s.pa.storage()).expect("clear");
    }
    let t = Instant::now();
    let (c, w, _) =
        s.ga.add_members(&s.pa, &s.a.signer, std::slice::from_ref(&kpj))
            .expect("add");
    let (cb, wb) = (ser(&c), ser(&w));
    s.res.add_create.push(t.elapsed());
    s.res.add_commit.push(cb.len());
    s.res.add_welcome.push(wb.len());
    s.ga.merge_pending_commit(&s.pa).expect("merge");
    assert_eq!(s.ga.members().count(), *N);
    let t = Instant::now();
    process_commit(&mut s.gb, &s.pb, &cb);
    s.res.add_process.push(t.elapsed());
    let t = Instant::now();
    let gj = StagedWelcome::new_from_welcome(&pj, config(cs).join_config(), welcome_in(&wb), None)
        .expect("stage")
        .into_group(&pj)
        .expect("join");
    s.res.join.push(t.elapsed());
    assert_eq!(
        gj.epoch_authenticator().as_slice(),
        s.ga.epoch_authenticator().as_slice()
    );
    if !keep {
        let idx = gj.own_leaf_index();
        let (rc, _, _) =
            s.ga.remove_members(&s.pa, &s.a.signer, &[idx])
                .expect("remove");
        s.ga.merge_pending_commit(&s.pa).expect("merge");
        process_commit(&mut s.gb, &s.pb, &ser(&rc));
    }
}

/// A self-updates (commit with an update path) at N members; B processes it.
fn update_round(s: &mut Suite) {
    let t = Instant::now();
    let bundle =
        s.ga.self_update(&s.pa, &s.a.signer, LeafNodeParameters::default())
            .expect("upd");
    let cb = ser(bundle.commit());
    s.res.upd_create.push(t.elapsed());
    s.res.upd_commit.push(cb.len());
    s.ga.merge_pending_commit(&s.pa).expect("merge");
    let t = Instant::now();
    process_commit(&mut s.gb, &s.pb, &cb);
    s.res.upd_process.push(t.elapsed());
    assert_eq!(
        s.ga.epoch_authenticator().as_slice(),
        s.gb.epoch_authenticator().as_slice()
    );
}

fn med_d(v: &[Duration]) -> f64 {
    let mut v: Vec<f64> = v.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
fn med_u(v: &[usize]) -> usize {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let t_all = Instant::now();
    let mut suites_cs = vec![
        Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
        Ciphersuite::MLS_128_MLKEM768X25519_AES128GCM_SHA256_Ed25519,
    ];
    if std::env::args().all(|a| a != "--no-4e") {
        suites_cs.push(Ciphersuite::MLS_128_MLKEM768X25519_AES256GCM_SHA384_Ed25519);
    }
    let mut suites: Vec<Suite> = Vec::new();
    let dense_too = std::env::var("PQ_DENSE").map(|v| v != "0").unwrap_or(true);
    for dense in [false, true].into_iter().filter(|d| !*d || dense_too) {
        for &cs in &suites_cs {
            let s = build(cs, dense);
            eprintln!(
                "built {:?} dense={dense} ({} members) in {:.1}s",
                cs,
                s.ga.members().count(),
                s.res.build_time.as_secs_f64()
            );
            suites.push(s);
        }
    }
    // Join rounds, alternating suites; the last one keeps J so the group has N members.
    for r in 0..ROUNDS {
        for s in suites.iter_mut() {
            join_round(s, r == ROUNDS - 1, r == 0);
        }
    }
    for r in 0..ROUNDS {
        for s in suites.iter_mut() {
            assert_eq!(s.ga.members().count(), *N);
            update_round(s);
        }
        let _ = r;
    }
    println!(
        "N = {}, rounds = {ROUNDS} (medians), identity {IDENTITY_LEN} B, pure-ciphertext wire format, padding 64, ratchet tree in Welcome",
        *N
    );
    for group in suites.chunks(suites_cs.len()) {
        let base = &group[0].res;
        let row = |name: &str, f: &dyn Fn(&Res) -> f64, unit: &str| {
            let b = f(base);
            let mut line = format!("{name:<42}");
            for s in group.iter() {
                let v = f(&s.res);
                line += &format!(" | {:>10.2} {unit} (x{:.2})", v, v / b);
            }
            println!("{line}");
        };
        let hdr: Vec<String> = group
            .iter()
            .map(|s| format!("0x{:04X}", u16::from(s.cs)))
            .collect();
        println!(
            "\n## tree: {}",
            if group[0].dense {
                "DENSE (all parent nodes filled: every even leaf self-updated once)"
            } else {
                "SPARSE (fresh group: only the creator has committed)"
            }
        );
        println!("{:<42} | {}", "metric", hdr.join(" | "));
        row("KeyPackage (MlsMessage) bytes", &|r| r.kp_size as f64, "B");
        row(
            "Add-1 commit bytes (add_members, w/ path)",
            &|r| med_u(&r.add_commit) as f64,
            "B",
        );
        row(
            "Add-1 Welcome bytes (w/ ratchet tree)",
            &|r| med_u(&r.add_welcome) as f64,
            "B",
        );
        row(
            "Add-1 commit bytes (without update path)",
            &|r| r.add_nopath_commit as f64,
            "B",
        );
        row(
            "Add-1 Welcome bytes (without update path)",
            &|r| r.add_nopath_welcome as f64,
            "B",
        );
        row(
            "Self-update commit bytes",
            &|r| med_u(&r.upd_commit) as f64,
            "B",
        );
        row("KeyPackage create ms", &|r| med_d(&r.kp_create), "ms");
        row("Add-1 create ms (A)", &|r| med_d(&r.add_create), "ms");
        row("Add-1 process ms (B)", &|r| med_d(&r.add_process), "ms");
        row("Join from Welcome ms (J)", &|r| med_d(&r.join), "ms");
        row("Self-update create ms (A)", &|r| med_d(&r.upd_create), "ms");
        row(
            "Self-update process+merge ms (B)",
            &|r| med_d(&r.upd_process),
            "ms",
        );
        row(
            "Build (N-1)-member group s (setup)",
            &|r| r.build_time.as_secs_f64(),
            "s",
        );
    }
    for s in &suites {
        println!(
            "raw 0x{:04X} dense={}: upd_create {:?} upd_process {:?} join {:?} upd_commit {:?}",
            u16::from(s.cs),
            s.dense,
            s.res
                .upd_create
                .iter()
                .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>(),
            s.res
                .upd_process
                .iter()
                .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>(),
            s.res
                .join
                .iter()
                .map(|d| format!("{:.1}", d.as_secs_f64() * 1e3))
                .collect::<Vec<_>>(),
            s.res.upd_commit
        );
    }
    eprintln!("total {:.1}s", t_all.elapsed().as_secs_f64());
}
