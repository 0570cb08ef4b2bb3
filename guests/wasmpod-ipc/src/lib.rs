//! Pod IPC for guests of [wasmpod](../../README.md): message queues and
//! shared-memory segments that the containers of one pod share, and no
//! other pod can see. Objects live as long as the pod, survive container
//! restarts, and are opened by name.
//!
//! Build for `wasm32-wasip2`; the component then imports `wasmpod:ipc`
//! (see `wit/ipc/ipc.wit` at the repository root). wasip1 core modules use the
//! equivalent `wasmpod_ipc` imports directly (documented in the README).
//!
//! ```no_run
//! use std::time::Duration;
//! use wasmpod_ipc::{Queue, QueueConfig};
//!
//! // Producer container:
//! let jobs = Queue::open_or_create("jobs", QueueConfig::default())?;
//! jobs.send(b"resize cat.png")?;
//!
//! // Consumer container (same pod):
//! let jobs = Queue::open_or_create("jobs", QueueConfig::default())?;
//! match jobs.receive_timeout(Duration::from_secs(5)) {
//!     Ok(job) => println!("got {}", String::from_utf8_lossy(&job)),
//!     Err(wasmpod_ipc::Error::TimedOut) => println!("no work"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), wasmpod_ipc::Error>(())
//! ```
//!
//! Blocking calls suspend only the calling container. For many small
//! messages, [`Queue::send_batch`] and [`Queue::receive_batch`] move a
//! whole [`Batch`] per call.

use std::time::Duration;

mod bindings {
    wit_bindgen::generate!({ path: "../../wit/ipc", world: "ipc" });
}

use bindings::wasmpod::ipc::{objects, queues, segments, types};

/// Why an IPC call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No object of that kind and name in this pod.
    NotFound,
    /// The name is empty, longer than 255 bytes, or contains `/` (after an
    /// optional leading one) or NUL.
    InvalidName,
    /// A zero or too-large size or capacity, or a malformed batch.
    InvalidArgument,
    /// The pod's object count (256) or IPC memory budget (256 MiB) would be
    /// exceeded.
    LimitReached,
    /// A non-blocking call found the queue full (send) or empty (receive).
    WouldBlock,
    /// The timeout expired first.
    TimedOut,
    /// The message is larger than the queue's maximum message size.
    MessageTooLarge,
    /// The range reaches past the end of the segment.
    OutOfBounds,
    /// An atomic operation at an offset that is not a multiple of 8.
    Unaligned,
}

impl From<types::ErrorCode> for Error {
    fn from(e: types::ErrorCode) -> Self {
        use types::ErrorCode as E;
        match e {
            E::NotFound => Error::NotFound,
            E::InvalidName => Error::InvalidName,
            E::InvalidArgument => Error::InvalidArgument,
            E::LimitReached => Error::LimitReached,
            E::WouldBlock => Error::WouldBlock,
            E::TimedOut => Error::TimedOut,
            E::MessageTooLarge => Error::MessageTooLarge,
            E::OutOfBounds => Error::OutOfBounds,
            E::Unaligned => Error::Unaligned,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::NotFound => "not found in this pod",
            Error::InvalidName => "invalid name",
            Error::InvalidArgument => "invalid argument",
            Error::LimitReached => "the pod's IPC limits are reached",
            Error::WouldBlock => "would block",
            Error::TimedOut => "timed out",
            Error::MessageTooLarge => "message too large",
            Error::OutOfBounds => "out of bounds",
            Error::Unaligned => "unaligned offset",
        })
    }
}

impl std::error::Error for Error {}

/// Results of IPC calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The shape of a new queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// Messages it holds before senders wait (1 to 1048576).
    pub capacity: u32,
    /// The largest message it accepts, in bytes (up to 1 MiB).
    pub max_message_size: u32,
}

impl Default for QueueConfig {
    /// 256 messages of up to 64 KiB.
    fn default() -> Self {
        Self { capacity: 256, max_message_size: 64 << 10 }
    }
}

/// A queue's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatus {
    /// Messages waiting.
    pub depth: u32,
    /// Bytes of the waiting messages.
    pub bytes: u64,
    /// The queue's shape.
    pub config: QueueConfig,
}

/// Many messages in one buffer, sent or received in one call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    data: Vec<u8>,
    lengths: Vec<u32>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a message.
    pub fn push(&mut self, message: &[u8]) {
        self.data.extend_from_slice(message);
        self.lengths.push(message.len() as u32);
    }

    /// Number of messages.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// Whether it holds no message.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Removes every message, keeping the buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.lengths.clear();
    }

    /// The messages in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut offset = 0;
        self.lengths.iter().map(move |&len| {
            let m = &self.data[offset..offset + len as usize];
            offset += len as usize;
            m
        })
    }

    /// Drops the first `n` messages (those a partial send delivered).
    fn consume(&mut self, n: usize) {
        let bytes: usize = self.lengths[..n].iter().map(|l| *l as usize).sum();
        self.data.drain(..bytes);
        self.lengths.drain(..n);
    }
}

/// An open handle to one of the pod's message queues. Messages come out
/// in the order they went in; each reaches exactly one receiver.
pub struct Queue(queues::Queue);

impl Queue {
    /// Opens the pod's queue `name`; `Error::NotFound` if nobody created it.
    pub fn open(name: &str) -> Result<Queue> {
        Ok(Queue(queues::Queue::open(name, None)?))
    }

    /// Opens the pod's queue `name`, creating it with `config` if it does
    /// not exist yet (an existing queue keeps its own shape).
    pub fn open_or_create(name: &str, config: QueueConfig) -> Result<Queue> {
        let config = queues::QueueConfig { capacity: config.capacity, max_message_size: config.max_message_size };
        Ok(Queue(queues::Queue::open(name, Some(config))?))
    }

    /// The queue's name.
    pub fn name(&self) -> String {
        self.0.name()
    }

    /// Depth, bytes and shape.
    pub fn status(&self) -> QueueStatus {
        let s = self.0.status();
        QueueStatus { depth: s.depth, bytes: s.bytes, config: QueueConfig { capacity: s.capacity, max_message_size: s.max_message_size } }
    }

    /// Sends, waiting as long as the queue is full.
    pub fn send(&self, message: &[u8]) -> Result<()> {
        Ok(self.0.send(message, None)?)
    }

    /// Sends, waiting at most `timeout` for room.
    pub fn send_timeout(&self, message: &[u8], timeout: Duration) -> Result<()> {
        Ok(self.0.send(message, Some(nanos(timeout)))?)
    }

    /// Sends if there is room now, else `Error::WouldBlock`.
    pub fn try_send(&self, message: &[u8]) -> Result<()> {
        Ok(self.0.try_send(message)?)
    }

    /// Receives the oldest message, waiting as long as the queue is empty.
    pub fn receive(&self) -> Result<Vec<u8>> {
        Ok(self.0.receive(None)?)
    }

    /// Receives, waiting at most `timeout`.
    pub fn receive_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        Ok(self.0.receive(Some(nanos(timeout)))?)
    }

    /// Receives a message if one is waiting, else `Error::WouldBlock`.
    pub fn try_receive(&self) -> Result<Vec<u8>> {
        Ok(self.0.try_receive()?)
    }

    /// Sends every message of `batch` in order, waiting for room as
    /// needed (at most `timeout` each time the queue is full), and leaves
    /// `batch` empty. On an error, `batch` holds the messages not sent.
    pub fn send_batch(&self, batch: &mut Batch, timeout: Option<Duration>) -> Result<()> {
        while !batch.is_empty() {
            // The WIT record owns its lists: move the buffers in and back
            // out, so no message is copied on the guest side.
            let wire = queues::Batch { data: std::mem::take(&mut batch.data), lengths: std::mem::take(&mut batch.lengths) };
            let r = self.0.send_batch(&wire, timeout.map(nanos));
            batch.data = wire.data;
            batch.lengths = wire.lengths;
            batch.consume(r? as usize);
        }
        Ok(())
    }

    /// Receives up to `max` messages into `batch` (replacing its content),
    /// waiting at most `timeout` (`None`: as long as it takes) for the first.
    pub fn receive_batch(&self, batch: &mut Batch, max: u32, timeout: Option<Duration>) -> Result<()> {
        let got = self.0.receive_batch(max, timeout.map(nanos))?;
        batch.data = got.data;
        batch.lengths = got.lengths;
        Ok(())
    }
}

/// How [`Segment::wait`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitResult {
    /// A notify on the word woke the waiter.
    Woken,
    /// The word did not hold the expected value: no wait happened.
    NotEqual,
    /// The timeout expired.
    TimedOut,
}

/// An open handle to one of the pod's shared-memory segments: zeroed at
/// creation; 64-bit words are little-endian, at offsets that are
/// multiples of 8.
pub struct Segment(segments::Segment);

impl Segment {
    /// Opens the pod's segment `name`; `Error::NotFound` if nobody created it.
    pub fn open(name: &str) -> Result<Segment> {
        Ok(Segment(segments::Segment::open(name, None)?))
    }

    /// Opens the pod's segment `name`, creating it with `size` zero bytes
    /// if it does not exist yet.
    pub fn open_or_create(name: &str, size: u64) -> Result<Segment> {
        Ok(Segment(segments::Segment::open(name, Some(size))?))
    }

    /// Its size in bytes.
    pub fn size(&self) -> u64 {
        self.0.size()
    }

    /// Copies `len` bytes at `offset`. Not atomic across words.
    pub fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        Ok(self.0.read(offset, len)?)
    }

    /// Writes `data` at `offset`. Not atomic across words.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<()> {
        Ok(self.0.write(offset, data)?)
    }

    /// Atomically loads the word at `offset`.
    pub fn load(&self, offset: u64) -> Result<u64> {
        Ok(self.0.load(offset)?)
    }

    /// Atomically stores the word at `offset`.
    pub fn store(&self, offset: u64, value: u64) -> Result<()> {
        Ok(self.0.store(offset, value)?)
    }

    /// Stores `replacement` if the word holds `expected`: `Ok(previous)`
    /// when it swapped, `Err(actual)` when it did not, like
    /// `AtomicU64::compare_exchange`.
    pub fn compare_exchange(&self, offset: u64, expected: u64, replacement: u64) -> Result<std::result::Result<u64, u64>> {
        let old = self.0.compare_exchange(offset, expected, replacement)?;
        Ok(if old == expected { Ok(old) } else { Err(old) })
    }

    /// Adds `delta` (wrapping) and returns the previous value.
    pub fn fetch_add(&self, offset: u64, delta: u64) -> Result<u64> {
        Ok(self.0.fetch_add(offset, delta)?)
    }

    /// If the word holds `expected`, waits for a [`Segment::notify`] on it,
    /// at most `timeout` (`None`: as long as it takes).
    pub fn wait(&self, offset: u64, expected: u64, timeout: Option<Duration>) -> Result<WaitResult> {
        Ok(match self.0.wait(offset, expected, timeout.map(nanos))? {
            segments::WaitResult::Woken => WaitResult::Woken,
            segments::WaitResult::NotEqual => WaitResult::NotEqual,
            segments::WaitResult::TimedOut => WaitResult::TimedOut,
        })
    }

    /// Wakes up to `count` waiters on the word; returns how many.
    pub fn notify(&self, offset: u64, count: u32) -> Result<u32> {
        Ok(self.0.notify(offset, count)?)
    }
}

/// The kind of an IPC object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// A message queue.
    Queue,
    /// A shared-memory segment.
    Segment,
}

/// One of the pod's IPC objects, as [`objects`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Queue or segment.
    pub kind: ObjectKind,
    /// Its name.
    pub name: String,
    /// A segment's size, or the bytes waiting in a queue.
    pub bytes: u64,
    /// Messages waiting (queues).
    pub depth: u32,
    /// Capacity in messages (queues).
    pub capacity: u32,
    /// Largest message (queues).
    pub max_message_size: u32,
}

/// Every IPC object of the pod, queues first, by name.
pub fn objects() -> Vec<ObjectInfo> {
    objects::list_objects()
        .into_iter()
        .map(|o| ObjectInfo {
            kind: match o.kind {
                objects::ObjectKind::Queue => ObjectKind::Queue,
                objects::ObjectKind::Segment => ObjectKind::Segment,
            },
            name: o.name,
            bytes: o.bytes,
            depth: o.depth,
            capacity: o.capacity,
            max_message_size: o.max_message_size,
        })
        .collect()
}
