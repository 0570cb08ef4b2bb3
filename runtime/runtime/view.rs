//! What one process sees of the pods of a state directory: its own
//! running pods live, the rest from their records.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, Pod};

use super::Error;
use super::registry::PodRegistry;
use crate::pod::phase::PodPhase;
use crate::pod::recorded_phase;
use crate::store::{StateDir, StoreError};

/// A cheap, cloneable view of the pods of one state directory as one
/// process sees them: its own running pods live, the rest from records.
/// Spawned tasks (watches, log follows) hold one.
#[derive(Clone)]
pub(crate) struct PodView {
    pub state: StateDir,
    pub registry: Arc<PodRegistry>,
}

impl PodView {
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, Error> {
        if let Some(r) = self.registry.get(namespace, name).filter(|r| r.running()) {
            let mut pod = r.status.borrow().clone();
            pod.metadata.resource_version = Some(r.version().to_string());
            return Ok(pod);
        }
        let not_found = || Error::NotFound { namespace: namespace.to_owned(), name: name.to_owned() };
        let dir = self.state.pod(namespace, name);
        if !dir.has_record() {
            return Err(not_found());
        }
        let mut pod = match dir.read_record() {
            Ok(p) => p,
            // Deleted between the check and the read.
            Err(StoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => return Err(not_found()),
            Err(e) => return Err(e.into()),
        };
        // The record is written on every change and its final version is
        // terminal; a non-terminal record nobody holds the lock of belongs
        // to a runtime process that died: its state is unknown.
        let terminal = recorded_phase(&pod).is_some_and(PodPhase::is_terminal);
        if !terminal && !dir.is_locked() {
            let status = pod.status.get_or_insert_with(Default::default);
            status.phase = Some(PodPhase::Unknown.as_str().into());
            let pid = dir.holder_pid().map(|p| format!(" (pid {p})")).unwrap_or_default();
            status.message = Some(format!("the wasmpod process that ran this pod{pid} ended without stopping it"));
            // Its sandbox went with the process, as the kubelet reports a
            // pod whose sandbox is gone.
            for c in status.conditions.iter_mut().flatten().filter(|c| c.type_ == crate::pod::conditions::POD_READY_TO_START_CONTAINERS) {
                c.status = "False".into();
            }
        }
        pod.metadata.resource_version = Some(self.registry.version_of(namespace, name).to_string());
        Ok(pod)
    }

    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, Error> {
        let mut out = Vec::new();
        for dir in self.state.list_in(namespace)? {
            let (ns, name) = dir.key();
            match self.get(ns, name) {
                Ok(p) => out.push(p),
                Err(Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Events of the pod, oldest first (repeats aggregated).
    pub fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, Error> {
        let dir = self.state.pod(namespace, name);
        if !dir.has_record() {
            return Err(Error::NotFound { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        Ok(dir.events().read()?)
    }

    /// Changes the record of a pod no process runs (an update of an
    /// ended pod); [`Error::RunningElsewhere`] when one does.
    pub fn update_record(&self, namespace: &str, name: &str, change: impl FnOnce(&mut Pod)) -> Result<Pod, Error> {
        let (dir, _lock) = self.idle_record(namespace, name)?;
        let mut pod = dir.read_record()?;
        change(&mut pod);
        dir.write_record(&pod)?;
        self.registry.record_changed(namespace, name);
        pod.metadata.resource_version = Some(self.registry.version_of(namespace, name).to_string());
        Ok(pod)
    }

    /// The directory of a pod with a record that no process runs, locked
    /// (no process starts it while the lock is held).
    fn idle_record(&self, namespace: &str, name: &str) -> Result<(crate::store::PodDir, crate::store::PodLock), Error> {
        let dir = self.state.pod(namespace, name);
        if !dir.has_record() {
            return Err(Error::NotFound { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        match dir.lock() {
            Ok(lock) => Ok((dir, lock)),
            Err(StoreError::AlreadyRunning { .. }) => {
                Err(Error::RunningElsewhere { namespace: namespace.to_owned(), name: name.to_owned(), pid: dir.holder_pid() })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes a pod that no process runs.
    pub fn remove_record(&self, namespace: &str, name: &str) -> Result<Pod, Error> {
        let (dir, lock) = self.idle_record(namespace, name)?;
        let pod = dir.read_record()?;
        dir.remove(lock)?;
        self.registry.deleted(pod.clone());
        Ok(pod)
    }
}
