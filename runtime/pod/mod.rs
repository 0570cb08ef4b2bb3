//! Pod lifecycle: starting a pod, the supervisor that owns its status,
//! the per-container workers, and the pure functions they are built on
//! (phase, conditions, back-off).

mod allocatable;
mod attach;
pub mod backoff;
pub mod conditions;
mod container;
mod dns;
mod etc_files;
mod events;
mod exec;
mod hooks;
mod instance;
mod kind;
mod lifecycle;
pub mod phase;
mod pull;
mod qos;
mod restart;
mod service_env;
mod start;
mod supervisor;
mod termination_message;
mod warnings;

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use tokio::sync::watch;

pub use crate::sandbox::{EXIT_KILLED, EXIT_TERMINATED, EXIT_TRAPPED};
pub(crate) use allocatable::Allocatable;
pub use attach::StdinWriter;
pub(crate) use dns::DnsHost;
pub(crate) use events::{EventRecorder, PodEvent};
pub(crate) use exec::default_container;
pub use exec::{ContainerUsage, ExecError, ExecOutcome, ExecOutput, ExecRequest};
pub(crate) use pull::{ImagePuller, RegistryImage};
pub(crate) use start::{PodContext, start};
pub use warnings::unimplemented_fields;

use crate::image::Image;
use crate::store::StoreError;

/// Resolves when a stop is requested. A closed channel (every handle and
/// stopper dropped) is not a request: the pod keeps running, as documented
/// on [`PodHandle`].
pub(crate) async fn stop_requested(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The current time as a Kubernetes timestamp.
pub(crate) fn now() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now())
}

/// A container state `Waiting` with `reason`.
pub(crate) fn waiting_state(reason: &str, message: Option<String>) -> k8s_openapi::api::core::v1::ContainerState {
    k8s_openapi::api::core::v1::ContainerState {
        waiting: Some(k8s_openapi::api::core::v1::ContainerStateWaiting { reason: Some(reason.into()), message }),
        ..Default::default()
    }
}

/// The status of a container no worker runs (not created yet, blocked, or
/// lost): name, image and state only.
pub(crate) fn bare_status(name: &str, image: &str, state: k8s_openapi::api::core::v1::ContainerState) -> k8s_openapi::api::core::v1::ContainerStatus {
    k8s_openapi::api::core::v1::ContainerStatus { name: name.to_owned(), image: image.to_owned(), state: Some(state), ..Default::default() }
}

/// The phase recorded in `pod`'s status; `None` when unset or unknown text.
pub(crate) fn recorded_phase(pod: &Pod) -> Option<phase::PodPhase> {
    pod.status.as_ref()?.phase.as_deref()?.parse().ok()
}

/// The ConfigMaps and Secrets loaded with a pod, owned by the pod's task,
/// which resolves its containers' env from them.
#[derive(Debug, Default)]
pub(crate) struct EnvObjects {
    pub config_maps: Vec<k8s_openapi::api::core::v1::ConfigMap>,
    pub secrets: Vec<k8s_openapi::api::core::v1::Secret>,
}

impl EnvObjects {
    pub(crate) fn sources(&self) -> crate::manifest::EnvSources<'_> {
        crate::manifest::EnvSources { config_maps: &self.config_maps, secrets: &self.secrets }
    }
}

/// A container's image as the pod starts: a local one resolved and
/// loaded (compiled or from a cache), or a registry one its container
/// pulls at each start.
pub(crate) enum PlannedImage {
    Local { image: Image, loaded: crate::sandbox::Loaded },
    Registry(pull::RegistryImage),
}

/// A pod ready to start: its (defaulted, validated) object, the loaded
/// image of each container by container name, and the ConfigMaps and
/// Secrets its environment may refer to.
pub struct PodPlan {
    pub(crate) pod: Pod,
    pub(crate) images: HashMap<String, PlannedImage>,
    pub(crate) objects: std::sync::Arc<EnvObjects>,
    pub(crate) resume: Option<Resume>,
}

/// What a pod started again keeps of its earlier run (see
/// [`PodPlan::resume_from`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Resume {
    pub pod_ip: Option<std::net::Ipv4Addr>,
    pub start_time: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    /// Each container's restart count for this run.
    pub restarts: HashMap<String, i32>,
}

impl PodPlan {
    /// The pod as it will be started.
    pub fn pod(&self) -> &Pod {
        &self.pod
    }

    /// Starts the pod as the continuation of an earlier run whose last
    /// status was `status` (a node agent started again finds the pods the
    /// cluster bound to it): the same pod IP when it is free and in the
    /// pod range, the same `startTime`, and each container that had run
    /// restarted once more (its instance went with the earlier process),
    /// as a kubelet that comes back finds containers that died meanwhile.
    pub fn resume_from(&mut self, status: &k8s_openapi::api::core::v1::PodStatus) {
        let statuses = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
        let restarts = statuses
            .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some() || st.terminated.is_some()) || s.restart_count > 0)
            .map(|s| (s.name.clone(), s.restart_count.saturating_add(1)))
            .collect();
        self.resume = Some(Resume { pod_ip: status.pod_ip.as_deref().and_then(|ip| ip.parse().ok()), start_time: status.start_time.clone(), restarts });
    }
}

/// A running pod. Dropping the handle does not stop the pod; call
/// [`PodHandle::stop`] and [`PodHandle::wait`].
pub struct PodHandle {
    pub(crate) namespace: String,
    pub(crate) name: String,
    pub(crate) status: watch::Receiver<Pod>,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<(Pod, Vec<StoreError>)>,
    pub(crate) network: std::sync::Arc<crate::net::PodNetwork>,
    pub(crate) host_network: bool,
    pub(crate) exec_targets: exec::ExecTargets,
    pub(crate) grace: GraceOverride,
    pub(crate) engine: std::sync::Arc<crate::sandbox::Engine>,
    pub(crate) ipc: std::sync::Arc<crate::ipc::IpcNamespace>,
    pub(crate) updates: tokio::sync::mpsc::UnboundedSender<PodUpdate>,
}

/// Copies what an update may change from `new` into `record`: a running
/// pod's supervisor and an ended pod's record take the same fields.
pub(crate) fn take_updatable(record: &mut Pod, new: &Pod) {
    record.metadata.labels = new.metadata.labels.clone();
    record.metadata.annotations = new.metadata.annotations.clone();
    record.metadata.owner_references = new.metadata.owner_references.clone();
    record.metadata.managed_fields = new.metadata.managed_fields.clone();
    if let (Some(spec), Some(new)) = (record.spec.as_mut(), new.spec.as_ref()) {
        spec.active_deadline_seconds = new.active_deadline_seconds;
        spec.tolerations = new.tolerations.clone();
        spec.termination_grace_period_seconds = new.termination_grace_period_seconds;
        let images: Vec<(String, Option<String>)> =
            new.init_containers.iter().flatten().chain(&new.containers).map(|c| (c.name.clone(), c.image.clone())).collect();
        for c in spec.init_containers.iter_mut().flatten().chain(spec.containers.iter_mut()) {
            if let Some((_, image)) = images.iter().find(|(n, _)| *n == c.name) {
                c.image = image.clone();
            }
        }
    }
}

/// An update of a running pod, for its supervisor: the new object (its
/// changes already checked by the runtime's `replace`), and where the
/// pod as published after it goes.
pub(crate) struct PodUpdate {
    pub pod: Pod,
    /// The containers with a new image, resolved: each is restarted
    /// with it.
    pub images: Vec<NewImage>,
    pub done: tokio::sync::oneshot::Sender<Pod>,
}

/// A container's new image: as written, and resolved.
pub(crate) struct NewImage {
    pub container: String,
    pub written: String,
    pub planned: PlannedImage,
}

/// Stops a pod; see [`PodHandle::stop`].
#[derive(Clone)]
pub struct PodStopper(watch::Sender<bool>, GraceOverride);

/// A grace period set by whoever stops the pod (`delete --grace-period`, an
/// eviction), overriding the pod's `terminationGracePeriodSeconds`;
/// negative: none.
#[derive(Clone)]
pub(crate) struct GraceOverride(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl Default for GraceOverride {
    fn default() -> Self {
        Self(std::sync::Arc::new(std::sync::atomic::AtomicI64::new(-1)))
    }
}

impl GraceOverride {
    pub(crate) fn set(&self, seconds: u64) {
        self.0.store(i64::try_from(seconds).unwrap_or(i64::MAX), std::sync::atomic::Ordering::SeqCst);
    }

    /// The grace period to use: the override, else `default`.
    pub(crate) fn get(&self, default: std::time::Duration) -> std::time::Duration {
        match self.0.load(std::sync::atomic::Ordering::SeqCst) {
            s if s >= 0 => std::time::Duration::from_secs(s as u64),
            _ => default,
        }
    }
}

impl PodStopper {
    /// See [`PodHandle::stop`].
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// See [`PodHandle::stop_with_grace`].
    pub fn stop_with_grace(&self, grace: std::time::Duration) {
        self.1.set(grace.as_secs());
        self.0.send_replace(true);
    }
}

/// How a pod ended.
#[non_exhaustive]
pub struct PodOutcome {
    /// The final Pod object, status included.
    pub pod: Pod,
    /// State-directory writes that failed while it ran (the pod itself ran
    /// on; its on-disk record may be behind).
    pub store_errors: Vec<StoreError>,
}

impl PodOutcome {
    /// The final phase.
    pub fn phase(&self) -> phase::PodPhase {
        recorded_phase(&self.pod).unwrap_or(phase::PodPhase::Unknown)
    }
}

/// Exec into and connect to a running pod, cloneable apart from its
/// [`PodHandle`].
#[derive(Clone)]
pub(crate) struct PodAccess {
    status: watch::Receiver<Pod>,
    stop: watch::Receiver<bool>,
    network: std::sync::Arc<crate::net::PodNetwork>,
    host_network: bool,
    exec_targets: exec::ExecTargets,
    engine: std::sync::Arc<crate::sandbox::Engine>,
    ipc: std::sync::Arc<crate::ipc::IpcNamespace>,
    updates: tokio::sync::mpsc::UnboundedSender<PodUpdate>,
}

impl PodAccess {
    /// What each of the pod's started containers used so far.
    pub(crate) fn usage(&self) -> Vec<exec::ContainerUsage> {
        self.exec_targets.usage()
    }

    /// Applies what an update may change in a running pod (labels,
    /// annotations, `activeDeadlineSeconds`, tolerations,
    /// `terminationGracePeriodSeconds`) from `pod`, whose changes the
    /// caller checked; the pod as published after it, or `None` when the
    /// pod's task has ended.
    pub(crate) async fn update(&self, pod: Pod, images: Vec<NewImage>) -> Option<Pod> {
        let (done, rx) = tokio::sync::oneshot::channel();
        self.updates.send(PodUpdate { pod, images, done }).ok()?;
        rx.await.ok()
    }

    /// The pod's IPC objects now.
    pub(crate) fn ipc_objects(&self) -> Vec<crate::ipc::IpcObject> {
        self.ipc.objects()
    }

    /// The stdin of container `container` (`stdin: true`), for attach.
    pub(crate) fn stdin(&self, container: &str) -> Option<std::sync::Arc<attach::StdinHub>> {
        self.exec_targets.stdin(container)
    }

    /// The pod as it is now.
    pub(crate) fn pod(&self) -> Pod {
        self.status.borrow().clone()
    }

    /// See [`PodHandle::exec`].
    pub(crate) async fn exec(&self, request: ExecRequest) -> Result<ExecOutcome, ExecError> {
        let pod = self.status.borrow().clone();
        exec::exec(&self.engine, &pod, &self.exec_targets, self.stop.clone(), request).await
    }

    /// See [`PodHandle::connect`].
    pub(crate) fn connect(&self, port: u16) -> Result<crate::net::Connection, crate::net::NetError> {
        if self.host_network {
            return Err(crate::net::NetError::HostNetwork);
        }
        crate::net::connect_loopback(&self.network, port)
    }
}

impl PodHandle {
    /// The pod's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The pod's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest Pod object.
    pub fn current(&self) -> Pod {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn watch(&self) -> watch::Receiver<Pod> {
        self.status.clone()
    }

    /// Asks the pod to stop (deletion), as the kubelet stops a pod: each
    /// running container's preStop hook, then a stop request its guest can
    /// observe (`wasmpod:lifecycle/stop`; a guest that does not handle
    /// requests ends at once with exit code 143, as a process dies of
    /// SIGTERM), then a hard kill (137) when the pod's
    /// `terminationGracePeriodSeconds` (default 30) run out. The pod ends
    /// Succeeded or Failed as Kubernetes decides for a deleted pod.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// [`PodHandle::stop`] with this grace period instead of the pod's
    /// (`delete --grace-period`); zero kills at once (137).
    pub fn stop_with_grace(&self, grace: std::time::Duration) {
        self.grace.set(grace.as_secs());
        self.stop.send_replace(true);
    }

    /// Runs a command in one of the pod's running containers (a fresh
    /// instance of its image with its env, mounts and network; see
    /// [`ExecRequest`]) and waits for it to end.
    pub async fn exec(&self, request: ExecRequest) -> Result<ExecOutcome, ExecError> {
        self.access().exec(request).await
    }

    /// What exec and port-forward need, detached from the handle (for the
    /// API's registry).
    pub(crate) fn access(&self) -> PodAccess {
        PodAccess {
            status: self.status.clone(),
            stop: self.stop.subscribe(),
            network: self.network.clone(),
            host_network: self.host_network,
            exec_targets: self.exec_targets.clone(),
            engine: self.engine.clone(),
            ipc: self.ipc.clone(),
            updates: self.updates.clone(),
        }
    }

    /// The pod's IP (`status.podIP`): on the pod network, or the host's
    /// loopback for a `hostNetwork` pod.
    pub fn pod_ip(&self) -> std::net::Ipv4Addr {
        if self.host_network { std::net::Ipv4Addr::LOCALHOST } else { self.network.ip() }
    }

    /// Opens a connection to `port` on the pod's localhost from outside the
    /// pod (port-forward): the pod sees it coming from its loopback. IPv4
    /// first, then IPv6, as kubectl's port-forward tries both.
    pub fn connect(&self, port: u16) -> Result<crate::net::Connection, crate::net::NetError> {
        self.access().connect(port)
    }

    /// Forwards every connection accepted on `listener` (a host socket the
    /// caller bound, normally on loopback) to `port` in the pod, until the
    /// listener fails or the returned future is dropped. `report` hears of
    /// each connection, as kubectl prints `Handling connection for 8080`.
    pub fn port_forward(
        &self,
        listener: tokio::net::TcpListener,
        port: u16,
        report: std::sync::Arc<dyn Fn(crate::net::ForwardEvent) + Send + Sync>,
    ) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
        crate::net::serve_forward(listener, self.network.clone(), self.name.clone(), port, report)
    }

    /// The pod's IPC namespace: its message queues and shared segments
    /// with their sizes and depths (what `describe pod` lists). The view
    /// outlives the handle; once the pod ended it is empty.
    pub fn ipc(&self) -> crate::ipc::PodIpc {
        crate::ipc::PodIpc(self.ipc.clone())
    }

    /// The pod's IPC objects now; shorthand for `ipc().objects()`.
    pub fn ipc_objects(&self) -> Vec<crate::ipc::IpcObject> {
        self.ipc.objects()
    }

    /// A handle that can stop the pod from elsewhere (a Ctrl-C handler).
    pub fn stopper(&self) -> PodStopper {
        PodStopper(self.stop.clone(), self.grace.clone())
    }

    /// Waits until the pod ended (terminal phase, or stopped).
    pub async fn wait(self) -> PodOutcome {
        match self.task.await {
            Ok((pod, store_errors)) => PodOutcome { pod, store_errors },
            // The supervisor task panicked: a runtime bug. Report the last
            // published status with phase Unknown rather than crashing.
            Err(_) => {
                let mut pod = self.status.borrow().clone();
                if let Some(st) = pod.status.as_mut() {
                    st.phase = Some("Unknown".into());
                }
                PodOutcome { pod, store_errors: Vec::new() }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_closed_stop_channel_is_not_a_stop_request() {
        let (tx, mut rx) = watch::channel(false);
        drop(tx);
        let r = tokio::time::timeout(std::time::Duration::from_millis(50), stop_requested(&mut rx)).await;
        assert!(r.is_err(), "stop_requested resolved on a closed channel");
        let (tx, mut rx) = watch::channel(false);
        tx.send_replace(true);
        stop_requested(&mut rx).await;
    }
}
