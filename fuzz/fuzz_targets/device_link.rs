//! Device lists, link requests and sealed approvals (spec/multi-device.md) never panic on any
//! input, and what is accepted keeps its promises: a list or request is the exact bytes read,
//! a list is never a rollback of itself, an opened approval holds the requesting device.
//!
//! The first byte picks what the rest is read as: 0 a device list, 1 a link request, 2 a
//! sealed approval of the fixture's waiting request.
#![no_main]

#[path = "devices_common.rs"]
mod devices_common;

use devices_common::{DevicesFixture, NOW, devices_fixture, rng};
use hush_protocol::devices::{DeviceList, LinkRequest};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Made once: key generation and signing would otherwise be most of every run.
static FIXTURE: OnceLock<DevicesFixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = FIXTURE.get_or_init(devices_fixture);
    match mode % 3 {
        0 => {
            if let Ok(list) = DeviceList::from_bytes(rest) {
                assert_eq!(list.to_bytes(), rest);
                assert_eq!(
                    DeviceList::from_bytes(list.to_bytes()).ok(),
                    Some(list.clone())
                );
                assert!(
                    list.check_update(&list)
                        .expect("a list updates to itself")
                        .is_empty()
                );
                assert!(list.devices().count() >= 1);
                if let Ok(change) = f.list.check_update(&list) {
                    assert!(list.counter() >= f.list.counter());
                    for id in change.added {
                        assert!(id >= f.list.next_id());
                    }
                }
            }
        }
        1 => {
            if let Ok(request) = LinkRequest::from_bytes(rest, NOW) {
                assert_eq!(request.to_bytes(), rest);
                if let Ok((newer, _)) = request.approve(&mut rng(), &f.person, &f.list, b"") {
                    let change = f
                        .list
                        .check_update(&newer)
                        .expect("the approved list is newer");
                    assert_eq!(change.added.len(), 1);
                }
            }
        }
        _ => {
            if let Ok(approval) = f.request.open_approval(&f.secret, rest) {
                assert_eq!(
                    approval.list.device(approval.device_id),
                    Some(f.request.device())
                );
            }
        }
    }
});
