//! Who owns the files of one volume (or one container root), as guests
//! see it through `wasmpod:identity/identity.owner`.
//!
//! WASI creates files without owners. The book therefore keeps:
//! - the owner of the volume's own directory (root, group fsGroup, as the
//!   kubelet sets an emptyDir up);
//! - the identities of the containers that mount it writable;
//! - a record per file, made the first time a file's owner is asked for.
//!   A file not yet recorded belongs to the volume's writer when every
//!   writable mount belongs to containers with the same identity (the
//!   common case: one securityContext for the pod). With writers of
//!   different identities it belongs to its creator as the pod's
//!   [`Creators`] noted it (a component's `open-at` that created the file,
//!   by the file's identity), and else, for files made otherwise (`mkdir`,
//!   a wasip1 module), to the volume's owner.
//!
//! When wasmpod runs as root on Unix, a recorded owner is also applied to
//! the host file with lchown, so host tools and hostPath users see it.
//!
//! A guest names the file (`owner(path)`), and guests can plant links in
//! their volumes and root, so a looked-up file is found the way wasmtime
//! resolves the guest's own paths: from a handle on the book's root, one
//! component at a time, following links only while they stay beneath it
//! (cap-std's rule). A link leading out answers "no such file"; the host
//! file it names is never looked at, let alone chowned (`fchownat` on the
//! parent's handle, so swapping a directory for a link in between cannot
//! redirect it either).

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use super::memory_files::FileId;

/// Files noted at most per pod: past it, new files of shared volumes show
/// the volume's owner (bounds what a guest creating files forever costs).
const MAX_CREATORS: usize = 65_536;

/// Who created which file, for the pod's volumes written by containers of
/// different identities.
#[derive(Debug, Default)]
pub struct Creators {
    /// Set once a volume of the pod has writers of two identities; until
    /// then nothing is noted.
    needed: AtomicBool,
    files: Mutex<HashMap<FileId, (u32, u32)>>,
}

impl Creators {
    /// Whether opens that create files should be noted.
    pub fn needed(&self) -> bool {
        self.needed.load(Ordering::Relaxed)
    }

    /// Notes that `owner` created the file `id`.
    pub fn created(&self, id: FileId, owner: (u32, u32)) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        if files.len() < MAX_CREATORS || files.contains_key(&id) {
            files.insert(id, owner);
        }
    }

    /// The creator of `id`, forgotten once told (the book records it by
    /// path from then on).
    fn take(&self, id: FileId) -> Option<(u32, u32)> {
        self.files.lock().unwrap_or_else(|e| e.into_inner()).remove(&id)
    }
}

/// The ownership record of one volume or container root.
#[derive(Debug)]
pub struct OwnerBook {
    root: PathBuf,
    /// Owner of `root` itself and of files no writer can be named for.
    base: (u32, u32),
    /// The pod's record of creators (volumes; a container root has one writer).
    creators: Option<Arc<Creators>>,
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
        Self { root, base, creators: None, inner: Mutex::default() }
    }

    /// A book for a volume of a pod whose file creators are noted in `creators`.
    pub fn with_creators(root: PathBuf, base: (u32, u32), creators: Arc<Creators>) -> Self {
        Self { creators: Some(creators), ..Self::new(root, base) }
    }

    /// The pod's record of creators, if this is a volume's book.
    pub fn creators(&self) -> Option<&Arc<Creators>> {
        self.creators.as_ref()
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
        if inner.writers.len() > 1
            && let Some(c) = &self.creators
        {
            c.needed.store(true, Ordering::Relaxed);
        }
    }

    /// Records `owner` for `path` (a file the runtime itself made).
    pub fn record(&self, path: &Path, owner: (u32, u32)) {
        self.lock().files.insert(path.to_owned(), owner);
        apply_on_host(path, owner);
    }

    /// The owner of the host file `path` beneath this book's root, or
    /// None when it does not exist there (or only through a link that
    /// leads outside the root).
    pub fn owner(&self, path: &Path) -> Option<(u32, u32)> {
        let found = Beneath::find(&self.root, path)?;
        let Some(name) = &found.name else {
            return Some(self.base);
        };
        let mut inner = self.lock();
        if let Some(owner) = inner.files.get(path) {
            return Some(*owner);
        }
        let owner = match inner.writers.as_slice() {
            [only] => *only,
            // Several writer identities: the noted creator (see the module doc).
            _ => match self.creators.as_ref().and_then(|c| c.take(identity_beneath(&found.parent, name)?)) {
                Some(creator) => creator,
                None => return Some(self.base),
            },
        };
        inner.files.insert(path.to_owned(), owner);
        drop(inner);
        apply_beneath(&found.parent, name, owner);
        Some(owner)
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

/// As [`apply_on_host`], for the entry `name` of the directory `parent`.
#[cfg(unix)]
fn apply_beneath(parent: &std::fs::File, name: &std::ffi::OsStr, owner: (u32, u32)) {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::AsRawFd;
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let Ok(name) = std::ffi::CString::new(name.as_bytes()) else { return };
    // SAFETY: the descriptor is open for the duration of the call and
    // `name` is a NUL-terminated string. Best effort, as above.
    let _ = unsafe { libc::fchownat(parent.as_raw_fd(), name.as_ptr(), owner.0, owner.1, libc::AT_SYMLINK_NOFOLLOW) };
}

#[cfg(not(unix))]
fn apply_beneath(_parent: &std::fs::File, _name: &std::ffi::OsStr, _owner: (u32, u32)) {}

/// The identity of the entry `name` of `parent` (not following a link).
fn identity_beneath(parent: &std::fs::File, name: &std::ffi::OsStr) -> Option<FileId> {
    use cap_fs_ext::OpenOptionsFollowExt;
    let mut options = cap_primitives::fs::OpenOptions::new();
    options.read(true).follow(cap_primitives::fs::FollowSymlinks::No);
    let file = cap_primitives::fs::open(parent, Path::new(name), &options).ok()?;
    super::memory_files::file_id(&file)
}

/// A file found beneath a book's root without leaving it.
struct Beneath {
    /// The directory holding the file, opened beneath the root.
    parent: std::fs::File,
    /// The file's name in `parent` (not followed if it is a link); none:
    /// the root itself.
    name: Option<OsString>,
}

impl Beneath {
    /// Finds `path` (a host path beneath `root`, lexically normalized), or
    /// None when it is not beneath `root`, does not exist, or is reached
    /// only through a link leading out of `root`.
    fn find(root: &Path, path: &Path) -> Option<Self> {
        // Mount paths of subPaths are canonical (see `volume::path`).
        let rel = match path.strip_prefix(root) {
            Ok(rel) => rel.to_owned(),
            Err(_) => path.strip_prefix(root.canonicalize().ok()?).ok()?.to_owned(),
        };
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let root = cap_primitives::fs::open_ambient_dir(root, cap_primitives::ambient_authority()).ok()?;
        let Some(name) = rel.file_name() else {
            return Some(Self { parent: root, name: None });
        };
        let parent = match rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(dir) => cap_primitives::fs::open_dir(&root, dir).ok()?,
            None => root,
        };
        cap_primitives::fs::stat(&parent, Path::new(name), cap_primitives::fs::FollowSymlinks::No).ok()?;
        Some(Self { parent, name: Some(name.to_owned()) })
    }
}

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

    #[test]
    fn with_writers_of_two_identities_a_noted_creator_owns_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let creators = Arc::new(Creators::default());
        let book = OwnerBook::with_creators(dir.path().to_owned(), (0, 231), creators.clone());
        book.add_writer((42, 231));
        assert!(!creators.needed(), "one identity: nothing to note");
        book.add_writer((7, 231));
        assert!(creators.needed());
        std::fs::write(dir.path().join("by-7"), b"x").unwrap();
        std::fs::write(dir.path().join("unknown"), b"x").unwrap();
        let id = crate::volume::file_id(&std::fs::File::open(dir.path().join("by-7")).unwrap()).unwrap();
        creators.created(id, (7, 231));
        assert_eq!(book.owner(&dir.path().join("by-7")), Some((7, 231)));
        // Kept by path once told, and forgotten by identity.
        assert_eq!(book.owner(&dir.path().join("by-7")), Some((7, 231)));
        assert!(creators.files.lock().unwrap().is_empty());
        assert_eq!(book.owner(&dir.path().join("unknown")), Some((0, 231)));
    }

    #[cfg(unix)]
    #[test]
    fn links_are_followed_only_while_they_stay_beneath_the_root() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("host.txt"), b"x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("vol");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/f"), b"x").unwrap();
        let book = OwnerBook::new(root.clone(), (0, 231));
        book.add_writer((42, 231));
        // A link to the host and one climbing out: nothing behind them exists.
        std::os::unix::fs::symlink(outside.path(), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../".repeat(16), root.join("up")).unwrap();
        assert_eq!(book.owner(&root.join("abs/host.txt")), None);
        let through_up = root.join("up").join(outside.path().strip_prefix("/").unwrap()).join("host.txt");
        assert!(std::fs::symlink_metadata(&through_up).is_ok(), "the host itself follows the link");
        assert_eq!(book.owner(&through_up), None);
        // The links themselves are files of the volume; a link inside works.
        assert_eq!(book.owner(&root.join("abs")), Some((42, 231)));
        std::os::unix::fs::symlink("sub", root.join("inner")).unwrap();
        assert_eq!(book.owner(&root.join("inner/f")), Some((42, 231)));
        assert_eq!(book.owner(&root.join("sub/../sub/f")), None, "paths come normalized");
    }
}
