//! The store wipes what it overwrites, deletes and removes; it fails with errors, not
//! panics; undo scopes roll back; entries round-trip through the persisted form.

use openmls_traits::storage::{CURRENT_VERSION, StorageProvider};
use prost::Message;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{GroupStorage, StorageError, codec};
use crate::IdentityKeyPair;
use crate::group::{GroupClient, GroupConfig, GroupError};
use crate::proto::state;

/// One value the store wiped: its key, its length, and whether its bytes were all zero
/// after the wipe.
#[derive(Debug, Clone)]
pub(super) struct Wiped {
    pub(super) key: Vec<u8>,
    pub(super) len: usize,
    pub(super) zeroed: bool,
}

/// Takes the store's record of wiped values.
fn wiped(s: &GroupStorage) -> Vec<Wiped> {
    core::mem::take(&mut s.lock().unwrap().retired.wiped)
}

fn wiped_labels(s: &GroupStorage, label: &[u8]) -> usize {
    wiped(s)
        .iter()
        .filter(|w| {
            assert!(w.zeroed && w.len > 0, "{w:?}");
            w.key.starts_with(label)
        })
        .count()
}

fn entries(s: &GroupStorage) -> Vec<(Vec<u8>, Vec<u8>)> {
    s.to_proto()
        .unwrap()
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
}

fn key(label: &[u8], k: &str) -> Vec<u8> {
    codec::store_key(label, &codec::key_part(k).unwrap())
}

#[test]
fn overwritten_deleted_and_removed_values_are_wiped() {
    let s = GroupStorage::default();
    let k = codec::key_part("k").unwrap();
    s.write(codec::EPOCH_SECRETS, &k, "first secret").unwrap();
    assert!(wiped(&s).is_empty());

    s.write(codec::EPOCH_SECRETS, &k, "second secret").unwrap();
    let w = wiped(&s);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].key, key(codec::EPOCH_SECRETS, "k"));
    assert_eq!(w[0].len, br#""first secret""#.len());
    assert!(w[0].zeroed);
    assert_eq!(
        s.read::<String>(codec::EPOCH_SECRETS, &k).unwrap().unwrap(),
        "second secret"
    );

    s.delete(codec::EPOCH_SECRETS, &k).unwrap();
    let w = wiped(&s);
    assert_eq!(w.len(), 1);
    assert!(w[0].zeroed && w[0].len == br#""second secret""#.len());
    assert_eq!(s.read::<String>(codec::EPOCH_SECRETS, &k).unwrap(), None);
    // Deleting what is not there wipes nothing.
    s.delete(codec::EPOCH_SECRETS, &k).unwrap();
    assert!(wiped(&s).is_empty());

    // Lists: every append and removal replaces the list's value and wipes the old one.
    s.append(codec::OWN_LEAF_NODES, &k, "a").unwrap();
    s.append(codec::OWN_LEAF_NODES, &k, "b").unwrap();
    s.append(codec::OWN_LEAF_NODES, &k, "c").unwrap();
    assert_eq!(wiped_labels(&s, codec::OWN_LEAF_NODES), 2);
    s.remove_item(codec::OWN_LEAF_NODES, &k, "b").unwrap();
    assert_eq!(wiped_labels(&s, codec::OWN_LEAF_NODES), 1);
    assert_eq!(
        s.read_list::<String>(codec::OWN_LEAF_NODES, &k).unwrap(),
        ["a", "c"]
    );
    s.delete(codec::OWN_LEAF_NODES, &k).unwrap();
    assert_eq!(wiped_labels(&s, codec::OWN_LEAF_NODES), 1);
    assert!(entries(&s).is_empty());
}

#[test]
fn openmls_overwrites_and_deletes_go_through_the_wipe() {
    let mut rng = StdRng::seed_from_u64(7);
    let alice_id = IdentityKeyPair::generate(&mut rng);
    let bob_id = IdentityKeyPair::generate(&mut rng);
    let mut alice = GroupClient::new(&alice_id, GroupConfig::default()).unwrap();
    let mut bob = GroupClient::new(&bob_id, GroupConfig::default()).unwrap();
    let kps = bob.generate_key_packages(&mut rng, 1).unwrap();
    let g = alice.create_group(&mut rng).unwrap();
    let add = alice.add_members(&mut rng, &g, &[&kps[0]]).unwrap();
    wiped(&alice.storage);
    alice.process(&mut rng, &g, &add.commit).unwrap();
    // Merging the commit replaced the epoch's secrets.
    let w = wiped(&alice.storage);
    assert!(w.iter().all(|w| w.zeroed));
    for label in [codec::EPOCH_SECRETS, codec::MESSAGE_SECRETS, codec::TREE] {
        assert!(w.iter().any(|w| w.key.starts_with(label)), "{label:?}");
    }

    // Joining consumes the KeyPackage: its private keys are wiped, not just dropped.
    wiped(&bob.storage);
    bob.join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    let w = wiped(&bob.storage);
    let kp: Vec<_> = w
        .iter()
        .filter(|w| w.key.starts_with(codec::KEY_PACKAGE))
        .collect();
    assert_eq!(kp.len(), 1);
    assert!(kp[0].zeroed && kp[0].len > 0);
    assert!(
        !entries(&bob.storage)
            .iter()
            .any(|(k, _)| k.starts_with(codec::KEY_PACKAGE))
    );

    // A self-update and its processing replace Bob's secrets too.
    let up = alice.self_update(&mut rng, &g).unwrap();
    alice.process(&mut rng, &g, &up.commit).unwrap();
    wiped(&bob.storage);
    bob.process(&mut rng, &g, &up.commit).unwrap();
    assert!(wiped_labels(&bob.storage, codec::EPOCH_SECRETS) >= 1);
}

#[test]
fn poisoned_lock_is_an_error_not_a_panic() {
    let mut rng = StdRng::seed_from_u64(8);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut client = GroupClient::new(&id, GroupConfig::default()).unwrap();
    let g = client.create_group(&mut rng).unwrap();
    let storage = &client.storage;
    let poisoned = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _guard = storage.state.lock();
        panic!("poison the store's lock");
    }));
    assert!(poisoned.is_err());

    let k = codec::key_part("k").unwrap();
    assert_eq!(
        client.storage.write(codec::TREE, &k, "v"),
        Err(StorageError::Poisoned)
    );
    assert_eq!(
        client.storage.read::<String>(codec::TREE, &k),
        Err(StorageError::Poisoned)
    );
    assert_eq!(
        client
            .storage
            .delete_tree(&openmls::prelude::GroupId::from_slice(b"g")),
        Err(StorageError::Poisoned)
    );
    assert!(matches!(
        client.storage.undo_scope(),
        Err(StorageError::Poisoned)
    ));
    assert_eq!(client.to_bytes().unwrap_err(), GroupError::Storage);
    assert!(client.encrypt(&mut rng, &g, b"no").is_err());
    assert!(client.self_update(&mut rng, &g).is_err());
    assert!(client.generate_key_packages(&mut rng, 1).is_err());
    // Dropping a poisoned store still works (and wipes it).
    drop(client);
}

/// Re-signs a decoded state blob after a test altered it.
fn reseal(st: &mut state::GroupClientState) -> Vec<u8> {
    st.integrity.clear();
    st.integrity = crate::group::persist::integrity(st);
    st.encode_to_vec()
}

#[test]
fn undecodable_values_are_errors_not_panics() {
    let s = GroupStorage::default();
    let k = codec::key_part("k").unwrap();
    s.write(codec::TREE, &k, &[1u8, 2, 3]).unwrap();
    assert_eq!(s.read::<String>(codec::TREE, &k), Err(StorageError::Decode));
    s.write(codec::OWN_LEAF_NODES, &k, "not a list").unwrap();
    assert_eq!(
        s.read_list::<String>(codec::OWN_LEAF_NODES, &k),
        Err(StorageError::Decode)
    );
    assert_eq!(
        s.append(codec::OWN_LEAF_NODES, &k, "x"),
        Err(StorageError::Decode)
    );

    // A blob whose store holds a value openmls cannot decode fails to load (the blob's
    // integrity check passes: the damage is inside).
    let mut rng = StdRng::seed_from_u64(9);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut client = GroupClient::new(&id, GroupConfig::default()).unwrap();
    let g = client.create_group(&mut rng).unwrap();
    let blob = client.to_bytes().unwrap();
    for label in [
        codec::TREE,
        codec::EPOCH_SECRETS,
        codec::MESSAGE_SECRETS,
        codec::GROUP_STATE,
    ] {
        let mut st = state::GroupClientState::decode(blob.as_slice()).unwrap();
        let e = st
            .storage
            .iter_mut()
            .find(|e| e.key.starts_with(label))
            .unwrap_or_else(|| panic!("{label:?}"));
        e.value = b"{\"garbage\":1}".to_vec();
        let bad = reseal(&mut st);
        assert!(
            matches!(
                GroupClient::from_bytes(&id, &bad),
                Err(GroupError::Malformed(_))
            ),
            "{label:?}"
        );
    }
    // A list that is not a list (openmls' own store would panic here).
    let mut st = state::GroupClientState::decode(blob.as_slice()).unwrap();
    let gid = openmls::prelude::GroupId::from_slice(g.as_slice());
    st.storage.push(state::GroupStorageEntry {
        key: codec::store_key(codec::OWN_LEAF_NODES, &codec::key_part(&gid).unwrap()),
        value: b"{}".to_vec(),
    });
    let bad = reseal(&mut st);
    assert!(matches!(
        GroupClient::from_bytes(&id, &bad),
        Err(GroupError::Malformed(_))
    ));
    // The untouched blob still loads.
    GroupClient::from_bytes(&id, &blob).unwrap();
}

#[test]
fn undo_scope_rolls_back_or_keeps() {
    let s = GroupStorage::default();
    let (a, b, c) = (
        codec::key_part("a").unwrap(),
        codec::key_part("b").unwrap(),
        codec::key_part("c").unwrap(),
    );
    s.write(codec::PSK, &a, "a0").unwrap();
    s.write(codec::PSK, &b, "b0").unwrap();
    s.append(codec::OWN_LEAF_NODES, &a, "x").unwrap();
    let before = entries(&s);
    wiped(&s);

    let undo = s.undo_scope().unwrap();
    assert!(matches!(s.undo_scope(), Err(StorageError::UndoOpen)));
    s.write(codec::PSK, &a, "a1").unwrap();
    s.write(codec::PSK, &a, "a2").unwrap();
    s.delete(codec::PSK, &b).unwrap();
    s.write(codec::PSK, &c, "c1").unwrap();
    s.append(codec::OWN_LEAF_NODES, &a, "y").unwrap();
    // Only "a1" left the store for good; "a0", "b0" and the one-item list wait in the
    // journal.
    assert_eq!(wiped(&s).len(), 1);
    undo.roll_back().unwrap();
    assert_eq!(entries(&s), before);
    // Rolling back wiped what the scope had written: "a2", "c1" and the two-item list.
    let w = wiped(&s);
    assert_eq!(w.len(), 3);
    assert!(w.iter().all(|w| w.zeroed));

    // Dropping a scope rolls back too.
    {
        let _undo = s.undo_scope().unwrap();
        s.write(codec::PSK, &a, "a3").unwrap();
    }
    assert_eq!(entries(&s), before);
    wiped(&s);

    // Keeping wipes what the scope replaced.
    let undo = s.undo_scope().unwrap();
    s.write(codec::PSK, &a, "a4").unwrap();
    s.delete(codec::PSK, &b).unwrap();
    assert!(wiped(&s).is_empty());
    undo.keep().unwrap();
    assert_eq!(wiped(&s).len(), 2);
    assert_eq!(s.read::<String>(codec::PSK, &a).unwrap().unwrap(), "a4");
    assert_eq!(s.read::<String>(codec::PSK, &b).unwrap(), None);
    // And a new scope can open.
    s.undo_scope().unwrap().keep().unwrap();
}

#[test]
fn entries_round_trip_through_the_persisted_form() {
    let mut rng = StdRng::seed_from_u64(10);
    let id = IdentityKeyPair::generate(&mut rng);
    let mut client = GroupClient::new(&id, GroupConfig::default()).unwrap();
    client.generate_key_packages(&mut rng, 3).unwrap();
    client.create_group(&mut rng).unwrap();
    let mut proto = client.storage.to_proto().unwrap();
    let copy = proto.clone();
    let restored = GroupStorage::from_proto(&mut proto).unwrap();
    assert_eq!(restored.to_proto().unwrap(), copy);
    // The moved-out entries are left empty.
    assert!(proto.iter().all(|e| e.key.is_empty() && e.value.is_empty()));

    // Duplicate keys are a malformed blob.
    let mut dup = vec![copy[0].clone(), copy[0].clone()];
    assert!(matches!(
        GroupStorage::from_proto(&mut dup),
        Err(GroupError::Malformed(_))
    ));
    // Keys keep openmls' layout: label, serde_json key, version.
    assert!(
        copy.iter()
            .all(|e| e.key.ends_with(&CURRENT_VERSION.to_be_bytes()))
    );
    assert_eq!(
        copy.iter()
            .filter(|e| e.key.starts_with(codec::KEY_PACKAGE))
            .count(),
        3
    );
    assert_eq!(
        <GroupStorage as StorageProvider<CURRENT_VERSION>>::version(),
        1
    );
}
