//! A container's memory limit (`resources.limits.memory`), enforced on the
//! linear memories of its wasm instances.
//!
//! One [`MemoryAccount`] per container, shared like a cgroup: the main
//! instance, exec'd commands, exec probes, hooks and wasi:http requests of
//! the container all count together, as every process of a Kubernetes
//! container counts against the container's cgroup. Each store holds a
//! [`MemoryLimiter`] that adds its growth to the account and gives it back
//! when the store is dropped (the instance ended).
//!
//! Files the container wrote in `medium: Memory` emptyDir volumes count
//! too, as tmpfs pages count against the cgroup of the process that wrote
//! them (`volume/memory_files.rs` measures them and sets [`MemoryAccount::set_files`]).
//! Growing past the limit with them traps as above; files that push the
//! account over on their own end the container through
//! [`MemoryAccount::exceeded`].
//!
//! Going over the limit traps the instance that asked for the memory with
//! [`OutOfMemory`] (instead of letting `memory.grow` return -1, which a
//! guest's allocator turns into an abort): the kernel's OOM killer does not
//! let the process handle it either. When that instance is the container's
//! main instance the container is `OOMKilled` with exit code 137.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The memory one container may use, and what its instances use now.
#[derive(Debug)]
pub struct MemoryAccount {
    limit: u64,
    /// Linear memory charged by the container's live instances.
    used: AtomicU64,
    /// Bytes of the container's files in memory-backed volumes, as last
    /// measured.
    files: AtomicU64,
    /// Woken when a measurement of `files` puts the account over its limit.
    over: tokio::sync::Notify,
}

impl MemoryAccount {
    /// An account with `limit` bytes and nothing used.
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit, used: AtomicU64::new(0), files: AtomicU64::new(0), over: tokio::sync::Notify::new() })
    }

    /// The limit in bytes.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes in use: the linear memory of the container's live instances
    /// and its files in memory-backed volumes.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst).saturating_add(self.files())
    }

    /// Bytes of the container's files in memory-backed volumes, as last measured.
    pub fn files(&self) -> u64 {
        self.files.load(Ordering::SeqCst)
    }

    /// Takes `bytes` of linear memory if they fit under the limit with
    /// everything in use; false leaves the account unchanged.
    /// Compare-and-swap so two instances growing at once cannot both pass
    /// the check.
    pub fn charge(&self, bytes: u64) -> bool {
        let files = self.files();
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| used.checked_add(bytes).filter(|total| total.saturating_add(files) <= self.limit))
            .is_ok()
    }

    /// Sets what the container's files in memory-backed volumes hold now.
    pub(crate) fn set_files(&self, bytes: u64) {
        self.files.store(bytes, Ordering::SeqCst);
        if self.used() > self.limit {
            self.over.notify_waiters();
        }
    }

    /// Resolves, with the message of the OOM kill, once the account is over
    /// its limit: files in memory-backed volumes pushed it over (linear
    /// memory alone never gets there: a grow past the limit traps).
    pub async fn exceeded(&self) -> String {
        loop {
            let woken = self.over.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let used = self.used();
            if used > self.limit {
                return format!(
                    "memory limit exceeded: {} bytes of files in memory-backed emptyDir volumes with {used} of {} bytes in use",
                    self.files(),
                    self.limit
                );
            }
            woken.await;
        }
    }

    /// Gives back `bytes` charged earlier.
    pub fn release(&self, bytes: u64) {
        // Saturating: a release never exceeds what was charged, but an
        // underflow must not wrap into "everything used".
        let _ = self.used.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| Some(used.saturating_sub(bytes)));
    }
}

/// The trap of an instance that went over its container's memory limit.
#[derive(Debug, Clone, thiserror::Error)]
#[error("memory limit exceeded: growing a linear memory by {requested} bytes with {used} of {limit} bytes in use")]
pub struct OutOfMemory {
    /// Bytes the guest asked for.
    pub requested: u64,
    /// Bytes in use in the container at that moment.
    pub used: u64,
    /// The container's limit.
    pub limit: u64,
}

/// The `ResourceLimiter` of one store: every linear memory's growth
/// (including the initial size at instantiation) goes through it.
#[derive(Debug, Default)]
pub(crate) struct MemoryLimiter {
    account: Option<Arc<MemoryAccount>>,
    /// What this store charged, given back on drop.
    held: u64,
}

impl MemoryLimiter {
    pub(crate) fn new(account: Option<Arc<MemoryAccount>>) -> Self {
        Self { account, held: 0 }
    }

    /// The container's account, if it has a limit.
    pub(crate) fn account(&self) -> Option<&Arc<MemoryAccount>> {
        self.account.as_ref()
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|m| desired > m) {
            // Over the memory's own declared maximum: an ordinary failed
            // grow, as without a limiter.
            return Ok(false);
        }
        let Some(account) = &self.account else { return Ok(true) };
        let requested = desired.saturating_sub(current) as u64;
        if account.charge(requested) {
            self.held += requested;
            Ok(true)
        } else {
            Err(OutOfMemory { requested, used: account.used(), limit: account.limit() }.into())
        }
    }

    fn table_growing(&mut self, _current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        // Tables hold references, not data; only their declared maximum
        // bounds them, as without a limiter.
        Ok(maximum.is_none_or(|m| desired <= m))
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        if let Some(account) = &self.account {
            account.release(self.held);
        }
    }
}

/// Whether `error` (a trap or an instantiation failure) is an [`OutOfMemory`].
pub(crate) fn is_out_of_memory(error: &wasmtime::Error) -> bool {
    error.chain().any(|e| e.downcast_ref::<OutOfMemory>().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn instances_share_the_account_and_give_memory_back_when_dropped() {
        let account = MemoryAccount::new(3 * 65536);
        let mut a = MemoryLimiter::new(Some(account.clone()));
        let mut b = MemoryLimiter::new(Some(account.clone()));
        assert!(a.memory_growing(0, 2 * 65536, None).unwrap());
        let err = b.memory_growing(0, 2 * 65536, None).unwrap_err();
        assert!(is_out_of_memory(&err), "{err:#}");
        assert!(b.memory_growing(0, 65536, None).unwrap());
        assert_eq!(account.used(), 3 * 65536);
        drop(a);
        assert_eq!(account.used(), 65536);
        assert!(b.memory_growing(65536, 3 * 65536, None).unwrap());
    }

    #[tokio::test]
    async fn files_count_with_linear_memory_and_going_over_with_them_is_reported() {
        let account = MemoryAccount::new(4 * 65536);
        let mut l = MemoryLimiter::new(Some(account.clone()));
        assert!(l.memory_growing(0, 2 * 65536, None).unwrap());
        account.set_files(65536);
        assert_eq!(account.used(), 3 * 65536);
        // The files leave room for one page, not two.
        assert!(is_out_of_memory(&l.memory_growing(2 * 65536, 4 * 65536, None).unwrap_err()));
        assert!(l.memory_growing(2 * 65536, 3 * 65536, None).unwrap());
        let waiter = {
            let account = account.clone();
            tokio::spawn(async move { account.exceeded().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "at the limit is not over it");
        account.set_files(65537);
        let message = waiter.await.unwrap();
        assert!(message.starts_with("memory limit exceeded: 65537 bytes of files in memory-backed emptyDir volumes with 262145 of 262144 bytes"), "{message}");
    }

    #[test]
    fn no_account_means_no_limit_but_declared_maximums_hold() {
        let mut l = MemoryLimiter::new(None);
        assert!(l.memory_growing(0, 1 << 30, None).unwrap());
        assert!(!l.memory_growing(0, 2 * 65536, Some(65536)).unwrap());
    }
}
