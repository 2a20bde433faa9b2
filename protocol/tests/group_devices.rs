//! Group credentials of linked devices (`spec/multi-device.md` §5): a device whose person
//! vouched for it names the person in its leaf, every member reads it from the leaf alone,
//! a forged word is refused, an older leaf is brought up to date by a self-update, and the
//! word survives persistence.

mod group_common;

use group_common::*;
use hush_protocol::IdentityKeyPair;
use hush_protocol::devices::DeviceOf;
use hush_protocol::group::{GroupClient, GroupConfig, GroupError, GroupEvent, GroupId};
use hush_protocol::proto::{state, wire};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    BasicCredential, Ciphersuite, CredentialWithKey, KeyPackage, MlsGroup, MlsGroupCreateConfig,
    MlsMessageBodyIn, MlsMessageIn, MlsMessageOut, ProtocolVersion, SignatureScheme,
};
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;
use openmls_traits::OpenMlsProvider as _;
use prost::Message as _;
use rand::rngs::StdRng;

/// A device of `person`, its credential carrying the person's word.
fn linked(rng: &mut StdRng, person: &IdentityKeyPair) -> Member {
    let mut m = Member::new(rng);
    m.client
        .set_device_of(DeviceOf::sign(person, m.id.public()))
        .unwrap();
    m
}

/// The sender `reader` sees on a message `from` sends.
fn sender_seen(
    rng: &mut StdRng,
    from: &mut Member,
    reader: &mut Member,
    g: &GroupId,
) -> hush_protocol::group::GroupMember {
    let m = from.client.encrypt(rng, g, b"hello").unwrap();
    match &reader.client.process(rng, g, &m).unwrap()[..] {
        [GroupEvent::Application { sender, .. }] => sender.clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn members_read_the_person_from_a_linked_device_leaf() {
    let mut rng = rng(70);
    let mut carol = Member::new(&mut rng);
    let person = IdentityKeyPair::generate(&mut rng);
    let mut laptop = linked(&mut rng, &person);
    assert_eq!(
        laptop.client.device_of().map(|d| d.person()),
        Some(person.public())
    );
    let g = carol.client.create_group(&mut rng).unwrap();
    let kp = laptop.key_package(&mut rng);
    let add = carol.client.add_members(&mut rng, &g, &[&kp]).unwrap();
    assert_eq!(add.new_members[0].identity, *laptop.id.public());
    carol.client.process(&mut rng, &g, &add.commit).unwrap();
    laptop
        .client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();

    // Carol (who holds no list of the person) names the person from the leaf.
    let seen = sender_seen(&mut rng, &mut laptop, &mut carol, &g);
    assert_eq!(seen.identity, *laptop.id.public());
    assert_eq!(seen.person.as_ref(), Some(person.public()));
    assert_eq!(seen.shown_person(), person.public());
    // A device that is its own person shows itself.
    let seen = sender_seen(&mut rng, &mut carol, &mut laptop, &g);
    assert_eq!(
        (&seen.person, seen.shown_person()),
        (&None, carol.id.public())
    );
    let members = laptop.client.members(&g).unwrap();
    assert_eq!(
        members.iter().map(|m| m.shown_person()).collect::<Vec<_>>(),
        [carol.id.public(), person.public()]
    );
    assert!(!laptop.client.own_leaf_outdated(&g).unwrap());
}

#[test]
fn a_leaf_made_before_the_link_names_the_person_after_a_self_update() {
    let mut rng = rng(71);
    let mut carol = Member::new(&mut rng);
    let mut tablet = Member::new(&mut rng);
    let person = IdentityKeyPair::generate(&mut rng);
    let g = carol.client.create_group(&mut rng).unwrap();
    // The tablet joins with a KeyPackage made before it was linked.
    let kp = tablet.key_package(&mut rng);
    let add = carol.client.add_members(&mut rng, &g, &[&kp]).unwrap();
    carol.client.process(&mut rng, &g, &add.commit).unwrap();
    tablet
        .client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    assert!(!tablet.client.own_leaf_outdated(&g).unwrap());
    tablet
        .client
        .set_device_of(DeviceOf::sign(&person, tablet.id.public()))
        .unwrap();
    assert!(tablet.client.own_leaf_outdated(&g).unwrap());
    assert_eq!(
        sender_seen(&mut rng, &mut tablet, &mut carol, &g).person,
        None
    );

    let update = tablet.client.self_update(&mut rng, &g).unwrap();
    deliver_commit(&mut rng, &mut [&mut carol, &mut tablet], &g, &update);
    assert!(!tablet.client.own_leaf_outdated(&g).unwrap());
    assert_agree(&[&carol, &tablet], &g);
    let seen = sender_seen(&mut rng, &mut tablet, &mut carol, &g);
    assert_eq!(seen.person.as_ref(), Some(person.public()));
    // The next self-update keeps the credential.
    let update = tablet.client.self_update(&mut rng, &g).unwrap();
    deliver_commit(&mut rng, &mut [&mut carol, &mut tablet], &g, &update);
    let seen = sender_seen(&mut rng, &mut tablet, &mut carol, &g);
    assert_eq!(seen.person.as_ref(), Some(person.public()));
}

#[test]
fn a_word_for_another_device_is_refused() {
    let mut rng = rng(72);
    let person = IdentityKeyPair::generate(&mut rng);
    let other = IdentityKeyPair::generate(&mut rng);
    let mut m = Member::new(&mut rng);
    assert!(matches!(
        m.client
            .set_device_of(DeviceOf::sign(&person, other.public())),
        Err(GroupError::InvalidCredential(_))
    ));
    assert!(m.client.device_of().is_none());
}

/// openmls' signer for a Hush identity's Ed25519 key.
fn mls_signer(id: &IdentityKeyPair) -> SignatureKeyPair {
    let secret = state::IdentityKeyPairState::decode(id.to_bytes().as_slice()).unwrap();
    SignatureKeyPair::from_raw(
        SignatureScheme::ED25519,
        secret.signing_secret.clone(),
        id.public().signing_key_bytes().to_vec(),
    )
}

/// A KeyPackage whose credential identity is `identity`, signed with `signer` (the leaf key
/// checks out whatever the identity says).
fn signed_key_package(signer: &SignatureKeyPair, identity: Vec<u8>) -> KeyPackage {
    let cred = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: signer.public().into(),
    };
    KeyPackage::builder()
        .build(SUITE, &OpenMlsRustCrypto::default(), signer, cred)
        .unwrap()
        .key_package()
        .clone()
}

const SUITE: Ciphersuite = Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;

/// A KeyPackage of a real device (its binding and leaf signatures valid) whose credential
/// carries a person's word that does not verify: signed by someone else than the person it
/// names, or the person's real word for another device.
fn forged_word_key_package(rng: &mut StdRng, word_for_other_device: bool) -> KeyPackage {
    let device = IdentityKeyPair::generate(rng);
    let person = IdentityKeyPair::generate(rng);
    let stranger = IdentityKeyPair::generate(rng);
    let signer = mls_signer(&device);
    let word = if word_for_other_device {
        DeviceOf::sign(&person, stranger.public())
    } else {
        DeviceOf::sign(&stranger, device.public())
    };
    let mut identity = wire::MemberIdentity::decode(device.public().to_bytes().as_slice()).unwrap();
    identity.device_of = Some(wire::DeviceOf {
        person: Some(
            wire::IdentityPublicKey::decode(person.public().to_bytes().as_slice()).unwrap(),
        ),
        signature: word.signature().to_vec(),
    });
    signed_key_package(&signer, identity.encode_to_vec())
}

fn key_package_with_forged_word(rng: &mut StdRng, word_for_other_device: bool) -> Vec<u8> {
    MlsMessageOut::from(forged_word_key_package(rng, word_for_other_device))
        .tls_serialize_detached()
        .unwrap()
}

/// A member that is not a Hush client (raw openmls, with a Hush credential) commits `kps`
/// into a new group it made; returns the Welcome.
fn raw_group_welcome(rng: &mut StdRng, kps: &[KeyPackage]) -> Vec<u8> {
    let provider = OpenMlsRustCrypto::default();
    let mallory = IdentityKeyPair::generate(rng);
    let signer = mls_signer(&mallory);
    let cred = CredentialWithKey {
        credential: BasicCredential::new(mallory.public().to_bytes()).into(),
        signature_key: signer.public().into(),
    };
    let config = MlsGroupCreateConfig::builder()
        .ciphersuite(SUITE)
        .use_ratchet_tree_extension(true)
        .build();
    let mut group = MlsGroup::new(&provider, &signer, &config, cred).unwrap();
    let (_, welcome, _) = group.add_members(&provider, &signer, kps).unwrap();
    group.merge_pending_commit(&provider).unwrap();
    welcome.tls_serialize_detached().unwrap()
}

/// A KeyPackage signed by its leaf key whose credential's X25519 key (`short_dh`) or binding
/// signature is one byte short.
fn short_field_key_package(rng: &mut StdRng, short_dh: bool) -> KeyPackage {
    let device = IdentityKeyPair::generate(rng);
    let signer = mls_signer(&device);
    let mut identity =
        wire::IdentityPublicKey::decode(device.public().to_bytes().as_slice()).unwrap();
    if short_dh {
        identity.dh_key.pop();
    } else {
        identity.dh_key_signature.pop();
    }
    signed_key_package(&signer, identity.encode_to_vec())
}

#[test]
fn a_welcome_whose_tree_holds_a_malformed_credential_is_refused() {
    let mut rng = rng(76);
    for short_dh in [true, false] {
        let mut dave = Member::new(&mut rng);
        let kp = hush_key_package(&mut rng, &mut dave);
        let bad = short_field_key_package(&mut rng, short_dh);
        let welcome = raw_group_welcome(&mut rng, &[kp, bad]);
        assert!(
            matches!(
                dave.client.join(&mut rng, &welcome, None),
                Err(GroupError::InvalidCredential(_))
            ),
            "short_dh={short_dh}"
        );
    }
}

/// Carol's KeyPackage, as openmls reads it.
fn hush_key_package(rng: &mut StdRng, m: &mut Member) -> KeyPackage {
    let bytes = m.key_package(rng);
    let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(&bytes)
        .unwrap()
        .extract()
    else {
        panic!("a KeyPackage")
    };
    kp.validate(
        OpenMlsRustCrypto::default().crypto(),
        ProtocolVersion::Mls10,
    )
    .unwrap()
}

#[test]
fn a_welcome_whose_tree_holds_a_forged_word_is_refused() {
    let mut rng = rng(75);
    // Control: a Welcome from the same kind of group without the forged leaf is joined.
    let mut carol = Member::new(&mut rng);
    let kp = hush_key_package(&mut rng, &mut carol);
    let welcome = raw_group_welcome(&mut rng, &[kp]);
    carol.client.join(&mut rng, &welcome, None).unwrap();
    for other_device in [false, true] {
        let mut dave = Member::new(&mut rng);
        let kp = hush_key_package(&mut rng, &mut dave);
        let forged = forged_word_key_package(&mut rng, other_device);
        let welcome = raw_group_welcome(&mut rng, &[kp, forged]);
        assert!(
            matches!(
                dave.client.join(&mut rng, &welcome, None),
                Err(GroupError::InvalidCredential(_))
            ),
            "other_device={other_device}"
        );
        assert!(dave.client.group_ids().is_empty());
    }
}

#[test]
fn a_forged_word_in_a_key_package_is_refused() {
    let mut rng = rng(73);
    let mut carol = Member::new(&mut rng);
    let g = carol.client.create_group(&mut rng).unwrap();
    for other_device in [false, true] {
        let kp = key_package_with_forged_word(&mut rng, other_device);
        assert!(
            matches!(
                carol.client.add_members(&mut rng, &g, &[&kp]),
                Err(GroupError::InvalidCredential(_))
            ),
            "other_device={other_device}"
        );
        assert!(!carol.client.has_pending_commit(&g).unwrap());
    }
}

#[test]
fn the_word_survives_persistence() {
    let mut rng = rng(74);
    let person = IdentityKeyPair::generate(&mut rng);
    let mut laptop = Member::new(&mut rng);
    // Record by record: the header is written again when the word is set.
    let first = laptop.client.take_changes().unwrap();
    let header = first.header.clone().unwrap();
    assert!(laptop.client.take_changes().unwrap().header.is_none());
    laptop
        .client
        .set_device_of(DeviceOf::sign(&person, laptop.id.public()))
        .unwrap();
    let changes = laptop.client.take_changes().unwrap();
    let new_header = changes.header.clone().expect("the header changed");
    assert_ne!(*new_header, *header);
    let entries: Vec<_> = first
        .entries
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let restored =
        GroupClient::from_records(&laptop.id, &new_header, entries.clone(), &[]).unwrap();
    assert_eq!(restored.device_of(), laptop.client.device_of());
    let old = GroupClient::from_records(&laptop.id, &header, entries, &[]).unwrap();
    assert!(old.device_of().is_none());
    // Whole.
    let blob = laptop.client.to_bytes().unwrap();
    let back = GroupClient::from_bytes(&laptop.id, &blob).unwrap();
    assert_eq!(back.device_of(), laptop.client.device_of());
    // A KeyPackage of the restored client names the person.
    let mut restored = Member {
        id: IdentityKeyPair::from_bytes(&laptop.id.to_bytes()).unwrap(),
        client: back,
    };
    let mut carol = Member::with_config(&mut rng, GroupConfig::default());
    let g = carol.client.create_group(&mut rng).unwrap();
    let kp = restored.key_package(&mut rng);
    let add = carol.client.add_members(&mut rng, &g, &[&kp]).unwrap();
    carol.client.process(&mut rng, &g, &add.commit).unwrap();
    let members = carol.client.members(&g).unwrap();
    assert_eq!(members[1].person.as_ref(), Some(person.public()));
}
