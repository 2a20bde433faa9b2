//! A home folder: its lock, its passphrase and its encrypted state file.

use crate::exit::{Failure, fail};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

use crate::state::State;
use crate::store::{self, StateKey};

/// Name of the state file inside a home.
pub const STATE_FILE: &str = "state.hush";
/// Name of the lock file inside a home.
pub const LOCK_FILE: &str = "lock";
/// Environment variable holding the passphrase.
pub const PASSPHRASE_ENV: &str = "HUSH_PASSPHRASE";
/// How long a command waits for another one using the same home.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A locked home folder. The lock is released when this is dropped (or the process ends),
/// or for a while with [`Loaded::release`].
pub struct Home {
    dir: PathBuf,
    lock: Option<File>,
}

/// A home with its decrypted state, and the key to write it back.
pub struct Loaded {
    /// The home.
    pub home: Home,
    /// The state.
    pub state: State,
    key: StateKey,
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

    /// Path of the state file.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(STATE_FILE)
    }

    /// Decrypts the state.
    pub fn load(self) -> Result<Loaded> {
        let path = self.state_path();
        let image = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let pass = passphrase(false)?;
        let (body, key) = store::open(&image, pass.as_bytes())?;
        let state = State::from_json(&body)?;
        Ok(Loaded {
            home: self,
            state,
            key,
        })
    }

    /// Writes a brand-new state (init).
    pub fn create(self, state: State, passphrase: &[u8]) -> Result<Loaded> {
        let key = StateKey::new(passphrase)?;
        let loaded = Loaded {
            home: self,
            state,
            key,
        };
        loaded.save()?;
        Ok(loaded)
    }
}

impl Loaded {
    /// Encrypts and atomically replaces the state file. Refused while the lock is released.
    pub fn save(&self) -> Result<()> {
        if self.home.lock.is_none() {
            bail!("internal error: the state was written while the home was not locked");
        }
        let body = self.state.to_json()?;
        let image = self.key.seal(&body)?;
        store::write_atomic(&self.home.state_path(), &image)
    }
}

impl Loaded {
    /// Lets other commands use the home while this one waits (`recv --wait`). The state in
    /// memory must not be used until [`Loaded::reload`].
    pub fn release(&mut self) {
        self.home.lock = None;
    }

    /// Whether this command holds the home's lock.
    pub fn is_locked(&self) -> bool {
        self.home.lock.is_some()
    }

    /// Takes the lock again and reads the state as other commands left it, with the key
    /// derived at load (no second Argon2id). Does nothing if the lock is held.
    pub fn reload(&mut self) -> Result<()> {
        if self.home.lock.is_some() {
            return Ok(());
        }
        let file = lock_file(&self.home.dir)?;
        let path = self.home.state_path();
        let image = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let body = self.key.open(&image).context(
            "the home's state file was replaced meanwhile (restored, or a new passphrase)",
        )?;
        self.state = State::from_json(&body)?;
        self.home.lock = Some(file);
        Ok(())
    }
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
