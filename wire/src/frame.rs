//! Frame codec: a 4-byte big-endian length, then that many bytes of protobuf.
//!
//! Works on any tokio byte stream (QUIC streams in practice). A length above the caller's
//! maximum is refused before anything is allocated.

use prost::Message;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Relay protocol version spoken by this crate.
pub const PROTOCOL_VERSION: u32 = 1;

/// Default largest frame, in bytes (1 MiB plus room for the non-ciphertext fields).
pub const DEFAULT_MAX_FRAME: usize = 1024 * 1024 + 64 * 1024;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The announced length exceeds the maximum.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Announced length.
        len: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The bytes are not a valid protobuf message.
    #[error("malformed frame: {0}")]
    Decode(#[from] prost::DecodeError),
    /// An I/O error on the stream.
    #[error("stream error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one frame's payload. Returns `Ok(None)` on a clean end of stream before any byte.
pub async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<Vec<u8>>, FrameError> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        let n = r.read(&mut len[got..]).await?;
        if n == 0 {
            return if got == 0 {
                Ok(None)
            } else {
                Err(FrameError::Truncated)
            };
        }
        got += n;
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            FrameError::Truncated
        } else {
            FrameError::Io(e)
        }
    })?;
    Ok(Some(buf))
}

/// Reads and decodes one message. `Ok(None)` on a clean end of stream.
pub async fn read_message<M: Message + Default, R: AsyncRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<M>, FrameError> {
    match read_frame(r, max).await? {
        None => Ok(None),
        Some(buf) => Ok(Some(M::decode(buf.as_slice())?)),
    }
}

/// Encodes a message as one frame (length prefix included).
pub fn encode_frame<M: Message>(msg: &M, max: usize) -> Result<Vec<u8>, FrameError> {
    let len = msg.encoded_len();
    if len > max || len > u32::MAX as usize {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut out = Vec::with_capacity(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    msg.encode(&mut out)
        .map_err(|_| FrameError::TooLarge { len, max })?;
    Ok(out)
}

/// Writes one message as a frame.
pub async fn write_message<M: Message, W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &M,
    max: usize,
) -> Result<(), FrameError> {
    let buf = encode_frame(msg, max)?;
    w.write_all(&buf).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto;

    #[tokio::test]
    async fn round_trip_and_limits() {
        let msg = proto::Request {
            version: PROTOCOL_VERSION,
            body: Some(proto::request::Body::Status(proto::StatusRequest {
                envelope_id: vec![1, 2, 3],
            })),
        };
        let buf = encode_frame(&msg, 1024).unwrap();
        let mut r = buf.as_slice();
        let back: proto::Request = read_message(&mut r, 1024).await.unwrap().unwrap();
        assert_eq!(back, msg);
        assert!(
            read_message::<proto::Request, _>(&mut r, 1024)
                .await
                .unwrap()
                .is_none()
        );

        let mut r = buf.as_slice();
        assert!(matches!(
            read_frame(&mut r, 3).await,
            Err(FrameError::TooLarge { .. })
        ));
        let mut r = &buf[..buf.len() - 1];
        assert!(matches!(
            read_frame(&mut r, 1024).await,
            Err(FrameError::Truncated)
        ));
        let mut r = &buf[..2];
        assert!(matches!(
            read_frame(&mut r, 1024).await,
            Err(FrameError::Truncated)
        ));
        let garbage = [0u8, 0, 0, 2, 0xff, 0xff];
        let mut r = &garbage[..];
        assert!(matches!(
            read_message::<proto::Request, _>(&mut r, 1024).await,
            Err(FrameError::Decode(_))
        ));
    }
}
