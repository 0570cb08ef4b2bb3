//! On-disk state: pod records, events, logs and container root directories.
//!
//! ```text
//! <state-dir>/
//!   cache/compiled/<sha256>-<engine>.cwasm    compiled images
//!   pods/<namespace>/<name>/
//!     pod.json                               the Pod object with its status
//!     events.jsonl                           core/v1 Events, one per line
//!     lock                                   the token and pid of the process running the pod
//!   run/<token>.lock                         held by each live runtime process
//!   run/claims.lock                          held while a pod is claimed or released
//!     logs/<container>/<restartCount>.log    CRI-format container logs
//!     rootfs/<container>/                    each container's writable `/`
//! ```
//!
//! Records are replaced with write-to-temp, fsync, rename, so a crash or
//! kill leaves the previous or the new record, never a torn one. Each
//! status change is in place when `write_record` returns; the fsync is done
//! in the background by one thread (`writer.rs`), once per burst of
//! changes, and the last is flushed before the pod counts as ended. Logs and
//! events are appended line by line; a torn last line is skipped on read.

mod atomic;
pub mod blobs;
mod events;
mod lock;
mod logs;
mod objects;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

pub(crate) use atomic::replace as replace_file;
pub use atomic::write_atomic;
pub use events::EventLog;
pub use lock::PodLock;
pub use logs::{ContainerLog, LogRotation, LogTap, Stream, remove_log, rotated_files};

/// The environment variable naming the state directory.
pub const STATE_DIR_ENV: &str = "WASMPOD_STATE_DIR";

/// Errors of the state directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{action} {path}")]
    Io {
        /// What was being done ("cannot write", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A record is not valid JSON for its type.
    #[error("pod record {path} is corrupt")]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// Another process runs this pod.
    #[error("pod \"{namespace}/{name}\" is already running from state directory {state_dir}{holder}")]
    AlreadyRunning {
        /// Pod namespace.
        namespace: String,
        /// Pod name.
        name: String,
        /// The state directory.
        state_dir: PathBuf,
        /// ` (pid N)` when known.
        holder: String,
    },
    /// No per-user directory could be found and none was given.
    #[error("no state directory: pass --state-dir or set {STATE_DIR_ENV}")]
    NoDefault,
}

pub(crate) fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io { action, path: path.to_owned(), source }
}

/// The state directory of one runtime installation.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
    shared: Arc<Shared>,
}

/// What one opened state directory keeps for all its pods: the record
/// writer and this runtime's claim on pods. Dropped with the last
/// `StateDir` and `PodDir` made from it, which writes every record
/// durably and releases the claim.
#[derive(Debug, Default)]
struct Shared {
    writer: writer::RecordWriter,
    claim: lock::ProcessClaim,
}

impl StateDir {
    /// Picks the directory: `flag`, else `$WASMPOD_STATE_DIR`, else the
    /// per-user default (`$XDG_STATE_HOME/wasmpod` or
    /// `~/.local/state/wasmpod` on Linux, `~/Library/Application
    /// Support/wasmpod` on macOS, `%LOCALAPPDATA%\\wasmpod\\data` on Windows).
    pub fn locate(flag: Option<&Path>) -> Result<PathBuf, StoreError> {
        if let Some(p) = flag {
            return Ok(p.to_owned());
        }
        if let Some(p) = std::env::var_os(STATE_DIR_ENV).filter(|p| !p.is_empty()) {
            return Ok(PathBuf::from(p));
        }
        let dirs = directories::ProjectDirs::from("", "", "wasmpod").ok_or(StoreError::NoDefault)?;
        Ok(dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir()).to_owned())
    }

    /// Opens (creating if needed) the state directory at `root`, private to
    /// the current user.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        #[cfg(unix)]
        let created = !root.exists();
        std::fs::create_dir_all(root.join("pods")).map_err(io_err("cannot create", root))?;
        // Private to the user, but only a directory wasmpod created: a
        // `--state-dir .` must not change the mode of the user's directory.
        #[cfg(unix)]
        if created {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o700)).map_err(io_err("cannot restrict permissions of", root))?;
        }
        Ok(Self { root: root.to_owned(), shared: Arc::default() })
    }

    /// The root path.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where compiled images are cached.
    pub fn compile_cache(&self) -> PathBuf {
        self.root.join("cache").join("compiled")
    }

    /// Waits until every submitted record of every pod is on disk, durably.
    pub fn flush_records(&self) {
        self.shared.writer.flush_all();
    }

    /// The directory of pod `namespace/name` (not created).
    pub fn pod(&self, namespace: &str, name: &str) -> PodDir {
        PodDir {
            state_dir: self.root.clone(),
            shared: self.shared.clone(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            path: self.root.join("pods").join(namespace).join(name),
        }
    }

    /// Every pod record in the state directory, sorted by namespace and name.
    pub fn list(&self) -> Result<Vec<PodDir>, StoreError> {
        self.list_in(None)
    }

    /// The pod records of `namespace` (every namespace: `None`), sorted by
    /// namespace and name; only that namespace's directory is read.
    pub fn list_in(&self, namespace: Option<&str>) -> Result<Vec<PodDir>, StoreError> {
        let mut out = Vec::new();
        let pods = self.root.join("pods");
        let namespaces = match namespace {
            // A namespace is a DNS label; anything else (`..`, a slash)
            // names no directory of ours and has no pods.
            Some(ns) if ns.is_empty() || ns.len() > 63 || !ns.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') => {
                return Ok(Vec::new());
            }
            Some(ns) => vec![ns.to_owned()],
            None => read_dir_names(&pods)?,
        };
        for ns in namespaces {
            for name in read_dir_names(&pods.join(&ns))? {
                let dir = self.pod(&ns, &name);
                if dir.record_path().exists() {
                    out.push(dir);
                }
            }
        }
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::Io { action: "cannot list", path: dir.to_owned(), source: e }),
    };
    Ok(entries.filter_map(|e| e.ok()).filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false)).filter_map(|e| e.file_name().into_string().ok()).collect())
}

/// The on-disk home of one pod.
#[derive(Debug, Clone)]
pub struct PodDir {
    state_dir: PathBuf,
    shared: Arc<Shared>,
    namespace: String,
    name: String,
    path: PathBuf,
}

impl PodDir {
    /// Namespace and name.
    pub fn key(&self) -> (&str, &str) {
        (&self.namespace, &self.name)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn record_path(&self) -> PathBuf {
        self.path.join("pod.json")
    }

    /// Where runtime processes keep their locks (see `lock.rs`).
    fn run_dir(&self) -> PathBuf {
        self.state_dir.join("run")
    }

    /// Takes the pod's lock, creating the directory; fails with
    /// [`StoreError::AlreadyRunning`] when another process holds it.
    pub fn lock(&self) -> Result<PodLock, StoreError> {
        std::fs::create_dir_all(&self.path).map_err(io_err("cannot create", &self.path))?;
        PodLock::acquire(&self.path.join("lock"), &self.run_dir(), &self.shared.claim).map_err(|e| match e {
            lock::LockError::Held { holder } => StoreError::AlreadyRunning {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
                state_dir: self.state_dir.clone(),
                holder: holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(),
            },
            lock::LockError::Io(source) => StoreError::Io { action: "cannot lock", path: self.path.join("lock"), source },
        })
    }

    /// Whether the pod has a record.
    pub fn has_record(&self) -> bool {
        self.record_path().exists()
    }

    /// The pid written beside the lock by its last holder (meaningful
    /// while [`PodDir::is_locked`] is true).
    pub fn holder_pid(&self) -> Option<u32> {
        lock::claimant_pid(&self.path.join("lock"))
    }

    /// Removes the pod's directory (the pod was deleted). The caller's
    /// claim keeps another process from starting the pod meanwhile;
    /// releasing it removes the `lock` file.
    pub fn remove(&self, lock: PodLock) -> Result<(), StoreError> {
        self.clear()?;
        drop(lock);
        // A new run of the same name may have taken the lock in between:
        // then the directory is not empty and stays.
        let _ = std::fs::remove_dir(&self.path);
        Ok(())
    }

    /// Whether some process holds the pod's lock right now.
    pub fn is_locked(&self) -> bool {
        PodLock::is_held(&self.path.join("lock"), &self.run_dir())
    }

    /// Replaces the record before returning: in place once this returns,
    /// whatever happens to the process. The fsync that makes it survive a
    /// power loss as well follows in the background (the writer rewrites
    /// it durably, one write per burst of changes), so a status change
    /// never waits on the disk.
    pub fn write_record(&self, pod: &Pod) -> Result<(), StoreError> {
        let path = self.record_path();
        let json = serde_json::to_vec_pretty(pod).expect("a Pod always serializes");
        self.shared.writer.replace_now(&path, json).map_err(io_err("cannot write", &path))
    }

    /// Queues the record to be replaced by the writer thread within a few
    /// milliseconds (no fsync: safe against the process dying) and
    /// rewritten durably once changes settle; see `writer.rs`.
    pub fn submit_record(&self, pod: &Pod) {
        self.shared.writer.submit(&self.record_path(), serde_json::to_vec_pretty(pod).expect("a Pod always serializes"));
    }

    /// Reads the record.
    pub fn read_record(&self) -> Result<Pod, StoreError> {
        let path = self.record_path();
        let bytes = std::fs::read(&path).map_err(io_err("cannot read", &path))?;
        serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt { path, source })
    }

    /// The pod's event log.
    pub fn events(&self) -> EventLog {
        EventLog::new(self.path.join("events.jsonl"))
    }

    /// The writable root directory of `container` (not created).
    pub fn rootfs(&self, container: &str) -> PathBuf {
        self.path.join("rootfs").join(container)
    }

    /// The directory of `container`'s log files.
    pub fn log_dir(&self, container: &str) -> PathBuf {
        self.path.join("logs").join(container)
    }

    /// The log file of `container`'s instance number `restart`.
    pub fn log_path(&self, container: &str, restart: i32) -> PathBuf {
        self.log_dir(container).join(format!("{restart}.log"))
    }

    /// Removes every container's root directory (the pod stopped running).
    pub fn remove_rootfs(&self) -> Result<(), StoreError> {
        let dir = self.path.join("rootfs");
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { action: "cannot remove", path: dir, source }),
        }
    }

    /// Removes the pod's record, logs and everything else but the lock
    /// (held by the caller), to start a new pod of the same name. The
    /// events and the record go last: when something cannot be removed (on
    /// Windows, a file another task still has open), the pod stays listed
    /// with its events, and a later removal finishes the job.
    pub fn clear(&self) -> Result<(), StoreError> {
        self.shared.writer.forget(&self.path);
        let last = ["events.jsonl", "pod.json"];
        let mut entries: Vec<_> = std::fs::read_dir(&self.path)
            .map_err(io_err("cannot list", &self.path))?
            .flatten()
            .filter(|e| e.file_name() != "lock" && !last.iter().any(|l| e.file_name() == *l))
            .map(|e| e.path())
            .collect();
        entries.extend(last.iter().map(|l| self.path.join(l)));
        for p in entries {
            let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            match r {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(StoreError::Io { action: "cannot remove", path: p, source: e }),
                _ => {}
            }
        }
        Ok(())
    }
}
