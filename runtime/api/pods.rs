//! The pod operations of [`Runtime`]: the library API the control API
//! server, the CLI and embedders share.

use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Event, Pod};

use super::logs::{LogOptions, LogStream};
use super::registry::PodRegistry;
use super::update::check_update;
use super::watch::PodWatch;
use super::ApiError;
use crate::manifest::Manifests;
use crate::pod::phase::PodPhase;
use crate::pod::recorded_phase;
use crate::runtime::Runtime;
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
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, ApiError> {
        if let Some(r) = self.registry.get(namespace, name).filter(|r| r.running()) {
            return Ok(r.status.borrow().clone());
        }
        let not_found = || ApiError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() };
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
        }
        Ok(pod)
    }

    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, ApiError> {
        let mut out = Vec::new();
        for dir in self.state.list()? {
            let (ns, name) = dir.key();
            if namespace.is_some_and(|n| n != ns) {
                continue;
            }
            match self.get(ns, name) {
                Ok(p) => out.push(p),
                Err(ApiError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes a pod that no process runs.
    fn remove_record(&self, namespace: &str, name: &str) -> Result<Pod, ApiError> {
        let dir = self.state.pod(namespace, name);
        if !dir.has_record() {
            return Err(ApiError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        let lock = match dir.lock() {
            Ok(l) => l,
            Err(StoreError::AlreadyRunning { .. }) => {
                return Err(ApiError::RunningElsewhere { namespace: namespace.to_owned(), name: name.to_owned(), pid: dir.holder_pid() });
            }
            Err(e) => return Err(e.into()),
        };
        let pod = dir.read_record()?;
        dir.remove(lock)?;
        self.registry.remove(namespace, name);
        Ok(pod)
    }
}

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

/// The pod operations, as the Kubernetes API offers them.
impl Runtime {
    pub(crate) fn view(&self) -> PodView {
        PodView { state: self.state().clone(), registry: self.registry().clone() }
    }

    /// Plans and starts every pod of `manifests` (image paths relative to
    /// `base_dir`); all or nothing: if one cannot start, those started are
    /// stopped. A name that has a record already (running or ended) is
    /// [`ApiError::AlreadyExists`]. Returns the pods as first recorded.
    pub async fn create(&self, manifests: &Manifests, base_dir: &Path) -> Result<Vec<Pod>, ApiError> {
        for pod in &manifests.pods {
            let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
            let name = pod.metadata.name.clone().unwrap_or_default();
            if self.state().pod(&ns, &name).has_record() {
                return Err(ApiError::AlreadyExists { namespace: ns, name });
            }
        }
        let plans = self.plan(manifests, base_dir).await?;
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
                    return Err(e.into());
                }
            }
        }
        Ok(started.iter().map(|h| h.current()).collect())
    }

    /// The pod `namespace/name`: live when this process runs it, else its
    /// record (phase `Unknown` when the process that ran it died).
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, ApiError> {
        self.view().get(namespace, name)
    }

    /// Every pod of the state directory (of `namespace`, when given),
    /// running in any process or ended, sorted by namespace and name.
    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, ApiError> {
        self.view().list(namespace)
    }

    /// Compares `pod` (defaulted and validated) with the existing pod of
    /// its name, as `apply` does: the existing pod when nothing changes,
    /// [`ApiError::Invalid`] with Kubernetes' message when something does.
    pub fn replace(&self, pod: &Pod) -> Result<Pod, ApiError> {
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let current = self.get(&ns, &name)?;
        let old = self.registry().get(&ns, &name).map(|r| r.submitted).unwrap_or_else(|| current.clone());
        check_update(&old, pod)?;
        Ok(current)
    }

    /// Deletes the pod: a running pod of this process is stopped as
    /// [`crate::PodHandle::stop`] describes (preStop, stop request, kill at
    /// the end of `grace_period_seconds`, else the pod's
    /// `terminationGracePeriodSeconds`), and its record, logs and volumes
    /// are removed once it ended; an ended pod's are removed now.
    /// Returns the object as it was when deletion began (with
    /// `deletionTimestamp` for a running pod).
    /// [`ApiError::RunningElsewhere`] when another process runs it.
    pub fn delete(&self, namespace: &str, name: &str, grace_period_seconds: Option<i64>) -> Result<Pod, ApiError> {
        if let Some(g) = grace_period_seconds.filter(|g| *g < 0) {
            return Err(ApiError::BadRequest(format!("gracePeriodSeconds: Invalid value: {g}: must be greater than or equal to 0")));
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

    /// The running pod `namespace/name` of this process, for exec and
    /// port-forward. A pod another process runs is
    /// [`ApiError::RunningElsewhere`] (its clients connect there); an
    /// ended pod is refused as the API server refuses it.
    pub(crate) fn access(&self, namespace: &str, name: &str) -> Result<crate::pod::PodAccess, ApiError> {
        if let Some(r) = self.registry().get(namespace, name).filter(|r| r.running()) {
            return Ok(r.access);
        }
        let dir = self.state().pod(namespace, name);
        if dir.is_locked() {
            return Err(ApiError::RunningElsewhere { namespace: namespace.to_owned(), name: name.to_owned(), pid: dir.holder_pid() });
        }
        let pod = self.get(namespace, name)?;
        let phase = pod.status.and_then(|s| s.phase).unwrap_or_else(|| "Unknown".into());
        Err(ApiError::BadRequest(format!("cannot exec into or forward to a container in a completed pod; current phase is {phase}")))
    }

    /// Runs a command in a container of the running pod `namespace/name`
    /// (see [`crate::PodHandle::exec`]).
    pub async fn exec(&self, namespace: &str, name: &str, request: crate::ExecRequest) -> Result<crate::ExecOutcome, ApiError> {
        let access = self.access(namespace, name)?;
        access.exec(request).await.map_err(ApiError::from)
    }

    /// The IPC objects (queues, segments) of the running pod
    /// `namespace/name`, as `describe pod` lists them.
    pub fn ipc_objects(&self, namespace: &str, name: &str) -> Result<Vec<crate::ipc::IpcObject>, ApiError> {
        Ok(self.access(namespace, name)?.ipc_objects())
    }

    /// Opens a connection to `port` on the running pod's loopback (see
    /// [`crate::PodHandle::connect`]).
    pub fn connect(&self, namespace: &str, name: &str, port: u16) -> Result<crate::Connection, ApiError> {
        let access = self.access(namespace, name)?;
        access.connect(port).map_err(|e| ApiError::Forward { name: name.to_owned(), port, source: e })
    }

    /// Events of the pod, oldest first (repeats aggregated).
    pub fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, ApiError> {
        let dir = self.state().pod(namespace, name);
        if !dir.has_record() {
            return Err(ApiError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        Ok(dir.events().read()?)
    }

    /// Watches the pods of `namespace` (all when `None`), or the one named
    /// `name`: first an ADDED event per existing pod, then ADDED,
    /// MODIFIED and DELETED as they change.
    pub fn watch(&self, namespace: Option<&str>, name: Option<&str>) -> PodWatch {
        PodWatch::start(self.view(), namespace.map(str::to_owned), name.map(str::to_owned))
    }

    /// A container's log, as `kubectl logs` asks for it.
    pub fn logs(&self, namespace: &str, name: &str, options: &LogOptions) -> Result<LogStream, ApiError> {
        LogStream::open(self.view(), namespace, name, options)
    }

    /// Waits until the records of deleted pods are removed; call it before
    /// the process exits (a `run` whose last pod was deleted ends then).
    pub async fn settle(&self) {
        self.registry().settle().await;
        // Records are in place already; this makes them survive a power
        // loss too before the process exits.
        let _ = tokio::task::spawn_blocking(crate::store::PodDir::flush_all_records).await;
    }

    /// Stops every pod this process runs and waits until they ended
    /// (their records stay, as after `run`; deleted pods' go).
    pub async fn shutdown(&self) {
        let running = self.registry().running();
        for (_, r) in &running {
            r.stopper.stop();
        }
        for (_, r) in running {
            let mut status = r.status;
            while status.changed().await.is_ok() {}
        }
        self.settle().await;
    }
}

/// The pods of a state directory read from their records alone, for
/// when no runtime process is alive to ask (`get`, `describe` and `logs`
/// then still show what happened).
#[derive(Clone)]
pub struct StateView {
    view: PodView,
}

impl StateView {
    /// Opens the state directory at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(Self { view: PodView { state: StateDir::open(path)?, registry: Arc::new(PodRegistry::new()) } })
    }

    /// As [`Runtime::get`].
    pub fn get(&self, namespace: &str, name: &str) -> Result<Pod, ApiError> {
        self.view.get(namespace, name)
    }

    /// As [`Runtime::list`].
    pub fn list(&self, namespace: Option<&str>) -> Result<Vec<Pod>, ApiError> {
        self.view.list(namespace)
    }

    /// As [`Runtime::events`].
    pub fn events(&self, namespace: &str, name: &str) -> Result<Vec<Event>, ApiError> {
        let dir = self.view.state.pod(namespace, name);
        if !dir.has_record() {
            return Err(ApiError::NotFound { namespace: namespace.to_owned(), name: name.to_owned() });
        }
        Ok(dir.events().read()?)
    }

    /// As [`Runtime::logs`].
    pub fn logs(&self, namespace: &str, name: &str, options: &LogOptions) -> Result<LogStream, ApiError> {
        LogStream::open(self.view.clone(), namespace, name, options)
    }
}
