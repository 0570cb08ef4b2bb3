//! Files in a pod's `medium: Memory` emptyDir volumes, counted against the
//! memory limit of the container that wrote them, as Linux charges tmpfs
//! pages to the cgroup of the process that wrote them.
//!
//! ```text
//! open-at / path_open with write   the new file's identity -> its writer's
//!   (filesystem.rs)                account, recorded here (MemoryFiles::wrote)
//! every interval                   each volume walked: a file's bytes go to
//!   (MemoryFiles::watch)           the account recorded for it, else to the
//!                                  volume's only writable mounter, if it has
//!                                  one -> MemoryAccount::set_files
//! over the limit                   the container's worker ends the main
//!                                  instance: OOMKilled, 137
//! ```
//!
//! A file is known by its identity (device and inode; volume serial and
//! file index on Windows), so renames and links keep its writer. wasmtime-wasi
//! does not expose the host file behind a wasip1 descriptor, so files a
//! wasip1 module opens are not recorded; like files whose writer is not
//! recorded, they go to the volume's only writable mounter, or to nobody
//! when several containers mount it writable.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use crate::limits::MemoryAccount;

/// How often memory-backed volumes are measured (at most: a runtime that
/// measures volumes more often uses its own interval). The kernel charges
/// tmpfs pages as they are written; a container can go over by what it
/// writes in this time before it is killed.
pub const MEMORY_FILES_INTERVAL: Duration = Duration::from_secs(1);

/// Identity of a host file.
pub(crate) type FileId = (u64, u64);

/// One memory-backed volume.
#[derive(Debug)]
struct Volume {
    root: PathBuf,
    /// Accounts of the containers that mount it writable.
    writers: Vec<Weak<MemoryAccount>>,
}

/// The pod's memory-backed volumes and who wrote what in them.
#[derive(Debug, Default)]
pub(crate) struct MemoryFiles {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    volumes: Vec<Volume>,
    /// The account of the container that wrote each file (Weak: accounts
    /// hold the ledger), and the measurement it was recorded during.
    written: HashMap<FileId, (Weak<MemoryAccount>, u64)>,
    /// Measurements started so far.
    measurements: u64,
}

impl MemoryFiles {
    /// A ledger for the volumes at `roots` (none: no ledger is needed).
    pub fn new(roots: Vec<PathBuf>) -> Option<Arc<Self>> {
        if roots.is_empty() {
            return None;
        }
        let volumes = roots.into_iter().map(|root| Volume { root, writers: Vec::new() }).collect();
        Some(Arc::new(Self { inner: Mutex::new(Inner { volumes, ..Inner::default() }) }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers `account` as a writable mounter of the volume at `root`.
    pub fn add_writer(&self, root: &Path, account: &Arc<MemoryAccount>) {
        let mut inner = self.lock();
        if let Some(v) = inner.volumes.iter_mut().find(|v| v.root == root)
            && !v.writers.iter().any(|w| w.as_ptr() == Arc::as_ptr(account))
        {
            v.writers.push(Arc::downgrade(account));
        }
    }

    /// Whether any volume has a writer with a memory limit (else there is
    /// nothing to measure for).
    pub fn has_writers(&self) -> bool {
        self.lock().volumes.iter().any(|v| !v.writers.is_empty())
    }

    /// Records that `account`'s container opened the file `id` to write.
    /// Files outside the memory-backed volumes are recorded too (the
    /// opener does not know where its file is) and dropped at the next
    /// measurement, which does not find them.
    pub fn wrote(&self, id: FileId, account: &Arc<MemoryAccount>) {
        let mut inner = self.lock();
        let now = inner.measurements;
        inner.written.insert(id, (Arc::downgrade(account), now));
    }

    /// Measures every volume once and sets each writer's files.
    pub fn measure(&self) {
        let (roots, started) = {
            let mut inner = self.lock();
            inner.measurements += 1;
            (inner.volumes.iter().map(|v| v.root.clone()).collect::<Vec<PathBuf>>(), inner.measurements)
        };
        // Walked without the lock: the guests' opens record meanwhile.
        let found: Vec<Vec<(FileId, u64)>> = roots.iter().map(|r| files_under(r)).collect();
        let mut inner = self.lock();
        let mut totals: HashMap<*const MemoryAccount, u64> = HashMap::new();
        let mut seen = HashSet::new();
        for (volume, files) in inner.volumes.iter().zip(&found) {
            let only = match volume.writers.as_slice() {
                [one] => Some(one),
                _ => None,
            };
            for (id, len) in files {
                // A file linked twice is counted once.
                if !seen.insert(*id) {
                    continue;
                }
                // A recorded writer that ended (the pod is ending) charges nobody.
                let recorded = inner.written.get(id).map(|(w, _)| w).filter(|w| w.strong_count() > 0);
                if let Some(writer) = recorded.or(only) {
                    *totals.entry(writer.as_ptr()).or_default() += len;
                }
            }
        }
        // Files not found are gone, unless recorded during this walk (it
        // may have passed their directory before they were created).
        inner.written.retain(|id, (w, at)| (seen.contains(id) || *at >= started) && w.strong_count() > 0);
        for writer in inner.volumes.iter().flat_map(|v| &v.writers) {
            if let Some(account) = writer.upgrade() {
                account.set_files(totals.get(&writer.as_ptr()).copied().unwrap_or(0));
            }
        }
    }

    /// Measures every `every` until dropped (the returned task is aborted
    /// with its handle's owner, see [`MemoryWatch`]).
    pub fn watch(self: &Arc<Self>, every: Duration) -> MemoryWatch {
        let files = self.clone();
        MemoryWatch(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let files = files.clone();
                // Walking blocks; keep it off the async workers.
                if tokio::task::spawn_blocking(move || files.measure()).await.is_err() {
                    return;
                }
            }
        }))
    }
}

/// The measuring task of a pod's [`MemoryFiles`]; aborted when dropped.
#[derive(Debug)]
pub(crate) struct MemoryWatch(tokio::task::JoinHandle<()>);

impl Drop for MemoryWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every regular file beneath `root` with its identity and apparent
/// size; links are not followed, vanished entries skipped.
fn files_under(root: &Path) -> Vec<(FileId, u64)> {
    let mut out = Vec::new();
    super::for_each_entry(root, |path, meta| {
        if let Some(id) = meta.is_file().then(|| path_id(path, meta)).flatten() {
            out.push((id, meta.len()));
        }
    });
    out
}

/// The identity of an open file, from cap-std's metadata of the handle
/// (std has no stable file index on Windows).
pub(crate) fn file_id(file: &std::fs::File) -> Option<FileId> {
    use cap_fs_ext::MetadataExt;
    let meta = cap_primitives::fs::Metadata::from_file(file).ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The identity of the file at `path`, from its metadata.
#[cfg(unix)]
fn path_id(_path: &Path, meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// A path's identity needs a handle here (metadata from a path has no
/// file index).
#[cfg(not(unix))]
fn path_id(path: &Path, _meta: &std::fs::Metadata) -> Option<FileId> {
    file_id(&std::fs::File::open(path).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_go_to_their_writer_or_the_only_writable_mounter() {
        let dir = tempfile::tempdir().unwrap();
        let (shared, solo) = (dir.path().join("shared"), dir.path().join("solo"));
        std::fs::create_dir(&shared).unwrap();
        std::fs::create_dir(&solo).unwrap();
        let files = MemoryFiles::new(vec![shared.clone(), solo.clone()]).unwrap();
        let a = MemoryAccount::new(1 << 20);
        let b = MemoryAccount::new(1 << 20);
        files.add_writer(&shared, &a);
        files.add_writer(&shared, &b);
        files.add_writer(&solo, &b);

        let write = |path: &Path, len: usize| {
            std::fs::write(path, vec![0u8; len]).unwrap();
            file_id(&std::fs::File::open(path).unwrap()).unwrap()
        };
        // `a` wrote one file in the shared volume; a second file there has
        // no recorded writer and two possible ones: nobody's. The solo
        // volume's files are its only writer's.
        let by_a = write(&shared.join("a"), 1000);
        files.wrote(by_a, &a);
        write(&shared.join("unknown"), 50);
        write(&solo.join("b"), 300);
        files.measure();
        assert_eq!((a.files(), b.files()), (1000, 300));

        // A rename keeps the writer; a second link is counted once.
        std::fs::rename(shared.join("a"), shared.join("renamed")).unwrap();
        std::fs::hard_link(solo.join("b"), solo.join("b2")).unwrap();
        files.measure();
        assert_eq!((a.files(), b.files()), (1000, 300));

        // Removed files are no longer charged, nor remembered.
        std::fs::remove_file(shared.join("renamed")).unwrap();
        files.measure();
        assert_eq!(a.files(), 0);
        assert!(files.lock().written.is_empty());

        // A file recorded after a walk began is kept though the walk did
        // not find it (it may have passed the file's directory already).
        let late = write(&shared.join("late"), 10);
        std::fs::remove_file(shared.join("late")).unwrap();
        files.lock().measurements += 1;
        files.wrote(late, &a);
        files.lock().measurements -= 1;
        files.measure();
        assert!(files.lock().written.contains_key(&late), "recorded during the walk: kept");
        files.measure();
        assert!(!files.lock().written.contains_key(&late), "not found by a later walk: forgotten");
    }
}
