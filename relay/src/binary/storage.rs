//! The `storage` setting: which backend the binary opens, and opening it.
//!
//! Each backend is a Cargo feature of `hush-relay`: `redb` (the embedded store) and `postgres`
//! (both in the default build). A setting that names a backend this binary was built without
//! is a one-line error naming the missing feature, never a silent fallback to the other one.

use anyhow::{Context, Result, bail};
use hush_relay::server::{Relay, RelayConfig, RelayHandle};

/// Which storage backend the relay runs on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum StorageChoice {
    /// redb in the data folder.
    #[cfg(feature = "redb")]
    Embedded,
    /// A PostgreSQL database, possibly shared with other relay nodes.
    #[cfg(feature = "postgres")]
    Postgres { url: String, pool_size: usize },
}

/// `hush-relay --version`: the release and the storage backends (features) of this build.
pub(crate) const VERSION: &str = match (cfg!(feature = "redb"), cfg!(feature = "postgres")) {
    (true, true) => concat!(env!("CARGO_PKG_VERSION"), " (storage: redb, postgres)"),
    (true, false) => concat!(env!("CARGO_PKG_VERSION"), " (storage: redb)"),
    _ => concat!(env!("CARGO_PKG_VERSION"), " (storage: postgres)"),
};

/// What the setting may be in this build, for error messages.
const EXPECTED: &str = match (cfg!(feature = "redb"), cfg!(feature = "postgres")) {
    (true, true) => "expected \"embedded\" or a postgres:// URL",
    (true, false) => "expected \"embedded\"; this build has no PostgreSQL backend",
    _ => "expected a postgres:// URL; this build has no embedded store",
};

/// The backend named by the `storage` setting (`None` when unset) with the
/// `storage_pool_size` setting.
pub(crate) fn choose(storage: Option<&str>, pool_size: Option<usize>) -> Result<StorageChoice> {
    match storage.map(str::trim) {
        None | Some("") => embedded(true),
        Some("embedded") | Some("redb") => embedded(false),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            postgres(url, pool_size)
        }
        Some(other) => {
            // Never echo what might be a URL with a password in it.
            let scheme = other.split("://").next().unwrap_or("");
            bail!(
                "unknown storage {:?} ({EXPECTED})",
                if other.contains("://") { scheme } else { other }
            )
        }
    }
}

/// The embedded store, named or (`unset`) by default.
#[cfg(feature = "redb")]
fn embedded(_unset: bool) -> Result<StorageChoice> {
    Ok(StorageChoice::Embedded)
}

#[cfg(not(feature = "redb"))]
fn embedded(unset: bool) -> Result<StorageChoice> {
    if unset {
        bail!(
            "no storage given, and this hush-relay was built without the feature `redb` \
             (embedded store): set storage (--storage, HUSH_RELAY_STORAGE or the config file) \
             to a postgres:// URL"
        )
    }
    bail!(
        "storage \"embedded\" needs the feature `redb`, which this hush-relay was built \
         without (rebuild with `--features redb`, or give a postgres:// URL)"
    )
}

/// A PostgreSQL database.
#[cfg(feature = "postgres")]
fn postgres(url: &str, pool_size: Option<usize>) -> Result<StorageChoice> {
    Ok(StorageChoice::Postgres {
        url: url.to_owned(),
        pool_size: match pool_size {
            Some(0) => bail!("storage_pool_size must be at least 1"),
            Some(n) => n,
            None => hush_relay::storage::DEFAULT_POOL_SIZE,
        },
    })
}

#[cfg(not(feature = "postgres"))]
fn postgres(_url: &str, _pool_size: Option<usize>) -> Result<StorageChoice> {
    bail!(
        "a postgres:// storage URL needs the feature `postgres`, which this hush-relay was \
         built without (rebuild with `--features postgres`, or use storage \"embedded\")"
    )
}

/// Opens the chosen backend and starts the relay on it; `storage_ca` is the CA file for TLS
/// to PostgreSQL (the `storage_ca` setting).
pub(crate) async fn start(
    choice: StorageChoice,
    config: RelayConfig,
    storage_ca: Option<&std::path::Path>,
) -> Result<RelayHandle> {
    let relay = match choice {
        #[cfg(feature = "redb")]
        StorageChoice::Embedded => {
            if storage_ca.is_some() {
                bail!("storage_ca is for a postgres:// storage, not the embedded store");
            }
            Relay::start(config).await
        }
        #[cfg(feature = "postgres")]
        StorageChoice::Postgres { url, pool_size } => {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("cannot create data folder {}", config.data_dir.display())
            })?;
            let storage =
                hush_relay::storage::PgStorage::connect_with_ca(&url, pool_size, storage_ca)
                    .await
                    .context("cannot open PostgreSQL storage")?;
            Relay::start_with_storage(config, std::sync::Arc::new(storage)).await
        }
    };
    relay.context("cannot start relay")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(storage: Option<&str>, pool: Option<usize>) -> String {
        format!("{:#}", choose(storage, pool).unwrap_err())
    }

    #[test]
    fn unknown_storage_never_echoes_a_url() {
        let e = err(Some("mysql://u:SECRET@h/db"), None);
        assert!(e.contains("unknown storage \"mysql\""), "{e}");
        assert!(!e.contains("SECRET"), "{e}");
        assert!(err(Some("sqlite"), None).contains(EXPECTED));
    }

    #[cfg(feature = "redb")]
    #[test]
    fn unset_or_embedded_is_the_embedded_store() {
        for s in [None, Some(""), Some(" embedded "), Some("redb")] {
            assert_eq!(
                choose(s, Some(3)).unwrap(),
                StorageChoice::Embedded,
                "{s:?}"
            );
        }
    }

    #[cfg(not(feature = "redb"))]
    #[test]
    fn without_redb_the_embedded_store_is_a_clear_error() {
        for s in [None, Some("")] {
            let e = err(s, None);
            assert!(
                e.contains("feature `redb`") && e.contains("postgres://"),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
        let e = err(Some("embedded"), None);
        assert!(e.contains("needs the feature `redb`"), "{e}");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_with_their_pool_size() {
        let url = "postgres://hush@127.0.0.1:5432/hush";
        assert_eq!(
            choose(Some(url), None).unwrap(),
            StorageChoice::Postgres {
                url: url.to_owned(),
                pool_size: hush_relay::storage::DEFAULT_POOL_SIZE
            }
        );
        let url = "postgresql://hush@127.0.0.1/hush";
        assert_eq!(
            choose(Some(url), Some(4)).unwrap(),
            StorageChoice::Postgres {
                url: url.to_owned(),
                pool_size: 4
            }
        );
        assert!(err(Some(url), Some(0)).contains("at least 1"));
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn without_postgres_a_url_is_a_clear_error() {
        for url in [
            "postgres://hush:SECRET@127.0.0.1/hush",
            "postgresql://hush@127.0.0.1/hush",
        ] {
            let e = err(Some(url), Some(4));
            assert!(e.contains("needs the feature `postgres`"), "{e}");
            assert!(!e.contains("SECRET") && !e.contains('\n'), "{e}");
        }
    }
}
