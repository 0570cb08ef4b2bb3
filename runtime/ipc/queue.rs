//! A named message queue: bounded in messages, each message at most
//! `max_message_size` bytes, first in first out.
//!
//! Messages live in one byte ring (`VecDeque<u8>`) with their lengths in a
//! second ring, so sending and receiving allocate nothing once the rings
//! have grown to the queue's working size. Waiters register under the same
//! lock that guards the rings and count themselves, so a sender or receiver
//! only touches a `Notify` when somebody actually waits.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::ErrorCode;

/// The shape of a queue, fixed when it is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How many messages it holds before senders wait.
    pub capacity: u32,
    /// The largest message it accepts, in bytes.
    pub max_message_size: u32,
}

/// A point-in-time view of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    /// Messages waiting.
    pub depth: u32,
    /// Bytes of the waiting messages.
    pub bytes: u64,
    /// The queue's shape.
    pub config: QueueConfig,
}

pub(crate) struct Queue {
    name: String,
    config: QueueConfig,
    state: Mutex<Rings>,
    /// Woken when a message arrives and a receiver waits.
    readable: Notify,
    /// Woken when space frees up and a sender waits.
    writable: Notify,
}

#[derive(Default)]
struct Rings {
    data: VecDeque<u8>,
    lengths: VecDeque<u32>,
    receivers_waiting: u32,
    senders_waiting: u32,
}

impl Queue {
    pub(crate) fn new(name: String, config: QueueConfig) -> Self {
        Self { name, config, state: Mutex::new(Rings::default()), readable: Notify::new(), writable: Notify::new() }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    pub(crate) fn config(&self) -> QueueConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, Rings> {
        // The rings are consistent after every statement that touches them,
        // so a panic elsewhere while holding the lock leaves nothing torn.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn status(&self) -> QueueStatus {
        let st = self.lock();
        QueueStatus { depth: st.lengths.len() as u32, bytes: st.data.len() as u64, config: self.config }
    }

    /// Sends one message without waiting; `WouldBlock` when full.
    pub(crate) fn try_send(&self, message: &[u8]) -> Result<(), ErrorCode> {
        if message.len() > self.config.max_message_size as usize {
            return Err(ErrorCode::MessageTooLarge);
        }
        let wake = {
            let mut st = self.lock();
            if st.lengths.len() >= self.config.capacity as usize {
                return Err(ErrorCode::WouldBlock);
            }
            st.data.extend(message);
            st.lengths.push_back(message.len() as u32);
            st.receivers_waiting > 0
        };
        if wake {
            self.readable.notify_waiters();
        }
        Ok(())
    }

    /// Sends messages from a batch (`data` holds them back to back,
    /// `lengths` their sizes) until the queue is full; returns how many
    /// were sent, `WouldBlock` when none fitted. A message that is too
    /// large ends the batch there: it is an error only if it is the first.
    pub(crate) fn try_send_batch(&self, data: &[u8], lengths: &[u32]) -> Result<usize, ErrorCode> {
        if lengths.iter().map(|l| *l as u64).sum::<u64>() != data.len() as u64 {
            return Err(ErrorCode::InvalidArgument);
        }
        if lengths.is_empty() {
            return Ok(0);
        }
        let (sent, wake) = {
            let mut st = self.lock();
            let room = (self.config.capacity as usize).saturating_sub(st.lengths.len());
            let mut offset = 0;
            let mut sent = 0;
            for &len in lengths.iter().take(room) {
                if len > self.config.max_message_size {
                    break;
                }
                st.data.extend(&data[offset..offset + len as usize]);
                st.lengths.push_back(len);
                offset += len as usize;
                sent += 1;
            }
            (sent, sent > 0 && st.receivers_waiting > 0)
        };
        if wake {
            self.readable.notify_waiters();
        }
        match sent {
            0 if lengths[0] > self.config.max_message_size => Err(ErrorCode::MessageTooLarge),
            0 => Err(ErrorCode::WouldBlock),
            n => Ok(n),
        }
    }

    /// Receives one message without waiting, handing its bytes (possibly
    /// split in two where the ring wraps) to `take`; `WouldBlock` when
    /// empty. `take` returning `Err` leaves the message in the queue (a
    /// core module's buffer that is too small).
    pub(crate) fn try_receive_with<R>(&self, take: impl FnOnce(&[u8], &[u8]) -> Result<R, ErrorCode>) -> Result<R, ErrorCode> {
        let (r, wake) = {
            let mut st = self.lock();
            let Some(&len) = st.lengths.front() else { return Err(ErrorCode::WouldBlock) };
            let len = len as usize;
            let (a, b) = st.data.as_slices();
            let r = if a.len() >= len { take(&a[..len], &[])? } else { take(a, &b[..len - a.len()])? };
            st.lengths.pop_front();
            st.data.drain(..len);
            (r, st.senders_waiting > 0)
        };
        if wake {
            self.writable.notify_waiters();
        }
        Ok(r)
    }

    /// Receives one message into a new vector.
    pub(crate) fn try_receive(&self) -> Result<Vec<u8>, ErrorCode> {
        self.try_receive_with(|a, b| {
            let mut v = Vec::with_capacity(a.len() + b.len());
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            Ok(v)
        })
    }

    /// Moves up to `max` waiting messages into `data`/`lengths` (appended)
    /// without waiting; returns how many, `WouldBlock` when empty.
    pub(crate) fn try_receive_batch(&self, max: usize, data: &mut Vec<u8>, lengths: &mut Vec<u32>) -> Result<usize, ErrorCode> {
        let (n, wake) = {
            let mut st = self.lock();
            let n = st.lengths.len().min(max);
            if n == 0 {
                return Err(ErrorCode::WouldBlock);
            }
            let bytes: usize = st.lengths.iter().take(n).map(|l| *l as usize).sum();
            lengths.extend(st.lengths.drain(..n));
            let (a, b) = st.data.as_slices();
            if a.len() >= bytes {
                data.extend_from_slice(&a[..bytes]);
            } else {
                data.extend_from_slice(a);
                data.extend_from_slice(&b[..bytes - a.len()]);
            }
            st.data.drain(..bytes);
            (n, st.senders_waiting > 0)
        };
        if wake {
            self.writable.notify_waiters();
        }
        Ok(n)
    }

    /// Waits until the queue holds a message (or `deadline` passes:
    /// `TimedOut`). It may return with the queue empty again when another
    /// receiver was faster; callers retry.
    pub(crate) async fn readable(&self, deadline: Option<Instant>) -> Result<(), ErrorCode> {
        self.wait(deadline, &self.readable, |st| !st.lengths.is_empty(), |st| &mut st.receivers_waiting).await
    }

    /// Waits until the queue has room for a message (or `deadline` passes).
    pub(crate) async fn writable(&self, deadline: Option<Instant>) -> Result<(), ErrorCode> {
        let capacity = self.config.capacity as usize;
        self.wait(deadline, &self.writable, |st| st.lengths.len() < capacity, |st| &mut st.senders_waiting).await
    }

    async fn wait(
        &self,
        deadline: Option<Instant>,
        notify: &Notify,
        ready: impl Fn(&Rings) -> bool,
        counter: fn(&mut Rings) -> &mut u32,
    ) -> Result<(), ErrorCode> {
        let notified = {
            let mut st = self.lock();
            if ready(&st) {
                return Ok(());
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(ErrorCode::TimedOut);
            }
            *counter(&mut st) += 1;
            // Created under the lock: a `notify_waiters` by anyone who
            // changes the rings after we looked reaches this future.
            notify.notified()
        };
        struct Registered<'a>(&'a Queue, fn(&mut Rings) -> &mut u32);
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                *(self.1)(&mut self.0.lock()) -= 1;
            }
        }
        let _registered = Registered(self, counter);
        match deadline {
            None => notified.await,
            Some(d) => tokio::time::timeout_at(d, notified).await.map_err(|_| ErrorCode::TimedOut)?,
        }
        Ok(())
    }

    /// Sends, waiting for room until `deadline` (`None`: as long as it takes).
    pub(crate) async fn send(&self, message: &[u8], deadline: Option<Instant>) -> Result<(), ErrorCode> {
        loop {
            match self.try_send(message) {
                Err(ErrorCode::WouldBlock) => self.writable(deadline).await?,
                r => return r,
            }
        }
    }

    /// Receives, waiting for a message until `deadline`.
    pub(crate) async fn receive(&self, deadline: Option<Instant>) -> Result<Vec<u8>, ErrorCode> {
        loop {
            match self.try_receive() {
                Err(ErrorCode::WouldBlock) => self.readable(deadline).await?,
                r => return r,
            }
        }
    }

    /// [`Queue::try_send_batch`], waiting until at least one message fits.
    pub(crate) async fn send_batch(&self, data: &[u8], lengths: &[u32], deadline: Option<Instant>) -> Result<usize, ErrorCode> {
        loop {
            match self.try_send_batch(data, lengths) {
                Err(ErrorCode::WouldBlock) => self.writable(deadline).await?,
                r => return r,
            }
        }
    }

    /// [`Queue::try_receive_batch`], waiting until at least one message arrived.
    pub(crate) async fn receive_batch(&self, max: usize, data: &mut Vec<u8>, lengths: &mut Vec<u32>, deadline: Option<Instant>) -> Result<usize, ErrorCode> {
        if max == 0 {
            return Ok(0);
        }
        loop {
            match self.try_receive_batch(max, data, lengths) {
                Err(ErrorCode::WouldBlock) => self.readable(deadline).await?,
                r => return r,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    fn queue(capacity: u32, max: u32) -> Arc<Queue> {
        Arc::new(Queue::new("q".into(), QueueConfig { capacity, max_message_size: max }))
    }

    #[test]
    fn messages_come_out_in_order_across_the_ring_wrap() {
        let q = queue(4, 16);
        // Interleave so the byte ring wraps and messages straddle the seam.
        let mut expect = std::collections::VecDeque::new();
        for i in 0..200u32 {
            let msg = vec![i as u8; (i % 7) as usize];
            q.try_send(&msg).unwrap();
            expect.push_back(msg);
            if i % 3 == 2 {
                for _ in 0..3 {
                    assert_eq!(q.try_receive().unwrap(), expect.pop_front().unwrap());
                }
            }
        }
        while let Some(m) = expect.pop_front() {
            assert_eq!(q.try_receive().unwrap(), m);
        }
        assert_eq!(q.try_receive(), Err(ErrorCode::WouldBlock));
        assert_eq!(q.status().bytes, 0);
    }

    #[test]
    fn a_full_queue_refuses_and_size_is_enforced() {
        let q = queue(2, 4);
        assert_eq!(q.try_send(b"12345"), Err(ErrorCode::MessageTooLarge));
        q.try_send(b"a").unwrap();
        q.try_send(b"").unwrap();
        assert_eq!(q.try_send(b"c"), Err(ErrorCode::WouldBlock));
        assert_eq!(q.status(), QueueStatus { depth: 2, bytes: 1, config: q.config() });
        assert_eq!(q.try_receive().unwrap(), b"a");
        assert_eq!(q.try_receive().unwrap(), b"");
    }

    #[test]
    fn batches_fill_up_to_capacity_and_drain_in_order() {
        let q = queue(3, 8);
        let sent = q.try_send_batch(b"aabbbcd", &[2, 3, 1, 1]).unwrap();
        assert_eq!(sent, 3);
        assert_eq!(q.try_send_batch(b"x", &[1]), Err(ErrorCode::WouldBlock));
        assert_eq!(q.try_send_batch(b"x", &[2]), Err(ErrorCode::InvalidArgument));
        let (mut data, mut lengths) = (Vec::new(), Vec::new());
        assert_eq!(q.try_receive_batch(2, &mut data, &mut lengths).unwrap(), 2);
        assert_eq!((&data[..], &lengths[..]), (&b"aabbb"[..], &[2, 3][..]));
        assert_eq!(q.try_receive().unwrap(), b"c");
        // A too-large first message is an error; later ones end the batch.
        assert_eq!(q.try_send_batch(&[0; 9], &[9]), Err(ErrorCode::MessageTooLarge));
        assert_eq!(q.try_send_batch(&[0; 10], &[1, 9]), Ok(1));
    }

    #[test]
    fn a_refused_take_leaves_the_message() {
        let q = queue(2, 8);
        q.try_send(b"hello").unwrap();
        let r: Result<(), _> = q.try_receive_with(|_, _| Err(ErrorCode::InvalidArgument));
        assert_eq!(r, Err(ErrorCode::InvalidArgument));
        assert_eq!(q.try_receive().unwrap(), b"hello");
    }

    #[tokio::test(start_paused = true)]
    async fn a_blocked_receive_wakes_on_send_without_time_passing() {
        let q = queue(4, 8);
        let rx = tokio::spawn({
            let q = q.clone();
            async move { q.receive(None).await }
        });
        tokio::task::yield_now().await;
        assert!(!rx.is_finished());
        let before = Instant::now();
        q.try_send(b"ping").unwrap();
        assert_eq!(rx.await.unwrap().unwrap(), b"ping");
        assert_eq!(Instant::now(), before, "the wake-up came from the send, not a timer");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_holds_the_sender_until_a_receive() {
        let q = queue(1, 8);
        q.try_send(b"1").unwrap();
        let tx = tokio::spawn({
            let q = q.clone();
            async move { q.send(b"2", None).await }
        });
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!tx.is_finished(), "a send into a full queue must wait");
        assert_eq!(q.try_receive().unwrap(), b"1");
        tx.await.unwrap().unwrap();
        assert_eq!(q.try_receive().unwrap(), b"2");
    }

    #[tokio::test(start_paused = true)]
    async fn timeouts_expire_at_their_deadline() {
        let q = queue(1, 8);
        let start = Instant::now();
        let r = q.receive(Some(start + Duration::from_millis(250))).await;
        assert_eq!(r, Err(ErrorCode::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_millis(250));
        q.try_send(b"x").unwrap();
        assert_eq!(q.send(b"y", Some(Instant::now() + Duration::from_secs(1))).await, Err(ErrorCode::TimedOut));
        // A deadline already passed still succeeds when nothing must wait.
        assert_eq!(q.receive(Some(start)).await.unwrap(), b"x");
        // The waiters unregistered themselves.
        let st = q.lock();
        assert_eq!((st.receivers_waiting, st.senders_waiting), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_batches_lose_and_reorder_nothing() {
        let q = queue(64, 8);
        const N: u64 = 100_000;
        let producer = tokio::spawn({
            let q = q.clone();
            async move {
                let mut i = 0u64;
                let (mut data, mut lengths) = (Vec::new(), Vec::new());
                while i < N {
                    data.clear();
                    lengths.clear();
                    for j in i..(i + 50).min(N) {
                        data.extend_from_slice(&j.to_le_bytes());
                        lengths.push(8);
                    }
                    let mut off = 0;
                    let mut sent_total = 0;
                    while sent_total < lengths.len() {
                        let n = q.send_batch(&data[off..], &lengths[sent_total..], None).await.unwrap();
                        off += n * 8;
                        sent_total += n;
                    }
                    i += lengths.len() as u64;
                }
            }
        });
        let mut next = 0u64;
        let (mut data, mut lengths) = (Vec::new(), Vec::new());
        while next < N {
            data.clear();
            lengths.clear();
            let n = q.receive_batch(37, &mut data, &mut lengths, None).await.unwrap();
            for k in 0..n {
                assert_eq!(u64::from_le_bytes(data[k * 8..k * 8 + 8].try_into().unwrap()), next);
                next += 1;
            }
        }
        producer.await.unwrap();
    }
}
