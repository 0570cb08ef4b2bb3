//! The pods one runtime process runs, by namespace and name.
//!
//! The registry holds for each pod what the API needs without reaching
//! into the supervisor: the status watch (its sender closes when the pod
//! task ends), a stopper, and the object as it was submitted (apply
//! compares a new manifest against it). A generation counter is bumped
//! on every change of any pod, so watchers wake without polling; the
//! generation of a pod's last change is its `resourceVersion`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

use crate::pod::{PodHandle, PodStopper};

pub(crate) type Key = (String, String);

#[derive(Clone)]
pub(crate) struct Registered {
    /// The pod as submitted (defaulted and validated), before the runtime
    /// filled in uid, nodeName and status.
    pub submitted: Pod,
    pub status: watch::Receiver<Pod>,
    pub stopper: PodStopper,
    /// Exec and port-forward into the pod.
    pub access: crate::pod::PodAccess,
    /// The generation of the pod's last change: its `resourceVersion`.
    version: std::sync::Arc<AtomicU64>,
}

impl Registered {
    /// Whether the pod's task still runs (its status sender is alive).
    pub fn running(&self) -> bool {
        self.status.has_changed().is_ok()
    }

    /// The pod's `resourceVersion`.
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

pub(crate) struct PodRegistry {
    pods: Mutex<HashMap<Key, Registered>>,
    /// Deleted pods whose records are removed once they ended; awaited by
    /// [`crate::Runtime::settle`] so a process never exits before.
    removals: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    generation: watch::Sender<u64>,
    /// Recent deletions: (generation after it, the pod's last state).
    deleted: Mutex<std::collections::VecDeque<(u64, Pod)>>,
    /// The `resourceVersion` of pods this process does not run: the
    /// generation of their last update here, else of when it first saw
    /// their record.
    records: Mutex<HashMap<Key, u64>>,
}

/// How many deletions a watch can replay.
const KEPT_DELETIONS: usize = 1024;

impl PodRegistry {
    pub fn new() -> Self {
        Self {
            pods: Mutex::new(HashMap::new()),
            removals: Mutex::new(Vec::new()),
            generation: watch::channel(0).0,
            deleted: Mutex::new(std::collections::VecDeque::new()),
            records: Mutex::new(HashMap::new()),
        }
    }

    fn pods(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Registered>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a started pod and follows its status changes. Must be
    /// called within a tokio runtime.
    pub fn insert(self: &std::sync::Arc<Self>, submitted: Pod, handle: &PodHandle) {
        let key = (handle.namespace().to_owned(), handle.name().to_owned());
        let version = std::sync::Arc::new(AtomicU64::new(0));
        let entry = Registered { submitted, status: handle.watch(), stopper: handle.stopper(), access: handle.access(), version: version.clone() };
        let mut changes = handle.watch();
        self.pods().insert(key, entry);
        version.store(self.next_version(), Ordering::Release);
        let me = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            // Ends with the pod's task (the sender closes); the last bump
            // tells watchers the record on disk is now final.
            loop {
                let alive = changes.changed().await.is_ok();
                let Some(reg) = me.upgrade() else { return };
                version.store(reg.next_version(), Ordering::Release);
                if !alive {
                    return;
                }
            }
        });
    }

    /// Every pod this process runs or ran and has not removed.
    pub fn all(&self) -> Vec<Registered> {
        self.pods().values().cloned().collect()
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Registered> {
        self.pods().get(&(namespace.to_owned(), name.to_owned())).cloned()
    }

    /// Replaces the submitted object of a pod (an update; the pod's
    /// status change that follows gives it a new version).
    pub fn set_submitted(&self, namespace: &str, name: &str, pod: Pod) {
        if let Some(r) = self.pods().get_mut(&(namespace.to_owned(), name.to_owned())) {
            r.submitted = pod;
        }
    }

    /// The `resourceVersion` of pod `namespace/name`, which this process
    /// runs or ran, else whose record it read.
    pub fn version_of(&self, namespace: &str, name: &str) -> u64 {
        let key = (namespace.to_owned(), name.to_owned());
        if let Some(r) = self.pods().get(&key) {
            return r.version();
        }
        *self.records.lock().unwrap_or_else(|p| p.into_inner()).entry(key).or_insert_with(|| self.generation())
    }

    /// A record of a pod this process does not run changed.
    pub fn record_changed(&self, namespace: &str, name: &str) {
        let v = self.next_version();
        let key = (namespace.to_owned(), name.to_owned());
        // An ended pod this process ran keeps its entry.
        if let Some(r) = self.pods().get(&key) {
            r.version.store(v, Ordering::Release);
            return;
        }
        self.records.lock().unwrap_or_else(|p| p.into_inner()).insert(key, v);
    }

    /// Keeps a record-removal task until [`PodRegistry::settle`].
    pub fn add_removal(&self, task: tokio::task::JoinHandle<()>) {
        self.removals.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }

    /// Waits for every pending record removal.
    pub async fn settle(&self) {
        let tasks = std::mem::take(&mut *self.removals.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Every pod this process still runs.
    pub fn running(&self) -> Vec<(Key, Registered)> {
        self.pods().iter().filter(|(_, r)| r.running()).map(|(k, r)| (k.clone(), r.clone())).collect()
    }

    pub fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Bumps the generation and returns it: the `resourceVersion` of an
    /// object written now (objects and pods share one counter).
    pub fn next_version(&self) -> u64 {
        let mut v = 0;
        self.generation.send_modify(|g| {
            *g = g.wrapping_add(1);
            v = *g;
        });
        v
    }

    /// Moves the generation up to `v` (restored objects keep theirs).
    pub fn advance_to(&self, v: u64) {
        self.generation.send_if_modified(|g| {
            let later = *g < v;
            if later {
                *g = v;
            }
            later
        });
    }

    /// The generation now: the `resourceVersion` of a list, from which a
    /// watch replays the deletions it would otherwise miss.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    /// A pod's record was removed (its last state `pod`): it leaves the
    /// registry, and the deletion is kept for watches that start from an
    /// earlier generation (the newest [`KEPT_DELETIONS`]).
    pub fn deleted(&self, mut pod: Pod) {
        let key = (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
        self.pods().remove(&key);
        self.records.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        let mut log = self.deleted.lock().unwrap_or_else(|p| p.into_inner());
        let version = self.next_version();
        pod.metadata.resource_version = Some(version.to_string());
        log.push_back((version, pod));
        while log.len() > KEPT_DELETIONS {
            log.pop_front();
        }
    }

    /// The last state of pod `namespace/name` when its record was
    /// removed, if that is among the kept deletions.
    pub fn last_deleted(&self, namespace: &str, name: &str) -> Option<Pod> {
        let log = self.deleted.lock().unwrap_or_else(|p| p.into_inner());
        let is = |p: &Pod| p.metadata.namespace.as_deref() == Some(namespace) && p.metadata.name.as_deref() == Some(name);
        log.iter().rev().find(|(_, p)| is(p)).map(|(_, p)| p.clone())
    }

    /// The pods deleted after generation `since`, oldest first.
    pub fn deleted_since(&self, since: u64) -> Vec<Pod> {
        self.deleted.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|(g, _)| *g > since).map(|(_, p)| p.clone()).collect()
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_after_a_generation_are_replayed_and_the_oldest_forgotten() {
        let reg = PodRegistry::new();
        let pod = |name: &str| {
            let mut p = Pod::default();
            p.metadata.name = Some(name.into());
            p.metadata.namespace = Some("default".into());
            p
        };
        reg.deleted(pod("a"));
        let listed = reg.generation();
        reg.deleted(pod("b"));
        let names: Vec<String> = reg.deleted_since(listed).iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(names, ["b"], "only what was deleted after the list");
        assert_eq!(reg.last_deleted("default", "b").and_then(|p| p.metadata.name), Some("b".into()));
        assert!(reg.last_deleted("other", "b").is_none());
        for i in 0..KEPT_DELETIONS + 5 {
            reg.deleted(pod(&format!("p{i}")));
        }
        assert_eq!(reg.deleted_since(0).len(), KEPT_DELETIONS);
    }
}
