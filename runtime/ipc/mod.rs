//! The pod IPC namespace: named message queues and shared-memory segments
//! that a pod's containers share and no other pod can see.
//!
//! Kubernetes pods share System V IPC and POSIX message queues between
//! their containers. Wasm programs have no such kernel objects and cannot
//! share linear memories across components, so wasmpod implements the
//! objects in the host: every pod gets one [`IpcNamespace`], created with
//! the pod (`pod/start.rs`) and handed to each container instance through
//! its `SandboxSpec`. The objects outlive container restarts and are
//! removed when the pod ends.
//!
//! ```text
//! guest (component) --wasmpod:ipc WIT (wit.rs)--.
//!                                                 +--> IpcNamespace --> Queue   (queue.rs)
//! guest (wasip1)   --wasmpod_ipc imports (core.rs)'                 --> Segment (segment.rs)
//! ```
//!
//! Blocking calls (a receive on an empty queue, a send into a full one, a
//! wait on a word) are async host functions: the guest's fiber suspends and
//! the host thread runs other containers.

mod core;
mod queue;
mod segment;
mod wit;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub(crate) use self::core::{ModuleIpc, add_to_module_linker};
pub(crate) use queue::Queue;
pub(crate) use queue::QueueConfig;
pub(crate) use segment::{Segment, WaitOutcome};
pub(crate) use wit::{ComponentIpc, IpcView, add_to_component_linker};

/// The longest object name, in bytes: POSIX's NAME_MAX, which bounds
/// `mq_open` names.
pub const MAX_NAME_LEN: usize = 255;
/// Objects (queues plus segments) one pod may hold: Linux's default
/// `fs.mqueue.queues_max`.
pub const MAX_OBJECTS: usize = 256;
/// The largest message a queue may be created for: 1 MiB, 128 times
/// Linux's default `msgsize_max`; larger payloads belong in a segment.
pub const MAX_MESSAGE_SIZE: u32 = 1 << 20;
/// The most messages a queue may be created for; bounds the lengths ring.
pub const MAX_CAPACITY: u32 = 1 << 20;
/// Memory one pod may commit to IPC objects: every queue counts as
/// `capacity x max_message_size` (what it may come to hold, as Linux's
/// RLIMIT_MSGQUEUE counts queues), every segment its size. 256 MiB keeps
/// a pod from exhausting the host through IPC while leaving room for
/// large segments.
pub const POD_IPC_BUDGET: u64 = 256 << 20;

/// Why an IPC call failed, as the guest sees it (the WIT `error-code`; a
/// wasip1 module gets its number, see `core.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorCode {
    /// No object of that kind and name in this pod (or the pod ended).
    NotFound,
    /// The name is empty, too long, or contains `/` (after an optional
    /// leading one) or NUL.
    InvalidName,
    /// A zero or too-large size or capacity, or a malformed batch.
    InvalidArgument,
    /// The pod's object count or memory budget would be exceeded.
    LimitReached,
    /// A non-blocking call found the queue full (send) or empty (receive).
    WouldBlock,
    /// The timeout expired first.
    TimedOut,
    /// The message is larger than the queue's maximum.
    MessageTooLarge,
    /// An offset range reaches past the segment's end.
    OutOfBounds,
    /// An atomic operation on an offset that is not a multiple of 8.
    Unaligned,
}

/// The kind of an IPC object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum IpcObjectKind {
    /// A message queue.
    Queue,
    /// A shared-memory segment.
    Segment,
}

impl std::fmt::Display for IpcObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IpcObjectKind::Queue => "queue",
            IpcObjectKind::Segment => "segment",
        })
    }
}

/// One object of a pod's IPC namespace, as `describe pod` and `ipcs` show it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct IpcObject {
    /// Queue or segment.
    pub kind: IpcObjectKind,
    /// Its name (without a leading `/`).
    pub name: String,
    /// A segment's size, or the bytes waiting in a queue.
    pub bytes: u64,
    /// Messages waiting in a queue (0 for a segment).
    pub depth: u32,
    /// A queue's capacity in messages (0 for a segment).
    pub capacity: u32,
    /// A queue's largest message (0 for a segment).
    pub max_message_size: u32,
}

/// A pod's IPC namespace. Shared (`Arc`) by the pod's task, every
/// container instance and the pod's handle.
pub struct IpcNamespace {
    /// `namespace/name` of the pod, for messages.
    pod: String,
    objects: Mutex<Objects>,
}

#[derive(Default)]
struct Objects {
    queues: BTreeMap<String, Arc<Queue>>,
    segments: BTreeMap<String, Arc<Segment>>,
    /// Bytes of [`POD_IPC_BUDGET`] committed.
    committed: u64,
    /// Set when the pod ended: nothing can be opened any more.
    removed: bool,
}

/// The canonical form of an object name: POSIX writes queue names as
/// `/name`; a leading `/` is accepted and dropped, so `/jobs` and `jobs`
/// are the same queue.
fn canonical_name(name: &str) -> Result<&str, ErrorCode> {
    let name = name.strip_prefix('/').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.contains(['/', '\0']) {
        return Err(ErrorCode::InvalidName);
    }
    Ok(name)
}

impl IpcNamespace {
    /// An empty namespace for the pod `namespace/name`.
    pub(crate) fn new(pod: String) -> Self {
        Self { pod, objects: Mutex::new(Objects::default()) }
    }

    /// The pod it belongs to (`namespace/name`).
    pub(crate) fn pod(&self) -> &str {
        &self.pod
    }

    fn lock(&self) -> MutexGuard<'_, Objects> {
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn admit(objects: &Objects, cost: u64) -> Result<(), ErrorCode> {
        if objects.removed || objects.queues.len() + objects.segments.len() >= MAX_OBJECTS || objects.committed + cost > POD_IPC_BUDGET {
            return Err(ErrorCode::LimitReached);
        }
        Ok(())
    }

    /// Opens the queue `name`; when it does not exist and `create` is
    /// given, creates it with that shape (an existing queue keeps its own).
    pub(crate) fn open_queue(&self, name: &str, create: Option<QueueConfig>) -> Result<Arc<Queue>, ErrorCode> {
        let name = canonical_name(name)?;
        let mut objects = self.lock();
        if objects.removed {
            return Err(ErrorCode::NotFound);
        }
        if let Some(q) = objects.queues.get(name) {
            return Ok(q.clone());
        }
        let Some(config) = create else { return Err(ErrorCode::NotFound) };
        if config.capacity == 0 || config.capacity > MAX_CAPACITY || config.max_message_size > MAX_MESSAGE_SIZE {
            return Err(ErrorCode::InvalidArgument);
        }
        let cost = config.capacity as u64 * config.max_message_size as u64;
        Self::admit(&objects, cost)?;
        let q = Arc::new(Queue::new(name.to_owned(), config));
        objects.committed += cost;
        objects.queues.insert(name.to_owned(), q.clone());
        Ok(q)
    }

    /// Opens the segment `name`; when it does not exist and `create_size`
    /// is given, creates it with that many zero bytes.
    pub(crate) fn open_segment(&self, name: &str, create_size: Option<u64>) -> Result<Arc<Segment>, ErrorCode> {
        let name = canonical_name(name)?;
        let mut objects = self.lock();
        if objects.removed {
            return Err(ErrorCode::NotFound);
        }
        if let Some(s) = objects.segments.get(name) {
            return Ok(s.clone());
        }
        let Some(size) = create_size else { return Err(ErrorCode::NotFound) };
        if size == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        Self::admit(&objects, size)?;
        let s = Arc::new(Segment::new(name.to_owned(), size));
        objects.committed += size;
        objects.segments.insert(name.to_owned(), s.clone());
        Ok(s)
    }

    /// Every object, queues first, each kind by name.
    pub fn objects(&self) -> Vec<IpcObject> {
        let objects = self.lock();
        let queues = objects.queues.values().map(|q| {
            let st = q.status();
            IpcObject {
                kind: IpcObjectKind::Queue,
                name: q.name().to_owned(),
                bytes: st.bytes,
                depth: st.depth,
                capacity: st.config.capacity,
                max_message_size: st.config.max_message_size,
            }
        });
        let segments = objects.segments.values().map(|s| IpcObject {
            kind: IpcObjectKind::Segment,
            name: s.name().to_owned(),
            bytes: s.size(),
            depth: 0,
            capacity: 0,
            max_message_size: 0,
        });
        queues.chain(segments).collect()
    }

    /// Removes every object: the pod ended. Handles still open (none, once
    /// the pod's instances are gone) keep their object alive but unnamed.
    pub(crate) fn remove_all(&self) {
        let mut objects = self.lock();
        objects.queues.clear();
        objects.segments.clear();
        objects.committed = 0;
        objects.removed = true;
    }
}

/// A view of a running pod's IPC namespace for the library's users
/// (`describe pod`); it stays valid after the pod ended (then empty).
#[derive(Clone)]
pub struct PodIpc(pub(crate) Arc<IpcNamespace>);

impl PodIpc {
    /// The pod's queues and segments with their sizes and depths.
    pub fn objects(&self) -> Vec<IpcObject> {
        self.0.objects()
    }
}

/// A guest's timeout in nanoseconds as a deadline; `None` waits forever.
/// Timeouts too large for the clock mean forever.
pub(crate) fn deadline(timeout_ns: Option<u64>) -> Option<tokio::time::Instant> {
    timeout_ns.and_then(|ns| tokio::time::Instant::now().checked_add(Duration::from_nanos(ns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_QUEUE: QueueConfig = QueueConfig { capacity: 256, max_message_size: 64 << 10 };

    #[test]
    fn names_are_canonical_and_checked() {
        let ns = IpcNamespace::new("default/p".into());
        let a = ns.open_queue("/jobs", Some(DEFAULT_QUEUE)).unwrap();
        let b = ns.open_queue("jobs", None).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        for bad in ["", "/", "a/b", "//x", "nul\0", &"x".repeat(256)] {
            assert_eq!(ns.open_queue(bad, Some(DEFAULT_QUEUE)).err(), Some(ErrorCode::InvalidName), "{bad:?}");
        }
        // Queues and segments have separate names, as POSIX mq and shm.
        assert_eq!(ns.open_segment("jobs", None).err(), Some(ErrorCode::NotFound));
    }

    #[test]
    fn an_existing_queue_keeps_its_shape() {
        let ns = IpcNamespace::new("default/p".into());
        ns.open_queue("q", Some(QueueConfig { capacity: 2, max_message_size: 8 })).unwrap();
        let again = ns.open_queue("q", Some(DEFAULT_QUEUE)).unwrap();
        assert_eq!(again.config(), QueueConfig { capacity: 2, max_message_size: 8 });
    }

    #[test]
    fn the_budget_and_object_count_are_enforced() {
        let ns = IpcNamespace::new("default/p".into());
        assert_eq!(ns.open_segment("big", Some(POD_IPC_BUDGET + 1)).err(), Some(ErrorCode::LimitReached));
        ns.open_segment("half", Some(POD_IPC_BUDGET / 2)).unwrap();
        let q = QueueConfig { capacity: 1 << 10, max_message_size: 1 << 20 }; // 1 GiB
        assert_eq!(ns.open_queue("q", Some(q)).err(), Some(ErrorCode::LimitReached));
        assert_eq!(ns.open_queue("q", Some(QueueConfig { capacity: 0, max_message_size: 1 })).err(), Some(ErrorCode::InvalidArgument));
        for i in 1..MAX_OBJECTS {
            ns.open_segment(&format!("s{i}"), Some(8)).unwrap();
        }
        assert_eq!(ns.open_segment("one-too-many", Some(8)).err(), Some(ErrorCode::LimitReached));
    }

    #[test]
    fn listing_and_removal() {
        let ns = IpcNamespace::new("default/p".into());
        let q = ns.open_queue("jobs", Some(QueueConfig { capacity: 4, max_message_size: 16 })).unwrap();
        q.try_send(b"abc").unwrap();
        ns.open_segment("counters", Some(64)).unwrap();
        let list = ns.objects();
        assert_eq!(list.len(), 2);
        assert_eq!((list[0].kind, list[0].name.as_str(), list[0].depth, list[0].bytes, list[0].capacity), (IpcObjectKind::Queue, "jobs", 1, 3, 4));
        assert_eq!((list[1].kind, list[1].name.as_str(), list[1].bytes), (IpcObjectKind::Segment, "counters", 64));
        ns.remove_all();
        assert!(ns.objects().is_empty());
        assert_eq!(ns.open_queue("jobs", Some(DEFAULT_QUEUE)).err(), Some(ErrorCode::NotFound));
    }
}
