//! One direction of an in-memory connection: a bounded queue of byte
//! chunks with a writer end and a reader end.
//!
//! The chunks a guest writes are moved, not copied, to the reader (a
//! `Bytes` from the guest's write is handed on whole), and no task runs per
//! connection: each end wakes the other directly. Both ends can be driven
//! as wasi:io streams (by the wasi:sockets adapter) or as tokio
//! `AsyncRead`/`AsyncWrite` (by port-forward and probes on the host side).

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Default)]
struct PipeState {
    chunks: VecDeque<Bytes>,
    queued: usize,
    capacity: usize,
    /// The writer shut down or went away: the reader sees end of stream
    /// once the queue is drained.
    write_closed: bool,
    /// The reader went away: writes fail as on a reset connection.
    read_closed: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

type Shared = Arc<Mutex<PipeState>>;

fn lock(s: &Shared) -> MutexGuard<'_, PipeState> {
    // A panic while holding this lock cannot leave the queue half-updated
    // (every update is a single push or pop), so poisoning is ignored.
    s.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates a pipe holding at most `capacity` bytes in flight.
pub fn pipe(capacity: usize) -> (PipeWriter, PipeReader) {
    let shared: Shared = Arc::new(Mutex::new(PipeState { capacity, ..Default::default() }));
    (PipeWriter(shared.clone()), PipeReader(shared))
}

/// The reading end.
pub struct PipeReader(Shared);

/// The writing end.
pub struct PipeWriter(Shared);

/// What a non-blocking read found.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes, at most the size asked for.
    Data(Bytes),
    /// Nothing queued yet.
    Empty,
    /// The writer closed and everything was read.
    Closed,
}

impl PipeReader {
    /// Takes up to `max` bytes without waiting.
    pub fn try_read(&self, max: usize) -> ReadOutcome {
        let mut s = lock(&self.0);
        let Some(front) = s.chunks.front_mut() else {
            return if s.write_closed { ReadOutcome::Closed } else { ReadOutcome::Empty };
        };
        if max == 0 {
            return ReadOutcome::Data(Bytes::new());
        }
        let out = if front.len() <= max { s.chunks.pop_front().expect("front exists") } else { front.split_to(max) };
        s.queued -= out.len();
        if let Some(w) = s.writer.take() {
            w.wake();
        }
        ReadOutcome::Data(out)
    }

    /// Ready when a read would not return [`ReadOutcome::Empty`].
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if !s.chunks.is_empty() || s.write_closed {
            return Poll::Ready(());
        }
        s.reader = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until [`PipeReader::poll_ready`].
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
    }
}

impl PipeReader {
    /// Stops reading: queued and future bytes are discarded and the
    /// writer's next write fails, as after a reset.
    pub fn close(&self) {
        let mut s = lock(&self.0);
        s.read_closed = true;
        s.chunks.clear();
        s.queued = 0;
        if let Some(w) = s.writer.take() {
            w.wake();
        }
    }
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.close();
    }
}

impl PipeWriter {
    /// How many bytes may be written now; `Err` when the reader is gone.
    pub fn capacity(&self) -> io::Result<usize> {
        let s = lock(&self.0);
        if s.read_closed {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if s.write_closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        Ok(s.capacity.saturating_sub(s.queued))
    }

    /// Queues `bytes` whole (the caller checked [`PipeWriter::capacity`]).
    pub fn write(&self, bytes: Bytes) -> io::Result<()> {
        let mut s = lock(&self.0);
        if s.read_closed {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        if s.write_closed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if bytes.is_empty() {
            return Ok(());
        }
        s.queued += bytes.len();
        s.chunks.push_back(bytes);
        if let Some(w) = s.reader.take() {
            w.wake();
        }
        Ok(())
    }

    /// Ready when there is room, or when writing would fail.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = lock(&self.0);
        if s.read_closed || s.write_closed || s.queued < s.capacity {
            return Poll::Ready(());
        }
        s.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Waits until [`PipeWriter::poll_ready`].
    pub async fn ready(&self) {
        std::future::poll_fn(|cx| self.poll_ready(cx)).await
    }

    /// Ends the stream: the reader sees end of stream after the queued
    /// bytes (TCP's FIN).
    pub fn shutdown(&self) {
        let mut s = lock(&self.0);
        s.write_closed = true;
        if let Some(w) = s.reader.take() {
            w.wake();
        }
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Both directions of one end of a connection, usable from host code.
pub struct Connection {
    /// Bytes from the peer.
    pub reader: PipeReader,
    /// Bytes to the peer.
    pub writer: PipeWriter,
    /// The local port this end holds, freed when the connection is dropped.
    port: Option<super::Binding>,
}

impl Connection {
    /// This end, keeping `port` reserved for as long as it lives.
    pub fn holding(mut self, port: super::Binding) -> Self {
        self.port = Some(port);
        self
    }
}

/// Two connected ends, each direction buffering `capacity` bytes.
pub fn connection_pair(capacity: usize) -> (Connection, Connection) {
    let (a_w, b_r) = pipe(capacity);
    let (b_w, a_r) = pipe(capacity);
    (Connection { reader: a_r, writer: a_w, port: None }, Connection { reader: b_r, writer: b_w, port: None })
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            match self.reader.try_read(buf.remaining()) {
                ReadOutcome::Data(b) => {
                    buf.put_slice(&b);
                    return Poll::Ready(Ok(()));
                }
                ReadOutcome::Closed => return Poll::Ready(Ok(())),
                ReadOutcome::Empty => {
                    if self.reader.poll_ready(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let room = self.writer.capacity()?;
            if room > 0 {
                let n = room.min(data.len());
                self.writer.write(Bytes::copy_from_slice(&data[..n]))?;
                return Poll::Ready(Ok(n));
            }
            if self.writer.poll_ready(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.shutdown();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn chunks_split_at_the_read_size_and_end_after_shutdown() {
        let (w, r) = pipe(16);
        assert_eq!(r.try_read(4), ReadOutcome::Empty);
        w.write(Bytes::from_static(b"hello world")).unwrap();
        assert_eq!(w.capacity().unwrap(), 5);
        assert_eq!(r.try_read(5), ReadOutcome::Data(Bytes::from_static(b"hello")));
        assert_eq!(r.try_read(100), ReadOutcome::Data(Bytes::from_static(b" world")));
        w.shutdown();
        assert_eq!(r.try_read(1), ReadOutcome::Closed);
        assert!(w.write(Bytes::from_static(b"x")).is_err());
    }

    #[test]
    fn a_dropped_reader_resets_the_writer() {
        let (w, r) = pipe(16);
        drop(r);
        assert_eq!(w.capacity().unwrap_err().kind(), io::ErrorKind::ConnectionReset);
    }

    #[tokio::test]
    async fn a_full_pipe_pushes_back_until_read() {
        let (mut a, mut b) = connection_pair(8);
        let writer = tokio::spawn(async move {
            a.write_all(&[7u8; 100]).await.unwrap();
            a.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, vec![7u8; 100]);
    }
}
