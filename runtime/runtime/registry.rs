//! The pods one runtime process runs, by namespace and name.
//!
//! The registry holds for each pod what the API needs without reaching
//! into the supervisor: the status watch (its sender closes when the pod
//! task ends), a stopper, and the object as it was submitted (apply
//! compares a new manifest against it). A generation counter is bumped
//! on every change of any pod, so watchers wake without polling.

use std::collections::HashMap;
use std::sync::Mutex;

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
}

impl Registered {
    /// Whether the pod's task still runs (its status sender is alive).
    pub fn running(&self) -> bool {
        self.status.has_changed().is_ok()
    }
}

pub(crate) struct PodRegistry {
    pods: Mutex<HashMap<Key, Registered>>,
    /// Deleted pods whose records are removed once they ended; awaited by
    /// [`crate::Runtime::settle`] so a process never exits before.
    removals: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    generation: watch::Sender<u64>,
}

impl PodRegistry {
    pub fn new() -> Self {
        Self { pods: Mutex::new(HashMap::new()), removals: Mutex::new(Vec::new()), generation: watch::channel(0).0 }
    }

    fn pods(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Registered>> {
        self.pods.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a started pod and follows its status changes. Must be
    /// called within a tokio runtime.
    pub fn insert(self: &std::sync::Arc<Self>, submitted: Pod, handle: &PodHandle) {
        let key = (handle.namespace().to_owned(), handle.name().to_owned());
        let entry = Registered { submitted, status: handle.watch(), stopper: handle.stopper(), access: handle.access() };
        let mut changes = handle.watch();
        self.pods().insert(key, entry);
        self.bump();
        let me = std::sync::Arc::downgrade(self);
        tokio::spawn(async move {
            // Ends with the pod's task (the sender closes); the last bump
            // tells watchers the record on disk is now final.
            loop {
                let alive = changes.changed().await.is_ok();
                let Some(reg) = me.upgrade() else { return };
                reg.bump();
                if !alive {
                    return;
                }
            }
        });
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<Registered> {
        self.pods().get(&(namespace.to_owned(), name.to_owned())).cloned()
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

    pub fn remove(&self, namespace: &str, name: &str) {
        self.pods().remove(&(namespace.to_owned(), name.to_owned()));
        self.bump();
    }

    /// Every pod this process still runs.
    pub fn running(&self) -> Vec<(Key, Registered)> {
        self.pods().iter().filter(|(_, r)| r.running()).map(|(k, r)| (k.clone(), r.clone())).collect()
    }

    pub fn bump(&self) {
        self.generation.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.generation.subscribe()
    }
}
