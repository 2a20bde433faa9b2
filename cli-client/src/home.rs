//! A home folder: its lock, its passphrase, and the engine over its store.
//!
//! The state of a home is the engine's encrypted SQLite store, in the file `state.hush`
//! (`hush_client::store::SqliteStore`, sealed with a key derived from the passphrase). A
//! home made before the CLI ran on the engine holds the older encrypted JSON state file under
//! the same name: [`open`] moves it into a store first, once ([`crate::migrate`]).

use crate::errors::{EngineResult, WRONG_PASSPHRASE};
use crate::exit::{Failure, fail};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hush_client::store::{KeySource, SqliteStore, StoreError};
use hush_client::{Account, Engine};
use zeroize::Zeroizing;

/// Name of the state file inside a home.
pub const STATE_FILE: &str = "state.hush";
/// Name of the lock file inside a home.
pub const LOCK_FILE: &str = "lock";
/// Environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "HUSH_PASSPHRASE";
/// How long a command waits for another one using the same home.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// The engine of a home.
pub type HomeEngine = Engine<SqliteStore>;

/// A locked home folder. The lock is released when this is dropped (or the process ends),
/// or for a while with [`Home::release`].
pub struct Home {
    dir: PathBuf,
    lock: Option<File>,
}

impl Home {
    /// Opens (creating it if `create`) and locks the home folder.
    pub fn lock(dir: &Path, create: bool) -> Result<Self> {
        if create {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create home folder {}", dir.display()))?;
        } else if !dir.join(STATE_FILE).exists() {
            return Err(fail(
                Failure::NotFound,
                format!(
                    "{} is not a Hush home (no {STATE_FILE}); run `hush --home {} init` first",
                    dir.display(),
                    dir.display()
                ),
            ));
        }
        Ok(Home {
            dir: dir.to_path_buf(),
            lock: Some(lock_file(dir)?),
        })
    }

    /// The home folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of the state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Where a new state file is made before it replaces [`Home::state_path`] (init,
    /// restore, migration): a crash leaves the old file or none, never half of one.
    pub fn new_state_path(&self) -> PathBuf {
        self.dir.join(format!("{STATE_FILE}.new"))
    }

    /// Removes what an interrupted [`Home::new_state_path`] left.
    pub fn remove_new_state(&self) -> Result<()> {
        let base = self.new_state_path();
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let p = PathBuf::from(format!("{}{suffix}", base.display()));
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("cannot remove {}", p.display())),
            }
        }
        Ok(())
    }

    /// Puts the finished new state file in place of the state file (the store that wrote it
    /// must be closed), then syncs the folder.
    pub fn install_new_state(&self) -> Result<()> {
        let (new, path) = (self.new_state_path(), self.state_path());
        fs::rename(&new, &path).with_context(|| format!("cannot replace {}", path.display()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync folder {}", self.dir.display()))?;
        Ok(())
    }

    /// Lets other commands use the home while this one waits (`recv --wait`).
    pub fn release(&mut self) {
        self.lock = None;
    }

    /// Takes the lock again after [`Home::release`]; does nothing while it is held.
    pub fn relock(&mut self) -> Result<()> {
        if self.lock.is_none() {
            self.lock = Some(lock_file(&self.dir)?);
        }
        Ok(())
    }
}

/// A home, locked, with its engine open.
pub struct Opened {
    /// The home.
    pub home: Home,
    /// Its engine.
    pub engine: HomeEngine,
    /// The passphrase it was opened with.
    pub passphrase: Zeroizing<String>,
}

/// Whether the file at `path` is a state file of the format from before the engine.
pub fn is_legacy(path: &Path) -> Result<bool> {
    let mut magic = [0u8; 8];
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    match f.read_exact(&mut magic) {
        Ok(()) => Ok(&magic == crate::store::MAGIC),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Maps a store error when opening.
pub fn store_error(path: &Path, e: StoreError) -> anyhow::Error {
    match e {
        StoreError::WrongKey => fail(Failure::WrongPassphrase, WRONG_PASSPHRASE),
        StoreError::NotAStore => anyhow::anyhow!(
            "{} is not a Hush state file (damaged, or not made by hush)",
            path.display()
        ),
        other => anyhow::anyhow!("cannot open {}: {other}", path.display()),
    }
}

/// Locks the home at `dir`, asks for the passphrase, moves a state file of the older format
/// into a store (once), and opens the engine.
pub fn open(dir: &Path) -> Result<Opened> {
    let home = Home::lock(dir, false)?;
    let passphrase = passphrase(false)?;
    let path = home.state_path();
    if is_legacy(&path)? {
        crate::migrate::migrate(&home, passphrase.as_bytes())?;
    }
    let store = SqliteStore::open(&path, KeySource::Passphrase(passphrase.as_bytes()))
        .map_err(|e| store_error(&path, e))?;
    let account = Account::open(store).cli()?;
    // Files being sent wait encrypted in the home, not in a possibly memory-backed /tmp.
    let engine = Engine::with_options(account, crate::net::options())
        .cli()?
        .with_temp_dir(home.dir().join("tmp"));
    Ok(Opened {
        home,
        engine,
        passphrase,
    })
}

/// The passphrase: `HUSH_PASSPHRASE`, else a prompt on the terminal (asked twice when
/// `confirm`), else an error.
pub fn passphrase(confirm: bool) -> Result<Zeroizing<String>> {
    if let Some(p) = std::env::var_os(PASSPHRASE_ENV) {
        let p = Zeroizing::new(
            p.into_string()
                .map_err(|_| anyhow::anyhow!("{PASSPHRASE_ENV} is not valid UTF-8"))?,
        );
        if p.is_empty() {
            bail!("{PASSPHRASE_ENV} is empty; a passphrase is required");
        }
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set {PASSPHRASE_ENV} or run hush on a terminal to be asked for it");
    }
    let p = Zeroizing::new(
        rpassword::prompt_password("Passphrase: ").context("cannot read the passphrase")?,
    );
    if p.is_empty() {
        bail!("a passphrase is required");
    }
    if confirm {
        let again = Zeroizing::new(
            rpassword::prompt_password("Passphrase again: ")
                .context("cannot read the passphrase")?,
        );
        if *again != *p {
            bail!("the two passphrases differ");
        }
    }
    Ok(p)
}

/// Opens and locks `DIR/lock`, waiting up to [`LOCK_WAIT`] for another command to finish.
fn lock_file(dir: &Path) -> Result<File> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    let start = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if start.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(TryLockError::WouldBlock) => {
                return Err(fail(
                    Failure::Busy,
                    format!(
                        "another hush command is using {} (waited {} s)",
                        dir.display(),
                        LOCK_WAIT.as_secs()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
    }
    Ok(file)
}
