//! The pod supervisor: one task per pod that starts its containers in
//! order, owns the pod's status, and persists every change.
//!
//! Workers (see `container.rs`) only report; the supervisor alone writes
//! `status` (phase through the kubelet's getPhase port, conditions, the
//! container statuses), appends events, and publishes the new Pod to
//! watchers. Stages: init containers one at a time, then all app
//! containers together; a stop request kills whatever runs.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, Pod, PodStatus};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::conditions::{pod_conditions, sandbox_ready};
use super::container::{ContainerKind, ContainerPlan, Report, Worker};
use super::events::{EventRecorder, PodEvent};
use super::lifecycle::pod::{Action, Failure, Input, PodLifecycle};
use super::phase::{PodPhase, next_phase, pod_phase};
use super::{now, recorded_phase};
use crate::sandbox::Engine as WasmEngine;
use crate::store::{LogTap, PodDir, PodLock, StoreError};

pub(crate) struct Supervisor {
    pub pod: Pod,
    pub dir: PodDir,
    pub lock: PodLock,
    pub recorder: EventRecorder,
    pub engine: Arc<WasmEngine>,
    /// The pod's network namespace; the pod keeps its IP while this lives.
    pub network: Arc<crate::net::PodNetwork>,
    /// The pod's IPC namespace, handed to every container instance.
    pub ipc: Arc<crate::ipc::IpcNamespace>,
    /// The pod's cap on open files and sockets, handed to every instance.
    pub handles: Arc<crate::limits::HandleAccount>,
    /// What `exec` needs per container, filled as containers are prepared.
    pub exec_targets: super::exec::ExecTargets,
    pub tap: Option<Arc<dyn LogTap>>,
    pub publish: watch::Sender<Pod>,
    pub stop: watch::Receiver<bool>,
    pub init: Vec<ContainerPlan>,
    pub app: Vec<ContainerPlan>,
    /// An init container could not be prepared (image, env): it is
    /// reported Waiting, and neither it nor anything after it starts.
    /// App containers that could not be prepared are simply absent from
    /// `app`; the others run, as in Kubernetes.
    pub init_blocked: bool,
    /// Where each container's new images go (its worker), by name.
    pub image_updates: std::collections::HashMap<String, mpsc::UnboundedSender<super::NewImage>>,
    /// The stop channels of the native sidecars started, by index.
    pub sidecar_stops: std::collections::HashMap<usize, watch::Sender<bool>>,
    pub store_errors: Vec<StoreError>,
    /// Running workers by task id: kind, index, container and image names.
    pub running: std::collections::HashMap<tokio::task::Id, (ContainerKind, usize, String, String)>,
    /// The pod's volumes; removed when the pod ends.
    pub volumes: crate::volume::PodVolumes,
    /// Measures local storage against its limits (emptyDir sizeLimit,
    /// ephemeral-storage).
    pub storage_watch: Option<crate::volume::StorageWatch>,
    /// Measures the files in memory-backed volumes for the memory limits
    /// of the containers that wrote them.
    pub memory_watch: Option<crate::volume::MemoryWatch>,
    /// Stops every worker: the pod's own stop channel, used for an eviction.
    pub kill: watch::Sender<bool>,
    /// The grace period override; an eviction sets 0.
    pub grace: super::GraceOverride,
    /// Why the pod was ended Failed while its containers ran (`Evicted`,
    /// `DeadlineExceeded`) and the message, once it was.
    pub failed: Option<(&'static str, String)>,
    /// When `activeDeadlineSeconds` runs out (none: no deadline).
    pub deadline: Option<tokio::time::Instant>,
    /// When the pod started here: its deadline counts from then.
    pub started: tokio::time::Instant,
    /// Updates of the running pod (taken by [`Supervisor::run`]).
    pub updates: Option<mpsc::UnboundedReceiver<super::PodUpdate>>,
}

/// When `pod`'s `activeDeadlineSeconds`, counted from `started`, run out.
pub(crate) fn deadline(started: tokio::time::Instant, pod: &Pod) -> Option<tokio::time::Instant> {
    let secs = pod.spec.as_ref()?.active_deadline_seconds?;
    Some(started + std::time::Duration::from_secs(secs.max(0) as u64))
}

impl Supervisor {
    pub(crate) fn node_name(&self) -> String {
        self.pod.spec.as_ref().and_then(|s| s.node_name.clone()).unwrap_or_default()
    }

    pub(crate) fn event(&mut self, ev: PodEvent) {
        let event = self.recorder.record(ev, now());
        if let Some(tap) = &self.tap {
            tap.event(&event);
        }
        if let Err(e) = self.dir.events().append(&event) {
            self.store_errors.push(e);
        }
    }

    fn status_mut(&mut self) -> &mut PodStatus {
        self.pod.status.get_or_insert_with(Default::default)
    }

    pub(crate) fn set_container_status(&mut self, kind: ContainerKind, index: usize, status: ContainerStatus) {
        let st = self.status_mut();
        let list = match kind {
            ContainerKind::Init => st.init_container_statuses.get_or_insert_with(Vec::new),
            ContainerKind::App => st.container_statuses.get_or_insert_with(Vec::new),
        };
        if index < list.len() {
            list[index] = status;
        }
    }

    /// Recomputes phase and conditions, then persists and publishes.
    pub(crate) fn refresh(&mut self, deleting: bool) {
        self.update_status(deleting);
        self.dir.submit_record(&self.pod);
        self.publish.send_replace(self.pod.clone());
    }

    /// Recomputes phase and conditions from the container statuses.
    fn update_status(&mut self, deleting: bool) {
        if deleting {
            // A terminating pod serves no more traffic: every container is
            // reported not ready from the start of its deletion, as the
            // kubelet reports it, so Ready and ContainersReady turn False.
            // (A completed init container stays ready: it is done, not serving.)
            let st = self.status_mut();
            let running = |c: &ContainerStatus| c.state.as_ref().is_some_and(|s| s.running.is_some());
            let sidecars = st.init_container_statuses.iter_mut().flatten().filter(|c| running(c));
            for c in st.container_statuses.iter_mut().flatten().chain(sidecars) {
                c.ready = false;
            }
        }
        let spec = self.pod.spec.clone().unwrap_or_default();
        let status = self.pod.status.clone().unwrap_or_default();
        let init = status.init_container_statuses.clone().unwrap_or_default();
        let app = status.container_statuses.clone().unwrap_or_default();
        let previous = recorded_phase(&self.pod).unwrap_or(PodPhase::Pending);
        let mut phase = next_phase(previous, pod_phase(&spec, &init, &app, deleting));
        // An evicted pod, or one past its deadline, is Failed, whatever its
        // containers' last exits were.
        if self.failed.is_some() {
            phase = PodPhase::Failed;
        }
        // The sandbox (the pod's network and IPC namespace) goes with the
        // last worker, as the kubelet stops it then.
        let sandbox = sandbox_ready(!self.running.is_empty(), deleting, phase);
        let conditions = pod_conditions(&spec, &init, &app, phase, sandbox, now(), status.conditions.as_deref().unwrap_or(&[]));
        // Services send traffic to Ready pods only (kube-proxy follows the
        // EndpointSlices' `ready`); a terminating pod is not Ready.
        let ready = conditions.iter().any(|c| c.type_ == "Ready" && c.status == "True");
        self.network.set_ready(ready && !deleting);
        self.network.set_terminating(deleting);
        let failed = self.failed.clone();
        let st = self.status_mut();
        st.phase = Some(phase.as_str().to_owned());
        st.conditions = Some(conditions);
        if let Some((reason, message)) = failed {
            st.reason = Some(reason.into());
            st.message = Some(message);
        }
    }

    fn phase(&self) -> PodPhase {
        recorded_phase(&self.pod).unwrap_or(PodPhase::Pending)
    }

    /// Applies a worker's report; what the lifecycle learns from it.
    fn apply(&mut self, report: Report, deleting: bool) -> Input {
        match report {
            Report::Status { kind, index, status } => {
                let started = (kind == ContainerKind::Init && status.started == Some(true)).then_some(index);
                self.set_container_status(kind, index, *status);
                self.refresh(deleting);
                self.reported(started)
            }
            Report::Event(ev) => {
                self.event(ev);
                self.reported(None)
            }
        }
    }

    fn spawn(&mut self, workers: &mut JoinSet<(ContainerKind, usize, Option<i32>)>, plan: ContainerPlan, reports: &mpsc::UnboundedSender<Report>) {
        let (kind, index) = (plan.kind, plan.index);
        let container = plan.container.clone();
        let image = plan.image_ref.clone();
        // A sidecar is stopped by the supervisor, after the other
        // containers ended; everything else by the pod's stop channel.
        let stop = if plan.sidecar {
            let (tx, rx) = watch::channel(false);
            self.sidecar_stops.insert(index, tx);
            rx
        } else {
            self.stop.clone()
        };
        let worker = Worker {
            plan,
            engine: self.engine.clone(),
            dir: self.dir.clone(),
            tap: self.tap.clone(),
            reports: reports.clone(),
            stop,
            seeded: false,
            pending_image: None,
        };
        let handle = workers.spawn(async move { (kind, index, worker.run().await) });
        self.running.insert(handle.id(), (kind, index, container.name, image));
    }

    /// A worker panicked (a runtime bug, not a guest fault): its container
    /// is recorded Terminated with exit code 128 so the pod can still end,
    /// instead of waiting forever on a container nobody runs.
    fn worker_panicked(&mut self, id: tokio::task::Id, error: &tokio::task::JoinError, deleting: bool) {
        let Some((kind, index, name, image)) = self.running.remove(&id) else { return };
        let message = format!("internal error in wasmpod's container worker: {error}");
        self.event(PodEvent::warning("Failed", Some(super::events::field_path(kind, &name)), message.clone()));
        let terminated =
            ContainerStateTerminated { exit_code: 128, reason: Some("Error".into()), message: Some(message), finished_at: Some(now()), ..Default::default() };
        let status = super::bare_status(&name, &image, ContainerState { terminated: Some(terminated), ..Default::default() });
        self.set_container_status(kind, index, status);
        self.refresh(deleting);
    }

    /// Ends the pod Failed while its containers run, as the kubelet does:
    /// - an eviction: a Warning `Evicted` event with the message, reason
    ///   `Evicted`, every container killed at once;
    /// - the active deadline (`activeDeadlineSeconds` after the pod's
    ///   start): a Normal `DeadlineExceeded` event, reason
    ///   `DeadlineExceeded` with the kubelet's message, every container
    ///   stopped with the pod's grace period.
    ///
    /// The containers stop through the pod's stop channel, as on deletion.
    fn fail(&mut self, failure: Failure) {
        let (reason, message) = match failure {
            Failure::Evicted(message) => {
                self.event(PodEvent::warning("Evicted", None, message.clone()));
                // Evictions for local storage kill at once, as the kubelet's do.
                self.grace.set(0);
                ("Evicted", message)
            }
            Failure::DeadlineExceeded => {
                let message = DEADLINE_MESSAGE.to_owned();
                self.event(PodEvent::normal("DeadlineExceeded", None, message.clone()));
                ("DeadlineExceeded", message)
            }
        };
        self.failed = Some((reason, message));
        self.kill.send_replace(true);
        self.refresh(true);
    }

    /// Runs the pod to its end (a terminal phase, or stopped) and returns
    /// the final Pod: carries out what its lifecycle (`lifecycle/pod.rs`)
    /// decides and feeds back what happened.
    pub(crate) async fn run(mut self) -> (Pod, Vec<StoreError>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut workers = JoinSet::new();
        let mut init_plans: Vec<Option<ContainerPlan>> = std::mem::take(&mut self.init).into_iter().map(Some).collect();
        let mut app_plans = std::mem::take(&mut self.app);
        let mut lc = PodLifecycle::new(init_plans.iter().flatten().map(|p| p.sidecar).collect(), app_plans.len(), self.init_blocked);
        let mut stop = self.stop.clone();
        let mut storage_watch = self.storage_watch.take();
        let mut updates = self.updates.take();
        let mut actions = lc.apply(Input::Begin { deleting: *self.stop.borrow() });
        'pod: loop {
            for action in std::mem::take(&mut actions) {
                match action {
                    Action::StartInit(i) => {
                        if let Some(plan) = init_plans.get_mut(i).and_then(Option::take) {
                            self.spawn(&mut workers, plan, &tx);
                        }
                    }
                    Action::StartApps => {
                        for plan in app_plans.drain(..) {
                            self.spawn(&mut workers, plan, &tx);
                        }
                    }
                    Action::StopSidecar(i) => {
                        if let Some(tx) = self.sidecar_stops.remove(&i) {
                            tx.send_replace(true);
                        }
                    }
                    Action::MarkDeleted => {
                        self.mark_deleted();
                        self.refresh(true);
                    }
                    Action::Fail(failure) => {
                        storage_watch = None;
                        self.fail(failure);
                    }
                    Action::Finish => break 'pod,
                }
            }
            let deleting = lc.deleting();
            tokio::select! {
                Some(report) = rx.recv() => {
                    let input = self.apply(report, deleting);
                    actions = lc.apply(input);
                }
                Some(done) = workers.join_next_with_id(), if !workers.is_empty() => {
                    // Apply what the worker reported before it ended, so
                    // statuses are applied in order.
                    while let Ok(r) = rx.try_recv() {
                        let input = self.apply(r, deleting);
                        actions.extend(lc.apply(input));
                    }
                    let (id, exit) = match &done {
                        Ok((id, (_, _, exit))) => (*id, *exit),
                        Err(e) => (e.id(), None),
                    };
                    let ended = self.running.get(&id).map(|(kind, index, ..)| (*kind == ContainerKind::Init, *index));
                    if let Err(e) = &done {
                        // Recorded Terminated, so the pod can still end.
                        self.worker_panicked(e.id(), e, deleting);
                        actions.extend(lc.apply(self.reported(None)));
                    }
                    self.running.remove(&id);
                    if let Some((init, index)) = ended {
                        actions.extend(lc.apply(Input::WorkerEnded { init, index, exit }));
                    }
                }
                Some(update) = next_update(&mut updates) => self.update(update, deleting),
                _ = super::stop_requested(&mut stop), if !deleting => actions = lc.apply(Input::Stop),
                Some(message) = over_limit(&mut storage_watch), if !deleting => actions = lc.apply(Input::Fail(Failure::Evicted(message))),
                _ = past(self.deadline), if !deleting => actions = lc.apply(Input::Fail(Failure::DeadlineExceeded)),
            }
        }
        let deleting = lc.deleting();
        while let Ok(r) = rx.try_recv() {
            self.apply(r, deleting);
        }
        // The final record is in place before the pod counts as ended (its
        // fsync follows in the background, flushed by `settle`).
        self.update_status(deleting);
        if let Err(e) = self.dir.write_record(&self.pod) {
            self.store_errors.push(e);
        }
        self.publish.send_replace(self.pod.clone());
        drop(storage_watch);
        drop(self.memory_watch.take());
        if let Err(e) = self.dir.remove_rootfs() {
            self.store_errors.push(e);
        }
        self.store_errors.extend(self.volumes.remove());
        drop(self.lock);
        (self.pod, self.store_errors)
    }

    /// Takes what an update may change from `update.pod` (checked by the
    /// runtime), persists and publishes the pod, and answers with it.
    /// A new `activeDeadlineSeconds` counts from the pod's start, as the
    /// kubelet counts it.
    fn update(&mut self, update: super::PodUpdate, deleting: bool) {
        let new = update.pod;
        super::take_updatable(&mut self.pod, &new);
        for image in update.images {
            if let Some(worker) = self.image_updates.get(&image.container) {
                let _ = worker.send(image);
            }
        }
        if self.failed.is_none() {
            self.deadline = deadline(self.started, &self.pod);
        }
        self.network.set_labels(new.metadata.labels.unwrap_or_default());
        self.refresh(deleting);
        let _ = update.done.send(self.pod.clone());
    }

    /// What the lifecycle learns from the status now: the init container
    /// that reports started, and whether the phase is terminal.
    fn reported(&self, init_started: Option<usize>) -> Input {
        Input::Reported { init_started, terminal: self.phase().is_terminal() }
    }

    /// Records the deletion in the object, as the API server does, so
    /// readers show `Terminating`, with the grace period the containers get.
    fn mark_deleted(&mut self) {
        self.pod.metadata.deletion_timestamp.get_or_insert_with(now);
        let default = self.pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30);
        let grace = self.grace.get(std::time::Duration::from_secs(default.max(0) as u64));
        self.pod.metadata.deletion_grace_period_seconds = Some(grace.as_secs() as i64);
    }
}

/// The kubelet's message for a pod past its `activeDeadlineSeconds`.
const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

/// Resolves at `deadline`; never without one.
async fn next_update(updates: &mut Option<mpsc::UnboundedReceiver<super::PodUpdate>>) -> Option<super::PodUpdate> {
    match updates {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn past(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The next eviction message of `watch`; never resolves without one.
async fn over_limit(watch: &mut Option<crate::volume::StorageWatch>) -> Option<String> {
    match watch {
        Some(w) => w.over_limit().await,
        None => std::future::pending().await,
    }
}
