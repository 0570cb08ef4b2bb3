//! Pod phase: a pure port of the kubelet's `getPhase`.
//!
//! Source: `pkg/kubelet/kubelet_pods.go` (`getPhase`, master as of Kubernetes
//! 1.35), with the `ContainerRestartRules` feature gate in its 1.35 default
//! (beta, on): whether a stopped container "will be restarted" is decided per
//! container by `restart::should_restart` (the worker's decision too), which honours container-level
//! `restartPolicy` / `restartPolicyRules` and falls back to the pod's
//! `restartPolicy`. Without container-level overrides that gives exactly the
//! classic table (`Always` -> Running, `OnFailure` -> Running unless all
//! succeeded, `Never` -> Succeeded/Failed).
//!
//! The kubelet's two extra inputs are derived here:
//! - `podIsTerminal` is the caller's `deleting` flag (the pod is being torn
//!   down, so nothing will be restarted whatever the policy says);
//! - `podHasInitialized` (`HasAnyActiveRegularContainerStarted`) is computed
//!   from the app container statuses by `app_container_started`.
//!
//! Phases only move forward once terminal: [`next_phase`] is the guard the
//! supervisor applies to every freshly computed phase.
//!
//! Not ported: the static-pod exception (wasmpod has no static pods) and the
//! alpha `RestartAllContainersOnContainerExits` gate (off by default).

use std::fmt;
use std::str::FromStr;

use k8s_openapi::api::core::v1::{ContainerStatus, PodSpec};

use super::kind::ContainerKind;
pub(crate) use super::restart::is_sidecar;
use super::restart::{RestartPolicy, should_restart};

/// The phase of a pod, as reported in `status.phase`.
///
/// Allowed transitions: `Pending -> Running -> Succeeded | Failed`, `Running ->
/// Pending` (e.g. a sidecar back in waiting before any app container started),
/// and any non-terminal phase to `Succeeded` or `Failed`. `Succeeded` and
/// `Failed` are terminal: see `next_phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PodPhase {
    /// Accepted, but at least one container has not started yet (init
    /// containers still running, images/modules being prepared, or a container
    /// waiting).
    Pending,
    /// All containers have been created and at least one is running or
    /// restarting.
    Running,
    /// Every container terminated with exit code 0 and none will be restarted.
    Succeeded,
    /// Every container terminated and at least one failed (non-zero exit, or an
    /// init container failed under a policy that forbids retrying it).
    Failed,
    /// The state could not be obtained (e.g. the runtime lost track of the pod
    /// after a crash). `pod_phase` never returns it: it is set by the caller
    /// when there is nothing to compute from.
    Unknown,
}

impl PodPhase {
    /// Every phase, in declaration order (handy for tables and parsers).
    pub const ALL: [PodPhase; 5] = [PodPhase::Pending, PodPhase::Running, PodPhase::Succeeded, PodPhase::Failed, PodPhase::Unknown];

    /// The Kubernetes spelling (`"Pending"`, `"Running"`, ...).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
            PodPhase::Unknown => "Unknown",
        }
    }

    /// Whether this phase is final; same as `is_terminal`.
    #[must_use]
    pub const fn is_terminal(self) -> bool {
        is_terminal(self)
    }
}

impl fmt::Display for PodPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not one of the five Kubernetes phase names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown pod phase {value:?}: expected one of \"Pending\", \"Running\", \"Succeeded\", \"Failed\", \"Unknown\"")]
pub struct ParsePhaseError {
    /// The rejected input.
    pub value: String,
}

impl FromStr for PodPhase {
    type Err = ParsePhaseError;

    /// Parses the exact, case-sensitive Kubernetes spelling, as the API server
    /// does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PodPhase::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| ParsePhaseError { value: s.to_owned() })
    }
}

/// `true` for `Succeeded` and `Failed`: once a pod reaches one of them its
/// containers are never restarted and its phase never changes again.
#[must_use]
pub const fn is_terminal(phase: PodPhase) -> bool {
    matches!(phase, PodPhase::Succeeded | PodPhase::Failed)
}

/// The phase to record given the one recorded before and a freshly computed
/// one: a terminal phase is kept (the kubelet forces an "illegal phase
/// transition" back to the API's terminal phase, even `Succeeded -> Failed`);
/// otherwise the computed phase wins.
#[must_use]
pub const fn next_phase(previous: PodPhase, computed: PodPhase) -> PodPhase {
    if is_terminal(previous) { previous } else { computed }
}

/// Computes the pod phase from its spec and the current container statuses,
/// exactly like the kubelet's `getPhase`.
///
/// `init_statuses` belong to `spec.initContainers`, `statuses` to
/// `spec.containers`; both are matched to the spec by name, and a spec
/// container without a status counts as "unknown" (which holds the pod in
/// `Pending`). `deleting` is the kubelet's `podIsTerminal`: the pod is being
/// torn down, so once every container stopped it ends `Succeeded` or `Failed`
/// whatever its restart policy.
#[must_use]
pub fn pod_phase(spec: &PodSpec, init_statuses: &[ContainerStatus], statuses: &[ContainerStatus], deleting: bool) -> PodPhase {
    let init_containers = spec.init_containers.as_deref().unwrap_or_default();
    let pod_policy = RestartPolicy::of_pod(spec);

    // Regular init containers: each must exit 0 before the next starts.
    let mut pending_regular_init = 0usize;
    let mut failed_init_not_restartable = 0usize;
    for container in init_containers.iter().filter(|c| !is_sidecar(c)) {
        match observe(find_status(init_statuses, &container.name)) {
            // Not created yet, running, or waiting for its first start: the
            // init sequence has not got past it.
            None | Some(Observed::Running { .. } | Observed::Waiting | Observed::NoState) => pending_regular_init += 1,
            // A failure is only fatal when the container will not be retried
            // (pod `restartPolicy: Never`, or a container-level override).
            Some(Observed::Terminated(code) | Observed::WaitingAfterExit(code)) => {
                if code != 0 && !should_restart(container, ContainerKind::Init, pod_policy, code) {
                    failed_init_not_restartable += 1;
                }
            }
        }
    }

    // Counters shared by sidecars and app containers.
    let mut unknown = 0usize;
    let mut running = 0usize;
    let mut waiting = 0usize;
    let mut stopped = 0usize;
    let mut stopped_not_restartable = 0usize;
    let mut succeeded = 0usize;
    let mut pending_sidecars = 0usize;

    // Native sidecars (init containers with `restartPolicy: Always`).
    for container in init_containers.iter().filter(|c| is_sidecar(c)) {
        match observe(find_status(init_statuses, &container.name)) {
            None => unknown += 1,
            Some(Observed::Running { started }) => {
                // Later init containers wait for `started`, so until then the
                // sidecar still holds initialisation back.
                if !started {
                    pending_sidecars += 1;
                }
                running += 1;
            }
            // A sidecar always restarts, so its exits say nothing about the
            // pod's outcome.
            Some(Observed::Terminated(_) | Observed::WaitingAfterExit(_)) => {}
            Some(Observed::Waiting) => {
                pending_sidecars += 1;
                waiting += 1;
            }
            Some(Observed::NoState) => {
                pending_sidecars += 1;
                unknown += 1;
            }
        }
    }

    for container in &spec.containers {
        match observe(find_status(statuses, &container.name)) {
            None | Some(Observed::NoState) => unknown += 1,
            Some(Observed::Running { .. }) => running += 1,
            Some(Observed::Terminated(code)) => {
                stopped += 1;
                if !should_restart(container, ContainerKind::App, pod_policy, code) {
                    stopped_not_restartable += 1;
                }
                if code == 0 {
                    succeeded += 1;
                }
            }
            // Crash-looping: stopped, about to be restarted. Kubernetes does
            // not count it as succeeded even if the last exit was 0.
            Some(Observed::WaitingAfterExit(code)) => {
                stopped += 1;
                if !should_restart(container, ContainerKind::App, pod_policy, code) {
                    stopped_not_restartable += 1;
                }
            }
            Some(Observed::Waiting) => waiting += 1,
        }
    }

    if failed_init_not_restartable > 0 {
        return PodPhase::Failed;
    }

    // Once an app container has started, the pod has been initialised: a
    // sidecar restarting afterwards must not push the pod back to Pending.
    let initialized = app_container_started(spec, statuses);
    if pending_regular_init > 0 || (pending_sidecars > 0 && !initialized) || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 && unknown == 0 {
        return PodPhase::Running;
    }
    if running == 0 && stopped > 0 && unknown == 0 {
        if deleting {
            // Nothing will be restarted any more.
            return if stopped == succeeded { PodPhase::Succeeded } else { PodPhase::Failed };
        }
        if stopped != stopped_not_restartable {
            // At least one container is on its way back up.
            return PodPhase::Running;
        }
        return if stopped == succeeded { PodPhase::Succeeded } else { PodPhase::Failed };
    }
    PodPhase::Pending
}

/// The status named `name`, if any (`podutil.GetContainerStatus`).
pub(crate) fn find_status<'a>(statuses: &'a [ContainerStatus], name: &str) -> Option<&'a ContainerStatus> {
    statuses.iter().find(|s| s.name == name)
}

/// The kubelet's `HasAnyActiveRegularContainerStarted`, from API statuses:
/// an app container exists in the current sandbox once it is running, has
/// terminated, or is waiting to be restarted after an exit. wasmpod never
/// recreates a sandbox, so "active" needs no extra check.
fn app_container_started(spec: &PodSpec, statuses: &[ContainerStatus]) -> bool {
    spec.containers.iter().filter_map(|c| find_status(statuses, &c.name)).any(|s| {
        let state = s.state.as_ref();
        state.is_some_and(|st| st.running.is_some() || st.terminated.is_some()) || s.last_state.as_ref().is_some_and(|l| l.terminated.is_some())
    })
}

/// One container status reduced to what `getPhase` looks at, in its order of
/// precedence: running, then terminated, then waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Observed {
    /// `state.running`; `started` is `status.started == true`.
    Running { started: bool },
    /// `state.terminated` with this exit code.
    Terminated(i32),
    /// `state.waiting` with `lastState.terminated` (exit code): crash-looping.
    WaitingAfterExit(i32),
    /// `state.waiting` without a previous termination: never started yet.
    Waiting,
    /// A status with no state at all.
    NoState,
}

fn observe(status: Option<&ContainerStatus>) -> Option<Observed> {
    let status = status?;
    let state = status.state.as_ref();
    Some(if state.is_some_and(|s| s.running.is_some()) {
        Observed::Running { started: status.started == Some(true) }
    } else if let Some(t) = state.and_then(|s| s.terminated.as_ref()) {
        Observed::Terminated(t.exit_code)
    } else if state.is_some_and(|s| s.waiting.is_some()) {
        match status.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
            Some(last) => Observed::WaitingAfterExit(last.exit_code),
            None => Observed::Waiting,
        }
    } else {
        Observed::NoState
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Container;
    use k8s_openapi::api::core::v1::{
        ContainerRestartRule, ContainerRestartRuleOnExitCodes, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    };

    use PodPhase::*;

    fn app(name: &str) -> Container {
        Container { name: name.into(), ..Default::default() }
    }

    fn sidecar(name: &str) -> Container {
        Container { name: name.into(), restart_policy: Some("Always".into()), ..Default::default() }
    }

    /// An app container with a container-level policy and optional rule.
    fn app_with(name: &str, policy: &str, rule: Option<(&str, &str, &[i32])>) -> Container {
        Container {
            name: name.into(),
            restart_policy: Some(policy.into()),
            restart_policy_rules: rule.map(|(action, op, codes)| {
                vec![ContainerRestartRule {
                    action: action.into(),
                    exit_codes: Some(ContainerRestartRuleOnExitCodes { operator: op.into(), values: Some(codes.to_vec()) }),
                }]
            }),
            ..Default::default()
        }
    }

    fn status(name: &str, state: Option<ContainerState>) -> ContainerStatus {
        ContainerStatus { name: name.into(), state, ..Default::default() }
    }

    fn running(name: &str) -> ContainerStatus {
        ContainerStatus { started: Some(true), ..status(name, Some(ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() })) }
    }

    fn running_unstarted(name: &str) -> ContainerStatus {
        ContainerStatus { started: Some(false), ..running(name) }
    }

    fn terminated_state(code: i32) -> ContainerState {
        ContainerState { terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }), ..Default::default() }
    }

    fn terminated(name: &str, code: i32) -> ContainerStatus {
        status(name, Some(terminated_state(code)))
    }

    fn waiting(name: &str) -> ContainerStatus {
        status(
            name,
            Some(ContainerState {
                waiting: Some(ContainerStateWaiting { reason: Some("ContainerCreating".into()), ..Default::default() }),
                ..Default::default()
            }),
        )
    }

    /// Waiting in CrashLoopBackOff after an exit with `code`.
    fn waiting_after(name: &str, code: i32) -> ContainerStatus {
        ContainerStatus { last_state: Some(terminated_state(code)), restart_count: 1, ..waiting(name) }
    }

    fn no_state(name: &str) -> ContainerStatus {
        status(name, None)
    }

    struct Row {
        name: &'static str,
        policy: Option<&'static str>,
        init: Vec<Container>,
        apps: Vec<Container>,
        init_statuses: Vec<ContainerStatus>,
        statuses: Vec<ContainerStatus>,
        deleting: bool,
        want: PodPhase,
    }

    /// A pod with one regular init container `i` and one app container `a`.
    fn with_init(name: &'static str, policy: &'static str, i: ContainerStatus, a: Option<ContainerStatus>, want: PodPhase) -> Row {
        Row {
            name,
            policy: Some(policy),
            init: vec![app("i")],
            apps: vec![app("a")],
            init_statuses: vec![i],
            statuses: a.into_iter().collect(),
            deleting: false,
            want,
        }
    }

    /// A pod with one sidecar `s` and one app container `a`.
    fn with_sidecar(name: &'static str, policy: &'static str, s: Option<ContainerStatus>, a: Option<ContainerStatus>, want: PodPhase) -> Row {
        Row {
            name,
            policy: Some(policy),
            init: vec![sidecar("s")],
            apps: vec![app("a")],
            init_statuses: s.into_iter().collect(),
            statuses: a.into_iter().collect(),
            deleting: false,
            want,
        }
    }

    /// A pod with only app containers.
    fn apps(name: &'static str, policy: Option<&'static str>, statuses: Vec<ContainerStatus>, want: PodPhase) -> Row {
        let names: Vec<Container> = statuses.iter().map(|s| app(&s.name)).collect();
        Row { name, policy, init: vec![], apps: names, init_statuses: vec![], statuses, deleting: false, want }
    }

    fn deleting(mut row: Row) -> Row {
        row.deleting = true;
        row
    }

    /// One regular init container `i` (or one sidecar `s`) before app `a`;
    /// see the helpers above. Kept on one line per row so it reads as a table.
    #[rustfmt::skip]
    fn rows() -> Vec<Row> {
        let no_init: Vec<Container> = vec![];
        vec![
            // --- regular init containers ---
            Row { name: "init: no status at all", policy: Some("Always"), init: vec![app("i")], apps: vec![app("a")], init_statuses: vec![], statuses: vec![], deleting: false, want: Pending },
            with_init("init: running", "Always", running("i"), Some(waiting("a")), Pending),
            with_init("init: waiting, first start", "Always", waiting("i"), Some(waiting("a")), Pending),
            with_init("init: status without state", "Always", no_state("i"), Some(waiting("a")), Pending),
            with_init("init: exited 0, app running", "Always", terminated("i", 0), Some(running("a")), Running),
            with_init("init: exited 0, app waiting", "Never", terminated("i", 0), Some(waiting("a")), Pending),
            with_init("init: exited 1, Never", "Never", terminated("i", 1), Some(waiting("a")), Failed),
            with_init("init: exited 1, OnFailure retries", "OnFailure", terminated("i", 1), Some(waiting("a")), Pending),
            with_init("init: exited 1, Always retries", "Always", terminated("i", 1), Some(waiting("a")), Pending),
            with_init("init: exited 1, Never, app has no status", "Never", terminated("i", 1), None, Failed),
            with_init("init: crash loop (last exit 1), Never", "Never", waiting_after("i", 1), Some(waiting("a")), Failed),
            with_init("init: crash loop (last exit 1), OnFailure", "OnFailure", waiting_after("i", 1), Some(waiting("a")), Pending),
            with_init("init: crash loop (last exit 1), Always", "Always", waiting_after("i", 1), Some(waiting("a")), Pending),
            with_init("init: waiting after exit 0 is neither pending nor failed", "Never", waiting_after("i", 0), Some(running("a")), Running),
            Row { name: "init: second init pending after first succeeded", policy: Some("Always"), init: vec![app("i1"), app("i2")], apps: vec![app("a")], init_statuses: vec![terminated("i1", 0), running("i2")], statuses: vec![waiting("a")], deleting: false, want: Pending },
            // --- native sidecars ---
            with_sidecar("sidecar: running+started, app running", "Always", Some(running("s")), Some(running("a")), Running),
            with_sidecar("sidecar: running, not started, app not started", "Always", Some(running_unstarted("s")), Some(waiting("a")), Pending),
            with_sidecar("sidecar: running, not started, app has no status", "Always", Some(running_unstarted("s")), None, Pending),
            with_sidecar("sidecar: not started but app already running", "Always", Some(running_unstarted("s")), Some(running("a")), Running),
            with_sidecar("sidecar: not started, app crash-looping counts as started", "Always", Some(running_unstarted("s")), Some(waiting_after("a", 1)), Running),
            with_sidecar("sidecar: no status, app running -> unknown", "Always", None, Some(running("a")), Pending),
            with_sidecar("sidecar: status without state", "Always", Some(no_state("s")), Some(running("a")), Pending),
            with_sidecar("sidecar: waiting first start", "Always", Some(waiting("s")), Some(running("a")), Pending),
            with_sidecar("sidecar: crash-looping is ignored", "Always", Some(waiting_after("s", 1)), Some(running("a")), Running),
            with_sidecar("sidecar: terminated is ignored, app succeeded", "Never", Some(terminated("s", 137)), Some(terminated("a", 0)), Succeeded),
            with_sidecar("sidecar: terminated is ignored, app failed", "Never", Some(terminated("s", 0)), Some(terminated("a", 2)), Failed),
            with_sidecar("sidecar: still running after app exited", "Never", Some(running("s")), Some(terminated("a", 0)), Running),
            Row { name: "sidecar: started, next regular init still running", policy: Some("Always"), init: vec![sidecar("s"), app("i")], apps: vec![app("a")], init_statuses: vec![running("s"), running("i")], statuses: vec![waiting("a")], deleting: false, want: Pending },
            // --- app containers ---
            apps("app: running", Some("Always"), vec![running("a")], Running),
            apps("app: waiting", Some("Always"), vec![waiting("a")], Pending),
            apps("app: status without state", Some("Always"), vec![no_state("a")], Pending),
            Row { name: "app: no status", policy: Some("Always"), init: no_init.clone(), apps: vec![app("a")], init_statuses: vec![], statuses: vec![], deleting: false, want: Pending },
            apps("app: exited 0, Always restarts", Some("Always"), vec![terminated("a", 0)], Running),
            apps("app: exited 0, OnFailure", Some("OnFailure"), vec![terminated("a", 0)], Succeeded),
            apps("app: exited 0, Never", Some("Never"), vec![terminated("a", 0)], Succeeded),
            apps("app: exited 1, Always", Some("Always"), vec![terminated("a", 1)], Running),
            apps("app: exited 1, OnFailure", Some("OnFailure"), vec![terminated("a", 1)], Running),
            apps("app: exited 1, Never", Some("Never"), vec![terminated("a", 1)], Failed),
            apps("app: crash loop, Always", Some("Always"), vec![waiting_after("a", 1)], Running),
            apps("app: crash loop, OnFailure", Some("OnFailure"), vec![waiting_after("a", 1)], Running),
            apps("app: restartPolicy unset defaults to Always", None, vec![terminated("a", 0)], Running),
            apps("apps: running + waiting", Some("Always"), vec![running("a"), waiting("b")], Pending),
            apps("apps: running + no state", Some("Always"), vec![running("a"), no_state("b")], Pending),
            apps("apps: running + exited 1, Never", Some("Never"), vec![running("a"), terminated("b", 1)], Running),
            apps("apps: exited 0 + exited 1, OnFailure", Some("OnFailure"), vec![terminated("a", 0), terminated("b", 1)], Running),
            apps("apps: exited 0 + exited 1, Never", Some("Never"), vec![terminated("a", 0), terminated("b", 1)], Failed),
            apps("apps: both exited 0, Never", Some("Never"), vec![terminated("a", 0), terminated("b", 0)], Succeeded),
            Row { name: "apps: exited 0 + one without status", policy: Some("Never"), init: no_init.clone(), apps: vec![app("a"), app("b")], init_statuses: vec![], statuses: vec![terminated("a", 0)], deleting: false, want: Pending },
            // --- container-level restart policy (ContainerRestartRules) ---
            Row { name: "container Never overrides pod Always", policy: Some("Always"), init: no_init.clone(), apps: vec![app_with("a", "Never", None)], init_statuses: vec![], statuses: vec![terminated("a", 1)], deleting: false, want: Failed },
            Row { name: "container rule Restart In [42] matches", policy: Some("Never"), init: no_init.clone(), apps: vec![app_with("a", "Never", Some(("Restart", "In", &[42])))], init_statuses: vec![], statuses: vec![terminated("a", 42)], deleting: false, want: Running },
            Row { name: "container rule Restart NotIn [0] does not match exit 0", policy: Some("Never"), init: no_init.clone(), apps: vec![app_with("a", "Never", Some(("Restart", "NotIn", &[0])))], init_statuses: vec![], statuses: vec![terminated("a", 0)], deleting: false, want: Succeeded },
            // --- deletion (podIsTerminal) ---
            deleting(apps("deleting: exited 0 under Always", Some("Always"), vec![terminated("a", 0)], Succeeded)),
            deleting(apps("deleting: killed (137) under Always", Some("Always"), vec![terminated("a", 137)], Failed)),
            deleting(apps("deleting: crash-looping container", Some("Always"), vec![waiting_after("a", 0)], Failed)),
            deleting(apps("deleting: still running", Some("Always"), vec![running("a")], Running)),
            deleting(apps("deleting: mixed exits under OnFailure", Some("OnFailure"), vec![terminated("a", 0), terminated("b", 1)], Failed)),
            deleting(with_sidecar("deleting: sidecar and app stopped", "Always", Some(terminated("s", 143)), Some(terminated("a", 0)), Succeeded)),
            deleting(Row { name: "deleting: nothing known", policy: Some("Always"), init: no_init, apps: vec![app("a")], init_statuses: vec![], statuses: vec![], deleting: false, want: Pending }),
        ]
    }

    #[test]
    fn pod_phase_table() {
        let rows = rows();
        assert!(rows.len() >= 30);
        let mut failures = Vec::new();
        for row in rows {
            let spec = PodSpec {
                restart_policy: row.policy.map(str::to_owned),
                init_containers: (!row.init.is_empty()).then_some(row.init),
                containers: row.apps,
                ..Default::default()
            };
            let got = pod_phase(&spec, &row.init_statuses, &row.statuses, row.deleting);
            if got != row.want {
                failures.push(format!("{}: got {got}, want {}", row.name, row.want));
            }
        }
        assert!(failures.is_empty(), "phase mismatches:\n{}", failures.join("\n"));
    }

    #[test]
    fn strings_round_trip() {
        let table = [(Pending, "Pending"), (Running, "Running"), (Succeeded, "Succeeded"), (Failed, "Failed"), (Unknown, "Unknown")];
        for (phase, s) in table {
            assert_eq!(phase.as_str(), s);
            assert_eq!(phase.to_string(), s);
            assert_eq!(s.parse::<PodPhase>(), Ok(phase));
        }
    }

    #[test]
    fn parse_rejects_other_spellings() {
        for bad in ["", "running", "RUNNING", "Completed", " Pending"] {
            let err = bad.parse::<PodPhase>().unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("unknown pod phase"));
        }
    }

    #[test]
    fn terminal_guard_table() {
        let terminal = [(Pending, false), (Running, false), (Succeeded, true), (Failed, true), (Unknown, false)];
        for (phase, want) in terminal {
            assert_eq!(is_terminal(phase), want, "{phase}");
            assert_eq!(phase.is_terminal(), want, "{phase}");
        }
        for previous in PodPhase::ALL {
            for computed in PodPhase::ALL {
                let want = if is_terminal(previous) { previous } else { computed };
                assert_eq!(next_phase(previous, computed), want, "{previous} -> {computed}");
            }
        }
        // The cases that matter, spelled out.
        assert_eq!(next_phase(Succeeded, Running), Succeeded);
        assert_eq!(next_phase(Failed, Pending), Failed);
        assert_eq!(next_phase(Succeeded, Failed), Succeeded);
        assert_eq!(next_phase(Running, Failed), Failed);
        assert_eq!(next_phase(Unknown, Running), Running);
        assert_eq!(next_phase(Running, Pending), Pending);
    }
}
