//! Blob-transfer test helpers: a stalling uploader source, a downloader sink that stops
//! taking bytes, and a wait for the relay's durable offset.
#![allow(dead_code)]

use hush_relay_client::{BlobId, Client};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// An `AsyncRead` that yields `data` and then waits forever (an uploader that stalls).
pub struct Stalling(pub Vec<u8>, pub usize);

impl tokio::io::AsyncRead for Stalling {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.1 == self.0.len() {
            return Poll::Pending;
        }
        let n = (self.0.len() - self.1).min(buf.remaining());
        let start = self.1;
        buf.put_slice(&self.0[start..start + n]);
        self.1 += n;
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` into a shared buffer that stops taking bytes (stays pending) once it
/// holds `limit` (a downloader whose connection then drops).
pub struct Collect(pub Arc<Mutex<Vec<u8>>>, pub usize);

impl tokio::io::AsyncWrite for Collect {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let mut v = self.0.lock().unwrap();
        if v.len() >= self.1 {
            return Poll::Pending;
        }
        v.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Polls BLOB_STATUS (bounded: 5 s) until the durable offset reaches `at_least`.
pub async fn wait_durable(c: &Client, id: &BlobId, at_least: u64) -> u64 {
    for _ in 0..200 {
        let s = c.blob_status(id).await.expect("status");
        if s.durable_offset >= at_least {
            return s.durable_offset;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("durable offset never reached {at_least}");
}
