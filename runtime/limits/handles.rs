//! A pod's cap on open files and sockets.
//!
//! Every file a guest opens holds a host file descriptor (wasmtime-wasi
//! opens it for real), and so does every socket of a `hostNetwork` pod. The
//! process has RLIMIT_NOFILE of them, shared with the runtime's own logs,
//! records and connections: without a cap one guest opening files in a
//! loop takes them all, and then every pod's next log file, every API
//! connection and every other guest's open fails. So each pod has one
//! [`HandleAccount`], shared by every instance of every container of the
//! pod (exec'd commands, probes, hooks and wasi:http requests too), as the
//! threads of a process share its RLIMIT_NOFILE.
//!
//! Counted: wasi:filesystem `open-at` (files and directories), wasi:sockets
//! TCP and UDP sockets, created or accepted (pod-network sockets hold no
//! descriptor, but buffers in the runtime's memory), wasip1 `path_open`,
//! and the connection of each outgoing wasi:http request.
//! Not counted: preopens, stdio, the streams of a file or socket (they
//! share its descriptor), name lookups, IPC handles (the IPC namespace has
//! its own limits).
//!
//! Going past the cap fails in the guest, never in the host: wasi:sockets
//! `new-socket-limit` (EMFILE in wasi-libc), wasip1 `mfile` (EMFILE), and
//! wasi:filesystem `insufficient-memory` (ENOMEM): WASI 0.2's filesystem
//! has no "too many open files" code, and that is its code for an
//! exhausted resource.
//!
//! Each store's [`Handles`] holds a [`Slot`] per open handle, keyed by its
//! resource-table index (components) or descriptor number (wasip1), given
//! back when the guest drops or closes the handle, and all at once when the
//! store is dropped (the instance ended or was killed).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Files and sockets a pod's guests may hold open at once, by default.
/// Four times Linux's default soft RLIMIT_NOFILE (1024): ample for servers
/// with many connections, while a few pods together still fit in a
/// typical raised limit (ulimit -n 65536); the runtime's own descriptors
/// (a log file per running container, records, API connections) come on
/// top.
pub const DEFAULT_MAX_OPEN_FILES: usize = 4096;

/// One pod's open files and sockets: the cap and how many are open now.
#[derive(Debug)]
pub struct HandleAccount {
    limit: usize,
    open: AtomicUsize,
}

impl HandleAccount {
    /// An account allowing `limit` open handles, none open.
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self { limit, open: AtomicUsize::new(0) })
    }

    /// Handles open now across the pod.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// One more handle, if the pod is under its cap. Compare-and-swap, so
    /// two instances opening at once cannot both take the last one.
    pub fn reserve(self: &Arc<Self>) -> Option<Slot> {
        self.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| (open < self.limit).then_some(open + 1)).ok()?;
        Some(Slot(self.clone()))
    }
}

/// One open handle counted against its pod; given back when dropped.
#[derive(Debug)]
pub struct Slot(Arc<HandleAccount>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The handles one store holds, by key (a resource's table index, or a
/// wasip1 descriptor number).
#[derive(Debug)]
pub(crate) struct Handles {
    account: Arc<HandleAccount>,
    held: HashMap<u32, Slot>,
}

impl Handles {
    pub(crate) fn new(account: Arc<HandleAccount>) -> Self {
        Self { account, held: HashMap::new() }
    }

    /// Takes a slot before opening; none: the pod is at its cap.
    pub(crate) fn reserve(&self) -> Option<Slot> {
        self.account.reserve()
    }

    /// Records that the handle `key` was opened with `slot`.
    pub(crate) fn hold(&mut self, key: u32, slot: Slot) {
        self.held.insert(key, slot);
    }

    /// The handle `key` was closed (a key never held is ignored: preopens,
    /// stdio, other resources).
    pub(crate) fn release(&mut self, key: u32) {
        self.held.remove(&key);
    }

    /// wasip1's `fd_renumber(from, to)`: `to` is closed, `from` becomes `to`.
    pub(crate) fn renumber(&mut self, from: u32, to: u32) {
        let moved = self.held.remove(&from);
        self.held.remove(&to);
        if let Some(slot) = moved {
            self.held.insert(to, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_is_shared_and_slots_come_back_when_dropped() {
        let account = HandleAccount::new(2);
        let mut a = Handles::new(account.clone());
        let mut b = Handles::new(account.clone());
        a.hold(7, a.reserve().unwrap());
        b.hold(7, b.reserve().unwrap());
        assert!(a.reserve().is_none() && b.reserve().is_none(), "two stores share one cap");
        assert_eq!(account.open(), 2);
        a.release(7);
        a.release(99);
        assert_eq!(account.open(), 1);
        // Renumbering over a held descriptor closes it.
        b.hold(3, b.reserve().unwrap());
        b.renumber(3, 7);
        assert_eq!(account.open(), 1);
        b.renumber(1, 7);
        assert_eq!(account.open(), 0, "renumbering an uncounted descriptor over a counted one closes it");
        b.hold(4, b.reserve().unwrap());
        drop(b);
        assert_eq!(account.open(), 0, "a dropped store gives everything back");
    }
}
