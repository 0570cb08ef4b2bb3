//! The worker that runs one container of a pod through its lifecycle:
//! create, run, exit, and restart per `restartPolicy` with the
//! CrashLoopBackOff back-off, reporting every state to the supervisor.
//!
//! ```text
//!   Waiting(ContainerCreating) -> Running -> Terminated
//!        ^                                      |
//!        '---- Waiting(CrashLoopBackOff) <------'  (restart allowed, delay > 0)
//! ```

use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStatus};
use tokio::sync::{mpsc, watch};

use super::backoff::{BackoffConfig, RestartBackoff};
use super::events::PodEvent;
use super::hooks::HookContext;
use super::instance::{InstanceTemplate, Stdio};
pub use super::kind::ContainerKind;
use super::lifecycle::container::{Action, ContainerLifecycle, Input, Kill, Names, Pulls, Termination};
use super::now;
use super::restart::{RestartPolicy, RestartRule};
use super::termination_message;
use crate::error_text::full_message;
use crate::sandbox::Engine as WasmEngine;
use crate::sandbox::{self, GuestExit, LogStream, StopSignal};
use crate::store::{ContainerLog, LogTap, PodDir, Stream};
use crate::volume::Mount;

use crate::sandbox::{EXIT_KILLED, EXIT_TERMINATED};

/// What a worker tells the supervisor.
pub(crate) enum Report {
    /// The container's status changed. Boxed: the channel allocates its
    /// slots in blocks of 32 whatever is sent, and a pod that sleeps for a
    /// week should not hold 32 inline ContainerStatus slots (~24 KiB).
    Status { kind: ContainerKind, index: usize, status: Box<ContainerStatus> },
    /// Something worth an Event happened.
    Event(PodEvent),
}

/// Everything a worker needs to (re)create its container. Built once per
/// container by the supervisor; argv and env are already resolved.
pub(crate) struct ContainerPlan {
    pub kind: ContainerKind,
    pub index: usize,
    pub container: Container,
    pub image_ref: String,
    /// The status's `imageID`: the pulled manifest's digest for a
    /// registry image.
    pub image_id: String,
    /// What every instance of the container shares (exec'd commands,
    /// hooks and probes are made from it too); none until a registry
    /// image is pulled.
    pub instance: Option<Arc<InstanceTemplate>>,
    /// The main instance's argv.
    pub args: Vec<String>,
    /// Set for a registry image: pulled before each instance, and the
    /// template made again from what was pulled.
    pub pull: Option<Arc<RegistryPlan>>,
    /// The pod's `restartPolicy`.
    pub pod_restart: RestartPolicy,
    pub backoff: BackoffConfig,
    pub pod_key: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// The grace period when the pod is stopped: the override, else
    /// `grace_default` (`terminationGracePeriodSeconds`).
    pub grace: super::GraceOverride,
    pub grace_default: std::time::Duration,
    /// `lifecycle.preStop`.
    pub pre_stop: Option<k8s_openapi::api::core::v1::LifecycleHandler>,
    /// `lifecycle.postStart`.
    pub post_start: Option<k8s_openapi::api::core::v1::LifecycleHandler>,
    /// How long one second of the container's probe timings lasts.
    pub probe_second: std::time::Duration,
    /// How its log rotates.
    pub log_rotation: crate::store::LogRotation,
    /// A native sidecar: an init container with `restartPolicy: Always`.
    pub sidecar: bool,
    /// Containers in the pod (init and app): their termination messages
    /// share 12 KiB.
    pub pod_containers: usize,
    /// `stdin: true`: what attach sessions type, read by each instance.
    pub stdin: Option<Arc<super::attach::StdinHub>>,
    /// What a new image of the container is made into a template with.
    pub reimage: Arc<Reimage>,
    /// New images from pod updates; each restarts the container.
    pub new_images: Option<mpsc::UnboundedReceiver<super::NewImage>>,
    /// Restarts before this run (a resumed pod's; else 0).
    pub restarts: i32,
}

/// What the worker needs to take a new image: the template's other parts
/// and, for a registry image, how it is pulled.
pub(crate) struct Reimage {
    pub setup: super::instance::InstanceSetup,
    pub keyring: crate::registry::Keyring,
    pub puller: Arc<super::pull::ImagePuller>,
    pub exec_targets: super::exec::ExecTargets,
}

/// How a container's registry image is pulled and its template made.
pub(crate) struct RegistryPlan {
    pub image: super::pull::RegistryImage,
    /// The pod's imagePullSecrets.
    pub keyring: crate::registry::Keyring,
    pub puller: Arc<super::pull::ImagePuller>,
    /// The template's other parts.
    pub setup: super::instance::InstanceSetup,
    /// Where exec finds the container, once its template is made.
    pub exec_targets: super::exec::ExecTargets,
}

/// What the probes say about a running instance (see `probe/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Health {
    /// The startup probe (if any) succeeded.
    started: bool,
    /// Started, and the readiness probe (if any) succeeded.
    ready: bool,
}

impl Health {
    /// Not running, or not created.
    const DOWN: Health = Health { started: false, ready: false };
}

pub(crate) struct Worker {
    pub plan: ContainerPlan,
    pub engine: Arc<WasmEngine>,
    pub dir: PodDir,
    pub tap: Option<Arc<dyn LogTap>>,
    pub reports: mpsc::UnboundedSender<Report>,
    pub stop: watch::Receiver<bool>,
    /// Whether the image's files are in the container's root already.
    pub seeded: bool,
    /// A new image received while an instance ran, taken once it ended.
    pub pending_image: Option<super::NewImage>,
}

impl Worker {
    fn status(&self, state: ContainerState, last: Option<ContainerState>, restarts: i32, health: Health) -> ContainerStatus {
        let running = state.running.is_some();
        let c = &self.plan.container;
        ContainerStatus {
            name: c.name.clone(),
            image: self.plan.image_ref.clone(),
            image_id: self.plan.image_id.clone(),
            container_id: Some(format!("wasmpod://{}/{}/{}", self.plan.pod_key, c.name, restarts)),
            // A running container is ready when its probes say so (always,
            // without a readiness probe). An init container is ready once
            // it completed.
            ready: match self.plan.kind {
                ContainerKind::App => running && health.ready,
                // A native sidecar is ready as an app container is.
                ContainerKind::Init if self.plan.sidecar => running && health.ready,
                ContainerKind::Init => state.terminated.as_ref().is_some_and(|t| t.exit_code == 0),
            },
            started: Some(health.started && running),
            restart_count: restarts,
            state: Some(state),
            last_state: last,
            ..Default::default()
        }
    }

    fn report(&self, status: ContainerStatus) {
        let _ = self.reports.send(Report::Status { kind: self.plan.kind, index: self.plan.index, status: Box::new(status) });
    }

    fn event(&self, ev: PodEvent) {
        let _ = self.reports.send(Report::Event(ev));
    }

    fn field_path(&self) -> String {
        super::events::field_path(self.plan.kind, &self.plan.container.name)
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Runs the container until it ends for good (exit without restart, or
    /// the pod is stopped): carries out what its lifecycle
    /// (`lifecycle/container.rs`) decides and feeds back what happened.
    /// Returns the last exit code, if it ran.
    pub(crate) async fn run(mut self) -> Option<i32> {
        let mut new_images = self.plan.new_images.take();
        let p = &self.plan;
        let names = Names::new(p.kind, &p.container.name, &p.pod_name, &p.pod_namespace, &p.pod_uid);
        let rule = RestartRule::of(&p.container, p.kind, p.pod_restart);
        let (mut lc, mut actions) = match &p.pull {
            Some(r) => ContainerLifecycle::pulling(names, rule, RestartBackoff::new(p.backoff), Pulls::new(&r.image.written, p.backoff)),
            None => ContainerLifecycle::new(names, rule, RestartBackoff::new(p.backoff)),
        };
        lc.count_restarts_from(p.restarts);
        loop {
            let mut next = None;
            for action in actions {
                match action {
                    Action::Create => {
                        next = Some(self.run_instance(&mut lc, &mut new_images).await);
                        if let Some(image) = self.pending_image.take() {
                            self.take_image(image, &mut lc);
                        }
                    }
                    Action::Pull => next = Some(self.pull().await),
                    Action::Event(ev) => self.event(ev),
                    Action::Report(r) => self.report(self.status(r.state, r.last, r.restarts, Health::DOWN)),
                    Action::Sleep(delay) => {
                        let mut stop = self.stop.clone();
                        next = Some(tokio::select! {
                            _ = tokio::time::sleep(delay) => Input::BackOffOver,
                            _ = super::stop_requested(&mut stop) => Input::Stop,
                            // A new image ends the wait: it starts at once.
                            Some(image) = next_image(&mut new_images) => {
                                self.take_image(image, &mut lc);
                                Input::BackOffOver
                            }
                        });
                    }
                    Action::AwaitStop => {
                        super::stop_requested(&mut self.stop).await;
                        next = Some(Input::Stop);
                    }
                    // Only while an instance runs, inside `run_instance`.
                    Action::StopInstance => {}
                    Action::Finish(code) => return code,
                }
            }
            // Every action list ends in one that waits for what happens next.
            let input = next?;
            actions = lc.apply(input);
        }
    }

    /// Takes a new image for the next instances: a local one's template
    /// now, a registry one pulled before each start.
    fn take_image(&mut self, new: super::NewImage, lc: &mut ContainerLifecycle) {
        let r = self.plan.reimage.clone();
        let name = self.plan.container.name.clone();
        match new.planned {
            super::PlannedImage::Local { image, loaded } => {
                let (template, argv) = r.setup.build(&image.config, loaded.program.clone());
                let template = Arc::new(template);
                r.exec_targets.add(super::exec::ExecTarget { name, instance: template.clone() });
                self.plan.image_id = format!("wasmpod://{}", new.written);
                self.plan.image_ref = new.written;
                self.plan.instance = Some(template);
                self.plan.args = argv;
                self.plan.pull = None;
                lc.set_pulls(None);
            }
            super::PlannedImage::Registry(image) => {
                self.plan.image_ref = image.written.clone();
                lc.set_pulls(Some(super::lifecycle::container::Pulls::new(&image.written, self.plan.backoff)));
                let pull =
                    RegistryPlan { image, keyring: r.keyring.clone(), puller: r.puller.clone(), setup: r.setup.clone(), exec_targets: r.exec_targets.clone() };
                self.plan.pull = Some(Arc::new(pull));
            }
        }
    }

    /// Makes the registry image present (as its policy says) and the
    /// container's template from it: what happened, for the lifecycle.
    async fn pull(&mut self) -> Input {
        if self.stopping() {
            return Input::Stop;
        }
        let Some(plan) = self.plan.pull.clone() else {
            return Input::PullFailed(super::pull::PullFailure::Failed("the container has no registry image".into()));
        };
        let reports = self.reports.clone();
        let (field, written) = (self.field_path(), plan.image.written.clone());
        let on_pull = move || {
            let _ = reports.send(Report::Event(PodEvent::normal("Pulling", Some(field), format!("Pulling image \"{written}\""))));
        };
        let mut stop = self.stop.clone();
        let ready = tokio::select! {
            r = plan.puller.ensure(&plan.image, &plan.keyring, on_pull) => r,
            _ = super::stop_requested(&mut stop) => return Input::Stop,
        };
        match ready {
            Ok(ready) => {
                // The image's files, into the container's new root before its
                // first instance (the root is kept across restarts), while
                // the store surely has them.
                if let Some(files) = ready.files.as_ref().filter(|_| !self.seeded) {
                    if let Err(e) = crate::volume::copy_tree(files, &plan.setup.sandbox.rootfs) {
                        return Input::PullFailed(super::pull::PullFailure::Failed(format!("cannot copy the image's files into the container's root: {e}")));
                    }
                    self.seeded = true;
                }
                let (template, argv) = plan.setup.build(&ready.config, ready.loaded.program.clone());
                let template = Arc::new(template);
                plan.exec_targets.add(super::exec::ExecTarget { name: self.plan.container.name.clone(), instance: template.clone() });
                self.plan.instance = Some(template);
                self.plan.args = argv;
                self.plan.image_id = ready.image_id;
                Input::Pulled(ready.pulled)
            }
            Err(failure) => Input::PullFailed(failure),
        }
    }

    /// Creates an instance and runs it to its end: what happened, for the
    /// lifecycle (`Stop` before anything was created, `CreateFailed`, or
    /// `Ended`). The instance's start and stop are stepped here, where the
    /// instance is.
    async fn run_instance(&mut self, lc: &mut ContainerLifecycle, new_images: &mut Option<mpsc::UnboundedReceiver<super::NewImage>>) -> Input {
        if self.stopping() {
            return Input::Stop;
        }
        let name = self.plan.container.name.clone();
        let restarts = lc.restarts();
        let log_path = self.dir.log_path(&name, restarts);
        // The kubelet keeps the current and the previous instance's log.
        if restarts >= 2 {
            crate::store::remove_log(&self.dir.log_path(&name, restarts - 2));
        }
        let log = match ContainerLog::create(&log_path, &self.plan.pod_key, &name, self.tap.clone(), self.plan.log_rotation) {
            Ok(l) => Arc::new(l),
            Err(e) => {
                let message = format!("cannot create the container's log: {e}");
                return Input::CreateFailed { reason: "CreateContainerError", event: message.clone(), message };
            }
        };
        let Some(t) = self.plan.instance.clone() else {
            let message = "the container's image is not loaded".to_owned();
            return Input::CreateFailed { reason: "CreateContainerError", event: message.clone(), message };
        };
        if let Err(e) = std::fs::create_dir_all(t.sandbox.rootfs.join("tmp")) {
            let message = format!("cannot create the container's root directory {}: {e}", t.sandbox.rootfs.display());
            return Input::CreateFailed { reason: "CreateContainerError", event: message.clone(), message };
        }
        // /tmp is root's, as in an image; the rest of the root is what
        // the container itself wrote.
        t.sandbox.root_owners.record(&t.sandbox.rootfs.join("tmp"), (0, 0));
        if let Some(etc) = &t.sandbox.etc {
            if let Err(e) = etc.write(&t.sandbox.rootfs) {
                let message = format!("cannot write the container's /etc/hosts, /etc/hostname and /etc/resolv.conf: {e}");
                return Input::CreateFailed { reason: "CreateContainerError", event: message.clone(), message };
            }
            t.sandbox.root_owners.record(&t.sandbox.rootfs.join("etc"), (0, 0));
            for (file, _) in etc.files() {
                t.sandbox.root_owners.record(&t.sandbox.rootfs.join(file.trim_start_matches('/')), (0, 0));
            }
        }
        if let Some(wd) = &t.working_dir {
            // Never through a link the previous instance left in its root.
            let _ = crate::volume::create_beneath(&t.sandbox.rootfs, wd, false);
        }
        // The termination message file, new and empty for each instance.
        let message_path = self.plan.container.termination_message_path.as_deref().filter(|p| !p.is_empty());
        let message_file = match message_path.map(|p| crate::volume::write_file_beneath(&t.sandbox.rootfs, p, b"")).transpose() {
            Ok(file) => file,
            Err(e) => {
                let message = format!("cannot create the termination message file {}: {e}", message_path.unwrap_or_default());
                return Input::CreateFailed { reason: "CreateContainerError", event: message.clone(), message };
            }
        };
        let mounts = match t.mounts() {
            Ok(mut m) => {
                // A read-only root keeps the message file's directory
                // writable, as the kubelet mounts the file writable.
                if t.sandbox.read_only_root
                    && let (Some(guest), Some(host)) = (message_path, message_file.as_deref())
                    && let (Some(guest_dir), Some(host_dir)) = (std::path::Path::new(guest).parent(), host.parent())
                    && host_dir != t.sandbox.rootfs
                {
                    let guest_dir = guest_dir.to_string_lossy().into_owned();
                    m.push(Mount {
                        host_path: host_dir.to_owned(),
                        guest_path: guest_dir,
                        writable: true,
                        owners: Some(t.sandbox.root_owners.clone()),
                        memory_files: None,
                    });
                }
                m
            }
            // As the kubelet's makeMounts failures: the container is not
            // created and waits with CreateContainerConfigError.
            Err(e) => {
                let message = full_message(&e);
                return Input::CreateFailed { reason: "CreateContainerConfigError", event: format!("Error: {message}"), message };
            }
        };
        let began = Instant::now();
        let signal = StopSignal::new();
        let stdio = Stdio {
            stdin: self.plan.stdin.as_ref().map(|h| Arc::new(wasmtime_wasi::cli::AsyncStdinStream::new(h.reader())) as _),
            stdout: Arc::new(LogStream::new(log.clone(), Stream::Stdout)),
            stderr: Arc::new(LogStream::new(log.clone(), Stream::Stderr)),
        };
        let spec = t.spec(self.plan.args.clone(), mounts.clone(), stdio, signal.clone(), tcp_ports(&self.plan.container));
        // The probes of this instance; a restart gets fresh ones with
        // their initial results, as the kubelet's new prober workers.
        let probe_ctx = crate::probe::ProbeContext { engine: self.engine.clone(), program: t.program.clone(), spec: spec.clone(), container: name.clone() };
        let mut probes = crate::probe::ProbeSet::start(&self.plan.container, probe_ctx, self.plan.probe_second, tokio::time::Instant::now());
        // Started (and so ready) only once postStart finished too: the
        // kubelet's start of a container returns after its hook, and a
        // later init container waits for a native sidecar's start.
        let mut post_start_done = self.plan.post_start.is_none();
        let health = |p: &crate::probe::ProbeSet, hook_done: bool| Health { started: p.started() && hook_done, ready: p.ready() && hook_done };
        // The events first, as the kubelet records them before its status
        // sync sees the container: whatever the running status lets start
        // next (a later init container) comes after them.
        let actions = lc.apply(Input::Started { at: now() });
        self.carry_out(actions, health(&probes, post_start_done));
        // Let the supervisor record Created/Started before the guest's
        // first line reaches the log tap, so output reads in order.
        tokio::task::yield_now().await;

        let engine = self.engine.clone();
        let program = t.program.clone();
        let mut stop = self.stop.clone();
        let hook = HookContext { engine: &engine, instance: &t, container: &self.plan.container, mounts: &mounts };
        // Boxed so that an OOM kill can drop it (the guest and all it
        // holds) before the container is reported.
        let mut run = Box::pin(sandbox::run(&engine, &program, spec));
        // postStart runs beside the guest's entrypoint, as the kubelet
        // runs it; a failure stops the container like a deletion would,
        // and the restart policy decides what follows.
        let post_start = async {
            match &self.plan.post_start {
                Some(h) => super::hooks::run(h, &hook).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(post_start);
        let mut kill_grace = None;
        let mut changed_image = None;
        // What ends the instance: its own exit, or a stop the lifecycle
        // asked for (the pod's stop, a probe, the postStart hook).
        let end = loop {
            let input = tokio::select! {
                r = &mut run => break Ending::Ended(Termination::of(&r)),
                // Files in memory-backed volumes took it over its limit:
                // killed as the kernel's OOM killer would.
                message = memory_exceeded(t.sandbox.memory.as_deref()) => break Ending::OutOfMemory(message),
                _ = super::stop_requested(&mut stop) => Input::Stop,
                Some(image) = next_image(new_images) => {
                    // Taken once the instance is stopped.
                    changed_image = Some(image);
                    Input::Kill(Kill::Changed)
                }
                done = &mut post_start, if !post_start_done => {
                    post_start_done = true;
                    match done {
                        Ok(()) => {
                            if let Some(running) = lc.running_state() {
                                self.report(self.status(running, lc.last().cloned(), lc.restarts(), health(&probes, true)));
                            }
                            continue;
                        }
                        Err(why) => Input::Kill(Kill::PostStart(why)),
                    }
                }
                event = probes.next() => match event {
                    crate::probe::ProbeEvent::Unhealthy { kind, message } => {
                        self.event(PodEvent::warning("Unhealthy", Some(self.field_path()), format!("{} probe failed: {message}", kind.title())));
                        continue;
                    }
                    crate::probe::ProbeEvent::Warning { kind, message } => {
                        self.event(PodEvent::warning("ProbeWarning", Some(self.field_path()), format!("{} probe warning: {message}", kind.title())));
                        continue;
                    }
                    crate::probe::ProbeEvent::Changed => {
                        if let Some(running) = lc.running_state() {
                            self.report(self.status(running, lc.last().cloned(), lc.restarts(), health(&probes, post_start_done)));
                        }
                        continue;
                    }
                    crate::probe::ProbeEvent::Kill(kind) => {
                        // A probe's own terminationGracePeriodSeconds
                        // replaces the pod's for the kill it causes.
                        kill_grace = probe_grace(&self.plan.container, kind);
                        Input::Kill(Kill::Probe(kind))
                    }
                },
            };
            let actions = lc.apply(input);
            let stopping = actions.contains(&Action::StopInstance);
            self.carry_out(actions, Health::DOWN);
            if stopping {
                break Ending::Stop;
            }
        };
        probes.stop();
        // A stop, a failed probe and a failed postStart all stop the guest
        // the kubelet's way: preStop, the stop request, the grace period,
        // a kill.
        let end = match end {
            Ending::Ended(end) => end,
            Ending::OutOfMemory(message) => {
                // The guest and all it holds go before it is reported.
                drop(run);
                Termination::of(&Ok(GuestExit::OomKilled(message)))
            }
            Ending::Stop => {
                let grace = kill_grace.unwrap_or_else(|| self.plan.grace.get(self.plan.grace_default));
                let pre_stop = self.plan.pre_stop.as_ref().map(|h| super::hooks::run(h, &hook));
                let (stopped, pre_stop_failed) = stop_instance(run.as_mut(), &signal, grace, pre_stop).await;
                if let Some(why) = pre_stop_failed {
                    self.event(PodEvent::warning("FailedPreStopHook", Some(self.field_path()), format!("PreStopHook failed: {why}")));
                }
                match stopped {
                    Ok(r) => Termination::of(&r),
                    Err(code) => Termination::ended_by_runtime(code),
                }
            }
        };
        // Taken by `run` before the next instance.
        self.pending_image = changed_image.take();
        if let Some(line) = &end.log_line {
            log.write(Stream::Stderr, format!("{line}\n").as_bytes());
        }
        log.finish(Stream::Stdout);
        log.finish(Stream::Stderr);
        // What the container said about its end: the message file, else
        // (FallbackToLogsOnError, a failure) its log's tail.
        let mut end = end;
        let mut said = message_file.as_deref().map(termination_message::read_file).unwrap_or_default();
        let fallback =
            self.plan.container.termination_message_policy.as_deref() == Some("FallbackToLogsOnError") && end.code != 0 && end.reason != "StartError";
        if said.is_empty() && fallback {
            said = termination_message::log_tail(&std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        end.message = termination_message::combine(end.message.take(), &said, termination_message::per_container_limit(self.plan.pod_containers));
        Input::Ended { end, ran_for: began.elapsed(), at: now(), pod_stopping: self.stopping() }
    }

    /// Carries out the actions of a step taken while an instance runs:
    /// events and reports (a running state with the probes' `health`).
    fn carry_out(&self, actions: Vec<Action>, health: Health) {
        for action in actions {
            match action {
                Action::Event(ev) => self.event(ev),
                Action::Report(r) => {
                    let health = if r.state.running.is_some() { health } else { Health::DOWN };
                    self.report(self.status(r.state, r.last, r.restarts, health));
                }
                // StopInstance is the caller's; nothing else comes while
                // an instance runs.
                _ => {}
            }
        }
    }
}

/// The kubelet's stop of a running instance: the preStop hook (the guest
/// keeps running meanwhile), then the stop request, then, for a guest
/// that handles requests, its own exit or a kill when the `grace` period
/// ends. `Ok`: the guest exited by itself; `Err`: the exit code it was
/// ended with (143 terminated on the request, 137 killed). Also why the
/// preStop hook failed, if it did.
async fn stop_instance<F, H>(
    mut run: std::pin::Pin<&mut F>,
    signal: &StopSignal,
    grace: std::time::Duration,
    pre_stop: Option<H>,
) -> (Result<F::Output, i32>, Option<String>)
where
    F: std::future::Future,
    H: std::future::Future<Output = Result<(), String>>,
{
    if grace.is_zero() {
        // `--grace-period=0` (and local-storage evictions): SIGKILL.
        return (Err(EXIT_KILLED), None);
    }
    let deadline = tokio::time::Instant::now() + grace;
    let mut pre_stop_failed = None;
    if let Some(hook) = pre_stop {
        tokio::select! {
            r = run.as_mut() => return (Ok(r), None),
            done = tokio::time::timeout_at(deadline, hook) => match done {
                Ok(Ok(())) => {}
                Ok(Err(why)) => pre_stop_failed = Some(why),
                Err(_) => pre_stop_failed = Some(format!("did not complete within the grace period of {}s", grace.as_secs())),
            },
        }
    }
    signal.request();
    if !signal.is_handled() {
        // A process without a SIGTERM handler dies of the signal.
        return (Err(EXIT_TERMINATED), pre_stop_failed);
    }
    let end = tokio::select! {
        r = run.as_mut() => Ok(r),
        // Dropping the run future kills the guest at its next yield.
        _ = tokio::time::sleep_until(deadline) => Err(EXIT_KILLED),
    };
    (end, pre_stop_failed)
}

/// The `terminationGracePeriodSeconds` of `container`'s liveness or
/// startup probe, which the kubelet uses instead of the pod's when that
/// probe kills the container.
fn probe_grace(container: &Container, kind: crate::probe::ProbeKind) -> Option<std::time::Duration> {
    let probe = match kind {
        crate::probe::ProbeKind::Liveness => container.liveness_probe.as_ref(),
        crate::probe::ProbeKind::Startup => container.startup_probe.as_ref(),
        crate::probe::ProbeKind::Readiness => None,
    }?;
    probe.termination_grace_period_seconds.map(|s| std::time::Duration::from_secs(s.max(0) as u64))
}

/// What ended an instance's run.
enum Ending {
    /// It ended by itself.
    Ended(Termination),
    /// Its files in memory-backed volumes took it over its memory limit.
    OutOfMemory(String),
    /// Its lifecycle asked for it to be stopped.
    Stop,
}

/// The ports a wasi:http handler container is served on: its TCP
/// `containerPort`s.
fn tcp_ports(c: &Container) -> Vec<u16> {
    let tcp = c.ports.iter().flatten().filter(|p| p.protocol.as_deref().is_none_or(|p| p == "TCP"));
    tcp.filter_map(|p| u16::try_from(p.container_port).ok()).collect()
}

/// Resolves once `account` is over its limit (never without one).
async fn memory_exceeded(account: Option<&crate::limits::MemoryAccount>) -> String {
    match account {
        Some(a) => a.exceeded().await,
        None => std::future::pending().await,
    }
}

/// The next new image of a pod update; never without a channel.
async fn next_image(images: &mut Option<mpsc::UnboundedReceiver<super::NewImage>>) -> Option<super::NewImage> {
    match images {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::time::{Instant, sleep};

    /// A guest that exits with `code` `after` the stop request, or never.
    async fn guest(signal: StopSignal, after: Option<Duration>, code: i32) -> i32 {
        loop {
            if signal.is_requested() {
                match after {
                    Some(d) => {
                        sleep(d).await;
                        return code;
                    }
                    None => std::future::pending::<()>().await,
                }
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    type NoHook = std::future::Ready<Result<(), String>>;

    /// Handles requests, exits this long after the request, grace, what ends it, when.
    type Row = (bool, Option<u64>, Duration, Result<i32, i32>, u64);

    #[tokio::test(start_paused = true)]
    async fn graceful_stops_with_and_without_a_stop_handler() {
        let grace = Duration::from_secs(30);
        // (handles requests, exits this long after the request, grace, what ends it, when)
        let rows: &[Row] = &[
            // No handler: ended on the request, as a process dies of SIGTERM.
            (false, Some(1), grace, Err(143), 0),
            // A handler that exits within the grace period: its own exit.
            (true, Some(2), grace, Ok(0), 2),
            // A handler that never exits: killed when the period ends.
            (true, None, grace, Err(137), 30),
            // Grace 0: killed at once, no request at all.
            (true, Some(1), Duration::ZERO, Err(137), 0),
        ];
        for &(handles, after, grace, want, secs) in rows {
            let signal = StopSignal::new();
            if handles {
                signal.handle();
            }
            let run = guest(signal.clone(), after.map(Duration::from_secs), 0);
            tokio::pin!(run);
            let began = Instant::now();
            let (end, failed) = stop_instance(run.as_mut(), &signal, grace, None::<NoHook>).await;
            assert_eq!((end, failed), (want, None), "handles {handles} after {after:?} grace {grace:?}");
            assert_eq!(began.elapsed().as_secs(), secs, "handles {handles} after {after:?}");
            assert_eq!(signal.is_requested(), !grace.is_zero());
        }
    }

    #[tokio::test(start_paused = true)]
    async fn pre_stop_runs_first_and_counts_against_the_grace_period() {
        // A 5 s preStop, then a guest that exits 1 s after the request.
        let signal = StopSignal::new();
        signal.handle();
        let run = guest(signal.clone(), Some(Duration::from_secs(1)), 7);
        tokio::pin!(run);
        let began = Instant::now();
        let hook = async {
            sleep(Duration::from_secs(5)).await;
            Ok(())
        };
        let (end, failed) = stop_instance(run.as_mut(), &signal, Duration::from_secs(30), Some(hook)).await;
        assert_eq!((end, failed, began.elapsed().as_secs()), (Ok(7), None, 6));
        // A preStop that outlasts the period fails, and the guest is then
        // killed at the deadline.
        let signal = StopSignal::new();
        signal.handle();
        let run = guest(signal.clone(), None, 0);
        tokio::pin!(run);
        let began = Instant::now();
        let (end, failed) = stop_instance(run.as_mut(), &signal, Duration::from_secs(3), Some(std::future::pending::<Result<(), String>>())).await;
        assert_eq!(end, Err(137));
        assert_eq!(failed.as_deref(), Some("did not complete within the grace period of 3s"));
        assert_eq!(began.elapsed().as_secs(), 3);
        // A failing preStop is reported; the stop goes on.
        let signal = StopSignal::new();
        let run = guest(signal.clone(), Some(Duration::from_secs(1)), 0);
        tokio::pin!(run);
        let (end, failed) = stop_instance(run.as_mut(), &signal, Duration::from_secs(3), Some(std::future::ready(Err("exited with 1".to_owned())))).await;
        assert_eq!((end, failed.as_deref()), (Err(143), Some("exited with 1")));
    }
}
