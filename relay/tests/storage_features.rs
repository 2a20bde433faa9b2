//! The storage backends are Cargo features of `hush-relay` (`redb`, `postgres`; both by
//! default). Whatever the build, a storage setting naming a backend it lacks is refused at
//! start with one line naming the missing feature, before anything is listened on or written.
//!
//! Runs with every feature set, for example
//! `cargo test -p hush-relay --no-default-features --features postgres --test storage_features`.

mod opsbin;

use opsbin::*;

/// Runs the binary with `args` (and `env`) on a fresh data folder, expects it to fail at once,
/// and returns its one line of standard error.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut cmd = relay(&["--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()]);
    cmd.args(args).envs(env.iter().copied());
    let out = run(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "started: {stderr}");
    assert!(out.stdout.is_empty(), "printed {:?}", out.stdout);
    assert!(!data.exists(), "the data folder was created");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "not one line: {stderr}");
    assert!(lines[0].starts_with("hush-relay: "), "{stderr}");
    lines[0].to_owned()
}

#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_needs_the_postgres_feature() {
    for url in [
        "postgres://hush:SECRET@127.0.0.1:1/hush",
        "postgresql://hush:SECRET@127.0.0.1:1/hush",
    ] {
        let e = refused(&["--storage", url], &[]);
        assert!(e.contains("needs the feature `postgres`"), "{e}");
        assert!(!e.contains("SECRET"), "echoed the password: {e}");
        let e = refused(&[], &[("HUSH_RELAY_STORAGE", url)]);
        assert!(e.contains("needs the feature `postgres`"), "{e}");
    }
}

#[cfg(not(feature = "redb"))]
#[test]
fn without_redb_storage_must_be_a_postgres_url() {
    let e = refused(&[], &[]);
    assert!(
        e.contains("no storage given") && e.contains("feature `redb`") && e.contains("postgres://"),
        "{e}"
    );
    for s in ["embedded", "redb"] {
        let e = refused(&["--storage", s], &[]);
        assert!(e.contains("needs the feature `redb`"), "{e}");
    }
}

#[test]
fn an_unknown_storage_names_what_this_build_offers() {
    let e = refused(&["--storage", "mysql://u:SECRET@127.0.0.1/x"], &[]);
    assert!(e.contains("unknown storage \"mysql\""), "{e}");
    assert!(!e.contains("SECRET"), "echoed the password: {e}");
    assert_eq!(e.contains("\"embedded\""), cfg!(feature = "redb"), "{e}");
    assert_eq!(e.contains("postgres://"), cfg!(feature = "postgres"), "{e}");
}

#[test]
fn the_version_names_the_backends_of_this_build() {
    let out = run(&mut relay(&["--version"]));
    assert!(out.status.success());
    let v = String::from_utf8_lossy(&out.stdout);
    let backends = match (cfg!(feature = "redb"), cfg!(feature = "postgres")) {
        (true, true) => "(storage: redb, postgres)",
        (true, false) => "(storage: redb)",
        _ => "(storage: postgres)",
    };
    assert_eq!(
        v.trim(),
        format!("hush-relay {} {backends}", env!("CARGO_PKG_VERSION"))
    );
}
