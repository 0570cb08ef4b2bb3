//! The worker that runs one container of a pod through its lifecycle:
//! create, run, exit, and restart per `restartPolicy` with the
//! CrashLoopBackOff back-off, reporting every state to the supervisor.
//!
//! ```text
//!   Waiting(ContainerCreating) -> Running -> Terminated
//!        ^                                      |
//!        '---- Waiting(CrashLoopBackOff) <------'  (restart allowed, delay > 0)
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStatus};
use tokio::sync::{mpsc, watch};

use super::backoff::{BackoffConfig, RestartBackoff};
use super::events::PodEvent;
use super::hooks::HookContext;
use super::restart::{RestartPolicy, should_restart};
use super::{now, waiting_state};
use crate::error_text::full_message;
use crate::sandbox::{self, GuestExit, LogStream, SandboxSpec, StopSignal};
use crate::sandbox::{Engine as WasmEngine, Program};
use crate::store::{ContainerLog, LogTap, PodDir, Stream};
use crate::volume::Mount;

/// Exit code of a container killed by the runtime: 128 + SIGKILL, as
/// Kubernetes reports a killed process. WASI has no signals; this keeps
/// scripts and dashboards that read exit codes working.
pub const EXIT_KILLED: i32 = 137;
/// Exit code reported for a guest that trapped (a Rust panic aborts with an
/// `unreachable` trap): 128 + SIGABRT, what a panicking native program shows.
pub const EXIT_TRAPPED: i32 = 134;
/// Exit code of a guest ended by a stop request it does not handle:
/// 128 + SIGTERM, what a process without a handler shows.
pub const EXIT_TERMINATED: i32 = 143;

/// Which list a container is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// `spec.initContainers[i]` (regular: runs to completion, in order).
    Init,
    /// `spec.containers[i]`.
    App,
}

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
    pub program: Arc<Program>,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<String>,
    /// Volume mounts, after the root; resolved on the host at each start.
    pub mounts: Vec<crate::volume::PlannedMount>,
    pub rootfs: PathBuf,
    /// The pod's `restartPolicy`.
    pub pod_restart: RestartPolicy,
    pub backoff: BackoffConfig,
    pub pod_key: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub pod_uid: String,
    /// What the container's sockets reach.
    pub network: crate::net::SocketPolicy,
    /// The grace period when the pod is stopped: the override, else
    /// `grace_default` (`terminationGracePeriodSeconds`).
    pub grace: super::GraceOverride,
    pub grace_default: std::time::Duration,
    /// `lifecycle.preStop`.
    pub pre_stop: Option<k8s_openapi::api::core::v1::LifecycleHandler>,
    /// `lifecycle.postStart`.
    pub post_start: Option<k8s_openapi::api::core::v1::LifecycleHandler>,
    /// The pod's IPC namespace: the same for every instance of every
    /// container, so objects survive restarts.
    pub ipc: Arc<crate::ipc::IpcNamespace>,
    /// The pod's cap on open files and sockets.
    pub handles: Arc<crate::limits::HandleAccount>,
    /// How long one second of the container's probe timings lasts.
    pub probe_second: std::time::Duration,
    /// How its log rotates.
    pub log_rotation: crate::store::LogRotation,
    /// A native sidecar: an init container with `restartPolicy: Always`.
    pub sidecar: bool,
    /// Who the container runs as (securityContext).
    pub identity: Arc<crate::security::Identity>,
    /// Owners of the files in its root.
    pub root_owners: Arc<crate::volume::OwnerBook>,
    /// readOnlyRootFilesystem: the root preopen is read-only.
    pub read_only_root: bool,
    /// Its memory account (`resources.limits.memory`); kept across
    /// restarts, empty whenever no instance runs.
    pub memory: Option<Arc<crate::limits::MemoryAccount>>,
    /// Its CPU account (`resources.limits.cpu`), shared by its instances.
    pub cpu: Option<Arc<crate::limits::CpuAccount>>,
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

/// How an instance's run ended.
enum RunEnd {
    Exited(Result<GuestExit, sandbox::SandboxError>),
    /// The pod is stopping.
    Stopped,
    /// Its liveness or startup probe failed.
    FailedProbe(crate::probe::ProbeKind),
    /// Its postStart hook failed.
    FailedPostStart,
    /// Its files in memory-backed volumes took it over its memory limit.
    OutOfMemory(String),
}

pub(crate) struct Worker {
    pub plan: ContainerPlan,
    pub engine: Arc<WasmEngine>,
    pub dir: PodDir,
    pub tap: Option<Arc<dyn LogTap>>,
    pub reports: mpsc::UnboundedSender<Report>,
    pub stop: watch::Receiver<bool>,
}

impl Worker {
    fn status(&self, state: ContainerState, last: Option<ContainerState>, restarts: i32, health: Health) -> ContainerStatus {
        let running = state.running.is_some();
        let c = &self.plan.container;
        ContainerStatus {
            name: c.name.clone(),
            image: self.plan.image_ref.clone(),
            image_id: format!("wasmpod://{}", self.plan.image_ref),
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

    /// The kubelet's stop of a running container: the preStop hook (the
    /// guest keeps running meanwhile), then the stop request, then, for a
    /// guest that handles requests, its own exit or a kill when the grace
    /// period ends. `Ok`: the guest exited by itself; `Err`: the exit code
    /// it was ended with (143 terminated on the request, 137 killed).
    async fn stop_gracefully<F>(
        &self,
        mut run: std::pin::Pin<&mut F>,
        signal: &StopSignal,
        hook: &HookContext<'_>,
    ) -> Result<Result<GuestExit, sandbox::SandboxError>, i32>
    where
        F: std::future::Future<Output = Result<GuestExit, sandbox::SandboxError>>,
    {
        let grace = self.plan.grace.get(self.plan.grace_default);
        if grace.is_zero() {
            // `--grace-period=0` (and local-storage evictions): SIGKILL.
            return Err(EXIT_KILLED);
        }
        let deadline = tokio::time::Instant::now() + grace;
        if let Some(handler) = &self.plan.pre_stop {
            tokio::select! {
                r = run.as_mut() => return Ok(r),
                done = tokio::time::timeout_at(deadline, super::hooks::run(handler, hook)) => match done {
                    Ok(Ok(())) => {}
                    Ok(Err(msg)) => self.event(PodEvent::warning("FailedPreStopHook", Some(self.field_path()), format!("PreStopHook failed: {msg}"))),
                    Err(_) => self.event(PodEvent::warning("FailedPreStopHook", Some(self.field_path()), format!("PreStopHook failed: did not complete within the grace period of {}s", grace.as_secs()))),
                },
            }
        }
        signal.request();
        if !signal.is_handled() {
            // A process without a SIGTERM handler dies of the signal.
            return Err(EXIT_TERMINATED);
        }
        tokio::select! {
            r = run.as_mut() => Ok(r),
            // Dropping the run future kills the guest at its next yield.
            _ = tokio::time::sleep_until(deadline) => Err(EXIT_KILLED),
        }
    }

    /// Runs the container until it ends for good (exit without restart, or
    /// the pod is stopped). Returns the last exit code, if it ran.
    pub(crate) async fn run(mut self) -> Option<i32> {
        let name = self.plan.container.name.clone();
        let mut backoff = RestartBackoff::new(self.plan.backoff);
        let mut restarts = 0;
        let mut last: Option<ContainerState> = None;
        let mut last_code = None;
        loop {
            if self.stopping() {
                return last_code;
            }
            let log_path = self.dir.log_path(&name, restarts);
            // The kubelet keeps the current and the previous instance's log.
            if restarts >= 2 {
                crate::store::remove_log(&self.dir.log_path(&name, restarts - 2));
            }
            let log = match ContainerLog::create(&log_path, &self.plan.pod_key, &name, self.tap.clone(), self.plan.log_rotation) {
                Ok(l) => Arc::new(l),
                Err(e) => {
                    let msg = format!("cannot create the container's log: {e}");
                    self.event(PodEvent::warning("Failed", Some(self.field_path()), msg.clone()));
                    self.report(self.status(waiting_state("CreateContainerError", Some(msg)), last.clone(), restarts, Health::DOWN));
                    super::stop_requested(&mut self.stop).await;
                    return last_code;
                }
            };
            if let Err(e) = std::fs::create_dir_all(self.plan.rootfs.join("tmp")) {
                let msg = format!("cannot create the container's root directory {}: {e}", self.plan.rootfs.display());
                self.event(PodEvent::warning("Failed", Some(self.field_path()), msg.clone()));
                self.report(self.status(waiting_state("CreateContainerError", Some(msg)), last.clone(), restarts, Health::DOWN));
                super::stop_requested(&mut self.stop).await;
                return last_code;
            }
            // /tmp is root's, as in an image; the rest of the root is what
            // the container itself wrote.
            self.plan.root_owners.record(&self.plan.rootfs.join("tmp"), (0, 0));
            if let Some(wd) = &self.plan.working_dir {
                // Never through a link the previous instance left in its root.
                let _ = crate::volume::create_beneath(&self.plan.rootfs, wd, false);
            }
            let volume_mounts = match crate::volume::resolve(&self.plan.mounts, &self.plan.rootfs) {
                Ok(m) => m,
                Err(e) => {
                    // As the kubelet's makeMounts failures: the container is
                    // not created and waits with CreateContainerConfigError.
                    let msg = full_message(&e);
                    self.event(PodEvent::warning("Failed", Some(self.field_path()), format!("Error: {msg}")));
                    self.report(self.status(waiting_state("CreateContainerConfigError", Some(msg)), last.clone(), restarts, Health::DOWN));
                    super::stop_requested(&mut self.stop).await;
                    return last_code;
                }
            };
            // Every instance is a new container, as the kubelet reports it;
            // the recorder counts the repeats.
            self.event(PodEvent::normal("Created", Some(self.field_path()), format!("Created container: {name}")));
            let started_at = now();
            let began = Instant::now();
            let running = ContainerState { running: Some(ContainerStateRunning { started_at: Some(started_at.clone()) }), ..Default::default() };

            let mut mounts = vec![Mount {
                host_path: self.plan.rootfs.clone(),
                guest_path: "/".into(),
                writable: !self.plan.read_only_root,
                owners: Some(self.plan.root_owners.clone()),
                memory_files: None,
            }];
            mounts.extend(volume_mounts);
            let signal = StopSignal::new();
            let spec = SandboxSpec {
                args: self.plan.args.clone(),
                env: self.plan.env.clone(),
                mounts: mounts.clone(),
                working_dir: self.plan.working_dir.clone(),
                stdin: None,
                stdout: Arc::new(LogStream::new(log.clone(), Stream::Stdout)),
                stderr: Arc::new(LogStream::new(log.clone(), Stream::Stderr)),
                network: self.plan.network.clone(),
                stop: signal.clone(),
                ipc: self.plan.ipc.clone(),
                http_ports: tcp_ports(&self.plan.container),
                identity: self.plan.identity.clone(),
                memory: self.plan.memory.clone(),
                cpu: self.plan.cpu.clone(),
                handles: self.plan.handles.clone(),
            };
            // The probes of this instance; a restart gets fresh ones with
            // their initial results, as the kubelet's new prober workers.
            let probe_ctx =
                crate::probe::ProbeContext { engine: self.engine.clone(), program: self.plan.program.clone(), spec: spec.clone(), container: name.clone() };
            let mut probes = crate::probe::ProbeSet::start(&self.plan.container, probe_ctx, self.plan.probe_second, tokio::time::Instant::now());
            let health = |p: &crate::probe::ProbeSet| Health { started: p.started(), ready: p.ready() };
            // The event first, as the kubelet records it before its status
            // sync sees the container: whatever the running status lets
            // start next (a later init container) comes after it.
            self.event(PodEvent::normal("Started", Some(self.field_path()), format!("Started container {name}")));
            self.report(self.status(running.clone(), last.clone(), restarts, health(&probes)));
            // Let the supervisor record Created/Started before the guest's
            // first line reaches the log tap, so output reads in order.
            tokio::task::yield_now().await;

            let engine = self.engine.clone();
            let program = self.plan.program.clone();
            let mut stop = self.stop.clone();
            let hook = HookContext {
                engine: &engine,
                program: &program,
                container: &self.plan.container,
                env: &self.plan.env,
                mounts: &mounts,
                working_dir: self.plan.working_dir.clone(),
                network: &self.plan.network,
                ipc: &self.plan.ipc,
                identity: &self.plan.identity,
                memory: &self.plan.memory,
                cpu: &self.plan.cpu,
                handles: &self.plan.handles,
            };
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
            let mut post_start_done = self.plan.post_start.is_none();
            let end = loop {
                tokio::select! {
                    r = &mut run => break RunEnd::Exited(r),
                    _ = super::stop_requested(&mut stop) => break RunEnd::Stopped,
                    // Files in memory-backed volumes took it over its limit:
                    // killed as the kernel's OOM killer would.
                    message = memory_exceeded(self.plan.memory.as_deref()) => break RunEnd::OutOfMemory(message),
                    done = &mut post_start, if !post_start_done => {
                        post_start_done = true;
                        if let Err(msg) = done {
                            self.event(PodEvent::warning("FailedPostStartHook", Some(self.field_path()), format!("PostStartHook failed: {msg}")));
                            break RunEnd::FailedPostStart;
                        }
                    }
                    event = probes.next() => match event {
                        crate::probe::ProbeEvent::Unhealthy { kind, message } => {
                            self.event(PodEvent::warning("Unhealthy", Some(self.field_path()), format!("{} probe failed: {message}", kind.title())));
                        }
                        crate::probe::ProbeEvent::Changed => self.report(self.status(running.clone(), last.clone(), restarts, health(&probes))),
                        crate::probe::ProbeEvent::Kill(kind) => break RunEnd::FailedProbe(kind),
                    },
                }
            };
            probes.stop();
            // A stop, a failed probe and a failed postStart all stop the
            // guest the kubelet's way: preStop, the stop request, the grace
            // period, a kill. Err: the exit code that ended the guest.
            let stopped = match end {
                RunEnd::Exited(r) => Ok(r),
                RunEnd::OutOfMemory(message) => {
                    drop(run);
                    Ok(Ok(GuestExit::OomKilled(message)))
                }
                other => {
                    let message = match other {
                        RunEnd::FailedProbe(kind) => {
                            let what = if kind == crate::probe::ProbeKind::Startup { "startup" } else { "liveness" };
                            format!("Container {name} failed {what} probe, will be restarted")
                        }
                        _ => format!("Stopping container {name}"),
                    };
                    self.event(PodEvent::normal("Killing", Some(self.field_path()), message));
                    self.stop_gracefully(run.as_mut(), &signal, &hook).await
                }
            };
            let (code, reason, message) = match stopped {
                Err(code) => (code, "Error", None),
                Ok(Ok(GuestExit::Exited(code))) => (code, if code == 0 { "Completed" } else { "Error" }, None),
                // As the kubelet reports a container the OOM killer ended.
                Ok(Ok(GuestExit::OomKilled(msg))) => {
                    log.write(Stream::Stderr, format!("wasmpod: OOM killed: {msg}\n").as_bytes());
                    (EXIT_KILLED, "OOMKilled", Some(msg))
                }
                Ok(Ok(GuestExit::Trapped(msg))) => {
                    log.write(Stream::Stderr, format!("wasmpod: guest trapped: {msg}\n").as_bytes());
                    (EXIT_TRAPPED, "Error", Some(format!("guest trapped: {msg}")))
                }
                Ok(Err(e)) => {
                    let msg = full_message(&e);
                    log.write(Stream::Stderr, format!("wasmpod: {msg}\n").as_bytes());
                    self.event(PodEvent::warning("Failed", Some(self.field_path()), format!("Error: {msg}")));
                    (128, "StartError", Some(msg))
                }
            };
            log.finish(Stream::Stdout);
            log.finish(Stream::Stderr);
            let ran_for = began.elapsed();
            last_code = Some(code);
            let terminated = ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    reason: Some(reason.into()),
                    message,
                    started_at: Some(started_at),
                    finished_at: Some(now()),
                    container_id: Some(format!("wasmpod://{}/{}/{}", self.plan.pod_key, name, restarts)),
                    ..Default::default()
                }),
                ..Default::default()
            };
            self.report(self.status(terminated.clone(), last.clone(), restarts, Health::DOWN));

            if self.stopping() || !should_restart(&self.plan.container, self.plan.kind, self.plan.pod_restart, code) {
                return last_code;
            }
            let delay = backoff.on_exit(ran_for);
            last = Some(terminated);
            if !delay.is_zero() {
                let msg = backoff.crash_loop_message(&name, &self.plan.pod_name, &self.plan.pod_namespace, &self.plan.pod_uid);
                self.report(self.status(waiting_state("CrashLoopBackOff", Some(msg)), last.clone(), restarts, Health::DOWN));
                self.event(PodEvent::warning(
                    "BackOff",
                    Some(self.field_path()),
                    format!("Back-off restarting failed container {name} in pod {}_{}({})", self.plan.pod_name, self.plan.pod_namespace, self.plan.pod_uid),
                ));
                let mut stop = self.stop.clone();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = super::stop_requested(&mut stop) => return last_code,
                }
            }
            restarts += 1;
        }
    }
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
