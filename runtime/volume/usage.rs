//! Local storage limits, measured periodically, and the eviction the
//! kubelet's eviction manager makes when one is exceeded. Its checks, in
//! its order (`localStorageEviction`): an emptyDir over its `sizeLimit`,
//! the pod over the sum of its containers' `limits.ephemeral-storage`, a
//! container over its own `limits.ephemeral-storage`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often usage is measured by default: 10s, the kubelet eviction
/// manager's housekeeping interval (`--housekeeping-interval`).
pub const DEFAULT_USAGE_INTERVAL: Duration = Duration::from_secs(10);

/// What a limit bounds, which decides its eviction message.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Bounds {
    /// An emptyDir volume, by name (`sizeLimit`).
    EmptyDir(String),
    /// The pod's local ephemeral storage: its containers' writable roots
    /// and logs, its emptyDir volumes on disk and its configMap volumes.
    Pod,
    /// One container's writable root and logs, by container name.
    Container(String),
}

/// A limit on the bytes under some directories.
#[derive(Debug, Clone)]
pub(crate) struct StorageLimit {
    bounds: Bounds,
    pub(super) dirs: Vec<PathBuf>,
    pub(super) bytes: u64,
    /// The limit as Kubernetes shows it (`1Gi`), for the message.
    text: String,
}

impl StorageLimit {
    /// An emptyDir's `sizeLimit`.
    pub fn empty_dir(volume: &str, dir: PathBuf, bytes: u64, text: String) -> Self {
        Self { bounds: Bounds::EmptyDir(volume.to_owned()), dirs: vec![dir], bytes, text }
    }

    /// The pod's total: the sum of its containers' limits, over `dirs`.
    pub fn pod(dirs: Vec<PathBuf>, bytes: u64, text: String) -> Self {
        Self { bounds: Bounds::Pod, dirs, bytes, text }
    }

    /// One container's `limits.ephemeral-storage`, over its root and logs.
    pub fn container(name: &str, dirs: Vec<PathBuf>, bytes: u64, text: String) -> Self {
        Self { bounds: Bounds::Container(name.to_owned()), dirs, bytes, text }
    }

    /// The kubelet's messages (`emptyDirMessageFmt`,
    /// `podEphemeralStorageMessageFmt`, `containerEphemeralStorageMessageFmt`),
    /// trailing space included.
    pub fn eviction_message(&self) -> String {
        match &self.bounds {
            Bounds::EmptyDir(volume) => format!("Usage of EmptyDir volume \"{volume}\" exceeds the limit \"{}\". ", self.text),
            Bounds::Pod => format!("Pod ephemeral local storage usage exceeds the total limit of containers {}. ", self.text),
            Bounds::Container(name) => format!("Container {name} exceeded its local ephemeral storage limit \"{}\". ", self.text),
        }
    }
}

/// Bytes used under `dir`: the apparent size of every file, links not
/// followed (a link counts as its own length). Apparent sizes are the same
/// on every platform; they over-count sparse files, which only evicts
/// earlier.
pub(crate) fn usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    for_each_entry(dir, |_, meta| total = total.saturating_add(meta.len()));
    total
}

/// Calls `f` with every entry beneath `dir` that is not a directory (files,
/// links, others), walking without following links. Entries that vanish
/// while walking are skipped.
pub(crate) fn for_each_entry(dir: &Path, mut f: impl FnMut(&Path, &std::fs::Metadata)) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = path.symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(path);
            } else {
                f(&path, &meta);
            }
        }
    }
}

/// The first of `limits` (in order) whose directories hold more than it
/// allows. Each directory is measured once, though several limits count
/// it (a container's root counts for the container and for the pod).
fn first_over(limits: &[StorageLimit]) -> Option<&StorageLimit> {
    let mut measured: HashMap<&Path, u64> = HashMap::new();
    limits.iter().find(|l| {
        let used = l.dirs.iter().map(|d| *measured.entry(d).or_insert_with(|| usage(d))).fold(0, u64::saturating_add);
        used > l.bytes
    })
}

/// A task that measures the pod's limits every `every` and sends the
/// eviction message of the first one found over (in the order given),
/// then ends. Aborted when dropped.
pub(crate) struct StorageWatch {
    rx: mpsc::Receiver<String>,
    task: JoinHandle<()>,
}

impl StorageWatch {
    /// `None` when there is no limit.
    pub fn spawn(limits: Vec<StorageLimit>, every: Duration) -> Option<Self> {
        if limits.is_empty() {
            return None;
        }
        let limits: std::sync::Arc<[StorageLimit]> = limits.into();
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let limits = limits.clone();
                // Walking a directory blocks; keep it off the async workers.
                let over = tokio::task::spawn_blocking(move || first_over(&limits).map(StorageLimit::eviction_message)).await;
                if let Ok(Some(message)) = over {
                    let _ = tx.send(message).await;
                    return;
                }
            }
        });
        Some(Self { rx, task })
    }

    /// The eviction message, once something is over its limit.
    pub async fn over_limit(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for StorageWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 100]).unwrap();
        std::fs::write(dir.path().join("d/b"), vec![0u8; 28]).unwrap();
        assert_eq!(usage(dir.path()), 128);
    }

    #[tokio::test(start_paused = true)]
    async fn a_volume_over_its_limit_is_reported_on_the_next_measurement() {
        let dir = tempfile::tempdir().unwrap();
        let limit = StorageLimit::empty_dir("v", dir.path().to_owned(), 10, "10".into());
        let mut watch = StorageWatch::spawn(vec![limit], Duration::from_secs(5)).unwrap();
        // At the limit is not over it.
        std::fs::write(dir.path().join("f"), vec![0u8; 10]).unwrap();
        tokio::select! {
            _ = watch.over_limit() => panic!("evicted at the limit"),
            _ = tokio::time::sleep(Duration::from_secs(12)) => {}
        }
        std::fs::write(dir.path().join("g"), [0u8]).unwrap();
        assert_eq!(watch.over_limit().await.unwrap(), "Usage of EmptyDir volume \"v\" exceeds the limit \"10\". ");
    }

    #[tokio::test(start_paused = true)]
    async fn limits_are_checked_in_order_and_a_container_counts_its_root_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let (root, logs, volume) = (dir.path().join("root"), dir.path().join("logs"), dir.path().join("v"));
        for d in [&root, &logs, &volume] {
            std::fs::create_dir(d).unwrap();
        }
        let limits = vec![
            StorageLimit::empty_dir("v", volume.clone(), 1000, "1k".into()),
            StorageLimit::pod(vec![root.clone(), logs.clone(), volume.clone()], 300, "300".into()),
            StorageLimit::container("app", vec![root.clone(), logs.clone()], 100, "100".into()),
        ];
        // 60 + 50 bytes: the container's 100 is exceeded, the pod's 300 not.
        std::fs::write(root.join("f"), vec![0u8; 60]).unwrap();
        std::fs::write(logs.join("0.log"), vec![0u8; 50]).unwrap();
        let mut watch = StorageWatch::spawn(limits.clone(), Duration::from_secs(1)).unwrap();
        assert_eq!(watch.over_limit().await.unwrap(), "Container app exceeded its local ephemeral storage limit \"100\". ");
        // Over both the pod's and the container's: the pod's comes first.
        std::fs::write(volume.join("g"), vec![0u8; 200]).unwrap();
        let mut watch = StorageWatch::spawn(limits, Duration::from_secs(1)).unwrap();
        assert_eq!(watch.over_limit().await.unwrap(), "Pod ephemeral local storage usage exceeds the total limit of containers 300. ");
    }
}
