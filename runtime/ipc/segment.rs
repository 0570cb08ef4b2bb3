//! A named shared-memory segment: bytes read and written at offsets, and
//! 64-bit words with atomic compare-and-swap, fetch-add and a futex-style
//! wait/notify.
//!
//! The bytes are stored as `AtomicU64` words (little-endian inside each
//! word, as wasm reads memory), so the atomic operations are real lock-free
//! atomics and plain reads and writes never tear a word another container
//! updates atomically: a partial-word write merges its bytes with a CAS.
//! Reads and writes spanning several words are not atomic as a whole, as
//! with real shared memory; callers synchronise through the atomics.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;
use tokio::time::Instant;

use super::ErrorCode;

/// How a [`Segment::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitOutcome {
    /// A `notify` on the word woke it.
    Woken,
    /// The word did not hold the expected value: no wait.
    NotEqual,
    /// The deadline passed first.
    TimedOut,
}

pub(crate) struct Segment {
    name: String,
    size: u64,
    words: Box<[AtomicU64]>,
    /// Waiters per word offset, in arrival order (notify wakes the oldest).
    waiters: Mutex<HashMap<u64, VecDeque<Arc<Notify>>>>,
}

impl Segment {
    pub(crate) fn new(name: String, size: u64) -> Self {
        let words = (0..size.div_ceil(8)).map(|_| AtomicU64::new(0)).collect();
        Self { name, size, words, waiters: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    fn range(&self, offset: u64, len: u64) -> Result<(), ErrorCode> {
        match offset.checked_add(len) {
            Some(end) if end <= self.size => Ok(()),
            _ => Err(ErrorCode::OutOfBounds),
        }
    }

    fn word(&self, offset: u64) -> Result<&AtomicU64, ErrorCode> {
        self.range(offset, 8)?;
        if !offset.is_multiple_of(8) {
            return Err(ErrorCode::Unaligned);
        }
        Ok(&self.words[(offset / 8) as usize])
    }

    /// Copies `out.len()` bytes at `offset` into `out`.
    pub(crate) fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), ErrorCode> {
        self.range(offset, out.len() as u64)?;
        let mut pos = offset;
        let mut done = 0;
        while done < out.len() {
            let word = self.words[(pos / 8) as usize].load(Ordering::Acquire).to_le_bytes();
            let within = (pos % 8) as usize;
            let n = (8 - within).min(out.len() - done);
            out[done..done + n].copy_from_slice(&word[within..within + n]);
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    /// Writes `data` at `offset`.
    pub(crate) fn write(&self, offset: u64, data: &[u8]) -> Result<(), ErrorCode> {
        self.range(offset, data.len() as u64)?;
        let mut pos = offset;
        let mut done = 0;
        while done < data.len() {
            let slot = &self.words[(pos / 8) as usize];
            let within = (pos % 8) as usize;
            let n = (8 - within).min(data.len() - done);
            let part = &data[done..done + n];
            if n == 8 {
                slot.store(u64::from_le_bytes(part.try_into().expect("8 bytes")), Ordering::Release);
            } else {
                // Merge into the word so concurrent atomics on its other
                // bytes are not lost.
                let _ = slot.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                    let mut bytes = old.to_le_bytes();
                    bytes[within..within + n].copy_from_slice(part);
                    Some(u64::from_le_bytes(bytes))
                });
            }
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    pub(crate) fn load(&self, offset: u64) -> Result<u64, ErrorCode> {
        Ok(self.word(offset)?.load(Ordering::SeqCst))
    }

    pub(crate) fn store(&self, offset: u64, value: u64) -> Result<(), ErrorCode> {
        self.word(offset)?.store(value, Ordering::SeqCst);
        Ok(())
    }

    /// Stores `replacement` if the word holds `expected`; returns the value
    /// it held (equal to `expected` exactly when the swap happened).
    pub(crate) fn compare_exchange(&self, offset: u64, expected: u64, replacement: u64) -> Result<u64, ErrorCode> {
        let word = self.word(offset)?;
        Ok(match word.compare_exchange(expected, replacement, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(v) | Err(v) => v,
        })
    }

    /// Adds `delta` (wrapping) and returns the previous value.
    pub(crate) fn fetch_add(&self, offset: u64, delta: u64) -> Result<u64, ErrorCode> {
        Ok(self.word(offset)?.fetch_add(delta, Ordering::SeqCst))
    }

    /// If the word at `offset` holds `expected`, waits for a `notify` on it
    /// or the deadline. The check and the registration happen under the
    /// waiter lock that `notify` takes, so a notify after the word changed
    /// is never missed.
    pub(crate) async fn wait(&self, offset: u64, expected: u64, deadline: Option<Instant>) -> Result<WaitOutcome, ErrorCode> {
        let word = self.word(offset)?;
        let me = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            if word.load(Ordering::SeqCst) != expected {
                return Ok(WaitOutcome::NotEqual);
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Ok(WaitOutcome::TimedOut);
            }
            let me = Arc::new(Notify::new());
            waiters.entry(offset).or_default().push_back(me.clone());
            me
        };
        // Unregisters on timeout and when the waiting guest is killed.
        struct Registered<'a>(&'a Segment, u64, Arc<Notify>);
        impl Registered<'_> {
            /// Removes this waiter; false if a notify already took it.
            fn remove(&self) -> bool {
                let mut waiters = self.0.waiters.lock().unwrap_or_else(|e| e.into_inner());
                let Some(list) = waiters.get_mut(&self.1) else { return false };
                let Some(i) = list.iter().position(|w| Arc::ptr_eq(w, &self.2)) else { return false };
                list.remove(i);
                if list.is_empty() {
                    waiters.remove(&self.1);
                }
                true
            }
        }
        impl Drop for Registered<'_> {
            fn drop(&mut self) {
                self.remove();
            }
        }
        let registered = Registered(self, offset, me.clone());
        // `notify_one` leaves a permit, so a notify between registration
        // and this await is not lost.
        let woken = me.notified();
        match deadline {
            None => {
                woken.await;
                Ok(WaitOutcome::Woken)
            }
            Some(d) => match tokio::time::timeout_at(d, woken).await {
                Ok(()) => Ok(WaitOutcome::Woken),
                // A notify that raced the timer took us off the list: it
                // counted us as woken, so report that.
                Err(_) if registered.remove() => Ok(WaitOutcome::TimedOut),
                Err(_) => Ok(WaitOutcome::Woken),
            },
        }
    }

    /// Wakes up to `count` waiters on the word at `offset`, oldest first;
    /// returns how many it woke.
    pub(crate) fn notify(&self, offset: u64, count: u32) -> Result<u32, ErrorCode> {
        self.word(offset)?;
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        let Some(list) = waiters.get_mut(&offset) else { return Ok(0) };
        let mut woken = 0;
        while woken < count {
            let Some(w) = list.pop_front() else { break };
            w.notify_one();
            woken += 1;
        }
        if list.is_empty() {
            waiters.remove(&offset);
        }
        Ok(woken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bytes_and_words_share_one_little_endian_layout() {
        let s = Segment::new("s".into(), 20);
        s.write(3, b"hello world!").unwrap();
        let mut out = [0u8; 12];
        s.read(3, &mut out).unwrap();
        assert_eq!(&out, b"hello world!");
        s.store(8, 0x0102_0304_0506_0708).unwrap();
        let mut w = [0u8; 8];
        s.read(8, &mut w).unwrap();
        assert_eq!(w, 0x0102_0304_0506_0708u64.to_le_bytes());
        // The bytes before offset 8 survived the word store.
        let mut head = [0u8; 5];
        s.read(3, &mut head).unwrap();
        assert_eq!(&head, b"hello");
    }

    #[test]
    fn bounds_and_alignment_are_checked() {
        let s = Segment::new("s".into(), 20);
        assert_eq!(s.read(18, &mut [0; 3]), Err(ErrorCode::OutOfBounds));
        assert_eq!(s.write(u64::MAX, b"x"), Err(ErrorCode::OutOfBounds));
        assert_eq!(s.load(4), Err(ErrorCode::Unaligned));
        // The last word is only 4 bytes inside a 20-byte segment.
        assert_eq!(s.load(16), Err(ErrorCode::OutOfBounds));
        assert_eq!(s.fetch_add(8, 1), Ok(0));
    }

    #[test]
    fn compare_exchange_and_fetch_add() {
        let s = Segment::new("s".into(), 16);
        assert_eq!(s.compare_exchange(0, 1, 5), Ok(0), "no swap: the word holds 0");
        assert_eq!(s.compare_exchange(0, 0, 5), Ok(0));
        assert_eq!(s.load(0), Ok(5));
        assert_eq!(s.fetch_add(0, u64::MAX), Ok(5));
        assert_eq!(s.load(0), Ok(4), "fetch-add wraps");
    }

    #[tokio::test(start_paused = true)]
    async fn wait_notify_like_a_futex() {
        let s = Arc::new(Segment::new("s".into(), 16));
        assert_eq!(s.wait(0, 1, None).await, Ok(WaitOutcome::NotEqual));
        let start = Instant::now();
        assert_eq!(s.wait(0, 0, Some(start + Duration::from_millis(10))).await, Ok(WaitOutcome::TimedOut));
        assert_eq!(start.elapsed(), Duration::from_millis(10));

        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.wait(8, 0, None).await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert_eq!(s.notify(0, 10), Ok(0), "waiters on another word are not woken");
        assert_eq!(s.notify(8, 2), Ok(2));
        tokio::task::yield_now().await;
        let done = waiters.iter().filter(|w| w.is_finished()).count();
        assert_eq!(done, 2);
        assert_eq!(s.notify(8, 5), Ok(1));
        for w in waiters {
            assert_eq!(w.await.unwrap(), Ok(WaitOutcome::Woken));
        }
        assert!(s.waiters.lock().unwrap().is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_fetch_adds_and_partial_writes_do_not_lose_updates() {
        let s = Arc::new(Segment::new("s".into(), 8));
        let adder = {
            let s = s.clone();
            std::thread::spawn(move || {
                for _ in 0..100_000 {
                    s.fetch_add(0, 1 << 32).unwrap();
                }
            })
        };
        for i in 0..100_000u32 {
            s.write(0, &[(i % 251) as u8]).unwrap();
        }
        adder.join().unwrap();
        assert_eq!(s.load(0).unwrap() >> 32, 100_000);
    }
}
