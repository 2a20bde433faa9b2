//! Untrusted input: malformed, mis-signed, replayed or misdirected messages return typed
//! errors and leave the group unchanged.

mod group_common;

use group_common::*;
use hush_protocol::group::{GroupError, GroupEvent, GroupId};

#[test]
fn malformed_and_tampered_messages_are_rejected_without_state_change() {
    let mut rng = rng(30);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let kb = bob.key_package(&mut rng);
    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    let auth = bob.client.epoch_authenticator(&g).unwrap();

    // Garbage, empty, truncated.
    assert!(matches!(
        bob.client.process(&mut rng, &g, b""),
        Err(GroupError::Malformed(_))
    ));
    assert!(matches!(
        bob.client.process(&mut rng, &g, &[0xff; 40]),
        Err(GroupError::Malformed(_))
    ));
    let m = alice.client.encrypt(&mut rng, &g, b"payload").unwrap();
    for cut in [1, 4, 10, m.len() / 2, m.len() - 1] {
        assert!(bob.client.process(&mut rng, &g, &m[..cut]).is_err());
    }
    let mut trailing = m.clone();
    trailing.push(0);
    assert!(matches!(
        bob.client.process(&mut rng, &g, &trailing),
        Err(GroupError::Malformed(_))
    ));
    // Every single-byte alteration after the cleartext header (version, wire format, group
    // id, epoch: 45 bytes) fails to authenticate.
    for i in (45..m.len()).step_by(7) {
        let mut bad = m.clone();
        bad[i] ^= 0x80;
        assert!(
            bob.client.process(&mut rng, &g, &bad).is_err(),
            "flip at {i} accepted"
        );
    }
    // The wrong kind of message.
    assert!(matches!(
        bob.client.process(&mut rng, &g, &kb),
        Err(GroupError::UnexpectedMessage { .. })
    ));
    assert!(matches!(
        bob.client.join(&mut rng, &m, None),
        Err(GroupError::UnexpectedMessage { .. })
    ));
    // A group we do not hold, or a message of another group.
    assert_eq!(
        bob.client
            .process(&mut rng, &GroupId::from_slice(b"nope"), &m),
        Err(GroupError::UnknownGroup)
    );
    let other = alice.client.create_group(&mut rng).unwrap();
    let m_other = alice
        .client
        .encrypt(&mut rng, &other, b"elsewhere")
        .unwrap();
    assert_eq!(
        bob.client.process(&mut rng, &g, &m_other),
        Err(GroupError::WrongGroup)
    );
    // An altered epoch makes a message for the future: buffered, never decrypted.
    let mut future = m.clone();
    future[40] ^= 0x01;
    assert!(matches!(
        &bob.client.process(&mut rng, &g, &future).unwrap()[..],
        [GroupEvent::Buffered { .. }]
    ));

    // Nothing changed: the genuine message still decrypts, once.
    assert_eq!(bob.client.epoch_authenticator(&g).unwrap(), auth);
    assert_eq!(bob.read(&mut rng, &g, &m), vec![b"payload".to_vec()]);
    assert!(matches!(
        bob.client.process(&mut rng, &g, &m),
        Err(GroupError::InvalidMessage(_))
    ));
}

#[test]
fn tampered_commit_is_rejected_and_genuine_one_applies() {
    let mut rng = rng(31);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let mut carol = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let (kb, kc) = (bob.key_package(&mut rng), carol.key_package(&mut rng));
    let add = alice.client.add_members(&mut rng, &g, &[&kb, &kc]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    bob.client
        .join(&mut rng, &add.welcome_for(0).unwrap(), None)
        .unwrap();
    carol
        .client
        .join(&mut rng, &add.welcome_for(1).unwrap(), None)
        .unwrap();

    let up = alice.client.self_update(&mut rng, &g).unwrap();
    for i in (30..up.commit.len()).step_by(up.commit.len() / 40) {
        let mut bad = up.commit.clone();
        bad[i] ^= 0x04;
        assert!(
            bob.client.process(&mut rng, &g, &bad).is_err(),
            "flip at {i} accepted"
        );
        assert_eq!(bob.client.epoch(&g).unwrap(), 1);
    }
    // A commit replayed into the group by a non-member forging Bob's epoch fails too.
    bob.client.process(&mut rng, &g, &up.commit).unwrap();
    alice.client.process(&mut rng, &g, &up.commit).unwrap();
    assert_agree(&[&alice, &bob], &g);
    assert!(matches!(
        bob.client.process(&mut rng, &g, &up.commit),
        Err(GroupError::StaleEpoch { .. })
    ));
    carol.client.process(&mut rng, &g, &up.commit).unwrap();
    assert_agree(&[&alice, &bob, &carol], &g);
}

#[test]
fn bad_welcomes_and_key_packages_are_rejected() {
    let mut rng = rng(32);
    let mut alice = Member::new(&mut rng);
    let mut bob = Member::new(&mut rng);
    let mut carol = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    let kb = bob.key_package(&mut rng);

    // Altered KeyPackages fail validation.
    for i in (10..kb.len()).step_by(kb.len() / 30) {
        let mut bad = kb.clone();
        bad[i] ^= 0x10;
        assert!(
            alice.client.add_members(&mut rng, &g, &[&bad]).is_err(),
            "flip at {i} accepted"
        );
    }
    assert!(!alice.client.has_pending_commit(&g).unwrap());
    assert!(matches!(
        alice.client.add_members(&mut rng, &g, &[]),
        Err(GroupError::EmptyInput(_))
    ));

    let add = alice.client.add_members(&mut rng, &g, &[&kb]).unwrap();
    alice.client.process(&mut rng, &g, &add.commit).unwrap();
    let welcome = add.welcome_for(0).unwrap();
    // Carol holds no matching KeyPackage.
    assert_eq!(
        carol.client.join(&mut rng, &welcome, None),
        Err(GroupError::NoMatchingKeyPackage)
    );
    // An altered Welcome fails, and does not burn Bob's KeyPackage.
    let entries = bob.client.storage_entries();
    let n = welcome.len();
    for i in [n - 5, n - 40, n / 2] {
        let mut bad = welcome.clone();
        bad[i] ^= 0x01;
        assert!(bob.client.join(&mut rng, &bad, None).is_err());
        assert_eq!(bob.client.storage_entries(), entries);
    }
    assert!(bob.client.join(&mut rng, &welcome, None).is_ok());
    // Its KeyPackage is consumed now.
    assert_eq!(
        bob.client.join(&mut rng, &welcome, None).unwrap_err(),
        GroupError::NoMatchingKeyPackage
    );
    let m = bob.client.encrypt(&mut rng, &g, b"ok").unwrap();
    let ev = alice.client.process(&mut rng, &g, &m).unwrap();
    assert!(matches!(&ev[..], [GroupEvent::Application { .. }]));
}

/// A KeyPackage signed correctly by its leaf key, but whose Hush identity is wrong: the
/// binding signature does not verify, or the identity's Ed25519 key is not the leaf's key.
fn forged_key_package(bad_binding: bool) -> Vec<u8> {
    use hush_protocol::proto::wire::IdentityPublicKey;
    use openmls::prelude::tls_codec::Serialize as _;
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use prost::Message as _;

    let provider = openmls_rust_crypto::OpenMlsRustCrypto::default();
    let signer = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    let other = SignatureKeyPair::new(SignatureScheme::ED25519).unwrap();
    let signing_key = if bad_binding {
        signer.public().to_vec()
    } else {
        other.public().to_vec()
    };
    let identity = IdentityPublicKey {
        signing_key,
        dh_key: vec![9; 32],
        dh_key_signature: vec![7; 64],
    }
    .encode_to_vec();
    let cred = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: signer.public().into(),
    };
    let kp = KeyPackage::builder()
        .build(
            Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519,
            &provider,
            &signer,
            cred,
        )
        .unwrap();
    MlsMessageOut::from(kp.key_package().clone())
        .tls_serialize_detached()
        .unwrap()
}

#[test]
fn key_packages_with_forged_identities_are_refused() {
    let mut rng = rng(33);
    let mut alice = Member::new(&mut rng);
    let g = alice.client.create_group(&mut rng).unwrap();
    for bad_binding in [true, false] {
        let kp = forged_key_package(bad_binding);
        assert!(
            matches!(
                alice.client.add_members(&mut rng, &g, &[&kp]),
                Err(GroupError::InvalidCredential(_))
            ),
            "bad_binding={bad_binding}"
        );
        assert!(!alice.client.has_pending_commit(&g).unwrap());
    }
}
