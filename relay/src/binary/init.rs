//! `hush-relay init`: a new data folder with the relay's keys and certificate and a commented
//! config file listing every setting with its default and what it does (made from the
//! settings' own `--help` texts, so it never misses one); prints the relay's address.

use super::Settings;
use anyhow::{Context, Result, bail};
use clap::CommandFactory;
use hush_relay::server::RelayConfig;
use hush_relay::tls::{CERT_FILE, CertSource, KEY_FILE, RECEIPT_KEY_FILE, RelayIdentity};
use hush_relay::url::{PublicAddress, RelayUrl};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The config file `init` writes into the data folder.
pub(crate) const CONFIG_FILE: &str = "hush-relay.toml";

/// Subcommands of `hush-relay` (without one, it runs the relay).
#[derive(clap::Subcommand, Debug)]
pub(crate) enum Command {
    /// Set up a data folder: TLS certificate and key, receipt key, and a commented config file
    /// with every setting (hush-relay.toml); prints the relay's address. Never overwrites a file.
    Init(InitArgs),
}

/// `hush-relay init` options.
#[derive(clap::Args, Debug)]
pub(crate) struct InitArgs {
    /// Data folder to set up (created if missing)
    #[arg(
        long,
        env = "HUSH_RELAY_DATA",
        value_name = "DIR",
        default_value = "./hush-data"
    )]
    data: PathBuf,

    /// UDP address the relay will listen on, written into the config [default: 127.0.0.1:4433]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,

    /// Host (and port) clients reach the relay at, written into the config
    #[arg(long, value_name = "HOST[:PORT]")]
    public_address: Option<String>,
}

const HEADER: &str = "\
# hush-relay configuration, written by `hush-relay init`.
# Start the relay with: hush-relay --config THIS_FILE
#
# Every setting is listed with its default, commented out: remove the `#` to change it.
# A flag (--ttl-seconds 60) or an environment variable (HUSH_RELAY_TTL_SECONDS=60) overrides
# the value here. `hush-relay --help` explains each setting too.
";

/// Example values of settings that have no default (they are off or unset unless given).
const EXAMPLES: &[(&str, &str)] = &[
    ("public_address", "relay.example.org"),
    ("metrics", "127.0.0.1:9090"),
    ("tls_cert", "/etc/hush/relay.pem"),
    ("tls_key", "/etc/hush/relay-key.pem"),
    ("storage_reserve_bytes", "536870912"),
    // Only a build without the embedded store (feature `redb`) has no default storage.
    ("storage", "postgres://hush:SECRET@db.internal:5432/hush"),
    ("storage_ca", "/etc/hush/db-ca.pem"),
];

/// Runs `hush-relay init`.
pub(crate) fn run(args: &InitArgs) -> Result<()> {
    let public = args
        .public_address
        .as_deref()
        .map(|a| {
            a.parse::<PublicAddress>()
                .with_context(|| format!("invalid public_address {a:?} (expected HOST[:PORT])"))
        })
        .transpose()?;
    let listen = args.listen.unwrap_or(RelayConfig::default().listen);
    if listen.port() == 0 {
        bail!("init needs a fixed listen port (not 0): it goes into the printed address");
    }
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create data folder {}", args.data.display()))?;
    let dir = std::fs::canonicalize(&args.data)
        .with_context(|| format!("cannot resolve data folder {}", args.data.display()))?;
    let existing: Vec<&str> = [CONFIG_FILE, CERT_FILE, KEY_FILE, RECEIPT_KEY_FILE]
        .into_iter()
        .filter(|n| dir.join(n).exists())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already holds {}: not overwriting anything (pick another --data, or remove them)",
            dir.display(),
            existing.join(", ")
        );
    }
    let dir_str = dir
        .to_str()
        .context("the data folder's path is not UTF-8")?
        .to_owned();
    let config = example_config(
        &dir_str,
        args.listen.map(|l| l.to_string()).as_deref(),
        args.public_address.as_deref(),
    )?;
    let identity = RelayIdentity::load_or_create(&dir, &CertSource::SelfSigned)
        .context("cannot create the relay's keys")?;
    let config_path = dir.join(CONFIG_FILE);
    write_new(&config_path, &config)?;
    let announced = RelayUrl::announced(identity.fingerprint, listen, public.as_ref());
    if let Some(w) = &announced.warning {
        eprintln!("hush-relay: warning: {w}");
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {CONFIG_FILE}, {CERT_FILE}, {KEY_FILE} and {RECEIPT_KEY_FILE} in {}",
        dir.display()
    )?;
    writeln!(out, "address: {}", announced.url)?;
    writeln!(
        out,
        "start with: hush-relay --config {}",
        config_path.display()
    )?;
    out.flush()?;
    Ok(())
}

/// Creates `path` with `text`; fails if it exists.
fn write_new(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The config file: every setting of `hush-relay --help` with its explanation, its default
/// (commented out) and the values given to `init` (set).
pub(crate) fn example_config(
    data: &str,
    listen: Option<&str>,
    public_address: Option<&str>,
) -> Result<String> {
    let mut out = String::from(HEADER);
    let cmd = Settings::command();
    for arg in cmd.get_arguments() {
        let key = arg.get_id().as_str();
        if matches!(key, "config" | "help" | "version") {
            continue;
        }
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let (text, default) = split_default(&help);
        out.push('\n');
        for line in wrap(text, 96) {
            out.push_str(&format!("# {line}\n"));
        }
        let given = match key {
            "data" => Some(data),
            "listen" => listen,
            "public_address" => public_address,
            _ => None,
        };
        if let Some(v) = given {
            out.push_str(&format!("{key} = {}\n", toml_value(key, v)?));
            if let Some(d) = default {
                out.push_str(&format!("# (default: {d})\n"));
            }
        } else if let Some(d) = default {
            out.push_str(&format!("# {key} = {}\n", toml_value(key, d)?));
        } else if let Some((_, example)) = EXAMPLES.iter().find(|(k, _)| *k == key) {
            out.push_str(&format!(
                "# (unset by default) for example:\n# {key} = {}\n",
                toml_value(key, example)?
            ));
        } else {
            out.push_str(&format!("# {key}: unset by default\n"));
        }
    }
    Ok(out)
}

/// A help text without its `[default: …]`, and the default's value.
fn split_default(help: &str) -> (&str, Option<&str>) {
    match help.rfind("[default: ") {
        Some(i) if help.ends_with(']') => (
            help[..i].trim_end(),
            Some(help[i + "[default: ".len()..help.len() - 1].trim()),
        ),
        _ => (help.trim_end(), None),
    }
}

/// `v` written as the TOML value of setting `key`: bare (a number) if the relay reads it so,
/// else a quoted string; the default's first word when the whole text is no value (as in
/// `2592000 = 30 days`). Checked by parsing `key = value` as the relay's settings.
fn toml_value(key: &str, v: &str) -> Result<String> {
    let first = v.split_whitespace().next().unwrap_or(v);
    for candidate in [v, first] {
        let quoted = toml::Value::String(candidate.to_owned()).to_string();
        let float = format!("{candidate}.0");
        for written in [candidate, float.as_str(), quoted.as_str()] {
            if toml::from_str::<Settings>(&format!("{key} = {written}")).is_ok() {
                return Ok(written.to_owned());
            }
        }
    }
    bail!("no TOML value for setting {key} from {v:?}")
}

/// `text` in lines of at most `width` characters (words are never split).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config with every commented `# key = value` line switched on.
    fn uncommented(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix("# ") {
                Some(rest)
                    if rest.split_once(" = ").is_some_and(|(k, _)| {
                        !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                    }) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_example_lists_every_setting_and_parses_with_all_lines_on() {
        let text = example_config("/var/lib/hush \"relay\"", Some("0.0.0.0:4433"), None).unwrap();
        let on: Settings = toml::from_str(&uncommented(&text)).expect("valid with all on");
        assert_eq!(
            on.data.as_deref(),
            Some(Path::new("/var/lib/hush \"relay\""))
        );
        assert_eq!(on.listen, Some("0.0.0.0:4433".parse().unwrap()));
        assert_eq!(on.ttl_seconds, Some(2_592_000));
        assert_eq!(on.rate_limit_per_second, Some(500.0));
        let storage = if cfg!(feature = "redb") {
            "embedded"
        } else {
            "postgres://hush:SECRET@db.internal:5432/hush"
        };
        assert_eq!(on.storage.as_deref(), Some(storage));
        assert_eq!(on.metrics, Some("127.0.0.1:9090".parse().unwrap()));
        let off: Settings = toml::from_str(&text).expect("valid as written");
        assert!(
            off.ttl_seconds.is_none() && off.metrics.is_none(),
            "defaults commented"
        );
        for arg in Settings::command().get_arguments() {
            let key = arg.get_id().as_str();
            if matches!(key, "config" | "help" | "version") {
                continue;
            }
            assert!(
                text.contains(&format!("# {key} = ")) || text.contains(&format!("\n{key} = ")),
                "{key} missing:\n{text}"
            );
        }
        assert!(text.contains("# Seconds an unread envelope is kept\n# ttl_seconds = 2592000\n"));
    }

    #[test]
    fn help_defaults_are_split_off() {
        assert_eq!(
            split_default("Seconds kept [default: 2592000 = 30 days]"),
            ("Seconds kept", Some("2592000 = 30 days"))
        );
        assert_eq!(split_default("Off when unset"), ("Off when unset", None));
        assert_eq!(wrap("a bb ccc", 4), vec!["a bb", "ccc"]);
    }
}
