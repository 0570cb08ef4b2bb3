//! Deleting a pod: stop it if this process runs it, then remove its
//! record, logs and volumes.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::view::PodView;
use super::{Error, Runtime};
use crate::pod::{EventRecorder, PodEvent};
use crate::store::LogTap;

/// The reason of the Warning event recorded when a deleted pod ended but
/// its files could not be removed; `wasmpod delete` looks for it.
pub const FAILED_DELETE: &str = "FailedDelete";

/// How long the removal of an ended pod's files is retried. A task that
/// still reads them lets go within its poll (a log follower notices the
/// end in 100 ms), and Windows refuses to remove an open file.
const REMOVAL_PATIENCE: Duration = Duration::from_secs(10);

impl Runtime {
    /// Deletes the pod: a running pod of this process is stopped as
    /// [`crate::PodHandle::stop`] describes (preStop, stop request, kill at
    /// the end of `grace_period_seconds`, else the pod's
    /// `terminationGracePeriodSeconds`), and its record, logs and volumes
    /// are removed once it ended; an ended pod's are removed now.
    /// Returns the object as it was when deletion began (with
    /// `deletionTimestamp` for a running pod).
    /// [`Error::RunningElsewhere`] when another process runs it.
    ///
    /// When a stopped pod's files cannot be removed for 10 seconds, its
    /// record stays, listed, with a Warning event of reason
    /// [`FAILED_DELETE`] that names the file and the error; deleting it
    /// again retries.
    pub fn delete(&self, namespace: &str, name: &str, grace_period_seconds: Option<i64>) -> Result<Pod, Error> {
        if let Some(g) = grace_period_seconds.filter(|g| *g < 0) {
            return Err(Error::BadRequest(format!("gracePeriodSeconds: Invalid value: {g}: must be greater than or equal to 0")));
        }
        let view = self.view();
        if let Some(r) = self.registry().get(namespace, name).filter(|r| r.running()) {
            let mut pod = r.status.borrow().clone();
            let grace = grace_period_seconds.or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds)).unwrap_or(30);
            match grace_period_seconds {
                Some(g) => r.stopper.stop_with_grace(std::time::Duration::from_secs(g as u64)),
                None => r.stopper.stop(),
            }
            pod.metadata.deletion_timestamp.get_or_insert_with(crate::pod::now);
            pod.metadata.deletion_grace_period_seconds = Some(grace);
            let (ns, n) = (namespace.to_owned(), name.to_owned());
            let mut status = r.status.clone();
            let (tap, node) = (self.tap.clone(), self.node_name.clone());
            self.registry().add_removal(tokio::spawn(async move {
                while status.changed().await.is_ok() {}
                // The pod ended and released its lock.
                let remove = || view.remove_record(&ns, &n);
                remove_ended(&view, &ns, &n, tap.as_deref(), &node, remove).await;
            }));
            return Ok(pod);
        }
        view.remove_record(namespace, name)
    }
}

/// Removes an ended pod's files with `remove`, retrying for
/// [`REMOVAL_PATIENCE`]; then reports the failure as a Warning event on
/// the pod (nobody waits on this task's result: the deleting client
/// watches the pod and its events).
async fn remove_ended(view: &PodView, namespace: &str, name: &str, tap: Option<&dyn LogTap>, node: &str, mut remove: impl FnMut() -> Result<Pod, Error>) {
    let deadline = tokio::time::Instant::now() + REMOVAL_PATIENCE;
    let mut pause = Duration::from_millis(20);
    let error = loop {
        match remove() {
            // Gone, or taken by a new pod of the same name.
            Ok(_) | Err(Error::NotFound { .. } | Error::RunningElsewhere { .. }) => return,
            Err(e) if tokio::time::Instant::now() + pause > deadline => break e,
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    };
    let dir = view.state.pod(namespace, name);
    let Ok(pod) = dir.read_record() else { return };
    let existing = dir.events().read().unwrap_or_default();
    let message = format!("the pod ended but its files could not be removed: {error}; delete the pod again to retry");
    let event = EventRecorder::after(&pod, node, &existing).record(PodEvent::warning(FAILED_DELETE, None, message), crate::pod::now());
    if let Some(tap) = tap {
        tap.event(&event);
    }
    let _ = dir.events().append(&event);
    view.registry.bump();
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn pod_with_record(dir: &std::path::Path) -> (PodView, crate::store::PodDir) {
        let state = crate::store::StateDir::open(dir).unwrap();
        let view = PodView { state: state.clone(), registry: Arc::new(super::super::registry::PodRegistry::new()) };
        let pod_dir = state.pod("default", "p");
        let lock = pod_dir.lock().unwrap();
        let mut pod = Pod::default();
        pod.metadata.name = Some("p".into());
        pod.metadata.namespace = Some("default".into());
        pod_dir.write_record(&pod).unwrap();
        drop(lock);
        (view, pod_dir)
    }

    fn refused() -> Error {
        let source = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "in use");
        Error::Store(crate::store::StoreError::Io { action: "cannot remove", path: "rootfs/c/f".into(), source })
    }

    #[tokio::test(start_paused = true)]
    async fn files_that_stay_get_a_warning_and_the_record_stays() {
        let dir = tempfile::tempdir().unwrap();
        let (view, pod_dir) = pod_with_record(dir.path());
        let mut tries = 0;
        remove_ended(&view, "default", "p", None, "node", || {
            tries += 1;
            Err(refused())
        })
        .await;
        assert!(tries > 3, "retried: {tries}");
        assert!(pod_dir.has_record(), "the record stays");
        let events = pod_dir.events().read().unwrap();
        let warning = events.iter().find(|e| e.reason.as_deref() == Some(FAILED_DELETE)).expect("a FailedDelete event");
        assert!(warning.message.as_deref().unwrap().contains("cannot remove rootfs/c/f"), "{warning:?}");
        assert_eq!(warning.type_.as_deref(), Some("Warning"));
        // Deleting again removes what is left.
        view.remove_record("default", "p").unwrap();
        assert!(!pod_dir.path().exists());
    }

    #[tokio::test(start_paused = true)]
    async fn files_held_for_a_moment_are_removed_without_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let (view, pod_dir) = pod_with_record(dir.path());
        let mut tries = 0;
        remove_ended(&view, "default", "p", None, "node", || {
            tries += 1;
            if tries < 4 { Err(refused()) } else { view.remove_record("default", "p") }
        })
        .await;
        assert_eq!(tries, 4);
        assert!(!pod_dir.path().exists());
    }
}
