//! Operator-facing behaviour of the `hush-relay` binary: the printed address
//! (`public_address`), logging and configuration errors.

mod opsbin;

use hush_relay_client::{Client, RelayUrl};
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

/// Starts the relay with `args` and `env`, opens and closes one connection, stops the relay
/// and returns its standard error.
async fn logs_of(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let data = dir.join("data");
    let mut cmd = relay(&["--listen", "127.0.0.1:0", "--data", data.to_str().unwrap()]);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let running = start(&mut cmd, &dir.join("stderr"));
    let client = Client::connect(&running.url).await.unwrap();
    client.close().await;
    // The relay logs the closed connection on its side; give it a moment.
    let start = std::time::Instant::now();
    while !running.stderr().contains("connection closed")
        && start.elapsed() < std::time::Duration::from_secs(2)
    {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.stderr()
}

#[tokio::test]
async fn rust_log_sets_the_filter_unless_log_is_given_and_no_colours_off_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let default = logs_of(d, &[], &[]).await;
    assert!(default.contains("relay started"), "{default}");
    assert!(
        !default.contains("connection open"),
        "info by default: {default}"
    );

    let debug = logs_of(d, &[], &[("RUST_LOG", "hush_relay=debug")]).await;
    assert!(debug.contains("connection open"), "RUST_LOG=debug: {debug}");
    assert!(
        !debug.contains('\u{1b}'),
        "no ANSI escapes into a file: {debug:?}"
    );

    let flag = logs_of(d, &["--log", "warn"], &[("RUST_LOG", "debug")]).await;
    assert!(!flag.contains("relay started"), "--log wins: {flag}");
    assert!(!flag.contains("connection open"), "--log wins: {flag}");

    // RUST_LOG (environment) wins over the config file's `log`.
    let cfg = d.join("relay.toml");
    std::fs::write(&cfg, "log = \"warn\"\n").unwrap();
    let cfg = cfg.to_str().unwrap();
    let file = logs_of(d, &["--config", cfg], &[]).await;
    assert!(!file.contains("relay started"), "log from the file: {file}");
    let env = logs_of(d, &["--config", cfg], &[("RUST_LOG", "hush_relay=debug")]).await;
    assert!(
        env.contains("connection open"),
        "RUST_LOG over the file: {env}"
    );
}

#[test]
fn config_errors_name_the_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("relay.toml");
    for (text, place, what) in [
        (
            "listen = \"127.0.0.1:0\"\n\nno_such_setting = 1\n",
            "(line 3, column 1)",
            "unknown field `no_such_setting`",
        ),
        (
            "# comment\nlisten = \"127.0.0.1:0\"\nttl_seconds = \"soon\"\n",
            "(line 3, column 15)",
            "invalid type: string \"soon\", expected u64",
        ),
        (
            "ttl_seconds = 5\nlisten = \"127.0.0.1:0\n",
            "(line 2, column ",
            "",
        ),
    ] {
        std::fs::write(&cfg, text).unwrap();
        let out = run(relay(&["--config"]).arg(&cfg));
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        let expect = format!("hush-relay: invalid config file {} {place}", cfg.display());
        assert!(err.starts_with(&expect), "{err}\nexpected {expect}");
        assert!(err.contains(what), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// `hush-relay init` writes the keys and a commented config, prints the address; the relay
/// started from that config prints the same address and serves; a second init refuses and
/// changes nothing.
#[tokio::test]
async fn init_sets_up_a_data_folder_the_relay_starts_from() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("relay");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let out = run(relay(&["init", "--listen", &listen, "--data"]).arg(&data));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let address: RelayUrl = stdout
        .lines()
        .find_map(|l| l.strip_prefix("address: "))
        .unwrap_or_else(|| panic!("no address line: {stdout}"))
        .parse()
        .unwrap();
    assert_eq!((address.host.as_str(), address.port), ("127.0.0.1", port));
    let config = data.join("hush-relay.toml");
    for f in [
        "hush-relay.toml",
        "tls-cert.der",
        "tls-key.der",
        "receipt-key.bin",
    ] {
        assert!(data.join(f).is_file(), "{f} written");
    }
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("# Seconds an unread envelope is kept\n# ttl_seconds = 2592000\n"));
    assert!(text.contains(&format!("listen = \"{listen}\"\n")));

    let running = start(
        relay(&["--config"]).arg(&config),
        &dir.path().join("stderr"),
    );
    assert_eq!(running.url, address, "the relay prints init's address");
    let client = Client::connect(&address)
        .await
        .expect("init's address connects");
    client.authenticate(&hush_relay_key()).await.unwrap();
    client.close().await;
    drop(running);

    let cert = std::fs::read(data.join("tls-cert.der")).unwrap();
    let again = run(relay(&["init", "--data"]).arg(&data));
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("already holds hush-relay.toml, tls-cert.der"),
        "{err}"
    );
    assert!(err.contains("not overwriting"), "{err}");
    assert_eq!(std::fs::read(data.join("tls-cert.der")).unwrap(), cert);
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
}

fn hush_relay_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[42; 32])
}

/// On an unspecified address without public_address the printed address uses the loopback
/// address, with a warning line on standard error (shown through `init`, which prints the
/// address without binding: tests listen on 127.0.0.1 only).
#[test]
fn every_interface_without_public_address_prints_loopback_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(relay(&["init", "--listen", "0.0.0.0:4433", "--data"]).arg(dir.path()));
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let address: RelayUrl = stdout
        .lines()
        .find_map(|l| l.strip_prefix("address: "))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!((address.host.as_str(), address.port), ("127.0.0.1", 4433));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("hush-relay: warning: listening on 0.0.0.0:4433 (every interface)"),
        "{err}"
    );
    assert!(err.contains("--public-address"), "{err}");
    let text = std::fs::read_to_string(dir.path().join("hush-relay.toml")).unwrap();
    assert!(text.contains("listen = \"0.0.0.0:4433\"\n"), "{text}");
}
