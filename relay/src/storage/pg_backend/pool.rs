//! The connection pool: connecting (with the schema migrations), handing out pooled
//! connections, the listener of the other nodes' wake-ups, and closing.

use super::*;

/// Longest wait for a pooled connection (or a new one).
const POOL_WAIT: Duration = Duration::from_secs(10);
/// Connect timeout when the URL sets none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TCP settings when the URL sets none, so that a database host that vanishes (powered off, a
/// partition) breaks the connections in about 30 s instead of the kernel's 15 minutes or
/// more: requests on them then fail as "unreachable" and the pool opens fresh ones.
/// Unacknowledged data for this long closes the connection (`tcp_user_timeout`, Linux).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);
/// Keepalive probes on an idle connection: the first after this long...
const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);
/// ...then one every this long...
const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
/// ...and the connection is dropped after this many unanswered.
const KEEPALIVES_RETRIES: u32 = 3;
/// libpq's (and tokio-postgres') default `keepalives_idle`, taken to mean "not set".
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// Fills in the timeouts and TCP keepalive settings the URL leaves out (it may set any of
/// them: `connect_timeout`, `tcp_user_timeout`, `keepalives`, `keepalives_idle`, ...).
pub(super) fn connection_defaults(config: &mut tokio_postgres::Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("hush-relay");
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    if config.get_keepalives() {
        if config.get_keepalives_idle() == DEFAULT_KEEPALIVES_IDLE {
            config.keepalives_idle(KEEPALIVES_IDLE);
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(KEEPALIVES_INTERVAL);
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(KEEPALIVES_RETRIES);
        }
    }
}

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
        connection_defaults(&mut config);
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
            conns: Conns {
                pool,
                closed: Arc::new(AtomicBool::new(false)),
                batches: Arc::default(),
            },
            config,
            tls,
            stop,
            listener: Mutex::new(None),
            batcher: Mutex::new(None),
        })
    }

    /// Connections open now and the pool's bound.
    pub fn pool_status(&self) -> (usize, usize) {
        let s = self.conns.pool.status();
        (s.size, s.max_size)
    }

    /// How many batches of two or more sends and acks this instance's group commit has
    /// written in one transaction, and how many operations they held.
    pub fn group_commits(&self) -> (u64, u64) {
        let (batches, ops) = &*self.conns.batches;
        (batches.load(Ordering::Relaxed), ops.load(Ordering::Relaxed))
    }

    pub(super) async fn client(&self) -> Result<deadpool_postgres::Object, Fail> {
        self.conns.client().await
    }

    /// Closes the storage: stops the wake-up listener (waiting up to 5 s), the group commit
    /// and the pool.
    pub(super) async fn close_pg(&self) -> Result<(), StorageError> {
        self.conns.closed.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        let listener = self.listener.lock().ok().and_then(|mut g| g.take());
        if let Some(l) = listener {
            let _ = tokio::time::timeout(Duration::from_secs(5), l).await;
        }
        self.conns.pool.close();
        Ok(())
    }

    /// The stop signal (turns true when the storage closes).
    pub(super) fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
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

impl Conns {
    /// A pooled connection, unless the storage is closed.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> tokio_postgres::Config {
        let mut c: tokio_postgres::Config = url.parse().unwrap();
        connection_defaults(&mut c);
        c
    }

    #[test]
    fn timeouts_and_keepalives_default_to_noticing_a_lost_host_in_half_a_minute() {
        let c = config("postgres://hush@db.internal/hush");
        assert_eq!(c.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
        assert!(c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), KEEPALIVES_IDLE);
        assert_eq!(c.get_keepalives_interval(), Some(KEEPALIVES_INTERVAL));
        assert_eq!(c.get_keepalives_retries(), Some(KEEPALIVES_RETRIES));
        assert_eq!(c.get_application_name(), Some("hush-relay"));
    }

    #[test]
    fn settings_in_the_url_are_kept() {
        let c = config(
            "postgres://hush@db.internal/hush?connect_timeout=2&tcp_user_timeout=9\
             &keepalives_idle=60&keepalives_interval=5&keepalives_retries=7\
             &application_name=node1",
        );
        assert_eq!(c.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(c.get_tcp_user_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(c.get_keepalives_interval(), Some(Duration::from_secs(5)));
        assert_eq!(c.get_keepalives_retries(), Some(7));
        assert_eq!(c.get_application_name(), Some("node1"));
        // Keepalives turned off stay off.
        let c = config("postgres://hush@db.internal/hush?keepalives=0");
        assert!(!c.get_keepalives());
        assert_eq!(c.get_keepalives_interval(), None);
    }
}
