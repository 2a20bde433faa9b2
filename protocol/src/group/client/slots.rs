//! The client's groups by id, noting which ones changed (for record-by-record persistence,
//! `super::super::records`).

use std::collections::{BTreeMap, BTreeSet};

use super::GroupSlot;
use crate::group::events::GroupId;

/// The groups a client holds. Every mutable access marks the group as changed while changes
/// are tracked.
#[derive(Default)]
pub(crate) struct Slots {
    map: BTreeMap<GroupId, GroupSlot>,
    /// Groups changed (or added, or removed) since the last take (`None`: not tracked).
    changed: Option<BTreeSet<GroupId>>,
}

impl Slots {
    fn touch(&mut self, group: &GroupId) {
        if let Some(changed) = &mut self.changed
            && !changed.contains(group)
        {
            changed.insert(group.clone());
        }
    }

    pub(crate) fn get(&self, group: &GroupId) -> Option<&GroupSlot> {
        self.map.get(group)
    }

    /// The group, marked as changed.
    pub(crate) fn get_mut(&mut self, group: &GroupId) -> Option<&mut GroupSlot> {
        if self.map.contains_key(group) {
            self.touch(group);
        }
        self.map.get_mut(group)
    }

    pub(crate) fn insert(&mut self, group: GroupId, slot: GroupSlot) -> Option<GroupSlot> {
        self.touch(&group);
        self.map.insert(group, slot)
    }

    pub(crate) fn remove(&mut self, group: &GroupId) -> Option<GroupSlot> {
        let out = self.map.remove(group);
        if out.is_some() {
            self.touch(group);
        }
        out
    }

    pub(crate) fn contains_key(&self, group: &GroupId) -> bool {
        self.map.contains_key(group)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &GroupId> {
        self.map.keys()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&GroupId, &GroupSlot)> {
        self.map.iter()
    }

    /// The groups changed since the last call, tracking from now on; every group when
    /// changes were not tracked yet.
    pub(crate) fn take_changed(&mut self) -> BTreeSet<GroupId> {
        match self.changed.replace(BTreeSet::new()) {
            Some(changed) => changed,
            None => self.map.keys().cloned().collect(),
        }
    }

    /// Starts tracking changes (groups restored from records already persisted).
    pub(crate) fn track_changes(&mut self) {
        self.changed = Some(BTreeSet::new());
    }

    /// Whether changes are tracked.
    pub(crate) fn tracked(&self) -> bool {
        self.changed.is_some()
    }
}
