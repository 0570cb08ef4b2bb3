//! Creating pods: plan every one, then start them all or none.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;

use super::{Error, Runtime};
use crate::manifest::Manifests;

/// Rewrites relative `.wasm`/`.wat` image paths of `pod` to absolute
/// paths under `base_dir`, so a pod submitted to a runtime process with
/// another working directory finds the same files.
pub fn absolute_image_paths(pod: &mut Pod, base_dir: &Path) {
    let Some(spec) = pod.spec.as_mut() else { return };
    let containers = spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten());
    for c in containers {
        let Some(image) = c.image.as_mut() else { continue };
        let is_file = (image.ends_with(".wasm") || image.ends_with(".wat")) && !image.starts_with("builtin:") && !image.starts_with("file://");
        if is_file && Path::new(image.as_str()).is_relative() {
            let abs = std::path::absolute(base_dir.join(image.as_str())).unwrap_or_else(|_| base_dir.join(image.as_str()));
            *image = abs.display().to_string();
        }
    }
}

impl Runtime {
    /// Plans and starts every pod of `manifests` (image paths relative to
    /// `base_dir`); all or nothing: if one cannot start, those started are
    /// stopped. A name that has a record already (running or ended) is
    /// [`Error::AlreadyExists`]. Returns the pods as first recorded.
    pub async fn create(&self, manifests: &Manifests, base_dir: &Path) -> Result<Vec<Pod>, Error> {
        self.create_resumed(manifests, base_dir, None).await
    }

    /// [`Runtime::create`], each pod started as the continuation of an
    /// earlier run whose last status was `earlier` (see
    /// [`crate::PodPlan::resume_from`]): a node agent started again runs
    /// the pods the cluster bound to it with their IPs, start times and
    /// restart counts.
    pub async fn create_resumed(
        &self,
        manifests: &Manifests,
        base_dir: &Path,
        earlier: Option<&k8s_openapi::api::core::v1::PodStatus>,
    ) -> Result<Vec<Pod>, Error> {
        for pod in &manifests.pods {
            let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let name = pod.metadata.name.clone().unwrap_or_default();
            if self.state().pod(&ns, &name).has_record() {
                return Err(Error::AlreadyExists { namespace: ns, name });
            }
            self.open_namespace(&ns)?;
        }
        let mut plans = self.plan(manifests, base_dir).await?;
        if let Some(status) = earlier {
            plans.iter_mut().for_each(|p| p.resume_from(status));
        }
        let started = self.start_all(plans).await?;
        Ok(started.iter().map(|h| h.current()).collect())
    }

    /// Starts every pod of `plans`, all or nothing: if one cannot start,
    /// those already started are stopped (and awaited) and its error is
    /// returned.
    pub async fn start_all(&self, plans: Vec<crate::PodPlan>) -> Result<Vec<crate::PodHandle>, Error> {
        let mut started = Vec::new();
        for plan in plans {
            match self.start(plan) {
                Ok(h) => started.push(h),
                Err(e) => {
                    for h in &started {
                        h.stop();
                    }
                    for h in started {
                        h.wait().await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(started)
    }
}
