//! The encrypted SQLite store behaves as a map: random batches of puts and deletes over a few
//! keys in every table, with reopens in between, read back exactly as a `BTreeMap` model says.

use hush_client::store::{Batch, KdfParams, KeySource, SqliteStore, Store, Table};
use proptest::prelude::*;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

#[derive(Debug, Clone)]
enum Step {
    Put(usize, u8, Vec<u8>),
    Delete(usize, u8),
    Commit,
    Reopen,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..Table::ALL.len(), 0u8..6, prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(t, k, v)| Step::Put(t, k, v)),
        2 => (0..Table::ALL.len(), 0u8..6).prop_map(|(t, k)| Step::Delete(t, k)),
        2 => Just(Step::Commit),
        1 => Just(Step::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn store_matches_a_map(steps in prop::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let cheap = KdfParams { m_cost: 64, t_cost: 1, p_cost: 1 };
        let mut store =
            SqliteStore::create_with(&path, KeySource::Passphrase(b"k"), cheap).unwrap();
        let mut model: BTreeMap<(Table, Vec<u8>), Vec<u8>> = BTreeMap::new();
        let mut pending = model.clone();
        let mut batch = Batch::new();
        for s in steps {
            match s {
                Step::Put(t, k, v) => {
                    let t = Table::ALL[t];
                    pending.insert((t, vec![k]), v.clone());
                    batch.put(t, vec![k], Zeroizing::new(v));
                }
                Step::Delete(t, k) => {
                    let t = Table::ALL[t];
                    pending.remove(&(t, vec![k]));
                    batch.delete(t, vec![k]);
                }
                Step::Commit => {
                    store.commit(std::mem::take(&mut batch)).unwrap();
                    model = pending.clone();
                }
                Step::Reopen => {
                    // An uncommitted batch is lost with the process.
                    batch = Batch::new();
                    pending = model.clone();
                    drop(store);
                    store = SqliteStore::open(&path, KeySource::Passphrase(b"k")).unwrap();
                }
            }
            for t in Table::ALL {
                let mut got: Vec<(Vec<u8>, Vec<u8>)> = store
                    .scan(t)
                    .unwrap()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_vec()))
                    .collect();
                got.sort();
                let want: Vec<(Vec<u8>, Vec<u8>)> = model
                    .iter()
                    .filter(|((mt, _), _)| *mt == t)
                    .map(|((_, k), v)| (k.clone(), v.clone()))
                    .collect();
                prop_assert_eq!(got, want);
                for k in 0u8..6 {
                    let got = store.get(t, &[k]).unwrap().map(|v| v.to_vec());
                    prop_assert_eq!(got, model.get(&(t, vec![k])).cloned());
                }
            }
        }
    }
}
