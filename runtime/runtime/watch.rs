//! Watching pods: snapshots of the state directory diffed into
//! Kubernetes watch events.
//!
//! A snapshot is taken whenever a pod of this process changes (the
//! registry's generation counter) and every [`RESCAN`] for pods other
//! processes run, whose records are the only thing this process sees.
//! Changes between two snapshots are coalesced into one MODIFIED, which
//! Kubernetes watchers tolerate (they only rely on the latest object).

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::view::PodView;

/// How often records written by other processes are re-read. A second
/// keeps `get -w` responsive without reading every record constantly.
const RESCAN: Duration = Duration::from_secs(1);

/// Events buffered for a slow reader before the watch task waits for it.
const BUFFER: usize = 64;

/// The kind of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WatchEventType {
    /// The pod appeared (or existed when the watch began).
    Added,
    /// The pod changed.
    Modified,
    /// The pod was deleted; the object is its last state.
    Deleted,
}

/// One line of a watch stream: `{"type":"ADDED","object":{...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// ADDED, MODIFIED or DELETED.
    #[serde(rename = "type")]
    pub kind: WatchEventType,
    /// The pod.
    pub object: Pod,
}

/// A stream of [`WatchEvent`]s; dropping it ends the watch.
pub struct PodWatch {
    /// Events; `None` marks the end of the first snapshot's ADDED events.
    rx: mpsc::Receiver<Option<WatchEvent>>,
}

impl PodWatch {
    pub(crate) fn start(view: PodView, namespace: Option<String>, name: Option<String>, since: Option<u64>) -> Self {
        let (tx, rx) = mpsc::channel(BUFFER);
        tokio::spawn(async move {
            let mut since = since;
            let mut synced = false;
            let mut changes = view.registry.changes();
            let mut seen: BTreeMap<(String, String), Pod> = BTreeMap::new();
            let mut tick = tokio::time::interval(RESCAN);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                changes.borrow_and_update();
                // A state directory that cannot be read gives no events
                // this round; the next one tries again.
                if let Ok(pods) = view.list(namespace.as_deref()) {
                    let mut now: BTreeMap<(String, String), Pod> = BTreeMap::new();
                    for p in pods {
                        let key = (p.metadata.namespace.clone().unwrap_or_default(), p.metadata.name.clone().unwrap_or_default());
                        if name.as_ref().is_none_or(|n| *n == key.1) {
                            now.insert(key, p);
                        }
                    }
                    for (key, pod) in &now {
                        let kind = match seen.get(key) {
                            None => Some(WatchEventType::Added),
                            Some(old) if old != pod => Some(WatchEventType::Modified),
                            Some(_) => None,
                        };
                        if let Some(kind) = kind
                            && tx.send(Some(WatchEvent { kind, object: pod.clone() })).await.is_err()
                        {
                            return;
                        }
                    }
                    for (key, pod) in &seen {
                        if now.contains_key(key) {
                            continue;
                        }
                        // A DELETED event carries the pod's last state, as
                        // its record had it when removed (the snapshot
                        // before may predate its stop).
                        let last = view.registry.last_deleted(&key.0, &key.1).filter(|p| p.metadata.uid == pod.metadata.uid).unwrap_or_else(|| pod.clone());
                        if tx.send(Some(WatchEvent { kind: WatchEventType::Deleted, object: last })).await.is_err() {
                            return;
                        }
                    }
                    // A watch from a list's resourceVersion: the pods
                    // deleted since that list, which this snapshot no
                    // longer has, are DELETED (a client's cache holds them).
                    if let Some(since) = since.take() {
                        for pod in view.registry.deleted_since(since) {
                            let key = (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default());
                            let wanted = namespace.as_ref().is_none_or(|n| *n == key.0) && name.as_ref().is_none_or(|n| *n == key.1);
                            if wanted && !now.contains_key(&key) && tx.send(Some(WatchEvent { kind: WatchEventType::Deleted, object: pod })).await.is_err() {
                                return;
                            }
                        }
                    }
                    if !std::mem::replace(&mut synced, true) && tx.send(None).await.is_err() {
                        return;
                    }
                    seen = now;
                }
                tokio::select! {
                    r = changes.changed() => if r.is_err() { return },
                    _ = tick.tick() => {}
                    _ = tx.closed() => return,
                }
            }
        });
        Self { rx }
    }

    /// The next event; `None` when the watch ended.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        loop {
            if let Some(ev) = self.rx.recv().await? {
                return Some(ev);
            }
        }
    }

    /// The next event, or `Some(None)` once after the events of the pods
    /// that existed when the watch began (`sendInitialEvents`' marker);
    /// `None` when the watch ended.
    pub(crate) async fn next_or_synced(&mut self) -> Option<Option<WatchEvent>> {
        self.rx.recv().await
    }
}

impl super::Runtime {
    /// Watches the pods of `namespace` (all when `None`), or the one named
    /// `name`: first an ADDED event per existing pod, then ADDED,
    /// MODIFIED and DELETED as they change.
    pub fn watch(&self, namespace: Option<&str>, name: Option<&str>) -> PodWatch {
        PodWatch::start(self.view(), namespace.map(str::to_owned), name.map(str::to_owned), None)
    }

    /// [`Runtime::watch`](Self::watch) from a list's resourceVersion
    /// ([`Runtime::resource_version`](Self::resource_version)): pods this process deleted since
    /// then are DELETED too, after the first events, so a client whose
    /// cache has them sees them go.
    pub fn watch_since(&self, namespace: Option<&str>, name: Option<&str>, resource_version: u64) -> PodWatch {
        PodWatch::start(self.view(), namespace.map(str::to_owned), name.map(str::to_owned), Some(resource_version))
    }

    /// The resourceVersion of a pod list taken now: this process's change
    /// counter (pods of other processes are seen through their records).
    pub fn resource_version(&self) -> u64 {
        self.registry.generation()
    }

    /// A receiver woken at every change of a pod of this process or of an
    /// object (the resourceVersion counter).
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.registry.changes()
    }
}
