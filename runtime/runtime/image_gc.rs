//! Image garbage collection over this runtime's pods: an image is in use
//! while a pod of the state directory names it (a pod of this process or
//! of another sharing the directory, running or finished but not yet
//! deleted), as the kubelet keeps the images of the containers it still
//! has. The decision itself is the registry's (`registry/gc.rs`).

use std::collections::HashSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use super::{Error, Runtime};
use crate::registry::{ImageGcPolicy, ImageGcReport, ImageReference};

/// A periodic image collection ([`Runtime::spawn_image_gc`]); dropping it
/// stops it.
pub struct ImageGcTask(tokio::task::JoinHandle<()>);

impl Drop for ImageGcTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Runtime {
    /// One image garbage collection under `policy`: if the disk holding the
    /// image store is used at or above the high threshold, removes the
    /// images no pod names, least recently used first, until it is back
    /// at the low threshold. The report says what was freed; its
    /// [`ImageGcReport::shortfall`] whether that was enough.
    pub async fn collect_images(&self, policy: &ImageGcPolicy) -> Result<ImageGcReport, Error> {
        collect(self.puller.clone(), self.view(), *policy).await
    }

    /// Collects images now and then every `policy.period`, as the kubelet
    /// does every 5 minutes, passing each outcome to `report`. Call it
    /// inside a tokio runtime; the collection stops when the task is
    /// dropped. A disabled policy (high threshold 100) still runs no
    /// collection.
    pub fn spawn_image_gc(&self, policy: ImageGcPolicy, report: impl Fn(Result<ImageGcReport, Error>) + Send + Sync + 'static) -> ImageGcTask {
        let (puller, view) = (self.puller.clone(), self.view());
        ImageGcTask(tokio::spawn(async move {
            if policy.disabled() {
                return;
            }
            let mut tick = tokio::time::interval(policy.period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                report(collect(puller.clone(), view.clone(), policy).await);
            }
        }))
    }
}

async fn collect(puller: Arc<crate::pod::ImagePuller>, view: super::PodView, policy: ImageGcPolicy) -> Result<ImageGcReport, Error> {
    tokio::task::spawn_blocking(move || {
        let pods = view.list(None)?;
        let in_use: HashSet<String> = pods.iter().flat_map(images).filter_map(|i| ImageReference::parse(i).ok()).map(|r| r.normalized()).collect();
        Ok(puller.collect(&policy, &in_use)?)
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// The images a pod's containers name.
fn images(pod: &Pod) -> impl Iterator<Item = &str> {
    let spec = pod.spec.as_ref();
    let init = spec.into_iter().flat_map(|s| s.init_containers.iter().flatten()).filter_map(|c| c.image.as_deref());
    let main = spec.into_iter().flat_map(|s| s.containers.iter()).filter_map(|c| c.image.as_deref());
    let ephemeral = spec.into_iter().flat_map(|s| s.ephemeral_containers.iter().flatten()).filter_map(|c| c.image.as_deref());
    init.chain(main).chain(ephemeral)
}
