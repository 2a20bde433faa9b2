//! Counting the bytes an upload reads or a download writes, for a progress bar.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How far an upload or a download is, in blob bytes (ciphertext and padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes done (a resumed transfer starts at what was done before).
    pub done: u64,
    /// The blob's length.
    pub total: u64,
}

/// Wraps a reader or a writer and reports every byte that passes.
pub(crate) struct Counting<'a, T> {
    pub(crate) inner: T,
    pub(crate) done: u64,
    pub(crate) total: u64,
    pub(crate) progress: &'a mut (dyn FnMut(Progress) + Send),
}

impl<T> Counting<'_, T> {
    fn count(&mut self, n: usize) {
        if n > 0 {
            self.done += n as u64;
            (self.progress)(Progress {
                done: self.done,
                total: self.total,
            });
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counting<'_, T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            let n = buf.filled().len() - before;
            self.count(n);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counting<'_, T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            let n = *n;
            self.count(n);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A file written in place from async code: each `poll_write` writes its bytes to the file
/// before it returns (a 64 KiB write to the page cache). Unlike `tokio::fs::File`, no write
/// is still running in the background when the future using it is dropped, so the file's
/// length is exactly what was written, and a resumed download appends in the right place.
pub(crate) struct InPlaceFile(pub(crate) std::fs::File);

impl AsyncWrite for InPlaceFile {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(io::Write::write(&mut self.0, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(io::Write::flush(&mut self.0))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
