//! The connection pool: connecting (with the schema migrations), handing out pooled
//! connections, the listener of the other nodes' wake-ups, and closing.

use super::*;

/// Longest wait for a pooled connection (or a new one).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Connect timeout when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl PgStorage {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or any
    /// libpq-style form `tokio-postgres` accepts), applies missing schema migrations and keeps
    /// at most `pool_size` connections (plus one for notifications, once
    /// [`Storage::set_wake_sink`] is called).
    ///
    /// TLS follows the URL's `sslmode` (`disable`, `prefer` (the default), `require`,
    /// `verify-ca`, `verify-full`) and `sslrootcert` (a PEM CA file) as libpq defines them;
    /// see [`PgStorage::connect_with_ca`].
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StorageError> {
        Self::connect_with_ca(url, pool_size, None).await
    }

    /// [`PgStorage::connect`] with `ca`, a PEM CA file for TLS to the database, used when the
    /// URL names no `sslrootcert`. With such a CA and no `sslmode` in the URL the mode is
    /// `verify-full` (the server's certificate must chain up to the CA and name the URL's
    /// host); `require` with a CA file checks the chain only (`verify-ca`), as in libpq.
    /// A server without TLS under `require` or stricter is refused.
    pub async fn connect_with_ca(
        url: &str,
        pool_size: usize,
        ca: Option<&std::path::Path>,
    ) -> Result<Self, StorageError> {
        let pg_tls::PgConnectSettings { mut config, tls } = pg_tls::settings(url, ca)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("hush-relay");
        }
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(POOL_WAIT))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StorageError::Backend(format!("connection pool: {e}")))?;
        let mut client = pool.get().await.map_err(|e| {
            StorageError::Backend(format!("cannot connect to PostgreSQL: {}", with_causes(&e)))
        })?;
        let version = pg_schema::migrate(&mut client).await?;
        drop(client);
        tracing::info!(
            schema_version = version,
            pool_size,
            "PostgreSQL storage ready"
        );
        let (stop, _) = watch::channel(false);
        Ok(PgStorage {
            pool,
            config,
            tls,
            closed: AtomicBool::new(false),
            stop,
            listener: Mutex::new(None),
        })
    }

    /// Connections open now and the pool's bound.
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.max_size)
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, Fail> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Fail::Storage(StorageError::Closed));
        }
        self.pool.get().await.map_err(|e| match e {
            // A broken connection or a server going down is retried (and ends as
            // "unreachable" if it lasts); a server that refuses this node's connections (no
            // connections allowed, a bad password...) is unreachable at once.
            deadpool_postgres::PoolError::Backend(db) if retry::transient(&db) => Fail::Db(db),
            deadpool_postgres::PoolError::Backend(db) => Fail::Storage(retry::db_unreachable(
                &format!("cannot connect: {}", describe(&db)),
            )),
            deadpool_postgres::PoolError::Closed => Fail::Storage(StorageError::Closed),
            other => Fail::Storage(retry::db_unreachable(&format!(
                "no database connection: {}",
                with_causes(&other)
            ))),
        })
    }

    /// Closes the storage: stops the wake-up listener (waiting up to 5 s) and the pool.
    pub(super) async fn close_pg(&self) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        let listener = self.listener.lock().ok().and_then(|mut g| g.take());
        if let Some(l) = listener {
            let _ = tokio::time::timeout(Duration::from_secs(5), l).await;
        }
        self.pool.close();
        Ok(())
    }

    /// Starts (or restarts) the listener that hands the other nodes' wake-ups to `sink`.
    pub(super) fn start_listener(&self, sink: WakeSink) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!("set_wake_sink needs a Tokio runtime; cross-node wake-ups are off");
            return;
        };
        let task = rt.spawn(pg_listen::listen_loop(
            self.config.clone(),
            self.tls.clone(),
            sink,
            self.stop.subscribe(),
        ));
        if let Ok(mut g) = self.listener.lock()
            && let Some(old) = g.replace(task)
        {
            old.abort();
        }
    }
}
