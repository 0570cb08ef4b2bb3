//! The per-pod lock that makes a second `run` of a running pod an error.
//!
//! An OS file lock (`File::try_lock`: flock on Unix, LockFileEx on
//! Windows) is released by the kernel when the holder dies, so a crashed
//! runtime never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Why the lock was not taken.
#[derive(Debug)]
pub(super) enum LockError {
    Held { holder: Option<u32> },
    Io(std::io::Error),
}

fn pid_path(lock: &Path) -> std::path::PathBuf {
    lock.with_extension("pid")
}

/// Held while a process runs the pod; released on drop or process death.
#[derive(Debug)]
pub struct PodLock {
    _file: File,
}

impl PodLock {
    pub(super) fn acquire(path: &Path) -> Result<Self, LockError> {
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(LockError::Io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(pid_path(path)).ok().and_then(|s| s.trim().parse().ok());
                return Err(LockError::Held { holder });
            }
            Err(TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        // The holder's pid goes beside the lock: on Windows a locked file
        // cannot be read through another handle.
        let _ = std::fs::write(pid_path(path), std::process::id().to_string());
        Ok(Self { _file: file })
    }

    pub(super) fn is_held(path: &Path) -> bool {
        let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else { return false };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_fails_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let first = PodLock::acquire(&path).unwrap();
        assert!(PodLock::is_held(&path));
        match PodLock::acquire(&path) {
            Err(LockError::Held { holder }) => assert_eq!(holder, Some(std::process::id())),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(first);
        assert!(!PodLock::is_held(&path));
        PodLock::acquire(&path).unwrap();
    }
}
