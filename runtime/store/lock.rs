//! Pod ownership: which process runs a pod, so a second `run` of a running
//! pod is an error, and whether that process is still alive.
//!
//! Each runtime (each opened state directory: a [`ProcessClaim`], owned by
//! the `StateDir`, so by the `Runtime`) holds one OS file lock (`File::try_lock`: flock on
//! Unix, LockFileEx on Windows) on its own file `<state>/run/<token>.lock`
//! for as long as it lives (its file is removed when it is dropped); the
//! kernel releases it when the process dies,
//! so a crashed runtime never leaves a stale claim behind. A pod is claimed
//! by writing the process's token and pid into the pod's `lock` file; the
//! claim counts while the token's process lock is held. Claims are made and released under `<state>/run/claims.lock`, so
//! two processes never both claim one pod.
//!
//! One open file per process, not per pod: ten thousand pods need no ten
//! thousand descriptors.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why the lock was not taken.
#[derive(Debug)]
pub(super) enum LockError {
    Held { holder: Option<u32> },
    Io(std::io::Error),
}

/// This runtime's lock in one state directory.
#[derive(Debug)]
struct ProcessLock {
    token: String,
    path: PathBuf,
    _file: File,
}

impl Drop for ProcessLock {
    fn drop(&mut self) {
        // Its claims are gone with it (each pod's lock holds this one).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The claimant identity of one runtime in one state directory: its
/// process lock, taken with the first claim and held until the last
/// claim and the claimant are dropped.
#[derive(Debug, Default)]
pub(crate) struct ProcessClaim(Mutex<Option<Arc<ProcessLock>>>);

/// The process lock of `run_dir`, taken on first use.
fn process_lock(claim: &ProcessClaim, run_dir: &Path) -> std::io::Result<Arc<ProcessLock>> {
    let mut held = claim.0.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(l) = held.as_ref() {
        return Ok(l.clone());
    }
    std::fs::create_dir_all(run_dir)?;
    remove_dead_process_locks(run_dir);
    let token = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let path = run_dir.join(format!("{token}.lock"));
    let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    file.try_lock().map_err(|e| match e {
        TryLockError::WouldBlock => std::io::Error::other("a fresh process lock is held by someone else"),
        TryLockError::Error(e) => e,
    })?;
    let l = Arc::new(ProcessLock { token, path, _file: file });
    *held = Some(l.clone());
    Ok(l)
}

/// Lock files of processes that have ended (nobody holds them).
fn remove_dead_process_locks(run_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(run_dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(token) = name.strip_suffix(".lock").filter(|t| *t != "claims")
            && !process_alive(run_dir, token)
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether the process with `token` still holds its lock.
fn process_alive(run_dir: &Path, token: &str) -> bool {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(run_dir.join(format!("{token}.lock"))) else { return false };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(_) => true,
    }
}

/// Serializes claims in one state directory while held.
fn claims_guard(run_dir: &Path) -> std::io::Result<File> {
    std::fs::create_dir_all(run_dir)?;
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(run_dir.join("claims.lock"))?;
    file.lock()?;
    Ok(file)
}

/// The token in a pod's `lock` file (`<token> <pid>`), if any.
fn claimant(lock: &Path) -> Option<String> {
    std::fs::read_to_string(lock).ok().and_then(|s| s.split_whitespace().next().map(str::to_owned))
}

/// The pid in a pod's `lock` file, if any.
pub(super) fn claimant_pid(lock: &Path) -> Option<u32> {
    std::fs::read_to_string(lock).ok().and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse().ok()))
}

/// Held while this process runs the pod; released on drop or process death.
#[derive(Debug)]
pub struct PodLock {
    path: PathBuf,
    run_dir: PathBuf,
    process: Arc<ProcessLock>,
}

impl PodLock {
    /// Claims the pod whose lock file is `path`, for this process.
    pub(super) fn acquire(path: &Path, run_dir: &Path, claim: &ProcessClaim) -> Result<Self, LockError> {
        let process = process_lock(claim, run_dir).map_err(LockError::Io)?;
        let _guard = claims_guard(run_dir).map_err(LockError::Io)?;
        if let Some(token) = claimant(path)
            && process_alive(run_dir, &token)
        {
            return Err(LockError::Held { holder: claimant_pid(path) });
        }
        // Readers outside the claims lock may see the file empty for a
        // moment: as unclaimed, which it was until now.
        std::fs::write(path, format!("{} {}", process.token, std::process::id())).map_err(LockError::Io)?;
        Ok(Self { path: path.to_owned(), run_dir: run_dir.to_owned(), process })
    }

    /// Whether a live process has claimed the pod whose lock file is `path`.
    pub(super) fn is_held(path: &Path, run_dir: &Path) -> bool {
        claimant(path).is_some_and(|token| process_alive(run_dir, &token))
    }
}

impl Drop for PodLock {
    fn drop(&mut self) {
        let Ok(_guard) = claims_guard(&self.run_dir) else { return };
        if claimant(&self.path).as_deref() == Some(self.process.token.as_str()) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let claim = ProcessClaim::default();
        let path = dir.path().join("lock");
        let first = PodLock::acquire(&path, &run, &claim).unwrap();
        assert!(PodLock::is_held(&path, &run));
        match PodLock::acquire(&path, &run, &claim) {
            Err(LockError::Held { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert!(!PodLock::is_held(&path, &run));
        PodLock::acquire(&path, &run, &claim).unwrap();
    }

    #[test]
    fn a_claim_by_a_dead_process_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let claim = ProcessClaim::default();
        std::fs::create_dir_all(&run).unwrap();
        let path = dir.path().join("lock");
        // A token whose process lock file exists but nobody holds, and one
        // whose file is gone: both are processes that ended.
        std::fs::write(run.join("1-dead.lock"), b"").unwrap();
        for token in ["1-dead", "2-gone"] {
            std::fs::write(&path, token).unwrap();
            assert!(!PodLock::is_held(&path, &run), "{token}");
        }
        let lock = PodLock::acquire(&path, &run, &claim).unwrap();
        assert!(PodLock::is_held(&path, &run));
        assert!(!run.join("1-dead.lock").exists(), "dead process locks are cleaned up");
        drop(lock);
    }

    #[test]
    fn many_pods_hold_no_descriptor_each() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let claim = ProcessClaim::default();
        // Far more claims than a low descriptor limit would allow if each
        // kept its lock file open.
        let locks: Vec<_> = (0..3000).map(|i| PodLock::acquire(&dir.path().join(format!("lock-{i}")), &run, &claim).unwrap()).collect();
        assert!(locks.iter().all(|l| PodLock::is_held(&l.path, &run)));
    }
}
