//! emptyDir `sizeLimit`: usage measured periodically, and the eviction
//! message the kubelet's eviction manager gives when a volume is over.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How often usage is measured by default: 10s, the kubelet eviction
/// manager's housekeeping interval (`--housekeeping-interval`).
pub const DEFAULT_USAGE_INTERVAL: Duration = Duration::from_secs(10);

/// One emptyDir volume with a `sizeLimit`.
#[derive(Debug, Clone)]
pub(crate) struct SizeLimit {
    pub volume: String,
    pub path: PathBuf,
    pub bytes: u64,
    /// The limit as written, canonical (`1Gi`), for the message.
    pub text: String,
}

impl SizeLimit {
    /// The kubelet's message (`emptyDirMessageFmt`), trailing space included.
    pub fn eviction_message(&self) -> String {
        format!("Usage of EmptyDir volume \"{}\" exceeds the limit \"{}\". ", self.volume, self.text)
    }
}

/// Bytes used under `dir`: the apparent size of every file, links not
/// followed (a link counts as its own length). Apparent sizes are the same
/// on every platform; they over-count sparse files, which only evicts
/// earlier. Entries that vanish while walking are skipped.
pub(crate) fn usage(dir: &Path) -> u64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else { continue };
            if m.is_dir() {
                stack.push(e.path());
            } else {
                total = total.saturating_add(m.len());
            }
        }
    }
    total
}

/// A task that measures the pod's limited volumes every `every` and sends
/// the eviction message of the first one found over its limit, then ends.
/// Aborted when dropped.
pub(crate) struct SizeWatch {
    rx: mpsc::Receiver<String>,
    task: JoinHandle<()>,
}

impl SizeWatch {
    /// `None` when no volume has a limit.
    pub fn spawn(limits: Vec<SizeLimit>, every: Duration) -> Option<Self> {
        if limits.is_empty() {
            return None;
        }
        let (tx, rx) = mpsc::channel(1);
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let limits = limits.clone();
                // Walking a directory blocks; keep it off the async workers.
                let over = tokio::task::spawn_blocking(move || limits.into_iter().find(|l| usage(&l.path) > l.bytes)).await;
                if let Ok(Some(limit)) = over {
                    let _ = tx.send(limit.eviction_message()).await;
                    return;
                }
            }
        });
        Some(Self { rx, task })
    }

    /// The eviction message, once a volume is over its limit.
    pub async fn over_limit(&mut self) -> Option<String> {
        self.rx.recv().await
    }
}

impl Drop for SizeWatch {
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
        let limit = SizeLimit { volume: "v".into(), path: dir.path().to_owned(), bytes: 10, text: "10".into() };
        let mut watch = SizeWatch::spawn(vec![limit], Duration::from_secs(5)).unwrap();
        // At the limit is not over it.
        std::fs::write(dir.path().join("f"), vec![0u8; 10]).unwrap();
        tokio::select! {
            _ = watch.over_limit() => panic!("evicted at the limit"),
            _ = tokio::time::sleep(Duration::from_secs(12)) => {}
        }
        std::fs::write(dir.path().join("g"), [0u8]).unwrap();
        assert_eq!(watch.over_limit().await.unwrap(), "Usage of EmptyDir volume \"v\" exceeds the limit \"10\". ");
    }
}
