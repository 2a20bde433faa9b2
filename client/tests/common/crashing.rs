//! A store that fails a chosen commit, as a crash would (what was committed before stays).

use hush_client::store::{Batch, MemoryStore, Store, StoreError, Table, Value};
use hush_client::{Account, Engine};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A store whose `fail_at`-th commit (counting from when it is armed) fails.
pub struct Crashing {
    inner: MemoryStore,
    commits: Arc<AtomicUsize>,
    fail_at: Arc<AtomicUsize>,
}

impl Store for Crashing {
    fn get(&self, t: Table, k: &[u8]) -> Result<Option<Value>, StoreError> {
        self.inner.get(t, k)
    }
    fn scan(&self, t: Table) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        self.inner.scan(t)
    }
    fn commit(&mut self, b: Batch) -> Result<(), StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            return Err(StoreError::Database("simulated crash".into()));
        }
        self.inner.commit(b)
    }
}

pub struct Knobs {
    commits: Arc<AtomicUsize>,
    fail_at: Arc<AtomicUsize>,
}

impl Knobs {
    /// Makes the `k`-th commit from now fail.
    pub fn arm(&self, k: usize) {
        self.commits.store(0, Ordering::SeqCst);
        self.fail_at.store(k, Ordering::SeqCst);
    }
    pub fn disarm(&self) {
        self.fail_at.store(0, Ordering::SeqCst);
    }
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

pub fn crashing(inner: MemoryStore) -> (Crashing, Knobs) {
    let commits = Arc::new(AtomicUsize::new(0));
    let fail_at = Arc::new(AtomicUsize::new(0));
    (
        Crashing {
            inner,
            commits: commits.clone(),
            fail_at: fail_at.clone(),
        },
        Knobs { commits, fail_at },
    )
}

/// "Restarts" an engine: what its store committed is all the new one has.
pub async fn restart(e: Engine<Crashing>) -> Engine<Crashing> {
    let account = Account::open(e.shutdown().await.into_store()).unwrap();
    Engine::new(account).unwrap()
}
