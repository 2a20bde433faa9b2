//! Relay frame decoding: the input is a byte stream of length-prefixed frames, read as
//! requests (what the relay parses) and as responses (what the client parses), plus the
//! relay's identifier, receipt and URL parsers.
//!
//! Invariants: no panic; a frame longer than the maximum is refused; a message that decodes
//! re-encodes to a frame that decodes to the same message.
#![no_main]

use hush_relay::frame::{FrameError, encode_frame, read_message};
use hush_relay::proto;
use hush_relay::types::{
    DeliveredReceipt, EnvelopeId, Fingerprint, GroupId, MailboxAddress, StoredReceipt,
    parse_public_key,
};
use hush_relay::url::RelayUrl;
use libfuzzer_sys::fuzz_target;
use prost::Message;

const MAX: usize = 4096;

async fn read_all<M: Message + Default + PartialEq>(data: &[u8]) -> Vec<M> {
    let mut r = data;
    let mut out = Vec::new();
    for _ in 0..64 {
        match read_message::<M, _>(&mut r, MAX).await {
            Ok(Some(m)) => {
                let frame = encode_frame(&m, usize::MAX).expect("a decoded message encodes");
                let mut f = frame.as_slice();
                let back = read_message::<M, _>(&mut f, usize::MAX)
                    .await
                    .expect("re-encoded frame reads")
                    .expect("re-encoded frame is not empty");
                assert!(back == m, "frame round trip changed the message");
                out.push(m);
            }
            Ok(None) => break,
            Err(FrameError::TooLarge { len, max }) => {
                assert!(len > max);
                break;
            }
            Err(_) => break,
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    });
    let responses = rt.block_on(async {
        read_all::<proto::Request>(data).await;
        read_all::<proto::Response>(data).await
    });
    for r in responses {
        match r.body {
            Some(proto::response::Body::Send(s)) => {
                if let Some(p) = s.receipt {
                    let _ = StoredReceipt::from_proto(&p);
                }
            }
            Some(proto::response::Body::Status(s)) => {
                if let Some(p) = s.stored {
                    let _ = StoredReceipt::from_proto(&p);
                }
                if let Some(p) = s.delivered {
                    let _ = DeliveredReceipt::from_proto(&p);
                }
            }
            _ => {}
        }
    }
    let _ = MailboxAddress::from_slice(data);
    let _ = EnvelopeId::new(data.to_vec());
    let _ = GroupId::new(data.to_vec());
    let _ = parse_public_key(data);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = Fingerprint::from_hex(s);
        if let Ok(u) = s.parse::<RelayUrl>() {
            let again: RelayUrl = u.to_string().parse().expect("a printed URL parses");
            assert_eq!(again.to_string(), u.to_string());
        }
    }
});
