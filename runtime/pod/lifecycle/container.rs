//! One container's life as explicit states, stepped by a pure function.
//!
//! ```text
//!   (registry images only: each start pulls first, as its policy says)
//!   Pulling --Pulled--> Creating
//!     |  ^  \--PullFailed--> PullFailed --BackOffOver--> PullBackingOff
//!     |  |                   (ErrImagePull)              (ImagePullBackOff)
//!     |  '------------------------- BackOffOver ---------------'
//!     '--PullFailed(invalid name)--> Blocked
//!
//!             Started                Stop / Kill             Ended
//!  Creating ----------> Running ------------------> Stopping -------.
//!   |  ^  \                 \________________________ Ended ________\
//!   |  |   `CreateFailed--> Blocked --Stop--> Done                   v
//!   |  |                                                   restart? no --> Done
//!   |  '--------- BackOffOver <-- BackingOff <-- delay > 0 -- yes
//!   |  '------------------------------------------ delay 0 -- yes
//!   '--Stop--> Done
//! ```
//!
//! The worker (`container.rs`) carries the actions out (creates and runs
//! an instance, stops it, sleeps, reports, records events) and feeds what
//! happened back as the next [`Input`]; every decision is made here: what
//! a state change reports and records, whether an exit is restarted and
//! after what back-off (the kubelet's CrashLoopBackOff), and that a
//! stopping pod restarts nothing.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerState, ContainerStateRunning, ContainerStateTerminated};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::super::backoff::RestartBackoff;
use super::super::events::{PodEvent, field_path};
use super::super::kind::ContainerKind;
use super::super::restart::RestartRule;
use super::super::waiting_state;
use crate::probe::ProbeKind;
use crate::sandbox::{GuestExit, SandboxError};

/// Where a container is in its life. Each state's allowed inputs are in
/// [`ContainerLifecycle::step`]; any other input leaves it unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Stage {
    /// Its next instance is being created. Next: `Running` (Started),
    /// `Blocked` (CreateFailed), `Done` (Stop).
    #[default]
    Creating,
    /// An instance runs since `started_at`. Next: `Stopping` (Stop, Kill),
    /// `Creating`, `BackingOff` or `Done` (Ended).
    Running {
        /// When the instance started (its status's `startedAt`).
        started_at: Time,
    },
    /// Its instance is being stopped on purpose (preStop, the stop
    /// request, the grace period). Next: as `Running` after Ended.
    Stopping {
        /// When the instance started.
        started_at: Time,
    },
    /// Waiting out the back-off before the next instance. Next:
    /// `Creating` (BackOffOver), `Done` (Stop).
    BackingOff,
    /// It could not be created (log, root, mounts): it waits, as the
    /// kubelet leaves such a container Waiting, until the pod stops.
    /// Next: `Done` (Stop).
    Blocked,
    /// Its registry image is being made present (pulled or found, as
    /// its pull policy says) and loaded. Next: `Creating` (Pulled),
    /// `PullFailed`, `PullBackingOff` or `Blocked` (PullFailed), `Done`
    /// (Stop).
    Pulling,
    /// The pull failed and the container shows `ErrImagePull` until the
    /// kubelet's next sync of the pod. Next: `PullBackingOff`
    /// (BackOffOver), `Done` (Stop).
    PullFailed {
        /// The rest of the back-off after that sync.
        rest: Duration,
        /// What went wrong.
        error: String,
    },
    /// Waiting out the pull back-off (`ImagePullBackOff`, or a recheck of
    /// a `Never` image). Next: `Pulling` (BackOffOver), `Done` (Stop).
    PullBackingOff,
    /// It will not run again.
    Done,
}

/// How long a failed pull shows `ErrImagePull` before `ImagePullBackOff`:
/// the kubelet's next sync of the pod (its PLEG relist is every second).
pub(crate) const PULL_SYNC: Duration = Duration::from_secs(1);

/// A registry image's pulls: the image as written and the pull back-off
/// (the kubelet's `flowcontrol.Backoff` for images: 10 s doubling to
/// 300 s, the crash-loop numbers).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pulls {
    /// The image as the container writes it.
    image: String,
    /// The back-off's parameters.
    config: super::super::backoff::BackoffConfig,
    /// The last wait, doubled on the next failure; none before one.
    delay: Option<Duration>,
}

impl Pulls {
    /// Pulls of `image` with `config`'s back-off.
    pub(crate) fn new(image: &str, config: super::super::backoff::BackoffConfig) -> Self {
        Self { image: image.to_owned(), config, delay: None }
    }

    /// The wait after one more failure.
    fn next_delay(&mut self) -> Duration {
        let initial = self.config.initial.min(self.config.max);
        let next = self.delay.map_or(initial, |d| d.saturating_mul(2).min(self.config.max));
        self.delay = Some(next);
        next
    }
}

/// Why a running instance is stopped before it ends by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kill {
    /// Its liveness or startup probe failed.
    Probe(ProbeKind),
    /// Its postStart hook failed, with this message.
    PostStart(String),
    /// Its definition (image) changed: it restarts with the new one
    /// whatever the restart policy, without a back-off.
    Changed,
}

/// What happened, as the worker tells it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// The pod is stopping (deleted, evicted, the runtime shutting down).
    Stop,
    /// The instance could not be created: the container's Waiting
    /// `reason` and `message`, and the text of the `Failed` event.
    CreateFailed {
        /// `CreateContainerError` or `CreateContainerConfigError`.
        reason: &'static str,
        /// The Waiting message.
        message: String,
        /// The `Failed` event's text.
        event: String,
    },
    /// The instance was created and started at `at`.
    Started {
        /// Its `startedAt`.
        at: Time,
    },
    /// The instance must be stopped.
    Kill(Kill),
    /// The instance ended after running for `ran_for`.
    Ended {
        /// How, in Kubernetes' terms.
        end: Termination,
        /// How long it ran (the back-off forgets containers that ran long).
        ran_for: Duration,
        /// Its `finishedAt`.
        at: Time,
        /// Whether the pod was stopping by then (nothing restarts).
        pod_stopping: bool,
    },
    /// The back-off delay passed.
    BackOffOver,
    /// The registry image is present and loaded; what its pull took, if
    /// one was needed.
    Pulled(Option<super::super::pull::PullFigures>),
    /// The registry image is not there.
    PullFailed(super::super::pull::PullFailure),
}

/// What the worker is to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Action {
    /// Create the next instance and start it (then report `Started`, or
    /// `CreateFailed`; `Stop` if the pod is stopping already).
    Create,
    /// Make the registry image present and load it (then report `Pulled`
    /// or `PullFailed`; `Stop` if the pod is stopping already).
    Pull,
    /// Record an event.
    Event(PodEvent),
    /// Report the container's status. Boxed: two states are large.
    Report(Box<Reported>),
    /// Stop the running instance: preStop, the stop request, the grace
    /// period, a kill; then report `Ended`.
    StopInstance,
    /// Sleep for the back-off, then report `BackOffOver` (or `Stop`).
    Sleep(Duration),
    /// Wait for the pod to stop, then report `Stop`.
    AwaitStop,
    /// The worker is done; its last exit code, if an instance ran.
    Finish(Option<i32>),
}

/// A container status to report: its state, the previous instance's end,
/// and its restart count.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Reported {
    /// The current state.
    pub state: ContainerState,
    /// `lastState`.
    pub last: Option<ContainerState>,
    /// `restartCount`.
    pub restarts: i32,
}

/// How an instance ended, as its status's `terminated` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Termination {
    /// The exit code.
    pub code: i32,
    /// `Completed`, `Error`, `OOMKilled` or `StartError`.
    pub reason: &'static str,
    /// `terminated.message`.
    pub message: Option<String>,
    /// A line for the container's log (stderr) when the guest did not
    /// print why it ended itself (a trap, an OOM kill, a start failure).
    pub log_line: Option<String>,
    /// The `Failed` event's text, for an instance that could not start.
    pub event: Option<String>,
}

impl Termination {
    /// The end of a guest that ran (or failed to start): the one reading
    /// of a container's exit.
    pub(crate) fn of(result: &Result<GuestExit, SandboxError>) -> Self {
        match result {
            Ok(exit @ GuestExit::Exited(code)) => {
                Self { code: exit.code(), reason: if *code == 0 { "Completed" } else { "Error" }, message: None, log_line: None, event: None }
            }
            // As the kubelet reports a container the OOM killer ended.
            Ok(exit @ GuestExit::OomKilled(why)) => {
                Self { code: exit.code(), reason: "OOMKilled", message: Some(why.clone()), log_line: Some(format!("wasmpod: OOM killed: {why}")), event: None }
            }
            Ok(exit @ GuestExit::Trapped(trap)) => Self {
                code: exit.code(),
                reason: "Error",
                message: Some(format!("guest trapped: {trap}")),
                log_line: Some(format!("wasmpod: guest trapped: {trap}")),
                event: None,
            },
            Err(e) => {
                let why = crate::error_text::full_message(e);
                Self {
                    code: 128,
                    reason: "StartError",
                    message: Some(why.clone()),
                    log_line: Some(format!("wasmpod: {why}")),
                    event: Some(format!("Error: {why}")),
                }
            }
        }
    }

    /// A guest the runtime ended (143: on a stop request it does not
    /// handle; 137: killed).
    pub(crate) fn ended_by_runtime(code: i32) -> Self {
        Self { code, reason: "Error", message: None, log_line: None, event: None }
    }
}

/// Names a container's messages use.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Names {
    /// The container.
    pub container: String,
    /// The pod, its namespace and uid (the BackOff event and the
    /// CrashLoopBackOff message name them as the kubelet does).
    pub pod: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's uid.
    pub uid: String,
    /// `spec.containers{name}` or `spec.initContainers{name}`.
    pub field_path: String,
}

impl Names {
    /// The names of container `container` of `kind` in pod `namespace/pod`.
    pub(crate) fn new(kind: ContainerKind, container: &str, pod: &str, namespace: &str, uid: &str) -> Self {
        Self { container: container.into(), pod: pod.into(), namespace: namespace.into(), uid: uid.into(), field_path: field_path(kind, container) }
    }
}

/// One container's lifecycle: its stage and what outlives an instance
/// (restart count, the last end, the back-off).
#[derive(Debug, Clone, Default)]
pub(crate) struct ContainerLifecycle {
    stage: Stage,
    restarts: i32,
    /// The previous instance's end (`lastState`).
    last: Option<ContainerState>,
    /// The last exit code, once an instance ended.
    last_code: Option<i32>,
    /// The pod is stopping: nothing is restarted.
    stopping: bool,
    backoff: RestartBackoff,
    restart: RestartRule,
    names: Names,
    /// Set for a registry image: every start pulls first.
    pulls: Option<Pulls>,
    /// The definition changed: the instance being stopped restarts.
    changed: bool,
}

impl ContainerLifecycle {
    /// A container about to create its first instance, and the action
    /// that does it.
    pub(crate) fn new(names: Names, restart: RestartRule, backoff: RestartBackoff) -> (Self, Vec<Action>) {
        (Self { names, restart, backoff, ..Self::default() }, vec![Action::Create])
    }

    /// Counts restarts from `earlier` (a pod resumed after its process
    /// went: the instances of the earlier run count).
    pub(crate) fn count_restarts_from(&mut self, earlier: i32) {
        self.restarts = earlier.max(0);
    }

    /// A container whose registry image is pulled (as its policy says)
    /// before each instance, and the action that does it first.
    pub(crate) fn pulling(names: Names, restart: RestartRule, backoff: RestartBackoff, pulls: Pulls) -> (Self, Vec<Action>) {
        (Self { names, restart, backoff, pulls: Some(pulls), stage: Stage::Pulling, ..Self::default() }, vec![Action::Pull])
    }

    /// The way to the next instance: a pull first for a registry image.
    fn start_next(&self, out: &mut Vec<Action>) -> Stage {
        if self.pulls.is_some() {
            out.push(Action::Pull);
            Stage::Pulling
        } else {
            out.push(Action::Create);
            Stage::Creating
        }
    }

    /// The container's image changed: later starts pull `pulls` (a
    /// registry image) or none (a local one).
    pub(crate) fn set_pulls(&mut self, pulls: Option<Pulls>) {
        self.pulls = pulls;
    }

    /// The current stage.
    #[cfg(test)]
    pub(crate) fn stage(&self) -> &Stage {
        &self.stage
    }

    /// `restartCount`.
    pub(crate) fn restarts(&self) -> i32 {
        self.restarts
    }

    /// `lastState`.
    pub(crate) fn last(&self) -> Option<&ContainerState> {
        self.last.as_ref()
    }

    /// The running state of the current instance, if one runs.
    pub(crate) fn running_state(&self) -> Option<ContainerState> {
        match &self.stage {
            Stage::Running { started_at } | Stage::Stopping { started_at } => Some(running(started_at.clone())),
            _ => None,
        }
    }

    /// Steps in place (see [`ContainerLifecycle::step`]).
    pub(crate) fn apply(&mut self, input: Input) -> Vec<Action> {
        let (next, actions) = std::mem::take(self).step(input);
        *self = next;
        actions
    }

    fn report(&self, state: ContainerState) -> Action {
        Action::Report(Box::new(Reported { state, last: self.last.clone(), restarts: self.restarts }))
    }

    fn event(&self, warning: bool, reason: &'static str, message: String) -> Action {
        let path = Some(self.names.field_path.clone());
        Action::Event(if warning { PodEvent::warning(reason, path, message) } else { PodEvent::normal(reason, path, message) })
    }

    /// The next state and what to do, for `input` in the current state.
    pub(crate) fn step(mut self, input: Input) -> (Self, Vec<Action>) {
        let name = self.names.container.clone();
        let mut out = Vec::new();
        if matches!(input, Input::Stop) {
            self.stopping = true;
        }
        let stage = std::mem::take(&mut self.stage);
        self.stage = match (stage, input) {
            (Stage::Creating | Stage::BackingOff | Stage::Blocked | Stage::Pulling | Stage::PullFailed { .. } | Stage::PullBackingOff, Input::Stop) => {
                out.push(Action::Finish(self.last_code));
                Stage::Done
            }
            (Stage::Creating, Input::CreateFailed { reason, message, event }) => {
                out.push(self.event(true, "Failed", event));
                out.push(self.report(waiting_state(reason, Some(message))));
                out.push(Action::AwaitStop);
                Stage::Blocked
            }
            (Stage::Creating, Input::Started { at }) => {
                // Every instance is a new container, as the kubelet reports it.
                out.push(self.event(false, "Created", format!("Created container: {name}")));
                out.push(self.event(false, "Started", format!("Started container {name}")));
                out.push(self.report(running(at.clone())));
                Stage::Running { started_at: at }
            }
            (Stage::Running { started_at }, Input::Stop) => {
                out.push(self.event(false, "Killing", format!("Stopping container {name}")));
                out.push(Action::StopInstance);
                Stage::Stopping { started_at }
            }
            (Stage::Running { started_at }, Input::Kill(kill)) => {
                let message = match kill {
                    Kill::Probe(kind) => {
                        let what = if kind == ProbeKind::Startup { "startup" } else { "liveness" };
                        format!("Container {name} failed {what} probe, will be restarted")
                    }
                    Kill::PostStart(why) => {
                        out.push(self.event(true, "FailedPostStartHook", format!("PostStartHook failed: {why}")));
                        format!("Stopping container {name}")
                    }
                    Kill::Changed => {
                        self.changed = true;
                        format!("Container {name} definition changed, will be restarted")
                    }
                };
                out.push(self.event(false, "Killing", message));
                out.push(Action::StopInstance);
                Stage::Stopping { started_at }
            }
            (Stage::Running { started_at } | Stage::Stopping { started_at }, Input::Ended { end, ran_for, at, pod_stopping }) => {
                self.stopping |= pod_stopping;
                self.ended(started_at, end, ran_for, at, &mut out)
            }
            (Stage::BackingOff, Input::BackOffOver) => {
                self.restarts += 1;
                self.start_next(&mut out)
            }
            (Stage::Pulling, Input::Pulled(figures)) => {
                let image = self.pulls.as_ref().map(|p| p.image.clone()).unwrap_or_default();
                let message = match figures {
                    Some(f) => format!(
                        "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                        go_millis(f.pull),
                        go_millis(f.total),
                        f.size
                    ),
                    None => format!("Container image \"{image}\" already present on machine"),
                };
                out.push(self.event(false, "Pulled", message));
                if let Some(p) = &mut self.pulls {
                    p.delay = None;
                }
                out.push(Action::Create);
                Stage::Creating
            }
            (Stage::Pulling, Input::PullFailed(failure)) => self.pull_failed(failure, &mut out),
            (Stage::PullFailed { rest, error }, Input::BackOffOver) => {
                let image = self.pulls.as_ref().map(|p| p.image.clone()).unwrap_or_default();
                let message = format!("Back-off pulling image \"{image}\"");
                out.push(self.event(false, "BackOff", message.clone()));
                out.push(self.event(true, "Failed", "Error: ImagePullBackOff".into()));
                out.push(self.report(waiting_state("ImagePullBackOff", Some(format!("{message}: ErrImagePull: {error}")))));
                out.push(Action::Sleep(rest));
                Stage::PullBackingOff
            }
            (Stage::PullBackingOff, Input::BackOffOver) => {
                out.push(Action::Pull);
                Stage::Pulling
            }
            // Anything else changes nothing: a second stop while stopping,
            // a kill racing an exit, inputs after the end.
            (stage, _) => stage,
        };
        (self, out)
    }

    /// An instance ended: report it, then restart it now, after a
    /// back-off, or never.
    fn ended(&mut self, started_at: Time, end: Termination, ran_for: Duration, at: Time, out: &mut Vec<Action>) -> Stage {
        if let Some(event) = &end.event {
            out.push(self.event(true, "Failed", event.clone()));
        }
        let terminated = ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: end.code,
                reason: Some(end.reason.into()),
                message: end.message.clone(),
                started_at: Some(started_at),
                finished_at: Some(at),
                container_id: Some(format!("wasmpod://{}/{}/{}/{}", self.names.namespace, self.names.pod, self.names.container, self.restarts)),
                ..Default::default()
            }),
            ..Default::default()
        };
        out.push(self.report(terminated.clone()));
        self.last_code = Some(end.code);
        if !self.stopping && std::mem::take(&mut self.changed) {
            self.last = Some(terminated);
            self.restarts += 1;
            return self.start_next(out);
        }
        if self.stopping || !self.restart.restarts_after(end.code) {
            out.push(Action::Finish(self.last_code));
            return Stage::Done;
        }
        let delay = self.backoff.on_exit(ran_for);
        self.last = Some(terminated);
        if delay.is_zero() {
            self.restarts += 1;
            return self.start_next(out);
        }
        let n = &self.names;
        let message = self.backoff.crash_loop_message(&n.container, &n.pod, &n.namespace, &n.uid);
        out.push(self.report(waiting_state("CrashLoopBackOff", Some(message))));
        let event = format!("Back-off restarting failed container {} in pod {}_{}({})", n.container, n.pod, n.namespace, n.uid);
        out.push(self.event(true, "BackOff", event));
        out.push(Action::Sleep(delay));
        Stage::BackingOff
    }
}

impl ContainerLifecycle {
    /// A pull failed: the kubelet's events and Waiting reason, then what
    /// follows (a back-off, a recheck, or nothing for a bad name).
    fn pull_failed(&mut self, failure: super::super::pull::PullFailure, out: &mut Vec<Action>) -> Stage {
        use super::super::pull::PullFailure;
        let image = self.pulls.as_ref().map(|p| p.image.clone()).unwrap_or_default();
        match failure {
            PullFailure::InvalidName(message) => {
                out.push(self.event(true, "InspectFailed", message.clone()));
                out.push(self.event(true, "Failed", "Error: InvalidImageName".into()));
                out.push(self.report(waiting_state("InvalidImageName", Some(message))));
                out.push(Action::AwaitStop);
                Stage::Blocked
            }
            PullFailure::NeverPull => {
                let message = format!("Container image \"{image}\" is not present with pull policy of Never");
                out.push(self.event(true, "ErrImageNeverPull", message.clone()));
                out.push(self.event(true, "Failed", "Error: ErrImageNeverPull".into()));
                out.push(self.report(waiting_state("ErrImageNeverPull", Some(message))));
                // Looked for again at each sync: a pull by someone else lets it start.
                let recheck = self.pulls.as_ref().map_or(Duration::from_secs(10), |p| p.config.initial.min(p.config.max));
                out.push(Action::Sleep(recheck));
                Stage::PullBackingOff
            }
            PullFailure::Failed(error) => {
                out.push(self.event(true, "Failed", format!("Failed to pull image \"{image}\": {error}")));
                out.push(self.event(true, "Failed", "Error: ErrImagePull".into()));
                out.push(self.report(waiting_state("ErrImagePull", Some(error.clone()))));
                let delay = self.pulls.as_mut().map_or(Duration::from_secs(10), Pulls::next_delay);
                let sync = PULL_SYNC.min(delay);
                out.push(Action::Sleep(sync));
                Stage::PullFailed { rest: delay - sync, error }
            }
        }
    }
}

/// A duration as Go prints one truncated to milliseconds (`1.234s`,
/// `512ms`), as the kubelet's `Pulled` event does.
fn go_millis(d: Duration) -> String {
    super::super::backoff::go_duration(Duration::from_millis(d.as_millis().min(u128::from(u64::MAX)) as u64))
}

/// The state of an instance running since `at`.
fn running(at: Time) -> ContainerState {
    ContainerState { running: Some(ContainerStateRunning { started_at: Some(at) }), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::backoff::BackoffConfig;
    use crate::pod::restart::RestartPolicy;
    use k8s_openapi::api::core::v1::Container;

    fn t(secs: i64) -> Time {
        Time(jiff::Timestamp::from_second(1_700_000_000 + secs).unwrap())
    }

    fn lifecycle(kind: ContainerKind, own: Option<&str>, pod: RestartPolicy) -> ContainerLifecycle {
        let c = Container { name: "c".into(), restart_policy: own.map(str::to_owned), ..Default::default() };
        let names = Names::new(kind, "c", "p", "default", "uid-1");
        let (lc, first) = ContainerLifecycle::new(names, RestartRule::of(&c, kind, pod), RestartBackoff::new(BackoffConfig::default()));
        assert_eq!(first, [Action::Create]);
        lc
    }

    fn exited(code: i32) -> Termination {
        Termination::of(&Ok(GuestExit::Exited(code)))
    }

    fn ended(code: i32, ran_for: u64) -> Input {
        Input::Ended { end: exited(code), ran_for: Duration::from_secs(ran_for), at: t(ran_for as i64), pod_stopping: false }
    }

    /// A compact view of actions for the tables: `create`, `event:Reason`,
    /// `report:running|terminated(N)|waiting(Reason)`, `stop`, `sleep:Ns`,
    /// `await-stop`, `finish:N`.
    fn brief(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Create => "create".to_owned(),
                Action::Pull => "pull".to_owned(),
                Action::Event(e) => format!("event:{}", e.reason),
                Action::Report(r) => match (&r.state.running, &r.state.terminated, &r.state.waiting) {
                    (Some(_), _, _) => "report:running".to_owned(),
                    (_, Some(t), _) => format!("report:terminated({})", t.exit_code),
                    (_, _, Some(w)) => format!("report:waiting({})", w.reason.as_deref().unwrap_or_default()),
                    _ => "report:?".to_owned(),
                },
                Action::StopInstance => "stop".to_owned(),
                Action::Sleep(d) => format!("sleep:{}s", d.as_secs()),
                Action::AwaitStop => "await-stop".to_owned(),
                Action::Finish(code) => format!("finish:{}", code.map(|c| c.to_string()).unwrap_or_else(|| "none".into())),
            })
            .collect()
    }

    /// Feeds `inputs` and returns each step's actions, briefly.
    fn run(mut lc: ContainerLifecycle, inputs: Vec<Input>) -> (ContainerLifecycle, Vec<Vec<String>>) {
        let mut out = Vec::new();
        for input in inputs {
            out.push(brief(&lc.apply(input)));
        }
        (lc, out)
    }

    fn started() -> Input {
        Input::Started { at: t(0) }
    }

    #[test]
    fn restart_policies_decide_what_follows_an_exit() {
        use ContainerKind::{App, Init};
        use RestartPolicy::{Always, Never, OnFailure};
        // (kind, own policy, pod policy, exit code, actions after the exit)
        type Row<'a> = (ContainerKind, Option<&'a str>, RestartPolicy, i32, &'a [&'a str]);
        let rows: &[Row] = &[
            // The first restart is immediate (the kubelet's back-off has no entry yet).
            (App, None, Always, 0, &["report:terminated(0)", "create"]),
            (App, None, Always, 1, &["report:terminated(1)", "create"]),
            (App, None, OnFailure, 0, &["report:terminated(0)", "finish:0"]),
            (App, None, OnFailure, 1, &["report:terminated(1)", "create"]),
            (App, None, Never, 1, &["report:terminated(1)", "finish:1"]),
            (Init, None, Always, 0, &["report:terminated(0)", "finish:0"]),
            (Init, None, Always, 2, &["report:terminated(2)", "create"]),
            (Init, None, Never, 2, &["report:terminated(2)", "finish:2"]),
            (Init, Some("Always"), Never, 0, &["report:terminated(0)", "create"]),
        ];
        for &(kind, own, pod, code, want) in rows {
            let (_, steps) = run(lifecycle(kind, own, pod), vec![started(), ended(code, 1)]);
            assert_eq!(steps[0], ["event:Created", "event:Started", "report:running"]);
            assert_eq!(steps[1], want, "{kind:?} own {own:?} pod {pod:?} exit {code}");
        }
    }

    #[test]
    fn crash_loops_back_off_10_20_40_seconds_and_count_restarts() {
        let mut lc = lifecycle(ContainerKind::App, None, RestartPolicy::Always);
        let mut sleeps = Vec::new();
        for _ in 0..4 {
            lc.apply(started());
            let actions = lc.apply(ended(1, 1));
            match brief(&actions).as_slice() {
                [_, c] if c == "create" => sleeps.push(0),
                [_, waiting, event, sleep] => {
                    assert_eq!((waiting.as_str(), event.as_str()), ("report:waiting(CrashLoopBackOff)", "event:BackOff"));
                    sleeps.push(sleep.trim_start_matches("sleep:").trim_end_matches('s').parse().unwrap());
                    assert_eq!(lc.stage(), &Stage::BackingOff);
                    assert_eq!(brief(&lc.apply(Input::BackOffOver)), ["create"]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(sleeps, [0, 10, 20, 40]);
        assert_eq!(lc.restarts(), 4);
        // lastState is the previous instance's end.
        assert_eq!(lc.last().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(1));
        // The CrashLoopBackOff message is the kubelet's.
        lc.apply(started());
        let actions = lc.apply(ended(1, 1));
        let Some(Action::Report(r)) = actions.get(1) else { panic!("{actions:?}") };
        let message = r.state.waiting.as_ref().and_then(|w| w.message.clone()).unwrap();
        assert_eq!(message, "back-off 1m20s restarting failed container=c pod=p_default(uid-1)");
    }

    #[test]
    fn a_stop_ends_every_stage_and_restarts_nothing() {
        // Before an instance exists.
        let (lc, steps) = run(lifecycle(ContainerKind::App, None, RestartPolicy::Always), vec![Input::Stop]);
        assert_eq!((steps, lc.stage()), (vec![vec!["finish:none".to_owned()]], &Stage::Done));
        // While running: the Killing event and a graceful stop; the end
        // is reported and not restarted under Always.
        let (lc, steps) = run(
            lifecycle(ContainerKind::App, None, RestartPolicy::Always),
            vec![
                started(),
                Input::Stop,
                Input::Stop,
                Input::Ended { end: Termination::ended_by_runtime(143), ran_for: Duration::from_secs(5), at: t(5), pod_stopping: true },
            ],
        );
        assert_eq!(steps[1], ["event:Killing", "stop"]);
        assert!(steps[2].is_empty(), "a second stop while stopping does nothing");
        assert_eq!(steps[3], ["report:terminated(143)", "finish:143"]);
        assert_eq!(lc.stage(), &Stage::Done);
        // During a back-off.
        let (_, steps) =
            run(lifecycle(ContainerKind::App, None, RestartPolicy::Always), vec![started(), ended(1, 1), Input::Kill(Kill::Probe(ProbeKind::Liveness))]);
        assert_eq!(steps[1], ["report:terminated(1)", "create"]);
        assert!(steps[2].is_empty(), "no instance runs: nothing to kill");
        // A stop that came while the instance was ending is honoured.
        let (_, steps) = run(
            lifecycle(ContainerKind::App, None, RestartPolicy::Always),
            vec![started(), Input::Ended { end: exited(0), ran_for: Duration::from_secs(1), at: t(1), pod_stopping: true }],
        );
        assert_eq!(steps[1], ["report:terminated(0)", "finish:0"]);
    }

    #[test]
    fn probe_and_post_start_kills_stop_the_instance_and_the_policy_restarts_it() {
        let (_, steps) = run(
            lifecycle(ContainerKind::App, None, RestartPolicy::Always),
            vec![
                started(),
                Input::Kill(Kill::Probe(ProbeKind::Liveness)),
                Input::Ended { end: Termination::ended_by_runtime(137), ran_for: Duration::from_secs(3), at: t(3), pod_stopping: false },
            ],
        );
        assert_eq!(steps[1], ["event:Killing", "stop"]);
        assert_eq!(steps[2], ["report:terminated(137)", "create"]);
        let mut lc = lifecycle(ContainerKind::App, None, RestartPolicy::Never);
        lc.apply(started());
        let actions = lc.apply(Input::Kill(Kill::PostStart("command 'false' exited with 1".into())));
        assert_eq!(brief(&actions), ["event:FailedPostStartHook", "event:Killing", "stop"]);
        let Action::Event(e) = &actions[0] else { unreachable!() };
        assert_eq!(e.message, "PostStartHook failed: command 'false' exited with 1");
        let Action::Event(e) = &actions[1] else { unreachable!() };
        assert_eq!(e.message, "Stopping container c");
        let actions = lc.apply(Input::Ended { end: Termination::ended_by_runtime(143), ran_for: Duration::from_secs(1), at: t(1), pod_stopping: false });
        assert_eq!(brief(&actions), ["report:terminated(143)", "finish:143"]);
        // The startup probe's message.
        let mut lc = lifecycle(ContainerKind::App, None, RestartPolicy::Always);
        lc.apply(started());
        let Action::Event(e) = &lc.apply(Input::Kill(Kill::Probe(ProbeKind::Startup)))[0] else { panic!() };
        assert_eq!(e.message, "Container c failed startup probe, will be restarted");
    }

    #[test]
    fn a_changed_definition_restarts_the_container_whatever_its_policy() {
        let (_, steps) = run(
            lifecycle(ContainerKind::App, None, RestartPolicy::Never),
            vec![
                started(),
                Input::Kill(Kill::Changed),
                Input::Ended { end: Termination::ended_by_runtime(137), ran_for: Duration::from_secs(3), at: t(3), pod_stopping: false },
            ],
        );
        assert_eq!(steps[1], ["event:Killing", "stop"]);
        assert_eq!(steps[2], ["report:terminated(137)", "create"], "restarted at once under Never");
        let mut lc = lifecycle(ContainerKind::App, None, RestartPolicy::Always);
        lc.apply(started());
        let Action::Event(e) = &lc.apply(Input::Kill(Kill::Changed))[0] else { panic!() };
        assert_eq!(e.message, "Container c definition changed, will be restarted");
    }

    #[test]
    fn a_container_that_cannot_be_created_waits_for_the_pods_stop() {
        let (lc, steps) = run(
            lifecycle(ContainerKind::App, None, RestartPolicy::Always),
            vec![Input::CreateFailed { reason: "CreateContainerConfigError", message: "subPath x".into(), event: "Error: subPath x".into() }, Input::Stop],
        );
        assert_eq!(steps[0], ["event:Failed", "report:waiting(CreateContainerConfigError)", "await-stop"]);
        assert_eq!(steps[1], ["finish:none"]);
        assert_eq!(lc.stage(), &Stage::Done);
    }

    #[test]
    fn every_guest_end_reads_one_way() {
        let oom = Termination::of(&Ok(GuestExit::OomKilled("over".into())));
        assert_eq!((oom.code, oom.reason, oom.message.as_deref()), (137, "OOMKilled", Some("over")));
        let trap = Termination::of(&Ok(GuestExit::Trapped("unreachable".into())));
        assert_eq!((trap.code, trap.reason, trap.message.as_deref()), (134, "Error", Some("guest trapped: unreachable")));
        let start = Termination::of(&Err(SandboxError::NotACommand));
        assert_eq!((start.code, start.reason), (128, "StartError"));
        assert!(start.event.as_deref().is_some_and(|e| e.starts_with("Error: the image is a wasi:http handler")), "{start:?}");
        // A start failure is reported with its event.
        let mut lc = lifecycle(ContainerKind::App, None, RestartPolicy::Never);
        lc.apply(started());
        let actions = lc.apply(Input::Ended { end: start, ran_for: Duration::ZERO, at: t(0), pod_stopping: false });
        assert_eq!(brief(&actions), ["event:Failed", "report:terminated(128)", "finish:128"]);
        assert_eq!((exited(0).reason, exited(2).reason), ("Completed", "Error"));
    }

    fn pulling() -> ContainerLifecycle {
        let c = Container { name: "c".into(), ..Default::default() };
        let names = Names::new(ContainerKind::App, "c", "p", "default", "uid-1");
        let rule = RestartRule::of(&c, ContainerKind::App, RestartPolicy::Always);
        let pulls = Pulls::new("r.example/app:1", BackoffConfig::default());
        let (lc, first) = ContainerLifecycle::pulling(names, rule, RestartBackoff::new(BackoffConfig::default()), pulls);
        assert_eq!(first, [Action::Pull]);
        lc
    }

    fn texts(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Event(e) => Some(format!("{} {}", e.reason, e.message)),
                Action::Report(r) => r
                    .state
                    .waiting
                    .as_ref()
                    .map(|w| format!("waiting {}: {}", w.reason.as_deref().unwrap_or_default(), w.message.as_deref().unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_failed_pull_shows_err_image_pull_then_image_pull_back_off_doubling_to_the_cap() {
        use crate::pod::pull::PullFailure;
        let mut lc = pulling();
        let failed = || Input::PullFailed(PullFailure::Failed("manifest unknown".into()));
        let first = lc.apply(failed());
        assert_eq!(brief(&first), ["event:Failed", "event:Failed", "report:waiting(ErrImagePull)", "sleep:1s"]);
        assert_eq!(
            texts(&first),
            ["Failed Failed to pull image \"r.example/app:1\": manifest unknown", "Failed Error: ErrImagePull", "waiting ErrImagePull: manifest unknown"]
        );
        let backoff = lc.apply(Input::BackOffOver);
        assert_eq!(brief(&backoff), ["event:BackOff", "event:Failed", "report:waiting(ImagePullBackOff)", "sleep:9s"]);
        assert_eq!(
            texts(&backoff),
            [
                "BackOff Back-off pulling image \"r.example/app:1\"",
                "Failed Error: ImagePullBackOff",
                "waiting ImagePullBackOff: Back-off pulling image \"r.example/app:1\": ErrImagePull: manifest unknown"
            ]
        );
        assert_eq!(brief(&lc.apply(Input::BackOffOver)), ["pull"]);
        // Each failure doubles the wait: 10, 20, 40, 80, 160, then 300 s.
        let mut waits = vec![10];
        for _ in 0..6 {
            let f = lc.apply(failed());
            let Action::Sleep(sync) = f[3] else { panic!("{f:?}") };
            let b = lc.apply(Input::BackOffOver);
            let Action::Sleep(rest) = b[3] else { panic!("{b:?}") };
            waits.push((sync + rest).as_secs());
            assert_eq!(brief(&lc.apply(Input::BackOffOver)), ["pull"]);
        }
        assert_eq!(waits, [10, 20, 40, 80, 160, 300, 300]);
        // A stop during the back-off ends it.
        lc.apply(failed());
        assert_eq!(brief(&lc.apply(Input::Stop)), ["finish:none"]);
    }

    #[test]
    fn a_pulled_image_creates_and_each_restart_pulls_again() {
        let figures = crate::pod::pull::PullFigures { pull: Duration::from_millis(1234), total: Duration::from_millis(1500), size: 2048 };
        let (_, steps) = run(pulling(), vec![Input::Pulled(Some(figures)), started(), ended(1, 5), Input::Pulled(None)]);
        assert_eq!(steps[0], ["event:Pulled", "create"]);
        assert_eq!(steps[2], ["report:terminated(1)", "pull"], "the first restart is immediate, through a pull");
        assert_eq!(steps[3], ["event:Pulled", "create"]);
        let mut lc = pulling();
        assert_eq!(
            texts(&lc.apply(Input::Pulled(Some(figures)))),
            ["Pulled Successfully pulled image \"r.example/app:1\" in 1.234s (1.5s including waiting). Image size: 2048 bytes."]
        );
        let mut lc2 = pulling();
        assert_eq!(texts(&lc2.apply(Input::Pulled(None))), ["Pulled Container image \"r.example/app:1\" already present on machine"]);
    }

    #[test]
    fn a_bad_name_blocks_and_a_never_image_is_looked_for_again() {
        use crate::pod::pull::PullFailure;
        let mut lc = pulling();
        let bad = lc.apply(Input::PullFailed(PullFailure::InvalidName("couldn't parse".into())));
        assert_eq!(brief(&bad), ["event:InspectFailed", "event:Failed", "report:waiting(InvalidImageName)", "await-stop"]);
        assert_eq!(lc.stage(), &Stage::Blocked);
        let mut lc = pulling();
        let never = lc.apply(Input::PullFailed(PullFailure::NeverPull));
        assert_eq!(brief(&never), ["event:ErrImageNeverPull", "event:Failed", "report:waiting(ErrImageNeverPull)", "sleep:10s"]);
        assert_eq!(texts(&never)[0], "ErrImageNeverPull Container image \"r.example/app:1\" is not present with pull policy of Never");
        assert_eq!(brief(&lc.apply(Input::BackOffOver)), ["pull"]);
    }
}
