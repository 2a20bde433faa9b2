//! Operator-facing behaviour of the `hush-relay` binary: the printed address
//! (`public_address`), logging and configuration errors.

mod opsbin;

use hush_relay::{Client, RelayUrl};
use opsbin::*;

/// The relay prints `public_address` (flag, environment or config file) instead of the bound
/// socket address; the fingerprint is the same, and the bound port fills in a missing port.
#[tokio::test]
async fn public_address_sets_the_printed_address() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let err = dir.path().join("stderr");

    let plain = start(
        &mut relay(&["--listen", "127.0.0.1:0", "--data", data]),
        &err,
    );
    assert_eq!(plain.url.host, "127.0.0.1");
    assert!(!plain.stderr().contains("warning"), "{}", plain.stderr());
    let fingerprint = plain.url.fingerprint;
    drop(plain);

    let flag = start(
        &mut relay(&[
            "--listen",
            "127.0.0.1:0",
            "--data",
            data,
            "--public-address",
            "relay.example.org:443",
        ]),
        &err,
    );
    assert_eq!(
        flag.url.to_string(),
        format!("hush://{fingerprint}@relay.example.org:443")
    );
    drop(flag);

    // From the environment, host only: the port is the bound one, and the relay answers there.
    let env = start(
        relay(&["--listen", "127.0.0.1:0", "--data", data])
            .env("HUSH_RELAY_PUBLIC_ADDRESS", "localhost"),
        &err,
    );
    assert_eq!(env.url.host, "localhost");
    assert_eq!(env.url.fingerprint, fingerprint);
    let reachable = RelayUrl {
        host: "127.0.0.1".into(),
        ..env.url.clone()
    };
    let client = Client::connect(&reachable)
        .await
        .expect("printed port is bound");
    client.close().await;
    drop(env);

    let cfg = dir.path().join("relay.toml");
    std::fs::write(
        &cfg,
        format!(
            "listen = \"127.0.0.1:0\"\ndata = {data:?}\npublic_address = \"[2001:db8::7]:4433\"\n"
        ),
    )
    .unwrap();
    let file = start(relay(&["--config"]).arg(&cfg), &err);
    assert_eq!(
        file.url.to_string(),
        format!("hush://{fingerprint}@[2001:db8::7]:4433")
    );
}

#[test]
fn a_bad_public_address_is_refused_before_starting() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(relay(&[
        "--listen",
        "127.0.0.1:0",
        "--public-address",
        "relay:0",
        "--data",
    ])
    .arg(&data));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("hush-relay: invalid public_address \"relay:0\""),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    assert!(
        !data.exists(),
        "nothing written for a refused configuration"
    );
}
