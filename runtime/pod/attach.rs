//! A container's standard input (`stdin: true`), which attach sessions
//! write to and its instances read.
//!
//! The kubelet keeps a container's stdin open for its whole life and lets
//! any number of attach sessions type into it; with `stdinOnce` it closes
//! when the first session that attached ends. The hub here is that pipe,
//! kept by the pod across the container's restarts: each instance reads
//! from the same queue.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

/// Chunks queued before a writer waits for the container to read.
const QUEUED: usize = 16;

/// The stdin of one container.
pub(crate) struct StdinHub {
    /// The sending side sessions clone; `None` once a `stdinOnce` stdin
    /// was closed (the last sender then goes with the session).
    tx: Mutex<Option<mpsc::Sender<Bytes>>>,
    rx: Arc<Mutex<mpsc::Receiver<Bytes>>>,
    once: bool,
}

impl StdinHub {
    pub(crate) fn new(once: bool) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(QUEUED);
        Arc::new(Self { tx: Mutex::new(Some(tx)), rx: Arc::new(Mutex::new(rx)), once })
    }

    /// A new attach session's writer; `None` when a `stdinOnce` stdin
    /// has been closed already.
    pub(crate) fn attach(self: &Arc<Self>) -> Option<StdinWriter> {
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        let sender = tx.clone()?;
        // With stdinOnce the session owns the last sender: its end is
        // the stdin's end.
        if self.once {
            *tx = None;
        }
        Some(StdinWriter { tx: Some(sender) })
    }

    /// What an instance of the container reads as its stdin.
    pub(crate) fn reader(&self) -> StdinReader {
        StdinReader { rx: self.rx.clone(), rest: Bytes::new() }
    }
}

/// One attach session's side of a container's stdin.
pub struct StdinWriter {
    tx: Option<mpsc::Sender<Bytes>>,
}

impl StdinWriter {
    /// Queues `bytes` for the container; false once its stdin is closed
    /// (the pod ended).
    pub async fn write(&mut self, bytes: Bytes) -> bool {
        match &self.tx {
            Some(tx) => tx.send(bytes).await.is_ok(),
            None => false,
        }
    }

    /// Ends this session's input: with `stdinOnce`, the container reads
    /// end-of-file.
    pub fn close(&mut self) {
        self.tx = None;
    }
}

/// An instance's stdin: the hub's queue. Several instances over the
/// container's restarts read it in turn.
pub(crate) struct StdinReader {
    rx: Arc<Mutex<mpsc::Receiver<Bytes>>>,
    rest: Bytes,
}

impl AsyncRead for StdinReader {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if self.rest.is_empty() {
            let polled = self.rx.lock().unwrap_or_else(|p| p.into_inner()).poll_recv(cx);
            match polled {
                Poll::Ready(Some(b)) => self.rest = b,
                // Every sender gone: a stdinOnce session ended.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.rest.len().min(buf.remaining());
        let chunk = self.rest.split_to(n);
        buf.put_slice(&chunk);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[tokio::test]
    async fn sessions_type_into_one_stdin_and_stdin_once_closes_with_the_first() {
        let hub = StdinHub::new(false);
        let mut reader = hub.reader();
        let mut a = hub.attach().expect("open");
        assert!(a.write(Bytes::from_static(b"one\n")).await);
        a.close();
        let mut b = hub.attach().expect("still open without stdinOnce");
        assert!(b.write(Bytes::from_static(b"two\n")).await);
        let mut buf = [0u8; 8];
        let n = reader.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one\n");
        let n = reader.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two\n");

        let once = StdinHub::new(true);
        let mut reader = once.reader();
        let mut first = once.attach().expect("the first session");
        assert!(once.attach().is_none(), "only one session with stdinOnce");
        assert!(first.write(Bytes::from_static(b"x")).await);
        first.close();
        let mut all = Vec::new();
        reader.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, b"x", "end of file after the session's input");
    }
}
