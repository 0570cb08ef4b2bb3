//! Pod conditions: a pure port of the kubelet's condition generators.
//!
//! Sources: `pkg/kubelet/status/generate.go` (`GeneratePodReadyToStartContainersCondition`,
//! `GeneratePodInitializedCondition`, `GeneratePodReadyCondition`,
//! `GenerateContainersReadyCondition`), the tail of `generateAPIPodStatus` in
//! `pkg/kubelet/kubelet_pods.go` (which conditions are emitted, in which order,
//! and that conditions not owned by the kubelet are kept), and
//! `updateLastTransitionTime` in `pkg/kubelet/status/status_manager.go`
//! (a condition's `lastTransitionTime` only moves when its status flips).
//!
//! Reasons and messages are Kubernetes' byte for byte, including Go's way of
//! printing a name list (`[a b]`), because `kubectl describe` users and
//! controllers match on them.
//!
//! Left out: `observedGeneration` (needs `metadata.generation`, which the
//! caller may set afterwards), the reason/message a kubelet newer than 1.35
//! puts on a False `PodReadyToStartContainers`, and the alpha
//! `AllContainersRestarting` condition.

use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::phase::{PodPhase, find_status, is_sidecar};

/// Condition type: the pod was bound to a node. Always `True` here: there is
/// no scheduler, the pod runs where it was submitted.
pub const POD_SCHEDULED: &str = "PodScheduled";
/// Condition type: the sandbox exists (networking set up), so containers can
/// be started.
pub const POD_READY_TO_START_CONTAINERS: &str = "PodReadyToStartContainers";
/// Condition type: every init container completed (sidecars: started).
pub const INITIALIZED: &str = "Initialized";
/// Condition type: every app container and sidecar is ready.
pub const CONTAINERS_READY: &str = "ContainersReady";
/// Condition type: `ContainersReady` plus every readiness gate is `True`.
pub const READY: &str = "Ready";

/// Reason: no container status could be obtained at all.
pub const REASON_UNKNOWN_CONTAINER_STATUSES: &str = "UnknownContainerStatuses";
/// Reason: the pod succeeded, so its containers are no longer ready.
pub const REASON_POD_COMPLETED: &str = "PodCompleted";
/// Reason: the pod failed, so its containers are not ready (they may still be
/// terminating).
pub const REASON_POD_FAILED: &str = "PodFailed";
/// Reason: at least one container (app or sidecar) is not ready.
pub const REASON_CONTAINERS_NOT_READY: &str = "ContainersNotReady";
/// Reason: at least one init container has not completed.
pub const REASON_CONTAINERS_NOT_INITIALIZED: &str = "ContainersNotInitialized";
/// Reason: a readiness gate's condition is missing or not `True`.
pub const REASON_READINESS_GATES_NOT_READY: &str = "ReadinessGatesNotReady";

/// Condition status `True`.
const TRUE: &str = "True";
/// Condition status `False`.
const FALSE: &str = "False";

/// The condition types the kubelet owns and regenerates on every sync
/// (`PodConditionsByKubelet` plus `PodReadyToStartContainers`, whose gate is
/// on by default). Any other condition in `previous` belongs to someone else
/// (a readiness-gate controller, a disruption) and is passed through.
const KUBELET_OWNED: [&str; 5] = [POD_SCHEDULED, READY, INITIALIZED, CONTAINERS_READY, POD_READY_TO_START_CONTAINERS];

/// Whether the pod's sandbox is still up, as `PodSandboxChanged` finds it
/// for `PodReadyToStartContainers`. The kubelet stops the sandbox once no
/// container runs and none is to start again: `computePodActions` kills
/// the pod when it has nothing to keep or start (the pod ended under its
/// restart policy), and a deleted or evicted pod's sandbox goes once its
/// containers have stopped. A pod left waiting on a container that cannot
/// be created keeps its sandbox.
#[must_use]
pub fn sandbox_ready(containers_running: bool, deleting: bool, phase: PodPhase) -> bool {
    containers_running || !(deleting || phase.is_terminal())
}

/// Computes the pod's conditions as the kubelet reports them.
///
/// The result holds, in the kubelet's order: the conditions from `previous`
/// that the kubelet does not own (unchanged), then `PodReadyToStartContainers`
/// (`True` iff `sandbox_ready`), `Initialized`, `Ready`, `ContainersReady` and
/// `PodScheduled` (always `True`).
///
/// `init_statuses` / `statuses` are matched to `spec.initContainers` /
/// `spec.containers` by name; `phase` is the phase just computed for the same
/// statuses. Each generated condition keeps the `lastTransitionTime` of the
/// `previous` condition of the same type when its status did not change, and
/// gets `now` otherwise. Readiness gates are evaluated against the kept
/// non-kubelet conditions.
#[must_use]
pub fn pod_conditions(
    spec: &PodSpec,
    init_statuses: &[ContainerStatus],
    statuses: &[ContainerStatus],
    phase: PodPhase,
    sandbox_ready: bool,
    now: Time,
    previous: &[PodCondition],
) -> Vec<PodCondition> {
    let statuses = Statuses { init: init_statuses, app: statuses };

    let mut out: Vec<PodCondition> = previous.iter().filter(|c| !KUBELET_OWNED.contains(&c.type_.as_str())).cloned().collect();
    let first_generated = out.len();

    out.push(condition(POD_READY_TO_START_CONTAINERS, sandbox_ready, None, None));
    out.push(initialized(spec, statuses, phase));
    // The readiness gates see every condition gathered so far, as in
    // `generateAPIPodStatus`.
    let ready = pod_ready(spec, &out, statuses, phase);
    out.push(ready);
    out.push(containers_ready(spec, statuses, phase));
    out.push(condition(POD_SCHEDULED, true, None, None));

    for generated in &mut out[first_generated..] {
        let unchanged = previous.iter().find(|p| p.type_ == generated.type_).filter(|p| p.status == generated.status);
        generated.last_transition_time = match unchanged {
            Some(p) => p.last_transition_time.clone(),
            None => Some(now.clone()),
        };
    }
    out
}

/// Both status lists, looked up by the kind of spec container.
#[derive(Clone, Copy)]
struct Statuses<'a> {
    init: &'a [ContainerStatus],
    app: &'a [ContainerStatus],
}

impl Statuses<'_> {
    /// Go's `containerStatuses == nil`: nothing at all could be obtained.
    fn none_known(&self) -> bool {
        self.init.is_empty() && self.app.is_empty()
    }
}

fn condition(type_: &str, status: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if status { TRUE } else { FALSE }.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..Default::default()
    }
}

/// Go's `fmt.Sprintf("%s", []string{...})`: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// The `containers with unknown status: [..], containers with <what> status: [..]`
/// message, or `None` when both lists are empty.
fn unready_message(unknown: &[&str], what: &str, not_ok: &[&str]) -> Option<String> {
    let mut parts = Vec::with_capacity(2);
    if !unknown.is_empty() {
        parts.push(format!("containers with unknown status: {}", go_list(unknown)));
    }
    if !not_ok.is_empty() {
        parts.push(format!("containers with {what} status: {}", go_list(not_ok)));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `GenerateContainersReadyCondition`: sidecars and app containers must all be
/// ready; regular init containers do not count.
fn containers_ready(spec: &PodSpec, statuses: Statuses<'_>, phase: PodPhase) -> PodCondition {
    if statuses.none_known() {
        return condition(CONTAINERS_READY, false, Some(REASON_UNKNOWN_CONTAINER_STATUSES), None);
    }
    let mut unknown = Vec::new();
    let mut unready = Vec::new();
    let sidecars = spec.init_containers.as_deref().unwrap_or_default().iter().filter(|c| is_sidecar(c));
    let checked = sidecars.map(|c| (c, statuses.init)).chain(spec.containers.iter().map(|c| (c, statuses.app)));
    for (container, list) in checked {
        match find_status(list, &container.name) {
            Some(s) if !s.ready => unready.push(container.name.as_str()),
            Some(_) => {}
            None => unknown.push(container.name.as_str()),
        }
    }

    // A finished pod is not ready, whatever its last readiness said; a failed
    // one may still have containers shutting down, so unknowns do not matter.
    if (phase == PodPhase::Succeeded && unknown.is_empty()) || phase == PodPhase::Failed {
        let reason = if phase == PodPhase::Failed { REASON_POD_FAILED } else { REASON_POD_COMPLETED };
        return condition(CONTAINERS_READY, false, Some(reason), None);
    }

    match unready_message(&unknown, "unready", &unready) {
        Some(message) => condition(CONTAINERS_READY, false, Some(REASON_CONTAINERS_NOT_READY), Some(message)),
        None => condition(CONTAINERS_READY, true, None, None),
    }
}

/// `GeneratePodReadyCondition`: mirrors `ContainersReady` unless it is `True`,
/// then requires every readiness gate's condition to be `True`.
fn pod_ready(spec: &PodSpec, conditions: &[PodCondition], statuses: Statuses<'_>, phase: PodPhase) -> PodCondition {
    let containers = containers_ready(spec, statuses, phase);
    if containers.status != TRUE {
        return PodCondition { type_: READY.to_owned(), ..containers };
    }

    let mut unready = Vec::new();
    for gate in spec.readiness_gates.as_deref().unwrap_or_default() {
        let gate_type = gate.condition_type.as_str();
        // Go's %q on a condition type (a qualified name, plain ASCII) is the
        // same as Rust's {:?}.
        match conditions.iter().find(|c| c.type_ == gate_type) {
            None => unready.push(format!("corresponding condition of pod readiness gate {gate_type:?} does not exist.")),
            Some(c) if c.status != TRUE => unready.push(format!("the status of pod readiness gate {gate_type:?} is not \"True\", but {}", c.status)),
            Some(_) => {}
        }
    }
    if unready.is_empty() {
        condition(READY, true, None, None)
    } else {
        condition(READY, false, Some(REASON_READINESS_GATES_NOT_READY), Some(unready.join(", ")))
    }
}

/// `GeneratePodInitializedCondition`: regular init containers must be ready
/// (i.e. exited 0), sidecars must be started.
fn initialized(spec: &PodSpec, statuses: Statuses<'_>, phase: PodPhase) -> PodCondition {
    let init_containers = spec.init_containers.as_deref().unwrap_or_default();
    if statuses.none_known() && !init_containers.is_empty() {
        return condition(INITIALIZED, false, Some(REASON_UNKNOWN_CONTAINER_STATUSES), None);
    }

    let mut unknown = Vec::new();
    let mut incomplete = Vec::new();
    for container in init_containers {
        match find_status(statuses.init, &container.name) {
            None => unknown.push(container.name.as_str()),
            Some(s) => {
                let done = if is_sidecar(container) { s.started == Some(true) } else { s.ready };
                if !done {
                    incomplete.push(container.name.as_str());
                }
            }
        }
    }

    if phase == PodPhase::Succeeded && unknown.is_empty() {
        return condition(INITIALIZED, true, Some(REASON_POD_COMPLETED), None);
    }
    // An app container only starts after initialisation, so once one has, the
    // pod stays initialised even while a sidecar restarts.
    if app_container_has_run(spec, statuses.app) {
        return condition(INITIALIZED, true, None, None);
    }
    match unready_message(&unknown, "incomplete", &incomplete) {
        Some(message) => condition(INITIALIZED, false, Some(REASON_CONTAINERS_NOT_INITIALIZED), Some(message)),
        None => condition(INITIALIZED, true, None, None),
    }
}

/// `HasAnyRegularContainerStarted` (the API-status variant generate.go uses):
/// an app container is running or has terminated.
fn app_container_has_run(spec: &PodSpec, statuses: &[ContainerStatus]) -> bool {
    spec.containers
        .iter()
        .filter_map(|c| find_status(statuses, &c.name))
        .filter_map(|s| s.state.as_ref())
        .any(|st| st.running.is_some() || st.terminated.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, PodReadinessGate};
    use k8s_openapi::jiff::Timestamp;

    fn app(name: &str) -> Container {
        Container { name: name.into(), ..Default::default() }
    }

    fn sidecar(name: &str) -> Container {
        Container { name: name.into(), restart_policy: Some("Always".into()), ..Default::default() }
    }

    fn running(name: &str, started: bool, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            started: Some(started),
            ready,
            state: Some(ContainerState { running: Some(ContainerStateRunning::default()), ..Default::default() }),
            ..Default::default()
        }
    }

    /// Terminated with `code`; `ready` is what the runtime reports (a regular
    /// init container is ready once it exited 0, an app container is not).
    fn exited(name: &str, code: i32, ready: bool) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            started: Some(false),
            ready,
            state: Some(ContainerState { terminated: Some(ContainerStateTerminated { exit_code: code, ..Default::default() }), ..Default::default() }),
            ..Default::default()
        }
    }

    fn waiting(name: &str) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(ContainerState { waiting: Some(ContainerStateWaiting::default()), ..Default::default() }),
            ..Default::default()
        }
    }

    fn time(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    fn spec(init: Vec<Container>, apps: Vec<Container>, gates: &[&str]) -> PodSpec {
        PodSpec {
            init_containers: (!init.is_empty()).then_some(init),
            containers: apps,
            readiness_gates: (!gates.is_empty()).then(|| gates.iter().map(|g| PodReadinessGate { condition_type: (*g).into() }).collect()),
            ..Default::default()
        }
    }

    /// (type, status, reason, message) of one condition.
    type Want = (&'static str, &'static str, Option<&'static str>, Option<&'static str>);

    fn summary(conditions: &[PodCondition]) -> Vec<(String, String, Option<String>, Option<String>)> {
        conditions.iter().map(|c| (c.type_.clone(), c.status.clone(), c.reason.clone(), c.message.clone())).collect()
    }

    fn owned(want: &[Want]) -> Vec<(String, String, Option<String>, Option<String>)> {
        want.iter().map(|(t, s, r, m)| (t.to_string(), s.to_string(), r.map(str::to_owned), m.map(str::to_owned))).collect()
    }

    struct Row {
        name: &'static str,
        spec: PodSpec,
        init: Vec<ContainerStatus>,
        app: Vec<ContainerStatus>,
        phase: PodPhase,
        sandbox: bool,
        previous: Vec<PodCondition>,
        /// The five kubelet conditions: ReadyToStart, Initialized, Ready, ContainersReady, Scheduled.
        want: [Want; 5],
    }

    const RTSC_TRUE: Want = (POD_READY_TO_START_CONTAINERS, "True", None, None);
    const INIT_TRUE: Want = (INITIALIZED, "True", None, None);
    const READY_TRUE: Want = (READY, "True", None, None);
    const CR_TRUE: Want = (CONTAINERS_READY, "True", None, None);
    const SCHEDULED: Want = (POD_SCHEDULED, "True", None, None);

    fn gate(type_: &str, status: &str) -> PodCondition {
        PodCondition { type_: type_.into(), status: status.into(), last_transition_time: Some(time(5)), ..Default::default() }
    }

    fn rows() -> Vec<Row> {
        let unready_x = Some("containers with unready status: [x]");
        vec![
            Row {
                name: "all ready",
                spec: spec(vec![], vec![app("x")], &[]),
                init: vec![],
                app: vec![running("x", true, true)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![],
                want: [RTSC_TRUE, INIT_TRUE, READY_TRUE, CR_TRUE, SCHEDULED],
            },
            Row {
                name: "sandbox not ready yet",
                spec: spec(vec![], vec![app("x")], &[]),
                init: vec![],
                app: vec![waiting("x")],
                phase: PodPhase::Pending,
                sandbox: false,
                previous: vec![],
                want: [
                    (POD_READY_TO_START_CONTAINERS, "False", None, None),
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    SCHEDULED,
                ],
            },
            Row {
                name: "app running but not ready",
                spec: spec(vec![], vec![app("w"), app("x")], &[]),
                init: vec![],
                app: vec![running("w", true, true), running("x", true, false)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    SCHEDULED,
                ],
            },
            Row {
                name: "unknown and unready app containers",
                spec: spec(vec![], vec![app("a"), app("b"), app("c")], &[]),
                init: vec![],
                app: vec![waiting("a"), running("b", true, false)],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unknown status: [c], containers with unready status: [a b]")),
                    (
                        CONTAINERS_READY,
                        "False",
                        Some(REASON_CONTAINERS_NOT_READY),
                        Some("containers with unknown status: [c], containers with unready status: [a b]"),
                    ),
                    SCHEDULED,
                ],
            },
            Row {
                name: "init containers incomplete",
                spec: spec(vec![app("a"), app("b")], vec![app("x")], &[]),
                init: vec![running("a", true, false), waiting("b")],
                app: vec![waiting("x")],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    (INITIALIZED, "False", Some(REASON_CONTAINERS_NOT_INITIALIZED), Some("containers with incomplete status: [a b]")),
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    SCHEDULED,
                ],
            },
            Row {
                name: "init container failed, second unknown",
                spec: spec(vec![app("a"), app("b")], vec![app("x")], &[]),
                init: vec![exited("a", 1, false)],
                app: vec![waiting("x")],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    (
                        INITIALIZED,
                        "False",
                        Some(REASON_CONTAINERS_NOT_INITIALIZED),
                        Some("containers with unknown status: [b], containers with incomplete status: [a]"),
                    ),
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    SCHEDULED,
                ],
            },
            Row {
                name: "init done, sidecar started and ready",
                spec: spec(vec![app("a"), sidecar("s")], vec![app("x")], &[]),
                init: vec![exited("a", 0, true), running("s", true, true)],
                app: vec![running("x", true, true)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![],
                want: [RTSC_TRUE, INIT_TRUE, READY_TRUE, CR_TRUE, SCHEDULED],
            },
            Row {
                name: "sidecar running but not started holds initialisation",
                spec: spec(vec![sidecar("s")], vec![app("x")], &[]),
                init: vec![running("s", false, false)],
                app: vec![waiting("x")],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    (INITIALIZED, "False", Some(REASON_CONTAINERS_NOT_INITIALIZED), Some("containers with incomplete status: [s]")),
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s x]")),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s x]")),
                    SCHEDULED,
                ],
            },
            Row {
                name: "sidecar started but not ready counts against readiness",
                spec: spec(vec![sidecar("s")], vec![app("x")], &[]),
                init: vec![running("s", true, false)],
                app: vec![running("x", true, true)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s]")),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s]")),
                    SCHEDULED,
                ],
            },
            Row {
                name: "sidecar restarting after the app started stays initialised",
                spec: spec(vec![sidecar("s")], vec![app("x")], &[]),
                init: vec![waiting("s")],
                app: vec![running("x", true, true)],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s]")),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unready status: [s]")),
                    SCHEDULED,
                ],
            },
            Row {
                name: "succeeded pod",
                spec: spec(vec![app("a")], vec![app("x")], &[]),
                init: vec![exited("a", 0, true)],
                app: vec![exited("x", 0, false)],
                phase: PodPhase::Succeeded,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    (INITIALIZED, "True", Some(REASON_POD_COMPLETED), None),
                    (READY, "False", Some(REASON_POD_COMPLETED), None),
                    (CONTAINERS_READY, "False", Some(REASON_POD_COMPLETED), None),
                    SCHEDULED,
                ],
            },
            Row {
                name: "succeeded but a container status is unknown",
                spec: spec(vec![], vec![app("x"), app("y")], &[]),
                init: vec![],
                app: vec![exited("x", 0, false)],
                phase: PodPhase::Succeeded,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    (INITIALIZED, "True", Some(REASON_POD_COMPLETED), None),
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), Some("containers with unknown status: [y], containers with unready status: [x]")),
                    (
                        CONTAINERS_READY,
                        "False",
                        Some(REASON_CONTAINERS_NOT_READY),
                        Some("containers with unknown status: [y], containers with unready status: [x]"),
                    ),
                    SCHEDULED,
                ],
            },
            Row {
                name: "failed pod with a container still running and ready",
                spec: spec(vec![], vec![app("x"), app("y")], &[]),
                init: vec![],
                app: vec![exited("x", 1, false), running("y", true, true)],
                phase: PodPhase::Failed,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_POD_FAILED), None),
                    (CONTAINERS_READY, "False", Some(REASON_POD_FAILED), None),
                    SCHEDULED,
                ],
            },
            Row {
                name: "no statuses at all, with init containers",
                spec: spec(vec![app("a")], vec![app("x")], &[]),
                init: vec![],
                app: vec![],
                phase: PodPhase::Pending,
                sandbox: false,
                previous: vec![],
                want: [
                    (POD_READY_TO_START_CONTAINERS, "False", None, None),
                    (INITIALIZED, "False", Some(REASON_UNKNOWN_CONTAINER_STATUSES), None),
                    (READY, "False", Some(REASON_UNKNOWN_CONTAINER_STATUSES), None),
                    (CONTAINERS_READY, "False", Some(REASON_UNKNOWN_CONTAINER_STATUSES), None),
                    SCHEDULED,
                ],
            },
            Row {
                name: "no statuses at all, no init containers",
                spec: spec(vec![], vec![app("x")], &[]),
                init: vec![],
                app: vec![],
                phase: PodPhase::Pending,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_UNKNOWN_CONTAINER_STATUSES), None),
                    (CONTAINERS_READY, "False", Some(REASON_UNKNOWN_CONTAINER_STATUSES), None),
                    SCHEDULED,
                ],
            },
            Row {
                name: "readiness gates: one missing, one False",
                spec: spec(vec![], vec![app("x")], &["example.com/lb", "example.com/feature"]),
                init: vec![],
                app: vec![running("x", true, true)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![gate("example.com/feature", "False")],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (
                        READY,
                        "False",
                        Some(REASON_READINESS_GATES_NOT_READY),
                        Some(
                            "corresponding condition of pod readiness gate \"example.com/lb\" does not exist., \
                             the status of pod readiness gate \"example.com/feature\" is not \"True\", but False",
                        ),
                    ),
                    CR_TRUE,
                    SCHEDULED,
                ],
            },
            Row {
                name: "readiness gate True",
                spec: spec(vec![], vec![app("x")], &["example.com/lb"]),
                init: vec![],
                app: vec![running("x", true, true)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![gate("example.com/lb", "True")],
                want: [RTSC_TRUE, INIT_TRUE, READY_TRUE, CR_TRUE, SCHEDULED],
            },
            Row {
                name: "readiness gate ignored while containers are not ready",
                spec: spec(vec![], vec![app("x")], &["example.com/lb"]),
                init: vec![],
                app: vec![running("x", true, false)],
                phase: PodPhase::Running,
                sandbox: true,
                previous: vec![],
                want: [
                    RTSC_TRUE,
                    INIT_TRUE,
                    (READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    (CONTAINERS_READY, "False", Some(REASON_CONTAINERS_NOT_READY), unready_x),
                    SCHEDULED,
                ],
            },
        ]
    }

    #[test]
    fn pod_conditions_table() {
        let mut failures = Vec::new();
        for row in rows() {
            let got = pod_conditions(&row.spec, &row.init, &row.app, row.phase, row.sandbox, time(100), &row.previous);
            // Conditions the kubelet does not own come first, untouched.
            let kept: Vec<PodCondition> = row.previous.iter().filter(|c| !KUBELET_OWNED.contains(&c.type_.as_str())).cloned().collect();
            if got[..kept.len()] != kept[..] {
                failures.push(format!("{}: foreign conditions not kept: {:?}", row.name, &got[..kept.len()]));
            }
            let generated = &got[kept.len()..];
            if summary(generated) != owned(&row.want) {
                failures.push(format!("{}:\n  got  {:?}\n  want {:?}", row.name, summary(generated), owned(&row.want)));
            }
            if generated.iter().any(|c| c.last_transition_time != Some(time(100))) {
                failures.push(format!("{}: fresh conditions must carry `now`", row.name));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn last_transition_time_moves_only_on_flips() {
        let spec = spec(vec![], vec![app("x")], &[]);
        let not_ready = [running("x", true, false)];
        let ready = [running("x", true, true)];

        let first = pod_conditions(&spec, &[], &not_ready, PodPhase::Running, true, time(10), &[]);
        assert!(first.iter().all(|c| c.last_transition_time == Some(time(10))));

        // Same statuses later: every time is kept.
        let same = pod_conditions(&spec, &[], &not_ready, PodPhase::Running, true, time(20), &first);
        assert_eq!(same, first);

        // Readiness flips: Ready and ContainersReady move, the rest stay.
        let flipped = pod_conditions(&spec, &[], &ready, PodPhase::Running, true, time(30), &same);
        let times: Vec<(&str, i64)> = flipped.iter().map(|c| (c.type_.as_str(), c.last_transition_time.as_ref().unwrap().0.as_second())).collect();
        assert_eq!(times, [(POD_READY_TO_START_CONTAINERS, 10), (INITIALIZED, 10), (READY, 30), (CONTAINERS_READY, 30), (POD_SCHEDULED, 10)]);

        // A reason change without a status change is not a transition
        // (Running-not-ready -> Failed keeps ContainersReady False).
        let failed = pod_conditions(&spec, &[], &[exited("x", 1, false)], PodPhase::Failed, true, time(40), &first);
        let cr = failed.iter().find(|c| c.type_ == CONTAINERS_READY).unwrap();
        assert_eq!(cr.reason.as_deref(), Some(REASON_POD_FAILED));
        assert_eq!(cr.last_transition_time, Some(time(10)));
    }

    #[test]
    fn foreign_conditions_are_kept_and_owned_ones_replaced() {
        let spec = spec(vec![], vec![app("x")], &[]);
        let disruption = PodCondition {
            type_: "DisruptionTarget".into(),
            status: "True".into(),
            reason: Some("TerminationByKubelet".into()),
            last_transition_time: Some(time(1)),
            ..Default::default()
        };
        let stale_ready = PodCondition { type_: READY.into(), status: "True".into(), ..Default::default() };
        let got = pod_conditions(&spec, &[], &[running("x", true, false)], PodPhase::Running, true, time(50), &[stale_ready, disruption.clone()]);
        let types: Vec<&str> = got.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, ["DisruptionTarget", POD_READY_TO_START_CONTAINERS, INITIALIZED, READY, CONTAINERS_READY, POD_SCHEDULED]);
        assert_eq!(got[0], disruption);
        // Ready flipped True -> False, so it gets `now`.
        assert_eq!(got[3].status, "False");
        assert_eq!(got[3].last_transition_time, Some(time(50)));
    }

    #[test]
    fn the_sandbox_goes_when_no_container_runs_or_will_run() {
        // (containers running, deleting, phase) -> sandbox ready
        let rows = [
            (true, false, PodPhase::Pending, true),
            (true, false, PodPhase::Running, true),
            // Sidecars still stopping after the app containers ended.
            (true, false, PodPhase::Succeeded, true),
            (true, false, PodPhase::Failed, true),
            // Deleted, containers still stopping.
            (true, true, PodPhase::Running, true),
            // Waiting on a container that cannot be created.
            (false, false, PodPhase::Pending, true),
            (false, false, PodPhase::Running, true),
            // Ended under its restart policy.
            (false, false, PodPhase::Succeeded, false),
            (false, false, PodPhase::Failed, false),
            // Deleted or evicted, its containers stopped.
            (false, true, PodPhase::Pending, false),
            (false, true, PodPhase::Running, false),
            (false, true, PodPhase::Failed, false),
        ];
        for (running, deleting, phase, want) in rows {
            assert_eq!(sandbox_ready(running, deleting, phase), want, "running {running}, deleting {deleting}, {phase:?}");
        }
    }

    #[test]
    fn ready_to_start_containers_turns_false_when_the_sandbox_goes() {
        let spec = spec(vec![], vec![app("x")], &[]);
        let done = [exited("x", 0, false)];
        // The last container exited; it is still being reaped.
        let ended = pod_conditions(&spec, &[], &done, PodPhase::Succeeded, sandbox_ready(true, false, PodPhase::Succeeded), time(10), &[]);
        let rtsc = |c: &[PodCondition]| c.iter().find(|c| c.type_ == POD_READY_TO_START_CONTAINERS).cloned().unwrap();
        assert_eq!(rtsc(&ended).status, "True");
        // Then the sandbox is stopped: the condition flips, with a new time,
        // and the others keep theirs.
        let gone = pod_conditions(&spec, &[], &done, PodPhase::Succeeded, sandbox_ready(false, false, PodPhase::Succeeded), time(20), &ended);
        assert_eq!(rtsc(&gone).status, "False");
        assert_eq!(rtsc(&gone).last_transition_time, Some(time(20)));
        for c in gone.iter().filter(|c| c.type_ != POD_READY_TO_START_CONTAINERS) {
            assert_eq!(c.last_transition_time, Some(time(10)), "{}", c.type_);
        }
    }

    #[test]
    fn go_list_formatting() {
        assert_eq!(go_list(&[]), "[]");
        assert_eq!(go_list(&["a"]), "[a]");
        assert_eq!(go_list(&["a", "b", "c"]), "[a b c]");
        assert_eq!(unready_message(&[], "unready", &[]), None);
    }
}
