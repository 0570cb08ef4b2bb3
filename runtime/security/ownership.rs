//! Who owns the files of one volume (or one container root), as guests
//! see it through `wasmpod:identity/identity.owner`.
//!
//! WASI creates files without owners, and wasmpod does not see which
//! instance created a file. The book therefore keeps three things:
//! - the owner of the volume's own directory (root, group fsGroup, as the
//!   kubelet sets an emptyDir up);
//! - the identities of the containers that mount it writable;
//! - a record per file, made the first time a file's owner is asked for.
//!   A file not yet recorded belongs to the volume's writer when every
//!   writable mount belongs to containers with the same identity (the
//!   common case: one securityContext for the pod); then the record is
//!   exact. With writers of different identities the creator cannot be
//!   known and the file is reported as owned by the volume's owner.
//!
//! When wasmpod runs as root on Unix, a recorded owner is also applied to
//! the host file with lchown, so host tools and hostPath users see it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The ownership record of one volume or container root.
#[derive(Debug)]
pub struct OwnerBook {
    root: PathBuf,
    /// Owner of `root` itself and of files no writer can be named for.
    base: (u32, u32),
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Distinct identities that write here.
    writers: Vec<(u32, u32)>,
    /// Owners given so far, by host path.
    files: HashMap<PathBuf, (u32, u32)>,
}

impl OwnerBook {
    /// A book for the directory `root`, itself owned by `base`.
    pub fn new(root: PathBuf, base: (u32, u32)) -> Self {
        apply_on_host(&root, base);
        Self { root, base, inner: Mutex::default() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a container that mounts this directory writable.
    pub fn add_writer(&self, owner: (u32, u32)) {
        let mut inner = self.lock();
        if !inner.writers.contains(&owner) {
            inner.writers.push(owner);
        }
    }

    /// Records `owner` for `path` (a file the runtime itself made).
    pub fn record(&self, path: &Path, owner: (u32, u32)) {
        self.lock().files.insert(path.to_owned(), owner);
        apply_on_host(path, owner);
    }

    /// The owner of the host file `path` beneath this book's root, or
    /// None when it does not exist.
    pub fn owner(&self, path: &Path) -> Option<(u32, u32)> {
        std::fs::symlink_metadata(path).ok()?;
        if path == self.root {
            return Some(self.base);
        }
        let mut inner = self.lock();
        if let Some(owner) = inner.files.get(path) {
            return Some(*owner);
        }
        match inner.writers.as_slice() {
            [only] => {
                let owner = *only;
                inner.files.insert(path.to_owned(), owner);
                drop(inner);
                apply_on_host(path, owner);
                Some(owner)
            }
            // Several writer identities: not attributable (see the module doc).
            _ => Some(self.base),
        }
    }
}

/// On Unix as root: makes the host file's owner match (without following
/// a link a guest may have made). Elsewhere, or unprivileged, the book
/// alone holds owners: chown would fail, and the guest-visible answer
/// does not depend on it.
#[cfg(unix)]
fn apply_on_host(path: &Path, owner: (u32, u32)) {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        // Best effort: a file removed meanwhile needs no owner.
        let _ = std::os::unix::fs::lchown(path, Some(owner.0), Some(owner.1));
    }
}

#[cfg(not(unix))]
fn apply_on_host(_path: &Path, _owner: (u32, u32)) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_writer_owns_new_files_and_the_record_keeps_them() {
        let dir = tempfile::tempdir().unwrap();
        let book = OwnerBook::new(dir.path().to_owned(), (0, 231));
        book.add_writer((42, 231));
        std::fs::write(dir.path().join("f"), b"x").unwrap();
        assert_eq!(book.owner(dir.path()), Some((0, 231)));
        assert_eq!(book.owner(&dir.path().join("f")), Some((42, 231)));
        // A writer with another identity joining later does not change
        // what was recorded, but new files are no longer attributable.
        book.add_writer((7, 231));
        assert_eq!(book.owner(&dir.path().join("f")), Some((42, 231)));
        std::fs::write(dir.path().join("g"), b"x").unwrap();
        assert_eq!(book.owner(&dir.path().join("g")), Some((0, 231)));
        assert_eq!(book.owner(&dir.path().join("missing")), None);
    }
}
