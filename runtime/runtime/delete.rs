//! Deleting a pod: stop it if this process runs it, then remove its
//! record, logs and volumes.

use k8s_openapi::api::core::v1::Pod;

use super::{Error, Runtime};

impl Runtime {
    /// Deletes the pod: a running pod of this process is stopped as
    /// [`crate::PodHandle::stop`] describes (preStop, stop request, kill at
    /// the end of `grace_period_seconds`, else the pod's
    /// `terminationGracePeriodSeconds`), and its record, logs and volumes
    /// are removed once it ended; an ended pod's are removed now.
    /// Returns the object as it was when deletion began (with
    /// `deletionTimestamp` for a running pod).
    /// [`Error::RunningElsewhere`] when another process runs it.
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
            self.registry().add_removal(tokio::spawn(async move {
                while status.changed().await.is_ok() {}
                // The pod ended and released its lock; nothing to report
                // to if removal fails: the record stays and is listed.
                let _ = view.remove_record(&ns, &n);
            }));
            return Ok(pod);
        }
        view.remove_record(namespace, name)
    }
}
